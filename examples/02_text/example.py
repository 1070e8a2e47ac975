"""Text end to end: TextVectorization + Embedding, trained on a small generated corpus.

    python examples/02_text/example.py --out out/text

1. corpus   reviews.csv: 2,000 generated one-line reviews (positive / negative words, punctuation, case)
2. train    TextVectorization(max_tokens=1000, output_sequence_length=20) -> Embedding -> GAP -> Dense
3. inspect  edgeprep inspect text.keras     (TextVectorization: lowered in graph; --host-steps keeps it on the host)
4. export   edgeprep export text.keras --out dist --data heldout.txt
5. run      edgeprep run dist --target T --input raw.npz --output scores.npy   on raw strings, both targets
6. verify   edgeprep verify dist
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
GOOD = "great superb lovely fast friendly perfect excellent happy recommend enjoyed".split()
BAD = "awful slow broken rude terrible refund disappointed cold late never".split()
FILLER = "the food service room staff delivery was and very really quite our it a Café naïve".split()


def edgeprep(*args, cwd: Path) -> None:
    print("$ edgeprep " + " ".join(map(str, args)), flush=True)
    subprocess.run([sys.executable, "-m", "edgeprep.cli", *map(str, args)], cwd=cwd, check=True)


def corpus(rows: int = 2000, seed: int = 0):
    """Reviews mixing filler with good or bad words; label 1 when good words dominate."""
    import numpy as np

    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(rows):
        good, bad = int(rng.integers(0, 4)), int(rng.integers(0, 4))
        words = list(rng.choice(GOOD, good)) + list(rng.choice(BAD, bad)) + list(rng.choice(FILLER, int(rng.integers(2, 8))))
        rng.shuffle(words)
        text = " ".join(w.upper() if rng.random() < 0.1 else w for w in words).capitalize() + str(rng.choice([".", "!", "!!", "?", ""]))
        texts.append(text)
        labels.append(int(good > bad))
    return np.array(texts), np.array(labels)


def train(out: Path, epochs: int) -> None:
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    texts, labels = corpus()
    split = int(0.8 * len(texts))
    vectorize = keras.layers.TextVectorization(max_tokens=1000, output_sequence_length=20, name="vectorize")
    vectorize.adapt(texts[:split])
    inputs = keras.Input((1,), dtype="string", name="review")
    x = keras.layers.Embedding(1000, 16)(vectorize(inputs))
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, name="score")(x), name="review_sentiment")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
    import tensorflow as tf

    model.fit(tf.constant(texts[:split, None]), labels[:split], epochs=epochs, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(tf.constant(texts[split:, None]), labels[split:], verbose=0)
    model.save(out / "text.keras")
    (out / "heldout.txt").write_text("\n".join(texts[split:]) + "\n", encoding="utf-8")
    np.savez(out / "raw.npz", review=np.array([["Great food, really GREAT!"], ["rude staff; cold food..."], [""], ["Café naïve — 日本"]]))
    print(f"trained review_sentiment: held-out accuracy {accuracy:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/text")
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    train(out, args.epochs)
    edgeprep("inspect", "text.keras", cwd=out)
    edgeprep("export", "text.keras", "--out", "dist", "--data", "heldout.txt", cwd=out)
    for target in ("tflite", "onnx"):
        edgeprep("run", "dist", "--target", target, "--input", "raw.npz", "--output", f"scores-{target}.npy", cwd=out)
    edgeprep("verify", "dist", cwd=out)

    import keras
    import numpy as np

    import tensorflow as tf

    raw = np.load(out / "raw.npz")["review"]
    reference = np.asarray(keras.saving.load_model(out / "text.keras")(tf.constant(raw)))
    for target in ("tflite", "onnx"):
        got = np.load(out / f"scores-{target}.npy")
        print(f"run {target}: scores {np.round(got[:, 0], 4).tolist()}, max abs diff to Keras {np.abs(got - reference).max():.1e}")
    manifest = json.loads((out / "dist" / "manifest.json").read_text())
    for step in (manifest.get("host") or {}).get("steps", []):
        print(f"host step {step['id']} ({step['class']}) for {', '.join(step['targets'])}: {step['inputs']} -> {step['output']}")
    for entry in manifest["transforms"]:
        if entry["class"] == "TextVectorization":
            print(f"in the artifact: {entry['layer']} ({entry['class']}) {entry['action']}: {entry['detail']}")
    for tensor in manifest["inputs"]:
        print(f"input {tensor['name']}: {tensor['dtype']} {tensor['shape']}, fed as {tensor.get('encoding', tensor['dtype'])}")


if __name__ == "__main__":
    main()
