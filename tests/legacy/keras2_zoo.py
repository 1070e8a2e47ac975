"""Keras 2 (tf_keras) model factories for the legacy tests, written against the Keras 2 API as the
seed article uses it (``layers.experimental.preprocessing``), and a helper that saves them in each
Keras 2 format. Weights are seeded and biases perturbed so that parity is a real test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FORMATS = ("h5", "keras", "saved_model")
KINDS = {"h5": "keras2_h5", "keras": "keras2_keras", "saved_model": "keras2_saved_model"}
CORPUS = [
    "the cat sat on the mat", "a dog ran in the park", "the dog sat down", "cats and dogs play",
    "the park was quiet", "a cat ran after the dog", "birds sing in the park", "the mat was red",
]


def _tf_keras():
    import tf_keras

    tf_keras.utils.set_random_seed(1234)
    return tf_keras


def _perturb(model, seed: int = 0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        bias = getattr(layer, "bias", None)
        if bias is not None:
            bias.assign(rng.normal(0, 0.2, bias.shape).astype("float32"))
    return model


def rescaling_cnn():
    """The seed's MNIST model: a Sequential with no InputLayer, ``input_shape`` on the Rescaling."""
    k2 = _tf_keras()
    preprocessing = k2.layers.experimental.preprocessing
    return _perturb(k2.Sequential([
        preprocessing.Rescaling(1.0 / 255, input_shape=(8, 8, 1)),
        k2.layers.Conv2D(8, 3, activation="relu"),
        k2.layers.MaxPooling2D(),
        k2.layers.Flatten(),
        k2.layers.Dense(10),
    ], name="rescaling_cnn"))


def text_model(adapted: bool = True):
    """TextVectorization -> Embedding -> pooling -> Dense; ``adapted=False`` passes the vocabulary
    to the constructor instead (the only way tf_keras can save it in .h5)."""
    k2 = _tf_keras()
    preprocessing = k2.layers.experimental.preprocessing
    if adapted:
        vectorize = preprocessing.TextVectorization(max_tokens=40, output_sequence_length=8)
        vectorize.adapt(CORPUS)
    else:
        words = sorted({word for line in CORPUS for word in line.split()})
        vectorize = preprocessing.TextVectorization(max_tokens=40, output_sequence_length=8, vocabulary=words)
    text = k2.Input((1,), dtype="string", name="text")
    x = k2.layers.Embedding(40, 8)(vectorize(text))
    x = k2.layers.GlobalAveragePooling1D()(x)
    return _perturb(k2.Model(text, k2.layers.Dense(2)(x), name="text_model"))


def augmentation_cnn():
    """The seed's RandomFlip / RandomRotation / RandomZoom Sequential inside a CNN."""
    k2 = _tf_keras()
    preprocessing = k2.layers.experimental.preprocessing
    augment = k2.Sequential([
        preprocessing.RandomFlip("horizontal"),
        preprocessing.RandomRotation(0.1),
        preprocessing.RandomZoom(0.1),
    ], name="augment")
    image = k2.Input((16, 16, 3), name="image")
    x = preprocessing.Rescaling(1.0 / 255)(augment(image))
    x = k2.layers.Conv2D(8, 3, activation="relu")(x)
    x = k2.layers.GlobalAveragePooling2D()(x)
    return _perturb(k2.Model(image, k2.layers.Dense(3)(x), name="augmentation_cnn"))


def tabular_normalization():
    """An adapted Normalization (state in ``layer.mean``/``variance``, None in the config) -> MLP."""
    k2 = _tf_keras()
    normalize = k2.layers.Normalization()
    normalize.adapt(np.random.default_rng(0).normal([3.0, -1.0, 10.0, 0.5], [2.0, 0.5, 4.0, 1.0], (256, 4)).astype("float32"))
    features = k2.Input((4,), name="features")
    x = k2.layers.Dense(8, activation="relu")(normalize(features))
    return _perturb(k2.Model(features, k2.layers.Dense(1)(x), name="tabular_normalization"))


MODELS = {
    "rescaling_cnn": rescaling_cnn,
    "text": text_model,
    "augmentation": augmentation_cnn,
    "normalization": tabular_normalization,
}


def save(model, directory: Path, fmt: str) -> Path:
    """Save ``model`` in the Keras 2 format ``fmt`` under ``directory``; return the path."""
    path = Path(directory) / (f"{model.name}.{fmt}" if fmt != "saved_model" else f"{model.name}_saved_model")
    if fmt == "saved_model":
        model.save(str(path), save_format="tf")
    else:
        model.save(str(path))
    return path
