"""Shared fixtures: the `target` fixture over every converter, the zoo, artifact op readers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402

from edgeprep.config import ALL_TARGETS, Target  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items):
    if os.environ.get("EDGEPREP_SLOW") == "1" or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: set EDGEPREP_SLOW=1 (or -m slow) to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=ALL_TARGETS, ids=lambda t: t.value)
def target(request) -> Target:
    """Every converter: tests taking this fixture run once per target."""
    return request.param


TF_FREE = ["numpy>=2,<3", "pytest>=8", "onnxruntime>=1.32,<1.33", "ai-edge-litert>=2.3,<2.4"]


@pytest.fixture(scope="session")
def tf_free_python(tmp_path_factory):
    """A virtualenv holding only numpy, pytest, onnxruntime and ai-edge-litert (no TensorFlow, no edgeprep)."""
    venv = tmp_path_factory.mktemp("tf-free") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *TF_FREE], check=True, timeout=900)
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True).stdout
    names = {p["name"].lower() for p in json.loads(listed)}
    assert not names & {"tensorflow", "tensorflow-cpu", "keras", "edgeprep", "tf-keras"}
    return python
