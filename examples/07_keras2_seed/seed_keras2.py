"""The seed article's three code blocks as written for Keras 2, run under tf_keras, exported and verified.

    python examples/07_keras2_seed/seed_keras2.py --out out/keras2

1. image    ``Rescaling(1./255)`` in an MNIST-style CNN, trained on scikit-learn's bundled digits
            (no download)                                          -> digits.h5            (HDF5)
2. text     ``TextVectorization`` adapted on a generated corpus, ``Embedding``, pooling, ``Dense``
                                                                   -> reviews/             (SavedModel)
3. augment  ``RandomFlip`` / ``RandomRotation`` / ``RandomZoom`` in front of a CNN
                                                                   -> augmented.keras      (tf_keras .keras)

Then, for each, as a user would: ``edgeprep export MODEL --out dist/NAME --data NAME.heldout.npz``
(parity on the held-out inputs) and ``edgeprep verify dist/NAME`` (from the export alone). edgeprep loads the Keras 2 file with tf_keras, translates it to Keras 3 layer by layer,
strips / lowers as usual, and proves every artifact equal to the *tf_keras* model.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

POSITIVE = ("great", "wonderful", "excellent", "delightful", "moving", "brilliant", "charming", "superb")
NEGATIVE = ("terrible", "boring", "awful", "dull", "clumsy", "tedious", "bland", "painful")
NOUNS = ("film", "plot", "acting", "story", "ending", "music", "cast", "script")


def digits():
    """scikit-learn's 8x8 digits as 0..255 grey images (what a camera would deliver), shuffled."""
    import numpy as np
    from sklearn.datasets import load_digits

    data = load_digits()
    images = (data.images * (255.0 / 16.0)).round().astype("float32")[..., None]
    order = np.random.default_rng(0).permutation(len(images))
    return images[order], data.target[order]


def reviews(count: int = 600):
    """A generated corpus of short reviews, label 1 for positive."""
    import numpy as np

    rng = np.random.default_rng(0)
    texts, labels = [], []
    for _ in range(count):
        positive = bool(rng.integers(2))
        words = POSITIVE if positive else NEGATIVE
        texts.append(f"the {rng.choice(NOUNS)} was {rng.choice(words)} and the {rng.choice(NOUNS)} felt {rng.choice(words)}")
        labels.append(int(positive))
    return np.array(texts), np.array(labels, "float32")


# --- 1. Image normalization: the seed's MNIST model, Keras 2 API as written -----------------------
def image_model():
    import tf_keras as keras
    from tf_keras import layers
    from tf_keras.layers.experimental.preprocessing import Rescaling

    model = keras.Sequential([
        Rescaling(1./255, input_shape=(8, 8, 1)),
        layers.Conv2D(32, 3, activation='relu'),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(10)
    ])
    return model


# --- 2. Text: TextVectorization + Embedding, Keras 2 API as written ---------------------------------
def text_model(text_dataset):
    import tensorflow as tf
    import tf_keras as keras
    from tf_keras import layers
    from tf_keras.layers.experimental.preprocessing import TextVectorization

    vectorize_layer = TextVectorization(max_tokens=1000, output_sequence_length=20)
    vectorize_layer.adapt(text_dataset)
    model = keras.Sequential([
        keras.Input(shape=(1,), dtype=tf.string),
        vectorize_layer,
        layers.Embedding(1000, 16),
        layers.GlobalAveragePooling1D(),
        layers.Dense(1)
    ])
    return model


# --- 3. Augmentation: RandomFlip / RandomRotation / RandomZoom, Keras 2 API as written --------------
def augmented_model():
    import tf_keras as keras
    from tf_keras import layers
    from tf_keras.layers.experimental.preprocessing import Rescaling

    data_augmentation = keras.Sequential([
        layers.experimental.preprocessing.RandomFlip("horizontal"),
        layers.experimental.preprocessing.RandomRotation(0.1),
        layers.experimental.preprocessing.RandomZoom(0.1),
    ])
    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        data_augmentation,
        Rescaling(1./255),
        layers.Conv2D(32, 3, activation='relu'),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(10)
    ])
    return model


def train_and_save(out: Path, epochs: int) -> dict[str, Path]:
    """Train the three models under tf_keras, save each in a Keras 2 format, and its held-out
    inputs as ``NAME.heldout.npz`` (keyed by the model's input name) for parity on real data."""
    import numpy as np
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    images, labels = digits()
    split = int(0.8 * len(images))
    classify = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    paths = {}
    for name, model, filename in (("digits", image_model(), "digits.h5"), ("augmented", augmented_model(), "augmented.keras")):
        model.compile(optimizer="adam", loss=classify, metrics=["accuracy"])
        model.fit(images[:split], labels[:split], epochs=epochs, batch_size=64, verbose=0)
        _, accuracy = model.evaluate(images[split:], labels[split:], verbose=0)
        paths[name] = out / filename
        model.save(paths[name])
        np.savez(out / f"{name}.heldout.npz", **{model.input_names[0]: images[split:]})
        print(f"trained {name} under tf_keras {keras.__version__}: held-out accuracy {accuracy:.3f}; saved {filename}")

    texts, sentiment = reviews()
    model = text_model(texts[:480])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(texts[:480, None], sentiment[:480], epochs=epochs, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(texts[480:, None], sentiment[480:], verbose=0)
    paths["reviews"] = out / "reviews"
    model.save(paths["reviews"], save_format="tf")
    np.savez(out / "reviews.heldout.npz", **{model.input_names[0]: texts[480:, None]})
    print(f"trained reviews under tf_keras {keras.__version__}: held-out accuracy {accuracy:.3f}; saved reviews/ (SavedModel)")
    return paths


def edgeprep(*args, cwd: Path) -> None:
    print("$ edgeprep " + " ".join(map(str, args)), flush=True)
    subprocess.run([sys.executable, "-m", "edgeprep.cli", *map(str, args)], cwd=cwd, check=True)


def describe(dist: Path) -> None:
    """What the manifest says about the Keras 2 source and the layers the article is about."""
    manifest = json.loads((dist / "manifest.json").read_text())
    print(f"  source: {manifest['source']['kind']}; {manifest['source']['notes'][0]}")
    for entry in manifest["transforms"]:
        if entry["class"].startswith(("Random", "Rescaling", "TextVectorization")):
            where = f" [{entry['target']}]" if "target" in entry else ""
            print(f"  {entry['layer']} ({entry['class']}){where}: {entry['action']} - {entry['detail']}")
    for artifact in manifest["artifacts"]:
        randoms = sorted(op for op in artifact["ops"] if "random" in op.lower())
        host = f", host steps before it: {', '.join(artifact['host_steps'])}" if artifact["host_steps"] else ""
        print(f"  {artifact['file']}: {sum(artifact['ops'].values())} ops, random ops: {randoms or 'none'}{host}")
    for entry in manifest["parity"]:
        print(f"  parity {entry['target']} vs tf_keras on {entry['samples']} held-out inputs: passed={entry['passed']} max rel {entry['max_rel']:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/keras2")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)

    paths = train_and_save(out, args.epochs)
    for name, path in paths.items():
        edgeprep("export", path.name, "--out", f"dist/{name}", "--data", f"{name}.heldout.npz", cwd=out)
        describe(out / "dist" / name)
        edgeprep("verify", f"dist/{name}", cwd=out)


if __name__ == "__main__":
    main()
