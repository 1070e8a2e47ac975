"""Deploy side: run an edgeprep export with only numpy + onnxruntime / ai-edge-litert (no TensorFlow).

    python examples/06_deploy/deploy.py out/digits/dist [--input images.npz]

Every export ships its deploy runtime, ``edgeprep_runtime/`` (runners, host steps, the manifest
reader and the pass rule: the code ``edgeprep verify`` and ``edgeprep run`` use). This script
imports it from the export directory, runs each artifact on the golden inputs (or --input, keyed
by input name; host steps included), prints the outputs' first rows and the verdict against the
golden Keras outputs, then runs the export's own test_parity.py with pytest when pytest is
installed. Imports nothing of TensorFlow, Keras or edgeprep, and checks that at the end.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", type=Path)
    parser.add_argument("--input", type=Path, help=".npz of raw inputs keyed by input name (default: the golden inputs)")
    args = parser.parse_args()
    sys.path.insert(0, str(args.dist))
    from edgeprep_runtime.directory import compare_golden, manifest_tolerance, run  # shipped in every export
    from edgeprep_runtime.manifest import Manifest

    manifest = Manifest.read(args.dist)
    with np.load(args.input or args.dist / manifest.golden.inputs, allow_pickle=False) as archive:
        feed = {key: archive[key] for key in archive.files}
    for artifact in manifest.artifacts:
        for name, value in run(args.dist, artifact.target, feed).items():
            print(f"{artifact.target}: {name} {value.shape}, first row {np.round(value[0], 3).tolist()}")
        if args.input is None:
            print(compare_golden(args.dist, manifest, artifact).report(manifest_tolerance(manifest)).summary())
    assert not {"tensorflow", "keras", "edgeprep"} & set(sys.modules), "the deploy side must not import TensorFlow, Keras or edgeprep"
    print("deploy side ran without TensorFlow, Keras or edgeprep")
    try:
        import pytest  # noqa: F401
    except ImportError:
        return 0
    return subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(args.dist)])


if __name__ == "__main__":
    sys.exit(main())
