"""keras-io ``examples/vision/image_classification_efficientnet_fine_tuning.py``: Stanford Dogs.

The example's augmentation (RandomRotation(0.15), RandomTranslation(0.1, 0.1), RandomFlip,
RandomContrast(0.1)) in front of EfficientNetB0(include_top=False) — whose own Rescaling and
Normalization take raw 0..255 pixels — then GlobalAveragePooling2D, BatchNormalization,
Dropout(0.2), Dense(120, softmax). ``weights=None`` at 64x64 (the example: ImageNet weights at 224).
"""

from __future__ import annotations

import numpy as np

import gallery

SIZE, CLASSES = 64, 120


def raw_inputs(n: int, rng) -> dict[str, np.ndarray]:
    return gallery.images(n, rng, SIZE)


def build():
    import keras
    from keras import layers

    keras.utils.set_random_seed(32)
    inputs = layers.Input(shape=(SIZE, SIZE, 3), name="image")
    x = inputs
    for layer in [layers.RandomRotation(factor=0.15), layers.RandomTranslation(height_factor=0.1, width_factor=0.1), layers.RandomFlip(), layers.RandomContrast(factor=0.1)]:
        x = layer(x)
    model = keras.applications.EfficientNetB0(include_top=False, input_tensor=x, weights=None)
    model.trainable = False
    x = layers.GlobalAveragePooling2D(name="avg_pool")(model.output)
    x = layers.BatchNormalization()(x)
    x = layers.Dropout(0.2, name="top_dropout")(x)
    outputs = layers.Dense(CLASSES, activation="softmax", name="pred")(x)
    return keras.Model(inputs, outputs, name="EfficientNet")
