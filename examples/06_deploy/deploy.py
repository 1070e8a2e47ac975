"""Deploy side: run an edgeprep export with only numpy + onnxruntime / ai-edge-litert (no TensorFlow).

    python examples/06_deploy/deploy.py out/digits/dist [--input images.npz]

Loads each artifact with its stock runtime, feeds the golden inputs (or --input, keyed by input
name), prints the outputs' first rows and the agreement with the golden Keras outputs, then runs
the export's own test_parity.py with pytest when pytest is installed. Imports nothing of
TensorFlow, Keras or edgeprep, and checks that at the end.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np


def run_onnx(path: Path, feed: dict) -> dict:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(names, {i.name: feed[i.name] for i in session.get_inputs()})))


def run_tflite(path: Path, feed: dict) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    for detail in interpreter.get_input_details():
        interpreter.resize_tensor_input(detail["index"], list(feed[detail["name"]].shape))
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], feed[detail["name"]].astype(detail["dtype"]))
    interpreter.invoke()
    return {detail["name"]: interpreter.get_tensor(detail["index"]) for detail in interpreter.get_output_details()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", type=Path)
    parser.add_argument("--input", type=Path, help=".npz of raw inputs keyed by input name (default: the golden inputs)")
    args = parser.parse_args()
    sys.path.insert(0, str(args.dist))
    from edgeprep_manifest import Manifest  # the manifest reader every export ships (standard library only)

    manifest = Manifest.read(args.dist)
    if manifest.host:
        raise SystemExit("this export has host preprocessing steps (see preprocess.json): run it with `edgeprep run`, which needs no TensorFlow")
    feed = dict(np.load(args.input or args.dist / manifest.golden.inputs))
    golden = dict(np.load(args.dist / manifest.golden.outputs)) if args.input is None else None
    for artifact in manifest.artifacts:
        run = {"onnx": run_onnx, "tflite": run_tflite}[artifact.target]
        outputs = run(args.dist / artifact.file, feed)
        for name, value in outputs.items():
            line = f"{artifact.target}: {name} {value.shape}, first row {np.round(value[0], 3).tolist()}"
            if golden is not None:
                line += f"; max abs diff to Keras {np.abs(value - golden[name]).max():.1e}"
            print(line)
    assert not {"tensorflow", "keras", "edgeprep"} & set(sys.modules), "the deploy side must not import TensorFlow, Keras or edgeprep"
    print("deploy side ran without TensorFlow, Keras or edgeprep")
    try:
        import pytest  # noqa: F401
    except ImportError:
        return 0
    return subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(args.dist)])


if __name__ == "__main__":
    sys.exit(main())
