"""A sensor model for a microcontroller: export with --micro, read the op list and arena, run it in tflite-micro.

    python examples/10_microcontroller/run.py --out out/micro [--epochs 3]

The model classifies a 32-step, 3-axis accelerometer window (Normalization inside) together with
the kind of device that recorded it (IntegerLookup inside, one-hot). `edgeprep export --micro`
writes a full-int8, batch-1 TFLite file that TensorFlow Lite for Microcontrollers runs: the
lookup is lowered with kernels TFLM registers (no HASHTABLE, ONE_HOT or SELECT), every op is
checked against TFLM's resolver, and the tensor arena is measured in tflite-micro. The run at the
end uses only the export directory and its shipped runtime (`edgeprep_runtime.micro`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def build(out: Path, epochs: int) -> None:
    """Train the model on synthetic windows; write it, calibration rows and held-out rows."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = 1200
    label = rng.integers(0, 4, n)
    kind = rng.choice([7, 11, 13], n)
    t = np.linspace(0, 2 * np.pi, 32, dtype="float32")
    window = np.stack([np.sin((label[:, None] + 1) * t[None] + axis) for axis in range(3)], -1) * 2.0 + 9.81 * (np.arange(3) == 2)
    window = (window + rng.normal(0, 0.3, window.shape)).astype("float32")
    data = {"window": window, "device_kind": kind.reshape(-1, 1).astype("int64")}

    inputs = {"window": keras.Input((32, 3), name="window"), "device_kind": keras.Input((1,), dtype="int64", name="device_kind")}
    norm = keras.layers.Normalization(axis=-1)
    norm.adapt(window)
    x = keras.layers.Conv1D(8, 5, strides=2, activation="relu")(norm(inputs["window"]))
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Conv1D(16, 3, activation="relu")(x))
    kinds = keras.layers.IntegerLookup(vocabulary=[7, 11, 13], output_mode="one_hot")(inputs["device_kind"])
    x = keras.layers.Dense(16, activation="relu")(keras.layers.Concatenate()([x, kinds]))
    model = keras.Model(inputs, keras.layers.Dense(4, name="gesture")(x))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(data, label, epochs=epochs, batch_size=64, verbose=0)
    model.save(out / "gesture.keras")
    np.savez(out / "calibration.npz", **{k: v[:256] for k, v in data.items()})
    np.savez(out / "heldout.npz", **{k: v[-200:] for k, v in data.items()})


def run_in_tflite_micro(dist: Path) -> None:
    """Only the export directory: its manifest, its golden vectors and its shipped runtime."""
    import numpy as np

    sys.path.insert(0, str(dist))
    from edgeprep_runtime.micro import MicroRunner

    micro = json.loads((dist / "manifest.json").read_text())["artifacts"][0]["graph"]["micro"]
    with np.load(dist / "golden" / "inputs.npz") as inputs, np.load(dist / "golden" / "outputs.npz") as outputs:
        feed, keras_out = {k: inputs[k] for k in inputs.files}, outputs["gesture"]
    with MicroRunner((dist / "model.tflite").read_bytes(), arena=micro["arena_bytes"]) as runner:
        got = runner.infer(feed)["gesture"]
    agree = float(np.mean(got.argmax(-1) == keras_out.argmax(-1)))
    print(f"tflite-micro on {len(got)} golden rows in a {micro['arena_bytes']}-byte arena: top-1 agreement with Keras {agree:.1%}, "
          f"max abs diff {float(np.max(np.abs(got - keras_out))):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/micro")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    build(out, args.epochs)
    command = ["export", "gesture.keras", "--out", "dist", "--micro", "--calibration", "calibration.npz", "--data", "heldout.npz"]
    print("$ edgeprep " + " ".join(command), flush=True)
    subprocess.run([sys.executable, "-m", "edgeprep.cli", *command], cwd=out, check=True)
    artifact = json.loads((out / "dist" / "manifest.json").read_text())["artifacts"][0]
    micro = artifact["graph"]["micro"]
    print("ops: " + ", ".join(f"{op} x{count}" for op, count in artifact["ops"].items()))
    print(f"arena: {micro['arena_min_bytes']} bytes measured in tflite-micro, allocate {micro['arena_bytes']}")
    print(f"tflite-micro vs LiteRT on the calibration rows, in int8 steps: {micro['vs_litert_steps']}")
    print("firmware:")
    print(f"  constexpr size_t kTensorArenaSize = {micro['arena_bytes']};")
    print(f"  static tflite::MicroMutableOpResolver<{len(micro['op_resolver'])}> resolver;")
    for call in micro["op_resolver"]:
        print(f"  resolver.{call}();")
    run_in_tflite_micro(out / "dist")


if __name__ == "__main__":
    main()
