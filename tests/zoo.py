"""A small zoo of named model factories used across the test suite (Polygraphy-style).

Every factory returns a built, deterministic ``keras.Model``; weights are seeded, and models with
random initial weights whose outputs would be near-trivial get perturbed statistics so that parity
is a real test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _keras():
    import keras

    keras.utils.set_random_seed(1234)
    return keras


def perturb(model, seed: int = 0, scale: float = 0.5):
    """Give BatchNormalization statistics and all biases non-trivial values (seeded)."""
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers(include_self=False, recursive=True):
        kind = type(layer).__name__
        if kind == "BatchNormalization":
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, scale, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype("float32"))
            if layer.beta is not None:
                layer.beta.assign(rng.normal(0, scale, n).astype("float32"))
            if layer.gamma is not None:
                layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
        elif getattr(layer, "bias", None) is not None and hasattr(layer.bias, "assign"):
            layer.bias.assign(rng.normal(0, scale * 0.2, layer.bias.shape).astype("float32"))
    return model


def calibrate(model, low: float = 0.0, high: float = 255.0, seed: int = 0, images: np.ndarray | None = None):
    """Set every BatchNormalization's moving statistics to those of one batch (random in [low, high], or
    ``images``), then perturb.

    A randomly initialised deep network with default statistics (mean 0, variance 1) collapses to
    an almost constant output; with batch statistics it stays input-sensitive, so parity is real.
    """
    rng = np.random.default_rng(seed)
    shape = (16, *model.inputs[0].shape[1:])
    batchnorms = [l for l in model._flatten_layers(include_self=False, recursive=True) if type(l).__name__ == "BatchNormalization"]
    for layer in batchnorms:
        layer.momentum = 0.0
    model(rng.uniform(low, high, shape).astype("float32") if images is None else images, training=True)
    for layer in batchnorms:
        layer.momentum = 0.99
        # Near-constant channels would get a huge gain (1/sqrt(var)): a trained network does not
        # amplify noise that much, so add a tenth of the layer's median variance.
        variance = layer.moving_variance.numpy()
        layer.moving_variance.assign(variance + 0.1 * np.median(variance))
        if layer.beta is not None:
            layer.beta.assign((layer.beta.numpy() + rng.normal(0, 0.1, layer.beta.shape)).astype("float32"))
    return model


def seed_cnn(channels: int = 1):
    """The seed article's MNIST model: Rescaling(1/255) -> Conv2D -> MaxPool -> Flatten -> Dense (``channels``: 3 for RGB)."""
    keras = _keras()
    return keras.Sequential(
        [
            keras.Input((28, 28, channels), name="image"),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ],
        name="seed_cnn",
    )


def augmented_cnn():
    """The seed's augmentation Sequential nested inside a CNN, with Dropout."""
    keras = _keras()
    augment = keras.Sequential(
        [keras.layers.RandomFlip("horizontal"), keras.layers.RandomRotation(0.1), keras.layers.RandomZoom(0.1)],
        name="augmentation",
    )
    inputs = keras.Input((32, 32, 3), name="image")
    x = augment(inputs)
    x = keras.layers.Rescaling(1 / 255)(x)
    x = keras.layers.Conv2D(16, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Dropout(0.5)(x)
    x = keras.layers.Conv2D(16, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(5, name="logits")(x)
    return keras.Model(inputs, outputs, name="augmented_cnn")


def sequence_conv1d():
    """A Conv1D sequence model with Normalization, GaussianNoise, SpatialDropout1D and Dropout."""
    keras = _keras()
    rng = np.random.default_rng(3)
    inputs = keras.Input((50, 4), name="signal")
    norm = keras.layers.Normalization(axis=-1)
    norm.adapt(rng.normal([1.0, -2.0, 10.0, 0.5], [0.5, 2.0, 4.0, 0.1], size=(256, 50, 4)).astype("float32"))
    x = norm(inputs)
    x = keras.layers.GaussianNoise(0.1)(x)
    x = keras.layers.Conv1D(16, 5, activation="relu")(x)
    x = keras.layers.SpatialDropout1D(0.2)(x)
    x = keras.layers.Conv1D(16, 3, activation="relu")(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    x = keras.layers.Dropout(0.3)(x)
    outputs = keras.layers.Dense(3, name="classes")(x)
    return perturb(keras.Model(inputs, outputs, name="sequence_conv1d"))


def pipeline_nested():
    """Augmentation in a keras.layers.Pipeline; Resizing/CenterCrop/Rescaling in a nested Functional."""
    keras = _keras()
    pipeline = keras.layers.Pipeline(
        [keras.layers.RandomFlip("horizontal_and_vertical"), keras.layers.RandomContrast(0.2), keras.layers.RandomTranslation(0.1, 0.1)],
        name="augment_pipeline",
    )
    pre_in = keras.Input((48, 64, 3), name="raw")
    y = keras.layers.Resizing(40, 40)(pre_in)
    y = keras.layers.CenterCrop(32, 32)(y)
    y = keras.layers.Rescaling(1 / 127.5, offset=-1)(y)
    preprocess = keras.Model(pre_in, y, name="preprocess")
    inputs = keras.Input((48, 64, 3), name="photo")
    x = pipeline(inputs)
    x = preprocess(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(4, name="scores")(x)
    return keras.Model(inputs, outputs, name="pipeline_nested")


def tabular_numeric():
    """Dict inputs, Normalization per feature, a two-output head (classification + regression)."""
    keras = _keras()
    rng = np.random.default_rng(5)
    age = keras.Input((1,), name="age")
    income = keras.Input((3,), name="income")
    age_norm = keras.layers.Normalization(mean=40.0, variance=144.0)(age)
    income_norm = keras.layers.Normalization(axis=-1, mean=[5e4, 2e3, 10.0], variance=[4e8, 1e6, 25.0])(income)
    x = keras.layers.Concatenate()([age_norm, income_norm])
    x = keras.layers.Dense(16, activation="relu")(x)
    x = keras.layers.Dropout(0.2)(x)
    label = keras.layers.Dense(2, activation="softmax", name="label")(x)
    value = keras.layers.Dense(1, name="value")(x)
    model = keras.Model({"age": age, "income": income}, {"label": label, "value": value}, name="tabular_numeric")
    return perturb(model, seed=int(rng.integers(100)))


def random_crop_cnn():
    """RandomCrop at the input: exported as its documented inference-time centre crop."""
    keras = _keras()
    inputs = keras.Input((40, 48, 3), name="image")
    x = keras.layers.RandomCrop(32, 32)(inputs)
    x = keras.layers.Rescaling(1 / 255)(x)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, outputs, name="random_crop_cnn")


def scenes(rows: int, size: int = 96, seed: int = 0) -> np.ndarray:
    """``rows`` smooth synthetic RGB scenes in [0, 255] (float32): a colour tinted towards red, green or blue
    (the scene's dominant colour, clear in most scenes), 2-5 coloured blobs, a stripe pattern."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((rows, size, size, 3), np.float32)
    for i in range(rows):
        image = (rng.uniform(0, 0.6, 3) + 0.4 * np.eye(3)[rng.integers(3)]) * np.ones((size, size, 3))
        for _ in range(rng.integers(2, 6)):
            cy, cx, radius = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.4)
            image += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))[..., None] * rng.uniform(-1, 1, 3)
        fx, fy = rng.uniform(0, 20, 2)
        image += 0.2 * np.sin(2 * np.pi * (fx * xx + fy * yy) + rng.uniform(0, 2 * np.pi))[..., None] * rng.uniform(-1, 1, 3)
        out[i] = np.clip(image, 0, 1) * 255
    return out


def mobilenet_v3_small(size: int = 96, classes: int = 10, scenes_seed: int | None = None):
    """keras.applications.MobileNetV3Small(weights=None, include_preprocessing=True), perturbed.

    With ``scenes_seed``: trained instead (`train_on_scenes`, on 256 `scenes` of that seed), for tests
    that judge int8 quality (on `scenes_calibration`'s held-out rows; tests/converters/test_micro.py).
    """
    keras = _keras()
    if scenes_seed is not None:  # the same weights whatever the process built before
        keras.utils.set_random_seed(scenes_seed)
    model = keras.applications.MobileNetV3Small(
        input_shape=(size, size, 3), weights=None, include_preprocessing=True, classes=classes, classifier_activation=None
    )
    if scenes_seed is None:
        return calibrate(model, seed=7)
    return train_on_scenes(model, scenes(256, size, scenes_seed))


def scenes_calibration(model, directory: Path, rows: int = 400, seed: int = 1) -> Path:
    """``directory/scenes.npz``: ``rows`` `scenes` (seed ``seed``) for ``model``'s one image input, the
    ``--calibration`` file whose every 5th row an int8 export is judged on (`edgeprep.parity.heldout`)."""
    path = directory / "scenes.npz"
    if not path.exists():
        np.savez(path, **{model.inputs[0].name: scenes(rows, int(model.inputs[0].shape[1]), seed)})
    return path


def train_on_scenes(model, images: np.ndarray, epochs: int = 6):
    """Train ``model`` briefly (``epochs`` of Adam) to name each scene's dominant colour (classes 0, 1, 2: R, G, B).

    Random weights give nearly tied logits for every image, and random features that int8 blurs by as
    much as they vary between images; a few epochs give classes with margins, as a trained model has."""
    keras = _keras()
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if type(layer).__name__ == "BatchNormalization":
            layer.momentum = 0.5  # moving statistics that follow the few steps
    labels = np.eye(model.outputs[0].shape[-1])[np.argmax(images.mean(axis=(1, 2)), axis=1)]
    # label smoothing bounds the logits (a confident row beyond the calibrated output range would clip)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1))
    model.fit(images, labels, epochs=epochs, batch_size=32, verbose=0)
    return model


def efficientnet_b0(size: int = 128, classes: int = 10, imagenet_statistics: bool = False):
    """keras.applications.EfficientNetB0(weights=None): Rescaling + Normalization before the stem.

    With ``imagenet_statistics`` the (unadapted, identity) Normalization gets the ImageNet mean and
    variance its real weights carry, before the BatchNorm statistics are calibrated.
    """
    keras = _keras()
    model = keras.applications.EfficientNetB0(weights=None, input_shape=(size, size, 3), classes=classes, classifier_activation=None)
    if imagenet_statistics:
        norm = next(layer for layer in model.layers if type(layer).__name__ == "Normalization")
        norm.adapt_mean.assign(np.array([0.485, 0.456, 0.406], np.float32))
        norm.adapt_variance.assign(np.array([0.229, 0.224, 0.225], np.float32) ** 2)
        norm.finalize_state()
    return calibrate(model, seed=11)


TEXT_WORDS = (
    "the a cat dog bird sat ran on under mat rug house garden big small red blue happy sad quick slow jumped "
    "over lazy fox école naïve 日本 and or but very not".split()
)


def feature_space_tabular(vocab: int | None = None, cross: bool = True):
    """keras.utils.FeatureSpace: string/integer categoricals, a normalized and a discretized float, a cross.

    ``vocab`` sets the number of distinct categories of both categoricals (benchmarks); ``cross``
    adds the string x integer HashedCrossing (which puts both lookups on the host).
    """
    keras = _keras()
    import tensorflow as tf
    from keras.utils import FeatureSpace

    rng = np.random.default_rng(21)
    n = 256 if vocab is None else max(2 * vocab, 512)
    if vocab is None:
        color, rooms = rng.choice(["red", "green", "blue", "white", "Grün"], n), rng.integers(1, 7, n)
    else:
        color, rooms = np.array([f"c{i:06d}" for i in range(vocab)])[np.arange(n) % vocab], np.arange(n) % vocab * 7 + 3
    data = {"color": color, "rooms": rooms.astype("int32"), "area": rng.normal(80.0, 20.0, n).astype("float32"), "age": rng.uniform(0.0, 100.0, n).astype("float32")}
    space = FeatureSpace(
        features={
            "color": FeatureSpace.string_categorical(num_oov_indices=1),
            "rooms": FeatureSpace.integer_categorical(num_oov_indices=1),
            "area": FeatureSpace.float_normalized(),
            "age": FeatureSpace.float_discretized(num_bins=4),
        },
        crosses=[FeatureSpace.cross(("color", "rooms"), crossing_dim=8)] if cross else None,
        output_mode="concat",
    )
    space.adapt(tf.data.Dataset.from_tensor_slices(data).batch(4096))
    x = keras.layers.Dense(8, activation="relu")(space.get_encoded_features())
    outputs = keras.layers.Dense(1, name="price")(x)
    return perturb(keras.Model(space.get_inputs(), outputs, name="feature_space_tabular"), seed=3)


def seed_text(vocab: int | None = None):
    """The seed's text model: TextVectorization(max_tokens=1000, output_sequence_length=20) -> Embedding -> GAP -> Dense.

    With ``vocab`` (benchmarks), the vocabulary is ``vocab`` synthetic words set directly.
    """
    keras = _keras()
    rng = np.random.default_rng(8)
    tokens = 1000 if vocab is None else vocab + 2
    vectorize = keras.layers.TextVectorization(max_tokens=tokens, output_sequence_length=20, name="vectorize")
    if vocab is None:
        corpus = [" ".join(rng.choice(TEXT_WORDS, int(rng.integers(3, 15)))).capitalize() + rng.choice([".", "!", "?", ""]) for _ in range(200)]
        vectorize.adapt(np.array(corpus))
    else:
        vectorize.set_vocabulary([f"w{i:06d}" for i in range(vocab)])
    inputs = keras.Input((1,), dtype="string", name="text")
    x = vectorize(inputs)
    x = keras.layers.Embedding(tokens, 16)(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    outputs = keras.layers.Dense(2, name="logits")(x)
    return perturb(keras.Model(inputs, outputs, name="seed_text"), seed=5)


def convnext_tiny(size: int = 64, classes: int = 10):
    """keras.applications.ConvNeXtTiny(weights=None, include_preprocessing=True): Normalization of raw pixels."""
    keras = _keras()
    model = keras.applications.ConvNeXtTiny(
        input_shape=(size, size, 3), weights=None, include_preprocessing=True, classes=classes, classifier_activation=None
    )
    return calibrate(model, seed=13)


def micro_tabular():
    """Integer lookups (one-hot; ids with a mask), CategoryEncoding (multi-hot, one-hot), Discretization and
    Normalization over four inputs, two outputs (a price and the ids): what `--micro` lowers for tflite-micro."""
    keras = _keras()
    keras.utils.set_random_seed(5)
    rooms = keras.Input((1,), dtype="int64", name="rooms")
    day = keras.Input((1,), dtype="int64", name="day")
    tags = keras.Input((3,), dtype="int64", name="tags")
    area = keras.Input((1,), name="area")
    room = keras.layers.IntegerLookup(vocabulary=[1, 2, 3, 5, 8], output_mode="one_hot", name="room_lookup")(rooms)
    ids = keras.layers.IntegerLookup(vocabulary=[10, 20, 30, 40], mask_token=0, name="tag_ids")(tags)
    tag = keras.layers.CategoryEncoding(num_tokens=6, output_mode="multi_hot", name="tag_hot")(ids)
    days = keras.layers.CategoryEncoding(num_tokens=7, output_mode="one_hot", name="day_hot")(day)
    bins = keras.layers.Discretization(bin_boundaries=[60.0, 80.0, 100.0], output_mode="one_hot", name="area_bins")(area)
    scaled = keras.layers.Normalization(mean=80.0, variance=400.0)(area)
    hidden = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()([room, tag, days, bins, scaled]))
    outputs = {"price": keras.layers.Dense(1, name="price")(hidden), "tag_ids": ids}
    return keras.Model({"rooms": rooms, "day": day, "tags": tags, "area": area}, outputs)


ZOO = {
    "seed_cnn": seed_cnn,
    "augmented_cnn": augmented_cnn,
    "sequence_conv1d": sequence_conv1d,
    "pipeline_nested": pipeline_nested,
    "tabular_numeric": tabular_numeric,
    "random_crop_cnn": random_crop_cnn,
    "mobilenet_v3_small": mobilenet_v3_small,
    "efficientnet_b0": efficientnet_b0,
    "feature_space_tabular": feature_space_tabular,
    "seed_text": seed_text,
}
SLOW = {"efficientnet_b0"}
