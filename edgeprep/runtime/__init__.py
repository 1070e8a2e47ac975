"""The deploy runtime: everything that runs an export directory, with numpy and one runtime only.

Runners for onnxruntime (`onnx`) and ai-edge-litert (`tflite`) behind one interface (`runner`),
the host steps of ``preprocess.json`` (`host`), the manifest reader (`manifest`), the pass rule
(`compare`) and the directory-level operations verify and run build on (`directory`). edgeprep's
``verify`` and ``run``, the shipped ``test_parity.py`` and the examples all call this code.

It imports nothing of edgeprep except its error classes (see `errors`), and only relatively, so
``edgeprep export`` writes this package, file for file, into every export as ``edgeprep_runtime/``
(`shipped_files`). Runtimes are imported lazily: a deploy needs numpy plus onnxruntime or
ai-edge-litert (and pyfarmhash / siphash24 only for hashing host steps).
"""

from __future__ import annotations

from pathlib import Path

SHIPPED = "edgeprep_runtime"  # this package's name inside an export directory


def shipped_files() -> dict[str, bytes]:
    """This package's source files, keyed by their path inside an export directory."""
    root = Path(__file__).resolve().parent
    return {f"{SHIPPED}/{path.relative_to(root).as_posix()}": path.read_bytes() for path in sorted(root.rglob("*.py"))}
