"""keras-io ``examples/audio/stft.py``: ESC-10 audio classification with STFTSpectrogram layers.

Variant ``1d``: ``model1d`` — a non-trainable STFTSpectrogram(mode="log", 40 ms frames, 15 ms step)
on a waveform of dynamic length (input ``(None, 1)``), Conv1D stack with LayerNormalization,
MaxPooling1D, Dropout, GlobalMaxPooling1D, Dense head, softmax over 10 classes; 5 s clips at
16 kHz as in the example, widths divided by 4. Variant ``2d``: ``model2d`` — three trainable
STFTSpectrograms (30/40/50 ms frames, padding="same", expand_dims=True, fft_length=2048)
concatenated as channels into MobileNet(include_top=False, pooling="max", weights=None, alpha 0.25
here), Dense head; 1 s clips.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE, CLASSES = 16000, 10
SECONDS = {"1d": 5, "2d": 1}


def raw_inputs(n: int, rng, variant: str) -> dict[str, np.ndarray]:
    length = SAMPLE_RATE * SECONDS[variant]
    t = np.arange(length) / SAMPLE_RATE
    tones = np.sin(2 * np.pi * rng.uniform(100, 4000, (n, 1)) * t) * rng.uniform(0.1, 0.5, (n, 1))
    wave = tones + rng.normal(0.0, 0.05, (n, length))
    return {"waveform": np.clip(wave, -1.0, 1.0).astype("float32")[..., None]}


def build(variant: str):
    import keras
    from keras import layers

    keras.utils.set_random_seed(34)
    if variant == "1d":
        return keras.Sequential(
            [
                layers.InputLayer((None, 1), name="waveform"),
                layers.STFTSpectrogram(mode="log", frame_length=SAMPLE_RATE * 40 // 1000, frame_step=SAMPLE_RATE * 15 // 1000, trainable=False),
                layers.Conv1D(16, 64, activation="relu"),
                layers.Conv1D(32, 16, activation="relu"),
                layers.LayerNormalization(),
                layers.MaxPooling1D(4),
                layers.Conv1D(32, 8, activation="relu"),
                layers.Conv1D(64, 8, activation="relu"),
                layers.Conv1D(128, 4, activation="relu"),
                layers.LayerNormalization(),
                layers.Dropout(0.5),
                layers.GlobalMaxPooling1D(),
                layers.Dense(64, activation="relu"),
                layers.Dense(64, activation="relu"),
                layers.Dropout(0.5),
                layers.Dense(CLASSES, activation="softmax"),
            ],
            name="model_1d_non_trainble_stft",
        )
    inputs = layers.Input((None, 1), name="waveform")
    spectrograms = [
        layers.STFTSpectrogram(mode="log", frame_length=SAMPLE_RATE * frame_size // 1000, frame_step=SAMPLE_RATE * 15 // 1000, fft_length=2048, padding="same", expand_dims=True)(inputs)
        for frame_size in [30, 40, 50]
    ]
    multi_spectrograms = layers.Concatenate(axis=-1)(spectrograms)
    img_model = keras.applications.MobileNet(include_top=False, pooling="max", weights=None, alpha=0.25, input_shape=(None, None, 3))
    output = img_model(multi_spectrograms)
    output = layers.Dropout(0.5)(output)
    output = layers.Dense(64, activation="relu")(output)
    output = layers.Dense(64, activation="relu")(output)
    output = layers.Dense(CLASSES, activation="softmax")(output)
    return keras.Model(inputs, output, name="model_2d_trainble_stft")
