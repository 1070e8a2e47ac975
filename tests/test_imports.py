"""`import edgeprep` and the deploy side (verify, run) never import TensorFlow or Keras."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

import edgeprep
from zoo import seed_cnn

BLOCK = "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None; sys.modules['tf2onnx'] = None; "


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True, text=True, timeout=300)


def test_import_edgeprep_does_not_import_tensorflow():
    result = subprocess.run(
        [sys.executable, "-c", "import sys, edgeprep, edgeprep.cli; print('tensorflow' in sys.modules, 'keras' in sys.modules)"],
        capture_output=True, text=True,
    )
    assert result.stdout.strip() == "False False", result.stderr


def test_verify_and_run_work_without_tensorflow(tmp_path):
    out = tmp_path / "dist"
    edgeprep.export(seed_cnn(), out)
    np.savez(tmp_path / "in.npz", image=np.zeros((2, 28, 28, 1), np.float32))
    result = _python(
        "import edgeprep; from edgeprep.deploy import run_directory; from edgeprep.config import Target; "
        f"assert edgeprep.verify({str(out)!r}).passed; "
        f"import numpy as np; y = run_directory({str(out)!r}, Target.ONNX, dict(np.load({str(tmp_path / 'in.npz')!r}))); "
        "print(next(iter(y.values())).shape)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(2, 10)"


def test_import_edgeprep_stays_free_of_build_dependencies():
    code = "import sys, edgeprep, edgeprep.cli; print(sorted(m for m in ('tensorflow', 'keras', 'pyarrow', 'apache_beam') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
    assert callable(__import__("edgeprep").build)


def test_host_code_of_every_family_imports_without_tensorflow():
    result = _python(
        "import importlib; from edgeprep.families import FAMILIES; from edgeprep.host.steps import KINDS; "
        "[importlib.import_module(f'edgeprep.families.{f.name}.host') for f in FAMILIES if f.host is not None]; print(len(KINDS))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "6"
