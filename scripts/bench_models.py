"""The models `scripts/bench.py` measures: a registry of named factories.

To benchmark another model, add a `BenchModel` to `MODELS`: ``build(size)`` returns a built,
seeded Keras model; ``preprocessing`` names the layer classes the "bare" variant leaves out; set
``predict_on_batch=True`` to also time Keras' own ``predict_on_batch`` (what serving with
TensorFlow costs), which is worth it for tabular and text models. Models with raw (string, dict)
inputs give ``example``: one raw batch-1 example, which edgeprep's artifacts get through the
deploy-side runner (host steps, if any, then the artifact), as `edgeprep run` does.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


@dataclass(frozen=True)
class BenchModel:
    """One benchmarked model.

    Attributes:
        name: the registry key.
        build: ``build(image_size) -> keras.Model`` (the size is ignored where it does not apply).
        preprocessing: layer classes left out of the "bare" network.
        predict_on_batch: also time Keras ``predict_on_batch``.
        note: one line for BENCHMARKS.md.
        example: ``example() -> {input name: array}``, one raw batch-1 example (None: image
            models, timed on uniform 0..255 pixels).
        variants: the exports measured (see `bench.VARIANTS`).
        latency: time the artifacts; False for the big models, measured for export memory and wall
            time only (Keras' two exports vs edgeprep's, side by side: `bench_report.memory_section`).
    """

    name: str
    build: Callable[[int], object]
    preprocessing: tuple[str, ...] = ("Rescaling", "Normalization")
    predict_on_batch: bool = False
    note: str = ""
    example: Callable[[], dict] | None = None
    variants: tuple[str, ...] = ("keras", "nofold", "fold", "batch1", "bare")
    latency: bool = True
    min_available_gb: float = 0.0  # not run (and said so in the report) with less memory available than this


def _seed_cnn(size: int):
    from zoo import seed_cnn

    return seed_cnn()


def _mobilenet_v3_small(size: int):
    from zoo import mobilenet_v3_small

    return mobilenet_v3_small(size, classes=1000)


def _efficientnet_b0(size: int):
    from zoo import efficientnet_b0

    return efficientnet_b0(size, classes=1000, imagenet_statistics=True)


def _convnext_tiny(size: int):
    from zoo import convnext_tiny

    return convnext_tiny(size, classes=1000)


CALIBRATION_ROWS = 4  # one training-mode call of EfficientNetV2L at 224x224 on 4 rows: ~2 GB, a few seconds


def _application(name: str):
    """``keras.applications.<name>(weights=None)`` with its own preprocessing, seeded, 1000 logits, and its
    BatchNormalization statistics calibrated as the test zoo does (`zoo.calibrate`, on `CALIBRATION_ROWS`
    images: half uniform 0..255, half edge images whose every value is 0 or 255, as parity's edge rows):
    at its initial statistics a random-init EfficientNetV2L's logits are ~1e9 and float32 noise, and
    calibrated on uniform images alone its edge rows still amplify rounding ~1e11-fold (benchmarks/8-memory.md),
    so parity would not measure the conversion. Both sides of the bench (Keras' export and edgeprep's) build
    this same model."""

    def build(size: int):
        import keras
        import numpy as np
        from zoo import calibrate

        keras.utils.set_random_seed(0)
        model = getattr(keras.applications, name)(input_shape=(size, size, 3), weights=None, include_preprocessing=True, classifier_activation=None)
        rng = np.random.default_rng(0)
        half = CALIBRATION_ROWS // 2
        uniform = rng.uniform(0.0, 255.0, (CALIBRATION_ROWS - half, size, size, 3))
        edges = rng.choice([0.0, 255.0], (half, size, size, 3))  # like parity's edge rows (parity/samples.py)
        return calibrate(model, images=np.concatenate([uniform, edges]).astype("float32"))

    return build


def _feature_space(size: int):
    from zoo import feature_space_tabular

    return feature_space_tabular()


def _feature_space_example() -> dict:
    import numpy as np

    return {"color": np.array([["blue"]]), "rooms": np.array([[3]], np.int32), "area": np.array([[72.5]], np.float32), "age": np.array([[41.0]], np.float32)}


def _text(size: int):
    from zoo import seed_text

    return seed_text()


def _text_example() -> dict:
    import numpy as np

    return {"text": np.array([["The quick brown fox jumped over the LAZY dog, naïve and very happy!"]])}


MODELS: dict[str, BenchModel] = {
    "seed_cnn": BenchModel("seed_cnn", _seed_cnn, note="the seed article's MNIST CNN, 28x28x1, Rescaling(1/255)"),
    "mobilenet_v3_small": BenchModel("mobilenet_v3_small", _mobilenet_v3_small, note="Rescaling(1/127.5, -1) before a padding='same' stem conv"),
    "efficientnet_b0": BenchModel("efficientnet_b0", _efficientnet_b0, note="Rescaling(1/255) -> Normalization(ImageNet statistics) -> ZeroPadding2D -> stem conv"),
    "convnext_tiny": BenchModel("convnext_tiny", _convnext_tiny, note="Normalization(ImageNet statistics, raw 0..255) before a 4x4/4 stem conv"),
    "convnext_small": BenchModel("convnext_small", _application("ConvNeXtSmall"), variants=("keras", "fold"), latency=False, min_available_gb=12, note="keras.applications.ConvNeXtSmall(weights=None): export memory and wall time"),
    "convnext_base": BenchModel("convnext_base", _application("ConvNeXtBase"), variants=("keras", "fold"), latency=False, min_available_gb=20, note="keras.applications.ConvNeXtBase(weights=None): export memory and wall time"),
    "efficientnet_v2_l": BenchModel("efficientnet_v2_l", _application("EfficientNetV2L"), variants=("keras", "fold"), latency=False, min_available_gb=20, note="keras.applications.EfficientNetV2L(weights=None): export memory and wall time"),
    "feature_space": BenchModel(
        "feature_space", _feature_space, predict_on_batch=True, example=_feature_space_example, variants=("keras", "nofold", "fold", "batch1"),
        note="keras.utils.FeatureSpace (string and integer categoricals, normalized and discretized floats, a hashed cross) -> Dense -> Dense; raw dict inputs",
    ),
    "text": BenchModel(
        "text", _text, predict_on_batch=True, example=_text_example, variants=("keras", "nofold", "fold", "batch1"),
        note="TextVectorization(max_tokens=1000, output_sequence_length=20) -> Embedding -> GlobalAveragePooling1D -> Dense; one raw string in",
    ),
}
