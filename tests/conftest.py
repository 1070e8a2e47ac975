"""Shared fixtures: the `target` fixture over every converter, one session cache of zoo exports,
artifact op readers, and the TF-free deploy side the shipped parity test runs on."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class Exported:
    """One shared export: the zoo model it was made from and what ``edgeprep.export`` returned.

    Attributes:
        name: the zoo name.
        model: the Keras model (shared: tests must not change it).
        result: the ExportResult; its ``out_dir`` is shared too (copy it before changing a file).
    """

    name: str
    model: Any
    result: Any

    @property
    def out_dir(self) -> Path:
        return self.result.out_dir


def _key(value):
    """``value`` as a hashable cache key part (lists and dicts become tuples)."""
    if isinstance(value, dict):
        return tuple(sorted((k, _key(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_key(v) for v in value)
    return value


def _digests(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.rglob("*")) if p.is_file()}


class ExportCache:
    """Exports per (zoo model, model arguments, export options), each made once per session.

    Under pytest-xdist every worker holds its own cache. Each zoo model is built once per
    (name, model arguments) and shared by all its exports; `check_untouched` proves at the end
    of the session that no test changed a shared export directory.
    """

    def __init__(self, root: Path):
        self._root = root
        self._models: dict[tuple, Any] = {}
        self._saved: dict[str, tuple[Path, str]] = {}
        self._exports: dict[tuple, tuple[Exported, dict[str, str]]] = {}

    def model(self, name: str, **model_args) -> Any:
        """The zoo model ``name`` built with ``model_args`` (once)."""
        from zoo import ZOO

        key = (name, _key(model_args))
        if key not in self._models:
            self._models[key] = ZOO[name](**model_args)
        return self._models[key]

    def saved(self, name: str) -> Path:
        """The zoo model ``name`` saved once as ``<name>.keras`` (for the CLI; read it, don't change it)."""
        if name not in self._saved:
            path = self._root / "saved" / f"{name}.keras"
            path.parent.mkdir(exist_ok=True)
            self.model(name).save(path)
            self._saved[name] = (path, hashlib.sha256(path.read_bytes()).hexdigest())
        return self._saved[name][0]

    def __call__(self, name: str, model_args: dict | None = None, **options) -> Exported:
        """``edgeprep.export(zoo model, dir, **options)``, made on first use and shared afterwards."""
        import edgeprep

        key = (name, _key(model_args or {}), _key(options))
        if key not in self._exports:
            model = self.model(name, **(model_args or {}))
            out = self._root / f"{name}-{len(self._exports)}" / "dist"
            exported = Exported(name, model, edgeprep.export(model, out, **options))
            self._exports[key] = (exported, _digests(out))
        return self._exports[key][0]

    def check_untouched(self) -> None:
        """Fail when a test changed a saved model or changed, added or removed a file of a shared export."""
        changed = [exported.out_dir for exported, digests in self._exports.values() if _digests(exported.out_dir) != digests]
        changed += [path for path, digest in self._saved.values() if hashlib.sha256(path.read_bytes()).hexdigest() != digest]
        assert not changed, f"tests changed shared files (copy them first): {changed}"


@pytest.fixture(scope="session")
def zoo_exports(tmp_path_factory):
    """``zoo_exports(zoo_name, model_args=None, **export_options) -> Exported``: one export per key per session.

    Tests read the result; a test that changes files copies ``out_dir`` first (shutil.copytree).
    """
    cache = ExportCache(tmp_path_factory.mktemp("exports"))
    yield cache
    cache.check_untouched()


TF_FREE = ["numpy>=2,<3", "pytest>=8", "onnxruntime>=1.32,<1.33", "ai-edge-litert>=2.3,<2.4"]
DEPLOY_FORBIDDEN = ("tensorflow", "keras", "tf_keras", "edgeprep")

# Installed as sitecustomize.py on PYTHONPATH: every Python started with that PYTHONPATH (the test's
# own subprocesses included) fails to import what the deploy side must not need.
BLOCKER = f'''"""Deploy-side check: importing {", ".join(DEPLOY_FORBIDDEN)} fails in this interpreter."""
import sys

FORBIDDEN = {DEPLOY_FORBIDDEN!r}


class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in FORBIDDEN:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: the deploy side runs without it)", name=name)
        return None


sys.meta_path.insert(0, Blocker())
'''


@pytest.fixture(scope="session")
def blocked_python(tmp_path_factory) -> Path:
    """This interpreter behind a wrapper whose PYTHONPATH starts with the import blocker.

    Plugin autoloading is off, as in a venv that holds pytest alone.
    """
    root = tmp_path_factory.mktemp("tf-free-blocked")
    (root / "site").mkdir()
    (root / "site" / "sitecustomize.py").write_text(BLOCKER)
    python = root / "python"
    python.write_text(
        "#!/bin/sh\n"
        f'PYTHONPATH="{root / "site"}${{PYTHONPATH:+:$PYTHONPATH}}" PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 exec "{sys.executable}" "$@"\n'
    )
    python.chmod(0o755)
    for name in DEPLOY_FORBIDDEN:
        probe = subprocess.run([str(python), "-c", f"import {name}"], capture_output=True, text=True)
        assert probe.returncode == 1 and "blocked" in probe.stderr, (name, probe.stderr)
    return python


@pytest.fixture(scope="session")
def venv_python(tmp_path_factory) -> Path:
    """A virtualenv holding only numpy, pytest, onnxruntime and ai-edge-litert (pip installs them)."""
    venv = tmp_path_factory.mktemp("tf-free-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *TF_FREE], check=True, timeout=900)
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True).stdout
    names = {p["name"].lower() for p in json.loads(listed)}
    assert not names & {"tensorflow", "tensorflow-cpu", "keras", "edgeprep", "tf-keras"}
    return python


# Function scope on purpose: a parametrized session fixture would make pytest regroup the tests
# that use it across modules, setting module fixtures (example 01's training) up twice.
@pytest.fixture(params=["blocked", pytest.param("venv", marks=pytest.mark.slow)])
def tf_free_python(request) -> Path:
    """A Python without TensorFlow, Keras, tf_keras or edgeprep, in two forms.

    ``blocked`` (every run): this interpreter with those imports blocked. ``venv`` (slow, it runs
    pip): a virtualenv holding only numpy, pytest, onnxruntime and ai-edge-litert.
    """
    return request.getfixturevalue(f"{request.param}_python")
