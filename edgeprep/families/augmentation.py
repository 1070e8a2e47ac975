"""Training-only layers (augmentation, dropout, noise) and RandomCrop: everything edgeprep does with them.

- plan rules: ``StripTrainingOnly`` (``y = x`` at inference: the layer goes, its input is forwarded)
  and ``ReplaceRandomCrop``, with the class lists that the strip rule proves against Keras
  (``AUGMENTATION_CLASSES``, ``REGULARIZATION_CLASSES``); parity samples look through these layers
  (`edgeprep.parity.samples`);
- Keras 2: layers whose Keras 3 class computes something else at inference become what tf_keras
  computes (`keras2_replace`): RandomHeight / RandomWidth (not in Keras 3; ``y = x`` at inference)
  become ``Identity``; RandomCrop(h, w), which tf_keras runs at inference as ``smart_resize``
  (centre crop to the aspect ratio, bilinear resize), becomes
  ``Resizing(h, w, "bilinear", crop_to_aspect_ratio=True)`` (Keras 3.15's RandomCrop returns its
  input uncropped there).

The strip, in detail:

At inference (``training=False``) every layer stripped here is the identity, ``y = x``: Keras'
augmentation layers return their input, Dropout/GaussianNoise/GaussianDropout/AlphaDropout pass it
through, ActivityRegularization only adds a loss. The list is of exact classes and each entry is
pinned by a test that runs the layer in Keras at ``training=False`` and checks ``y == x`` bit for
bit: the decision follows what the layer does at inference, not its name or base class (Resizing
and CenterCrop share the augmentation base class and are kept).

One detail is not the identity: an augmentation layer casts an integer image to its float compute dtype; the strip keeps that
  cast (one CAST op) so the dtype downstream is unchanged.

RandomCrop(h, w) is documented to "resize and crop so as to return the largest possible window in
the image that matches the target aspect ratio" at inference; that is exactly
``Resizing(h, w, interpolation="bilinear", crop_to_aspect_ratio=True)``, which replaces it. (Keras
3.15's own RandomCrop returns the uncropped input at ``training=False``, contradicting both its
docstring and its ``compute_output_shape``; edgeprep exports the documented, shape-consistent op.)
"""

from __future__ import annotations

from edgeprep import layers
from edgeprep.config import Action, Target
from edgeprep.families.base import Family
from edgeprep.graph import Call, Graph
from edgeprep.transforms.base import LayerRule, Phase
from edgeprep.transforms.rewrite import Rewrite

AUGMENTATION_CLASSES = (
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomContrast",
    "RandomTranslation",
    "RandomBrightness",
    "RandomColorDegeneration",
    "RandomColorJitter",
    "RandomElasticTransform",
    "RandomErasing",
    "RandomGaussianBlur",
    "RandomGrayscale",
    "RandomHue",
    "RandomInvert",
    "RandomPerspective",
    "RandomPosterization",
    "RandomSaturation",
    "RandomSharpness",
    "RandomShear",
    "AugMix",
    "CutMix",
    "MixUp",
    "RandAugment",
    # Deterministic-looking, but Keras 3.15 applies them only while training.
    "Equalization",
    "Solarization",
)

REGULARIZATION_CLASSES = (
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "AlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
    "ActivityRegularization",
)


class StripTrainingOnly(LayerRule):
    """``y = x`` at inference: remove the layer and forward its input (keeping a dtype cast if any)."""

    name = "strip-training-only"
    classes = AUGMENTATION_CLASSES + REGULARIZATION_CLASSES
    action = Action.STRIPPED
    phase = Phase.STRIP

    def rewrite(self, call: Call, graph: Graph, target: Target) -> Rewrite:
        source, result = call.inputs[0], call.outputs[0]
        if source.dtype == result.dtype:
            return Rewrite.passthrough(call, self.action, "training-only: identity at inference", self.name)
        return self.replace_op(
            call, layers.cast(result.dtype, name=f"{call.layer.name}_cast"),
            f"training-only: identity at inference; kept its cast {source.dtype} -> {result.dtype}",
        )


class ReplaceRandomCrop(LayerRule):
    """``RandomCrop(h, w)`` -> ``Resizing(h, w, "bilinear", crop_to_aspect_ratio=True)``."""

    name = "replace-random-crop"
    classes = ("RandomCrop",)
    action = Action.REPLACED
    phase = Phase.STRIP

    def rewrite(self, call: Call, graph: Graph, target: Target) -> Rewrite:
        import keras

        layer = call.layer
        crop = keras.layers.Resizing(
            layer.height,
            layer.width,
            interpolation="bilinear",
            crop_to_aspect_ratio=True,
            data_format=layer.data_format,
            dtype=layer.dtype_policy,
            name=f"{layer.name}_inference_crop",
        )
        return self.replace_op(call, crop, (
            f"Resizing({layer.height}, {layer.width}, crop_to_aspect_ratio=True): the documented inference-time "
            "centre crop (Keras 3.15 itself returns the input uncropped)"
        ))


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
    name="augmentation", classes=(*AUGMENTATION_CLASSES, *REGULARIZATION_CLASSES, "RandomCrop", *INFERENCE_IDENTITY),
    rules=(StripTrainingOnly(), ReplaceRandomCrop()), keras2_replace=keras2_replace,
)
