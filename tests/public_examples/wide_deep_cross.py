"""keras-io ``examples/structured_data/wide_deep_cross_networks.py``: Wide & Deep and Deep & Cross.

Covertype schema: ten numeric columns (used as they are, ``keras.ops.expand_dims`` to (N, 1)) and
two string categoricals (``Soil_Type``: 40 values, ``Wilderness_Area``: 4), scalar inputs of shape
``()``. The wide part one-hot encodes the categoricals (StringLookup(output_mode="binary",
num_oov_indices=0, mask_token=None)); the deep part embeds them (StringLookup int -> Embedding of
``sqrt(vocabulary)`` dims). Variants: ``wide_deep`` (BatchNormalization on the wide features,
Dense-BN-ReLU-Dropout x2 on the deep ones, concatenated, softmax over 7 classes) and ``deep_cross``
(two cross layers ``x0 * Dense(x) + x`` next to the same deep tower).
"""

from __future__ import annotations

import math

import numpy as np

NUMERIC_RANGES = {
    "Aspect": (0, 360), "Elevation": (1859, 3858), "Hillshade_3pm": (0, 254), "Hillshade_9am": (0, 254),
    "Hillshade_Noon": (0, 254), "Horizontal_Distance_To_Fire_Points": (0, 7173),
    "Horizontal_Distance_To_Hydrology": (0, 1397), "Horizontal_Distance_To_Roadways": (0, 7117),
    "Slope": (0, 66), "Vertical_Distance_To_Hydrology": (-173, 601),
}
VOCABULARIES = {
    "Soil_Type": [f"soil_type_{i}" for i in (29, 12, 30, 4, 2, 10, 23, 22, 32, 24, 33, 13, 38, 39, 11, 20, 31, 1, 40, 6, 17, 3, 18, 16, 19, 26, 27, 35, 5, 9, 36, 14, 8, 25, 28, 34, 21, 37, 7, 15)],
    "Wilderness_Area": ["area_type_1", "area_type_3", "area_type_4", "area_type_2"],
}
HIDDEN_UNITS = [32, 32]
NUM_CLASSES = 7


def raw_inputs(n: int, rng, variant: str) -> dict[str, np.ndarray]:
    data = {name: np.round(rng.uniform(low, high, n)).astype("float32") for name, (low, high) in NUMERIC_RANGES.items()}
    data.update({name: rng.choice(np.array(vocabulary), n) for name, vocabulary in VOCABULARIES.items()})
    return data


def _encode(inputs, use_embedding: bool):
    import keras
    from keras import layers

    encoded = []
    for name, value in inputs.items():
        if name in VOCABULARIES:
            vocabulary = VOCABULARIES[name]
            lookup = layers.StringLookup(vocabulary=vocabulary, mask_token=None, num_oov_indices=0, output_mode="int" if use_embedding else "binary")
            if use_embedding:
                feature = layers.Embedding(input_dim=len(vocabulary), output_dim=int(math.sqrt(len(vocabulary))))(lookup(value))
            else:
                feature = lookup(keras.ops.expand_dims(value, -1))
        else:
            feature = keras.ops.expand_dims(value, -1)
        encoded.append(feature)
    return layers.concatenate(encoded)


def _deep(x):
    from keras import layers

    for units in HIDDEN_UNITS:
        x = layers.Dense(units)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.Dropout(0.1)(x)
    return x


def build(variant: str):
    import keras
    from keras import layers

    keras.utils.set_random_seed(13)
    inputs = {name: layers.Input(name=name, shape=(), dtype="float32") for name in NUMERIC_RANGES}
    inputs.update({name: layers.Input(name=name, shape=(), dtype="string") for name in VOCABULARIES})
    if variant == "wide_deep":
        wide = layers.BatchNormalization()(_encode(inputs, use_embedding=False))
        merged = layers.concatenate([wide, _deep(_encode(inputs, use_embedding=True))])
    else:
        x0 = _encode(inputs, use_embedding=True)
        cross = x0
        for _ in HIDDEN_UNITS:
            cross = x0 * layers.Dense(cross.shape[-1])(cross) + cross
        cross = layers.BatchNormalization()(cross)
        merged = layers.concatenate([cross, _deep(x0)])
    outputs = layers.Dense(units=NUM_CLASSES, activation="softmax")(merged)
    model = keras.Model(inputs=inputs, outputs=outputs, name=variant)
    _set_batch_statistics(model, raw_inputs(256, np.random.default_rng(13), variant))
    return model


def _set_batch_statistics(model, rows) -> None:
    """Give every BatchNormalization the moving statistics of its input on ``rows`` (as training would).

    Untrained, the moving variance is 1 while Elevation reaches 3858; softmax then saturates to
    one-hot rows and every comparison is trivially exact.
    """
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            probe = keras.Model(model.inputs, layer.input)
            values = np.asarray(probe.predict_on_batch(rows))
            layer.moving_mean.assign(values.mean(axis=0))
            layer.moving_variance.assign(values.var(axis=0) + 1e-3)
