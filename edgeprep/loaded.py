"""What loading a model yields (`LoadedModel`, `LoadKind`) and the pieces every loader shares.

A leaf module: `edgeprep.load` (Keras 3 files) and `edgeprep.legacy` (Keras 2 files) both build a
`LoadedModel` from here, so neither imports the other's internals.
"""

from __future__ import annotations

import enum
import hashlib
import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeprep.errors import LoadError
from edgeprep.runners import KerasRunner, Runner


class LoadKind(enum.Enum):
    """What was read; the value is ``source.kind`` in the manifest."""

    KERAS = "keras"
    H5 = "h5"
    SAVED_MODEL = "saved_model"
    MEMORY = "memory"
    KERAS2_H5 = "keras2_h5"
    KERAS2_KERAS = "keras2_keras"
    KERAS2_SAVED_MODEL = "keras2_saved_model"
    KERAS2_MEMORY = "keras2_memory"


@dataclass(frozen=True)
class LoadedModel:
    """A loaded model and where it came from.

    Attributes:
        model: the Keras model (a wrapper Functional model for a bare SavedModel; the Keras 3
            translation of a Keras 2 model).
        path: the source path, or None for an in-memory model.
        sha256: digest of the source file (of every file, for a directory), or None.
        kind: what was read (a Keras 3 file, a SavedModel, an in-memory model, or a Keras 2 one).
        opaque: True when the model's layers cannot be seen (a SavedModel signature).
        reference: the runner artifacts are compared with, when it is not ``model`` itself (the
            tf_keras model behind a translation).
        notes: what the user should know about how the model was read (manifest, inspect).
    """

    model: Any
    path: str | None
    sha256: str | None
    kind: LoadKind
    opaque: bool = False
    reference: Runner | None = None
    notes: tuple[str, ...] = ()

    def original_runner(self) -> Runner:
        """The parity reference: ``reference`` if set, else ``model`` run by Keras."""
        return self.reference if self.reference is not None else KerasRunner(self.model, "keras")


def sha256_of(path: str | os.PathLike) -> str:
    """The sha256 of a file, or of a directory's files (relative paths and contents, sorted)."""
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(file.relative_to(path)).encode())
            digest.update(b"\0")
            _update_from_file(digest, file)
    else:
        _update_from_file(digest, path)
    return digest.hexdigest()


def _update_from_file(digest, path: Path) -> None:
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)


def import_custom_objects(specs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Resolve ``module:Name`` strings to objects for Keras' ``custom_objects``."""
    objects: dict[str, Any] = {}
    for spec in specs:
        module_name, _, attr = spec.partition(":")
        if not module_name or not attr:
            raise LoadError(f"--custom-objects {spec!r} is not of the form module:Name")
        try:
            objects[attr] = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise LoadError(f"--custom-objects {spec!r}: cannot import it ({exc})") from None
    return objects


def check_in_memory(model, where: str = "the model"):
    try:
        import keras
    except ImportError:  # pragma: no cover - keras is a dependency
        raise LoadError("Keras is not installed; pip install edgeprep") from None
    if not isinstance(model, keras.Model):
        raise LoadError(f"{where}: expected a keras.Model, received {type(model).__name__}; pass a keras.Model or a model path")
    if not getattr(model, "built", False) or not _has_symbolic_io(model):
        raise LoadError(
            f"{where}: the model has no defined inputs; build it with keras.Input(...) or call it once on data"
        )
    return model


def _has_symbolic_io(model) -> bool:
    try:
        return bool(model.inputs) and bool(model.outputs)
    except (AttributeError, ValueError):
        return False
