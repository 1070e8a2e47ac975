"""Training-only layers (augmentation, dropout, noise) and RandomCrop: everything edgeprep does with them.

- plan rules: ``StripTrainingOnly`` (``y = x`` at inference: the layer goes, its input is forwarded)
  and ``ReplaceRandomCrop`` in `edgeprep.transforms.strip` today, with the class lists that the
  strip rule proves against Keras (``AUGMENTATION_CLASSES``, ``REGULARIZATION_CLASSES``); parity
  samples look through these layers (`edgeprep.parity.samples`);
- Keras 2: layers whose Keras 3 class computes something else at inference become what tf_keras
  computes (`keras2_replace`): RandomHeight / RandomWidth (not in Keras 3; ``y = x`` at inference)
  become ``Identity``; RandomCrop(h, w), which tf_keras runs at inference as ``smart_resize``
  (centre crop to the aspect ratio, bilinear resize), becomes
  ``Resizing(h, w, "bilinear", crop_to_aspect_ratio=True)`` (Keras 3.15's RandomCrop returns its
  input uncropped there).
"""

from __future__ import annotations

from edgeprep.families.base import Family

INFERENCE_IDENTITY = ("RandomHeight", "RandomWidth")


def keras2_replace(entry: dict) -> str | None:
    """Rewrite a tf_keras layer ``entry`` in place into its inference equivalent; the note, or None."""
    cls, config = entry.get("class_name"), entry.get("config", {})
    if cls in INFERENCE_IDENTITY:
        entry["class_name"], entry["config"] = "Identity", {"name": config["name"], "dtype": config.get("dtype")}
        return f"{config['name']}: tf_keras {cls} is the identity at inference and Keras 3 has no such class; translated to Identity"
    if cls == "RandomCrop":
        entry["class_name"], entry["config"] = "Resizing", {
            "name": config["name"], "dtype": config.get("dtype"), "height": config["height"], "width": config["width"],
            "interpolation": "bilinear", "crop_to_aspect_ratio": True,
        }
        return f"{config['name']}: tf_keras RandomCrop at inference is smart_resize; translated to Resizing(crop_to_aspect_ratio=True)"
    return None


FAMILY = Family(
    name="augmentation", classes=("RandomCrop", *INFERENCE_IDENTITY), keras2_replace=keras2_replace,
)
