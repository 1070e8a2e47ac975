"""`import edgeprep` and the deploy side (verify, run) never import TensorFlow or Keras."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

BLOCK = "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None; sys.modules['tf2onnx'] = None; "


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True, text=True, timeout=300)


def test_import_edgeprep_does_not_import_tensorflow():
    result = subprocess.run(
        [sys.executable, "-c", "import sys, edgeprep, edgeprep.cli; print('tensorflow' in sys.modules, 'keras' in sys.modules)"],
        capture_output=True, text=True,
    )
    assert result.stdout.strip() == "False False", result.stderr


def test_verify_and_run_work_without_tensorflow(zoo_exports, tmp_path):
    out = zoo_exports("seed_cnn").out_dir
    np.savez(tmp_path / "in.npz", image=np.zeros((2, 28, 28, 1), np.float32))
    result = _python(
        "import edgeprep; from edgeprep.deploy import run_directory; from edgeprep.config import Target; "
        f"assert edgeprep.verify({str(out)!r}).passed; "
        f"import numpy as np; y = run_directory({str(out)!r}, Target.ONNX, dict(np.load({str(tmp_path / 'in.npz')!r}))); "
        "print(next(iter(y.values())).shape)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(2, 10)"
