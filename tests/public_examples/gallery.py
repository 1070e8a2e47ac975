"""The catalog of public Keras examples rebuilt in this folder: one `Example` per model.

Each module here rebuilds one keras-io example (or the preprocessing-layers guide's recipes) on
synthetic data of the example's schema: ``build() -> keras.Model`` and ``raw_inputs(n, rng)``
(the raw features the exported model takes, keyed by input name). Multi-model examples take a
``variant``. tests/public_examples/test_public_examples.py exports each one with the default CLI
and compares ``edgeprep run`` with Keras; scripts/gallery_table.py writes README's gallery table.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PREPROCESSING_MODULE = "keras.src.layers.preprocessing"
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Example:
    """One rebuilt model.

    Attributes:
        name: id in tests and in the README table.
        module: the module of this folder that rebuilds it.
        variant: which of the module's models (None when it has one).
        source: the keras-io file the module follows.
        slow: skipped unless EDGEPREP_SLOW=1.
        custom_objects: ``--custom-objects`` values the model file needs (modules of this folder).
    """

    name: str
    module: str
    variant: str | None
    source: str
    slow: bool = True
    custom_objects: tuple[str, ...] = ()

    @property
    def export_flags(self) -> tuple[str, ...]:
        """The flags ``edgeprep export`` needs beyond the defaults: only what loading the file requires."""
        return tuple(flag for value in self.custom_objects for flag in ("--custom-objects", value))

    def _module(self):
        return importlib.import_module(self.module)

    def build(self):
        """The Keras model, weights seeded (built afresh on every call)."""
        module = self._module()
        return module.build(self.variant) if self.variant else module.build()

    def raw_inputs(self, n: int, seed: int = 0) -> dict[str, np.ndarray]:
        """``n`` raw rows of the example's schema, keyed by the model's input names."""
        module = self._module()
        rng = np.random.default_rng(seed)
        return module.raw_inputs(n, rng, self.variant) if self.variant else module.raw_inputs(n, rng)


GUIDE = "guides/preprocessing_layers.py"
EXAMPLES = (
    Example("guide_string_one_hot", "guide_recipes", "string_one_hot", GUIDE),  # slow: CI runs guide_text_multi_hot (StringLookup one-hot: tests/families)
    Example("guide_integer_one_hot", "guide_recipes", "integer_one_hot", GUIDE),
    Example("guide_hashing_trick", "guide_recipes", "hashing_trick", GUIDE),
    Example("guide_numeric_normalization", "guide_recipes", "numeric_normalization", GUIDE),
    Example("guide_text_int_gru", "guide_recipes", "text_int_gru", GUIDE),
    Example("guide_text_multi_hot", "guide_recipes", "text_multi_hot", GUIDE, slow=False),
    Example("guide_text_tf_idf", "guide_recipes", "text_tf_idf", GUIDE),
    Example("structured_feature_space", "structured_feature_space", None, "examples/structured_data/structured_data_classification_with_feature_space.py"),
    Example("structured_from_scratch", "structured_from_scratch", None, "examples/structured_data/structured_data_classification_from_scratch.py"),
    Example("wide_deep", "wide_deep_cross", "wide_deep", "examples/structured_data/wide_deep_cross_networks.py"),
    Example("deep_cross", "wide_deep_cross", "deep_cross", "examples/structured_data/wide_deep_cross_networks.py"),
    Example("text_from_scratch", "text_from_scratch", None, "examples/nlp/text_classification_from_scratch.py", custom_objects=("text_from_scratch:custom_standardization",)),
    Example("multi_label_tf_idf", "multi_label_tf_idf", None, "examples/nlp/multi_label_classification.py"),
    Example("pretrained_embeddings", "pretrained_embeddings", None, "examples/nlp/pretrained_word_embeddings.py"),
    Example("image_from_scratch", "image_from_scratch", None, "examples/vision/image_classification_from_scratch.py"),
    Example("efficientnet_fine_tuning", "efficientnet_fine_tuning", None, "examples/vision/image_classification_efficientnet_fine_tuning.py"),
    Example("mlp_mixer", "mlp_mixer", None, "examples/vision/mlp_image_classification.py"),
    Example("stft_audio_1d", "stft_audio", "1d", "examples/audio/stft.py"),
    Example("stft_audio_2d", "stft_audio", "2d", "examples/audio/stft.py"),
    Example("timeseries_normalization", "timeseries_normalization", None, "examples/timeseries/timeseries_weather_forecasting.py"),
)
BY_NAME = {example.name: example for example in EXAMPLES}


def preprocessing_layers(model) -> list[str]:
    """The class names of Keras preprocessing layers anywhere in ``model`` (nested models included), sorted."""
    found: set[str] = set()

    def walk(layer) -> None:
        if type(layer).__module__.startswith(PREPROCESSING_MODULE):
            found.add(type(layer).__name__)
        for inner in getattr(layer, "layers", ()) or ():
            walk(inner)

    walk(model)
    return sorted(found)



def images(n: int, rng, size: int) -> dict[str, np.ndarray]:
    """``n`` raw RGB images of ``size`` x ``size``: integer pixel values 0..255 as float32, under the input name ``image``."""
    return {"image": rng.integers(0, 256, (n, size, size, 3)).astype("float32")}


def as_input_dtypes(model, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Numeric raw columns in the dtype of the model's input of that name (strings as they are)."""
    dtypes = {tensor.name: str(tensor.dtype) for tensor in model.inputs}
    return {name: value if value.dtype.kind in "US" else value.astype(dtypes.get(name, value.dtype)) for name, value in raw.items()}


def keras_outputs(model, raw: dict[str, np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
    """Keras' answer on ``raw`` in one batch (as ``edgeprep run`` gets it), keyed by ``names`` in output order."""
    outputs = model.predict_on_batch(raw)
    outputs = list(outputs.values()) if isinstance(outputs, dict) else outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return {name: np.asarray(value) for name, value in zip(names, outputs)}


def edgeprep_cli(*args, timeout: int = 1500) -> subprocess.CompletedProcess:
    """``edgeprep ARGS`` in a subprocess, this folder on PYTHONPATH (``--custom-objects`` imports its modules)."""
    path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": path}
    return subprocess.run([sys.executable, "-m", "edgeprep.cli", *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout)


def run_against_keras(dist: Path, target: str, raw: Path, reference: list[np.ndarray], out: Path):
    """``edgeprep run DIST --target TARGET`` on the raw rows in ``raw``, compared with Keras' ``reference``
    (in output order) under the manifest's tolerance.

    Returns:
        (the finished ``edgeprep run``, its `ParityReport` or None when it failed).
    """
    from edgeprep.manifest import Manifest
    from edgeprep.runtime.compare import Tolerance, compare

    ran = edgeprep_cli("run", dist, "--target", target, "--input", raw, "--output", out)
    if ran.returncode != 0:
        return ran, None
    manifest = Manifest.read(dist)
    expected = dict(zip([tensor.name for tensor in manifest.outputs], reference))
    with np.load(out) as actual:
        return ran, compare(target, "keras", expected, dict(actual), Tolerance.from_json(manifest["tolerance"]))
