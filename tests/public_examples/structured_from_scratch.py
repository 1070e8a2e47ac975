"""keras-io ``examples/structured_data/structured_data_classification_from_scratch.py``.

The heart-disease classifier with hand-built preprocessing: one Normalization per numeric feature
(adapted on its column), StringLookup / IntegerLookup(output_mode="binary", num_oov_indices=0,
mask_token=None) over each categorical's vocabulary, concatenated, then Dense(32, relu),
Dropout(0.5), Dense(1, sigmoid). The example runs its lookups in ``tf.data`` and wraps the head in
a custom ``Classifier`` layer; here the lookups sit inside the model (the end-to-end model a user
deploys) and the head is the same three layers, so the file loads with no custom objects.
"""

from __future__ import annotations

import numpy as np

import heart


def raw_inputs(n: int, rng) -> dict[str, np.ndarray]:
    return {name: values.reshape(n, 1) for name, values in heart.rows(n, rng).items()}


def build():
    import keras
    from keras import layers

    keras.utils.set_random_seed(12)
    train = heart.rows(242, np.random.default_rng(12))
    inputs, encoded = {}, []
    for name, values in train.items():
        if name in heart.NUMERIC_RANGES:
            inputs[name] = keras.Input(shape=(1,), name=name, dtype="float32")
            normalizer = layers.Normalization()
            normalizer.adapt(values.reshape(-1, 1))
            encoded.append(normalizer(inputs[name]))
        else:
            is_string = name in heart.STRING_CATEGORIES
            vocabulary = (heart.STRING_CATEGORIES if is_string else heart.INTEGER_CATEGORIES)[name]
            inputs[name] = keras.Input(shape=(1,), name=name, dtype="string" if is_string else "int64")
            lookup = (layers.StringLookup if is_string else layers.IntegerLookup)(vocabulary=vocabulary, mask_token=None, num_oov_indices=0, output_mode="binary")
            encoded.append(lookup(inputs[name]))
    x = layers.concatenate(encoded)
    x = layers.Dense(32, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name="structured_from_scratch")
