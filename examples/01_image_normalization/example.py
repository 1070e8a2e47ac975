"""Image normalization end to end: the seed's MNIST model with Rescaling inside, on real digits.

    python examples/01_image_normalization/example.py --out out/digits

1. train    train.py: Rescaling(1/255) -> Conv2D -> MaxPool -> Flatten -> Dense on scikit-learn's digits
2. inspect  edgeprep inspect digits.keras          (what happens to every layer, per target)
3. export   edgeprep export digits.keras --out dist --data heldout.npz   (parity on real held-out images)
4. verify   edgeprep verify dist                   (re-checked from dist/ alone, no TensorFlow)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent


def edgeprep(*args, cwd: Path) -> None:
    print("$ edgeprep " + " ".join(map(str, args)), flush=True)
    subprocess.run([sys.executable, "-m", "edgeprep.cli", *map(str, args)], cwd=cwd, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/digits")
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(HERE / "train.py"), "--out", str(out / "digits.keras"), "--epochs", str(args.epochs)], check=True)

    import numpy as np

    sys.path.insert(0, str(HERE))
    from train import load_digits_uint8

    images, _ = load_digits_uint8()
    np.savez(out / "heldout.npz", image=images[int(0.8 * len(images)):])
    edgeprep("inspect", "digits.keras", cwd=out)
    edgeprep("export", "digits.keras", "--out", "dist", "--data", "heldout.npz", cwd=out)
    edgeprep("verify", "dist", cwd=out)
    manifest = json.loads((out / "dist" / "manifest.json").read_text())
    for entry in manifest["parity"]:
        print(f"parity {entry['target']}: {entry['samples']} held-out images, max rel error {entry['max_rel']:.1e}, top-1 agreement {entry['top1']:.1%}")
    for step in manifest["transforms"]:
        if step["action"] != "kept":
            print(f"transform {step['layer']} ({step['class']}): {step['action']} - {step['detail']}")


if __name__ == "__main__":
    main()
