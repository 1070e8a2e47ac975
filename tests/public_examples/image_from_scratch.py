"""keras-io ``examples/vision/image_classification_from_scratch.py``: cats vs dogs, Xception-like.

Option 1 of the example (augmentation inside the model): RandomFlip("horizontal"),
RandomRotation(0.1), Rescaling(1/255), the entry Conv2D-BN-ReLU, three residual blocks of
SeparableConv2D-BN pairs with MaxPooling and a strided 1x1 Conv2D shortcut, SeparableConv2D-BN-ReLU,
GlobalAveragePooling2D, Dropout(0.25), Dense(1) logits. 64x64 inputs and widths divided by 8
(the example: 180x180, 128..1024 filters).
"""

from __future__ import annotations

import numpy as np

import gallery

SIZE = 64


def raw_inputs(n: int, rng) -> dict[str, np.ndarray]:
    return gallery.images(n, rng, SIZE)


def build():
    import keras
    from keras import layers

    keras.utils.set_random_seed(31)
    data_augmentation_layers = [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)]

    def data_augmentation(images):
        for layer in data_augmentation_layers:
            images = layer(images)
        return images

    inputs = keras.Input(shape=(SIZE, SIZE, 3), name="image")
    x = layers.Rescaling(1.0 / 255)(data_augmentation(inputs))
    x = layers.Conv2D(16, 3, strides=2, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    previous_block_activation = x
    for size in [32, 64, 91]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(size, 1, strides=2, padding="same")(previous_block_activation)
        x = layers.add([x, residual])
        previous_block_activation = x
    x = layers.SeparableConv2D(128, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.25)(x)
    outputs = layers.Dense(1, activation=None)(x)
    return keras.Model(inputs, outputs, name="image_from_scratch")
