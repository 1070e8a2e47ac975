"""A custom standardize callable (keras-io's "text classification from scratch") exported and verified.

    python examples/11_custom_standardize/example.py --out out/custom_standardize

1. corpus   2,000 generated movie reviews with "<br />" line breaks, punctuation and mixed case
2. train    TextVectorization(standardize=custom_standardization, max_tokens=2000, output_sequence_length=40)
            -> Embedding -> GlobalAveragePooling1D -> Dense; saved with the function registered
3. export   edgeprep export reviews.keras --out dist --custom-objects standardization:custom_standardization
            (the function is traced into byte steps: lower, replace "<br />", strip a punctuation class)
4. run      edgeprep run dist --target T --input raw.npz on raw strings, both targets
5. verify   edgeprep verify dist
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
GOOD = "moving brilliant superb funny gripping touching masterpiece".split()
BAD = "boring dull clumsy awful predictable tedious mess".split()
FILLER = "the plot actors film movie was and really its a Ending Scene ÉCOLE naïve".split()
CUSTOM = ("--custom-objects", "standardization:custom_standardization")


def edgeprep(*args, cwd: Path) -> None:
    print("$ edgeprep " + " ".join(map(str, args)), flush=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-m", "edgeprep.cli", *map(str, args)], cwd=cwd, check=True, env=env)


def corpus(rows: int = 2000, seed: int = 0):
    """Reviews of a few sentences joined by "<br />" (as in the IMDB data); label 1 when good words dominate."""
    import numpy as np

    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(rows):
        good, bad = int(rng.integers(0, 4)), int(rng.integers(0, 4))
        words = list(rng.choice(GOOD, good)) + list(rng.choice(BAD, bad)) + list(rng.choice(FILLER, int(rng.integers(3, 12))))
        rng.shuffle(words)
        sentences = [" ".join(words[i:i + 4]).capitalize() + str(rng.choice([".", "!", "...", "?!", ","])) for i in range(0, len(words), 4)]
        texts.append(str(rng.choice(["<br />", "<br /><br />", " "])).join(sentences))
        labels.append(int(good > bad))
    return np.array(texts), np.array(labels)


def train(out: Path, epochs: int) -> None:
    import keras
    import numpy as np
    import tensorflow as tf

    sys.path.insert(0, str(HERE))
    from standardization import custom_standardization

    keras.utils.set_random_seed(0)
    texts, labels = corpus()
    split = int(0.8 * len(texts))
    vectorize = keras.layers.TextVectorization(standardize=custom_standardization, max_tokens=2000, output_sequence_length=40, name="vectorize")
    vectorize.adapt(texts[:split])
    inputs = keras.Input((1,), dtype="string", name="review")
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(2000, 16)(vectorize(inputs)))
    model = keras.Model(inputs, keras.layers.Dense(1, name="score")(x), name="reviews")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(tf.constant(texts[:split, None]), labels[:split], epochs=epochs, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(tf.constant(texts[split:, None]), labels[split:], verbose=0)
    model.save(out / "reviews.keras")
    (out / "heldout.txt").write_text("\n".join(texts[split:]) + "\n", encoding="utf-8")
    raw = ["A masterpiece!<br /><br />Really moving.", "<BR />Dull, DULL... a mess<br/>", "", "École naïve — 日本<br />"]
    np.savez(out / "raw.npz", review=np.array(raw)[:, None])
    print(f"trained reviews: held-out accuracy {accuracy:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/custom_standardize")
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    train(out, args.epochs)
    edgeprep("export", "reviews.keras", "--out", "dist", "--data", "heldout.txt", *CUSTOM, cwd=out)
    for target in ("tflite", "onnx"):
        edgeprep("run", "dist", "--target", target, "--input", "raw.npz", "--output", f"scores-{target}.npy", cwd=out)
    edgeprep("verify", "dist", cwd=out)

    import keras
    import numpy as np
    import tensorflow as tf

    raw = np.load(out / "raw.npz")["review"]
    reference = np.asarray(keras.saving.load_model(out / "reviews.keras")(tf.constant(raw)))
    for target in ("tflite", "onnx"):
        got = np.load(out / f"scores-{target}.npy")
        print(f"run {target}: scores {np.round(got[:, 0], 4).tolist()}, max abs diff to Keras {np.abs(got - reference).max():.1e}")
    for step in (json.loads((out / "dist" / "manifest.json").read_text()).get("host") or {}).get("steps", []):
        print(f"host step {step['id']} ({step['class']}) for {', '.join(step['targets'])}")
    preprocess = out / "dist" / "preprocess.json"
    for step in json.loads(preprocess.read_text())["steps"] if preprocess.exists() else []:
        print(f"standardize steps of {step['layer']}: {json.dumps(step['config'].get('standardize'))}")


if __name__ == "__main__":
    main()
