"""Augmentation is stripped: the seed's RandomFlip / RandomRotation / RandomZoom inside a CNN.

    python examples/03_augmentation/example.py --out out/augment

1. train    augmentation Sequential -> Rescaling -> Conv2D -> ... on digits (augmentation is active in fit)
2. export   edgeprep export augmented.keras --out dist
3. show     the manifest's transforms (every stripped layer) and the artifacts' op lists (no random op)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
RANDOM_MARKERS = ("random", "multinomial", "bernoulli", "imageprojective")


def edgeprep(*args, cwd: Path) -> None:
    print("$ edgeprep " + " ".join(map(str, args)), flush=True)
    subprocess.run([sys.executable, "-m", "edgeprep.cli", *map(str, args)], cwd=cwd, check=True)


def train(out: Path, epochs: int) -> None:
    import keras
    import numpy as np
    from sklearn.datasets import load_digits

    keras.utils.set_random_seed(0)
    digits = load_digits()
    images = np.kron(digits.images * (255.0 / 16.0), np.ones((4, 4))).astype("float32")[..., None]  # 32x32
    augmentation = keras.Sequential(
        [keras.layers.RandomFlip("horizontal"), keras.layers.RandomRotation(0.1), keras.layers.RandomZoom(0.1)],
        name="data_augmentation",
    )
    model = keras.Sequential([
        keras.Input((32, 32, 1), name="image"),
        augmentation,
        keras.layers.Rescaling(1.0 / 255),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Dropout(0.2),
        keras.layers.Flatten(),
        keras.layers.Dense(10, name="logits"),
    ], name="augmented_digits")
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(images[:1400], digits.target[:1400], epochs=epochs, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(images[1400:], digits.target[1400:], verbose=0)
    model.save(out / "augmented.keras")
    print(f"trained augmented_digits: held-out accuracy {accuracy:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/augment")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    train(out, args.epochs)
    edgeprep("export", "augmented.keras", "--out", "dist", cwd=out)
    manifest = json.loads((out / "dist" / "manifest.json").read_text())
    for step in manifest["transforms"]:
        if step["action"] == "stripped":
            print(f"stripped {step['layer']} ({step['class']}): {step['detail']}")
    for artifact in manifest["artifacts"]:
        random_ops = [op for op in artifact["ops"] if any(m in op.lower() for m in RANDOM_MARKERS)]
        print(f"{artifact['file']}: {sum(artifact['ops'].values())} ops {sorted(artifact['ops'])}; random ops: {random_ops or 'none'}")


if __name__ == "__main__":
    main()
