"""Tabular end to end with keras.utils.FeatureSpace: categoricals, normalised and bucketed floats, a cross.

    python examples/04_tabular_feature_space/example.py --out out/houses

1. data     houses.csv: 4,000 generated listings (city, rooms, area, age -> price class)
2. train    FeatureSpace.adapt, then a model on the encoded features (tf.data, preprocessing async)
3. build    the end-to-end model Keras recommends: model(feature_space(raw)) on raw inputs
4. export   edgeprep export houses.keras --out dist --data heldout.csv   (parity on real raw rows)
5. run      edgeprep run dist --target onnx --input raw.npz --output proba.npy
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
CITIES = ["Berlin", "Köln", "Hamburg", "München", "Leipzig", "Dresden"]


def edgeprep(*args, cwd: Path) -> None:
    print("$ edgeprep " + " ".join(map(str, args)), flush=True)
    subprocess.run([sys.executable, "-m", "edgeprep.cli", *map(str, args)], cwd=cwd, check=True)


def make_data(out: Path, rows: int = 4000, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    city = rng.choice(CITIES, rows)
    rooms = rng.integers(1, 7, rows)
    area = np.clip(rng.normal(25 * rooms + 20, 15), 15, None).round(1)
    age = rng.uniform(0, 120, rows).round(1)
    value = area * (3 + (city == "München") * 2 + (city == "Berlin")) - age * 0.8 + rng.normal(0, 30, rows)
    label = (value > np.median(value)).astype(int)
    columns = {"city": city, "rooms": rooms, "area": area, "age": age}
    lines = ["city,rooms,area,age,label"] + [f"{c},{r},{a},{g},{y}" for c, r, a, g, y in zip(city, rooms, area, age, label)]
    split = int(0.8 * rows)
    (out / "houses.csv").write_text("\n".join(lines[: split + 1]) + "\n", encoding="utf-8")
    (out / "heldout.csv").write_text("\n".join([lines[0]] + lines[split + 1:]) + "\n", encoding="utf-8")
    return {k: v[:split] for k, v in columns.items()}, label[:split]


def train(out: Path, epochs: int) -> None:
    import keras
    import numpy as np
    import tensorflow as tf
    from keras.utils import FeatureSpace

    keras.utils.set_random_seed(0)
    columns, labels = make_data(out)
    data = {"city": columns["city"], "rooms": columns["rooms"].astype("int64"), "area": columns["area"].astype("float32"), "age": columns["age"].astype("float32")}
    space = FeatureSpace(
        features={
            "city": FeatureSpace.string_categorical(num_oov_indices=1),
            "rooms": FeatureSpace.integer_categorical(num_oov_indices=1),
            "area": FeatureSpace.float_normalized(),
            "age": FeatureSpace.float_discretized(num_bins=5),
        },
        crosses=[FeatureSpace.cross(("city", "rooms"), crossing_dim=32)],
        output_mode="concat",
    )
    dataset = tf.data.Dataset.from_tensor_slices((data, labels)).batch(64)
    space.adapt(dataset.map(lambda x, _: x))
    encoded = dataset.map(lambda x, y: (space(x), y), num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    features = keras.Input((space.get_encoded_features().shape[-1],), name="features")
    hidden = keras.layers.Dense(32, activation="relu")(features)
    classifier = keras.Model(features, keras.layers.Dense(1, activation="sigmoid", name="expensive")(hidden))
    classifier.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    classifier.fit(encoded, epochs=epochs, verbose=0)
    inputs = space.get_inputs()
    model = keras.Model(inputs, classifier(space.get_encoded_features()), name="houses")
    model.save(out / "houses.keras")
    raw = {"city": np.array([["München"], ["Paris"], [""]]), "rooms": np.array([[3], [9], [1]]), "area": np.array([[95.0], [40.0], [15.0]], "float32"), "age": np.array([[10.0], [0.0], [120.0]], "float32")}
    np.savez(out / "raw.npz", **raw)
    print(f"trained houses: {len(labels)} rows, inputs {sorted(inputs)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/houses")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    train(out, args.epochs)
    edgeprep("inspect", "houses.keras", cwd=out)
    edgeprep("export", "houses.keras", "--out", "dist", "--data", "heldout.csv", cwd=out)
    edgeprep("run", "dist", "--target", "onnx", "--input", "raw.npz", "--output", "proba.npy", cwd=out)
    import numpy as np

    print("run onnx on raw rows (München / unseen city Paris / empty city):", np.round(np.load(out / "proba.npy")[:, 0], 4).tolist())
    manifest = json.loads((out / "dist" / "manifest.json").read_text())
    for artifact in manifest["artifacts"]:
        print(f"{artifact['file']}: ops {sorted(artifact['ops'])}; host steps: {artifact.get('host_steps') or 'none'}")


if __name__ == "__main__":
    main()
