"""keras-io ``examples/structured_data/structured_data_classification_with_feature_space.py``.

The heart-disease classifier built with `keras.utils.FeatureSpace`: six integer categoricals and
one string categorical (``num_oov_indices=0``), ``age`` discretized into 30 bins, five normalized
floats, the crosses ``sex x age`` (64) and ``thal x ca`` (16), concatenated; then Dense(32, relu),
Dropout(0.5), Dense(1, sigmoid). The exported model is the example's ``inference_model``: raw
feature dict in, probability out.
"""

from __future__ import annotations

import numpy as np

import heart


def raw_inputs(n: int, rng) -> dict[str, np.ndarray]:
    return {name: values.reshape(n, 1) for name, values in heart.rows(n, rng).items()}


def build():
    import keras
    import tensorflow as tf
    from keras.utils import FeatureSpace

    keras.utils.set_random_seed(11)
    features = {name: FeatureSpace.integer_categorical(num_oov_indices=0) for name in heart.INTEGER_CATEGORIES}
    features["thal"] = FeatureSpace.string_categorical(num_oov_indices=0)
    features["age"] = FeatureSpace.float_discretized(num_bins=30)
    features.update({name: FeatureSpace.float_normalized() for name in ("trestbps", "chol", "thalach", "oldpeak", "slope")})
    space = FeatureSpace(
        features=features,
        crosses=[FeatureSpace.cross(feature_names=("sex", "age"), crossing_dim=64), FeatureSpace.cross(feature_names=("thal", "ca"), crossing_dim=16)],
        output_mode="concat",
    )
    space.adapt(tf.data.Dataset.from_tensor_slices(heart.rows(303, np.random.default_rng(11))).batch(32))
    encoded = space.get_encoded_features()
    x = keras.layers.Dense(32, activation="relu")(encoded)
    x = keras.layers.Dropout(0.5)(x)
    predictions = keras.layers.Dense(1, activation="sigmoid")(x)
    training_model = keras.Model(inputs=encoded, outputs=predictions)
    inputs = space.get_inputs()
    return keras.Model(inputs=inputs, outputs=training_model(space.get_encoded_features()), name="structured_feature_space")
