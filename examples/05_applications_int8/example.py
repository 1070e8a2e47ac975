"""keras.applications.MobileNetV3Small with its built-in Rescaling, exported float32 and int8.

    python examples/05_applications_int8/example.py --out out/mobilenet [--size 224]

The network is built with weights=None (nothing is downloaded) and its BatchNorm statistics are
set from one batch of images, so its outputs depend on its input (a stand-in for trained weights).
int8 is calibrated on --calibration images and judged by top-1 agreement and SQNR against the
float Keras model on held-out images.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def edgeprep(*args, cwd: Path) -> None:
    print("$ edgeprep " + " ".join(map(str, args)), flush=True)
    subprocess.run([sys.executable, "-m", "edgeprep.cli", *map(str, args)], cwd=cwd, check=True)


def build(out: Path, size: int) -> None:
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV3Small(input_shape=(size, size, 3), weights=None, include_preprocessing=True, classifier_activation=None)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (288, size, size, 3)).astype("float32")
    batchnorms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in batchnorms:
        layer.momentum = 0.0
    model(images[:32], training=True)  # moving statistics := those of one batch
    for layer in batchnorms:
        layer.momentum = 0.99
        layer.moving_variance.assign(layer.moving_variance.numpy() + 0.1 * np.median(layer.moving_variance.numpy()))
    model.save(out / "mobilenet.keras")
    name = model.layers[0].name
    np.savez(out / "calibration.npz", **{name: images[32:288]})
    np.savez(out / "heldout.npz", **{name: rng.uniform(0, 255, (64, size, size, 3)).astype("float32")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/mobilenet")
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    build(out, args.size)
    edgeprep("export", "mobilenet.keras", "--out", "float", "--data", "heldout.npz", cwd=out)
    edgeprep("export", "mobilenet.keras", "--out", "int8", "--quantize", "int8", "--calibration", "calibration.npz", "--data", "heldout.npz", cwd=out)
    sizes = {}
    for variant in ("float", "int8"):
        manifest = json.loads((out / variant / "manifest.json").read_text())
        for artifact, parity in zip(manifest["artifacts"], manifest["parity"]):
            sizes[(variant, artifact["target"])] = artifact["bytes"]
            sqnr = parity["outputs"][0]["sqnr_db"]
            print(f"{variant} {artifact['target']}: {artifact['bytes'] / 1e6:.2f} MB, top-1 agreement {parity['top1']:.1%}, SQNR {sqnr if isinstance(sqnr, str) else round(sqnr, 1)} dB")
    for target in ("tflite", "onnx"):
        print(f"int8 / float size {target}: {sizes[('int8', target)] / sizes[('float', target)]:.3f}")


if __name__ == "__main__":
    main()
