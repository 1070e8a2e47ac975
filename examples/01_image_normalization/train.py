"""The seed article's MNIST model (Rescaling inside), trained on scikit-learn's bundled digits.

Usage: python examples/01_image_normalization/train.py --out out/digits.keras
No download: the 8x8 digits ship with scikit-learn. Pixels are scaled to 0..255 as a camera would
deliver them; the model's own Rescaling(1/255) layer normalises them.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def load_digits_uint8():
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images * (255.0 / 16.0)).round().astype("float32")[..., None]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(images))
    return images[order], digits.target[order].astype("int64")


def build_model():
    import keras

    return keras.Sequential(
        [
            keras.Input((8, 8, 1), name="image"),
            keras.layers.Rescaling(1 / 255, name="rescale"),
            keras.layers.Conv2D(32, 3, activation="relu", name="conv"),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(10, name="logits"),
        ],
        name="digits_cnn",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/digits.keras")
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()

    import keras

    keras.utils.set_random_seed(0)
    images, labels = load_digits_uint8()
    split = int(0.8 * len(images))
    model = build_model()
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(images[:split], labels[:split], epochs=args.epochs, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(images[split:], labels[split:], verbose=0)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(f"trained digits_cnn: held-out accuracy {accuracy:.3f}; saved {args.out}")


if __name__ == "__main__":
    main()
