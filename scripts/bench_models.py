"""The models `scripts/bench.py` measures: a registry of named factories.

To benchmark another model, add a `BenchModel` to `MODELS` (the FeatureSpace and text models of
issue 6 belong here once their factories exist): ``build(size)`` returns a built, seeded Keras
model; ``preprocessing`` names the layer classes the "bare" variant leaves out; set
``predict_on_batch=True`` to also time Keras' own ``predict_on_batch`` (what serving with
TensorFlow costs), which is worth it for tabular and text models.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_VARIANCE = [0.229**2, 0.224**2, 0.225**2]


@dataclass(frozen=True)
class BenchModel:
    """One benchmarked model.

    Attributes:
        name: the registry key.
        build: ``build(image_size) -> keras.Model`` (the size is ignored where it does not apply).
        preprocessing: layer classes left out of the "bare" network.
        predict_on_batch: also time Keras ``predict_on_batch``.
        note: one line for BENCHMARKS.md.
    """

    name: str
    build: Callable[[int], object]
    preprocessing: tuple[str, ...] = ("Rescaling", "Normalization")
    predict_on_batch: bool = False
    note: str = ""


def _seed_cnn(size: int):
    from zoo import seed_cnn

    return seed_cnn()


def _mobilenet_v3_small(size: int):
    import keras
    from zoo import calibrate

    keras.utils.set_random_seed(1234)
    model = keras.applications.MobileNetV3Small(input_shape=(size, size, 3), weights=None, include_preprocessing=True, classifier_activation=None)
    return calibrate(model, seed=7)


def _efficientnet_b0(size: int):
    import keras
    from zoo import calibrate

    keras.utils.set_random_seed(1234)
    model = keras.applications.EfficientNetB0(input_shape=(size, size, 3), weights=None, classifier_activation=None)
    _imagenet_statistics(model)
    return calibrate(model, seed=11)


def _convnext_tiny(size: int):
    import keras
    from zoo import calibrate

    keras.utils.set_random_seed(1234)
    model = keras.applications.ConvNeXtTiny(input_shape=(size, size, 3), weights=None, include_preprocessing=True, classifier_activation=None)
    return calibrate(model, seed=13)


def _imagenet_statistics(model) -> None:
    """Give EfficientNet's unadapted Normalization (after Rescaling(1/255)) the ImageNet statistics
    its real weights carry; with ``weights=None`` it would be the identity and fold trivially."""
    for layer in model.layers:
        if type(layer).__name__ == "Normalization" and getattr(layer, "adapt_mean", None) is not None:
            layer.adapt_mean.assign(np.array(IMAGENET_MEAN, np.float32))
            layer.adapt_variance.assign(np.array(IMAGENET_VARIANCE, np.float32))
            layer.finalize_state()


MODELS: dict[str, BenchModel] = {
    "seed_cnn": BenchModel("seed_cnn", _seed_cnn, note="the seed article's MNIST CNN, 28x28x1, Rescaling(1/255)"),
    "mobilenet_v3_small": BenchModel("mobilenet_v3_small", _mobilenet_v3_small, note="Rescaling(1/127.5, -1) before a padding='same' stem conv"),
    "efficientnet_b0": BenchModel("efficientnet_b0", _efficientnet_b0, note="Rescaling(1/255) -> Normalization(ImageNet statistics) -> ZeroPadding2D -> stem conv"),
    "convnext_tiny": BenchModel("convnext_tiny", _convnext_tiny, note="Normalization(ImageNet statistics, raw 0..255) before a 4x4/4 stem conv"),
}
