"""The whole build workflow on a small generated tabular data set (delivery times).

    python examples/08_build_workflow/workflow.py --out out/delivery

1. data     a seeded CSV of parcels (distance, weight, stops, hour -> minutes), in two shards
2. spec     spec.toml beside this file: Normalization x3 and a Rescaling, Keras' own serialization
3. adapt    edgeprep build --preprocess spec.toml --adapt 'train-*.csv' --out pre.keras
4. train    in tf.data: the dataset maps raw rows through pre.keras (asynchronous preprocessing)
5. build    edgeprep build model.keras --preprocess pre.keras --adapt val.csv --out full.keras
6. export   edgeprep export full.keras --out dist
7. verify   edgeprep verify dist          (no TensorFlow needed)
8. deploy   edgeprep run dist --target tflite --input raw.npz --output minutes.npy, on raw rows

Steps 3 and 5-8 run the ``edgeprep`` command as a user would. The same adapt over data that does
not fit one machine: add ``--runner beam --beam-option=--runner=FlinkRunner ...`` to step 3.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
FEATURES = ("distance_km", "parcel_kg", "stops", "hour")


def make_data(out: Path, rows: int = 3000, seed: int = 0) -> None:
    """Delivery minutes = 6 + 2.4 * km + 4 * stops + 0.3 * kg + rush-hour delay + noise."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(seed)
    distance = rng.gamma(2.0, 4.0, rows)
    parcel = rng.lognormal(0.5, 0.8, rows)
    stops = rng.integers(0, 8, rows).astype(float)
    hour = rng.integers(0, 24, rows).astype(float)
    rush = np.where((hour >= 7) & (hour <= 9) | (hour >= 16) & (hour <= 18), 12.0, 0.0)
    minutes = 6 + 2.4 * distance + 4 * stops + 0.3 * parcel + rush + rng.normal(0, 2, rows)
    table = pa.table({"distance_km": distance, "parcel_kg": parcel, "stops": stops, "hour": hour, "minutes": minutes})
    split = int(rows * 0.8)
    pcsv.write_csv(table.slice(0, split // 2), str(out / "train-0.csv"))
    pcsv.write_csv(table.slice(split // 2, split - split // 2), str(out / "train-1.csv"))
    pcsv.write_csv(table.slice(split), str(out / "val.csv"))


def edgeprep(*args, cwd: Path) -> None:
    print("$ edgeprep " + " ".join(map(str, args)), flush=True)
    subprocess.run([sys.executable, "-m", "edgeprep.cli", *map(str, args)], cwd=cwd, check=True)


def train(out: Path, epochs: int) -> None:
    """Train on pre(raw) in tf.data; the model itself sees only encoded features."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    pre = keras.saving.load_model(out / "pre.keras")

    def encode(row, label):
        return pre({name: tf.expand_dims(row[name], -1) for name in FEATURES}), label

    def dataset(pattern: str, shuffle: bool):
        return tf.data.experimental.make_csv_dataset(
            str(out / pattern), batch_size=64, label_name="minutes", select_columns=[*FEATURES, "minutes"],
            num_epochs=1, shuffle=shuffle, shuffle_seed=0,
        ).map(encode, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    features = keras.Input((int(pre.output.shape[-1]),), name="features")
    hidden = keras.layers.Dense(32, activation="relu")(features)
    model = keras.Model(features, keras.layers.Dense(1, name="minutes")(hidden), name="delivery_time")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    model.fit(dataset("train-*.csv", True), epochs=epochs, verbose=0)
    _, mae = model.evaluate(dataset("val.csv", False), verbose=0)
    model.save(out / "model.keras")
    print(f"trained delivery_time in tf.data: validation MAE {mae:.2f} minutes")


def deploy(out: Path) -> float:
    """Run the TFLite artifact on raw validation rows; compare with the Keras end-to-end model."""
    import keras
    import numpy as np
    import pyarrow.csv as pcsv

    val = pcsv.read_csv(str(out / "val.csv"))
    raw = {name: val.column(name).to_numpy().astype("float32").reshape(-1, 1) for name in FEATURES}
    np.savez(out / "raw.npz", **raw)
    edgeprep("run", "dist", "--target", "tflite", "--input", "raw.npz", "--output", "minutes.npy", cwd=out)
    on_device = np.load(out / "minutes.npy")
    in_keras = np.asarray(keras.saving.load_model(out / "full.keras")(raw))
    error = float(np.abs(on_device - in_keras).max() / np.abs(in_keras).max())
    truth = val.column("minutes").to_numpy()
    print(f"deployed: TFLite on {len(truth)} raw rows, MAE {np.abs(on_device[:, 0] - truth).mean():.2f} minutes, max rel diff to Keras {error:.1e}")
    return error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/delivery")
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)

    make_data(out)
    edgeprep("build", "--preprocess", HERE / "spec.toml", "--adapt", "train-*.csv", "--out", "pre.keras", cwd=out)
    train(out, args.epochs)
    edgeprep("build", "model.keras", "--preprocess", "pre.keras", "--adapt", "val.csv", "--out", "full.keras", cwd=out)
    edgeprep("export", "full.keras", "--out", "dist", cwd=out)
    edgeprep("verify", "dist", cwd=out)
    if deploy(out) > 1e-5:
        raise SystemExit("deployed artifact differs from the Keras model")


if __name__ == "__main__":
    main()
