"""keras-io ``examples/vision/mlp_image_classification.py``: the MLP-Mixer on CIFAR-100.

``data_augmentation``: Normalization (adapted), Resizing(64, 64), RandomFlip("horizontal"),
RandomZoom(0.2, 0.2); 8x8 patches; Dense(embedding_dim); Mixer blocks (LayerNormalization, token
mixing ``Dense(num_patches, activation="gelu")`` -> Dense(num_patches) on the transposed patches,
skip; LayerNormalization, channel mixing Dense(num_patches, gelu) -> Dense(embedding_dim), skip);
GlobalAveragePooling1D, Dropout, Dense(100). The example's ``Patches`` and ``MLPMixerLayer`` are
custom layers; here the same computations are written with built-in layers (Reshape/Permute for
the patches, Permute for the transposes) so the file loads with no custom objects. Two blocks of
64 dims (the example: 4 of 256).
"""

from __future__ import annotations

import numpy as np

import gallery

IMAGE_SIZE, PATCH_SIZE, EMBEDDING_DIM, NUM_BLOCKS, CLASSES = 64, 8, 64, 2, 100
NUM_PATCHES = (IMAGE_SIZE // PATCH_SIZE) ** 2


def raw_inputs(n: int, rng) -> dict[str, np.ndarray]:
    return gallery.images(n, rng, 32)


def _patches(images):
    from keras import layers

    grid = IMAGE_SIZE // PATCH_SIZE
    x = layers.Reshape((grid, PATCH_SIZE, grid, PATCH_SIZE, 3))(images)
    x = layers.Permute((1, 3, 2, 4, 5))(x)
    return layers.Reshape((NUM_PATCHES, PATCH_SIZE * PATCH_SIZE * 3))(x)


def _mixer_block(inputs, dropout_rate: float):
    from keras import layers

    normalize = layers.LayerNormalization(epsilon=1e-6)
    x = normalize(inputs)
    x_channels = layers.Permute((2, 1))(x)
    mlp1 = layers.Dense(NUM_PATCHES, activation="gelu")(x_channels)
    mlp1 = layers.Dropout(dropout_rate)(layers.Dense(NUM_PATCHES)(mlp1))
    x = layers.add([layers.Permute((2, 1))(mlp1), inputs])
    x_patches = normalize(x)
    mlp2 = layers.Dense(NUM_PATCHES, activation="gelu")(x_patches)
    mlp2 = layers.Dropout(dropout_rate)(layers.Dense(EMBEDDING_DIM)(mlp2))
    return layers.add([x, mlp2])


def build():
    import keras
    from keras import layers

    keras.utils.set_random_seed(33)
    data_augmentation = keras.Sequential(
        [layers.Normalization(), layers.Resizing(IMAGE_SIZE, IMAGE_SIZE), layers.RandomFlip("horizontal"), layers.RandomZoom(height_factor=0.2, width_factor=0.2)],
        name="data_augmentation",
    )
    data_augmentation.layers[0].adapt(np.random.default_rng(33).integers(0, 256, (256, 32, 32, 3)).astype("float32"))
    inputs = layers.Input(shape=(32, 32, 3), name="image")
    x = layers.Dense(units=EMBEDDING_DIM)(_patches(data_augmentation(inputs)))
    for _ in range(NUM_BLOCKS):
        x = _mixer_block(x, 0.2)
    representation = layers.Dropout(rate=0.2)(layers.GlobalAveragePooling1D()(x))
    logits = layers.Dense(CLASSES)(representation)
    return keras.Model(inputs=inputs, outputs=logits, name="mlp_mixer")
