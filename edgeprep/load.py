"""Load a model safely: a `.keras` file, a Keras `.h5`, a SavedModel directory, or an in-memory model.

Files are untrusted by default: Keras' safe mode is on, so a Lambda layer or an unknown class is
refused with the flag that allows it, and nothing in the file runs. Models saved by Keras 2
(tf_keras) are loaded and translated by `edgeprep.legacy`.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeprep.errors import LoadError
from edgeprep.safety import check_archive, check_saved_model_ops, h5_attribute, parse_json
from edgeprep.runners import KerasRunner, Runner
from edgeprep.layers import saved_model_signature

OPAQUE_NOTE = (
    "a bare SavedModel signature, not a Keras model: its layers cannot be seen, so nothing was stripped, folded or "
    "lowered at layer level; only the converters' graph-level constant folding applies"
)


@dataclass(frozen=True)
class LoadedModel:
    """A loaded model and where it came from.

    Attributes:
        model: the Keras model (a wrapper Functional model for a bare SavedModel; the Keras 3
            translation of a Keras 2 model).
        path: the source path, or None for an in-memory model.
        sha256: digest of the source file (of every file, for a directory), or None.
        kind: "keras", "h5", "saved_model" or "memory"; for Keras 2 models "keras2_h5",
            "keras2_keras", "keras2_saved_model" or "keras2_memory".
        opaque: True when the model's layers cannot be seen (a SavedModel signature).
        reference: the runner artifacts are compared with, when it is not ``model`` itself (the
            tf_keras model behind a translation).
        notes: what the user should know about how the model was read (manifest, inspect).
    """

    model: Any
    path: str | None
    sha256: str | None
    kind: str
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


def load(source: Any, unsafe: bool = False, custom_objects: tuple[str, ...] = ()) -> LoadedModel:
    """Load ``source`` (a path or an in-memory Keras model).

    Args:
        source: `.keras` / `.h5` file, SavedModel directory, or a built ``keras.Model``.
        unsafe: allow code in the file to run (Lambda layers); only for trusted files.
        custom_objects: ``module:Name`` strings of custom classes the file may use.

    Raises:
        LoadError: with a one-line message naming the problem and the fix.
    """
    from edgeprep import legacy

    if not isinstance(source, (str, os.PathLike)):
        if legacy.is_tf_keras_model(source):
            return legacy.load_keras2_model(source, custom_objects)
        return LoadedModel(check_in_memory(source), None, None, "memory")
    path = Path(source)
    if not path.exists():
        raise LoadError(f"{path}: no such file or directory; pass the path of a .keras file or SavedModel directory")
    if path.is_dir() and not (path / "saved_model.pb").is_file():
        raise LoadError(f"{path}: a directory without saved_model.pb is not a SavedModel; pass a .keras file or a SavedModel directory")
    keras2 = legacy.keras2_format(path)
    if keras2 is not None:
        return legacy.load_keras2_file(path, keras2, unsafe, custom_objects)
    if path.is_dir():
        model = _load_saved_model(path, unsafe)
        return LoadedModel(model, str(path), sha256_of(path), "saved_model", opaque=True, notes=(OPAQUE_NOTE,))
    if path.stat().st_size == 0:
        raise LoadError(f"{path}: the file is empty; re-save the model with model.save('model.keras')")
    suffix = path.suffix.lower()
    if suffix == ".keras":
        _check_keras_archive(path)
        kind = "keras"
    elif suffix in (".h5", ".hdf5"):
        _check_hdf5(path)
        kind = "h5"
    else:
        raise LoadError(f"{path}: not a model file (expected .keras, .h5 or a SavedModel directory)")
    objects = import_custom_objects(custom_objects)
    model = _load_keras_file(path, unsafe, objects)
    return LoadedModel(check_in_memory(model, str(path)), str(path), sha256_of(path), kind)


def load_object(path: str | os.PathLike, unsafe: bool = False, custom_objects: tuple[str, ...] = ()) -> Any:
    """Load any Keras object saved in a ``.keras`` file: a model, a layer or a FeatureSpace.

    Raises:
        LoadError: as `load` does, for a missing, corrupt, unsafe or unloadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise LoadError(f"{path}: no such file; pass the path of a .keras file")
    _check_keras_archive(path)
    return _load_keras_file(path, unsafe, import_custom_objects(custom_objects))


def _check_keras_archive(path: Path) -> None:
    if not zipfile.is_zipfile(path):
        raise LoadError(f"{path}: not a .keras archive (not a zip file, or truncated); re-save it with model.save()")
    try:
        with zipfile.ZipFile(path) as archive:
            check_archive(path, archive)
            names = set(archive.namelist())
            bad = archive.testzip()
            for member in sorted(names & {"config.json", "metadata.json"}):
                parse_json(archive.read(member), f"{path}: archive member {member}")
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise LoadError(f"{path}: the .keras archive is corrupt ({exc}); re-save the model") from None
    if bad is not None:
        raise LoadError(f"{path}: the .keras archive is corrupt (member {bad} fails its CRC); re-save the model")
    if "config.json" not in names:
        raise LoadError(f"{path}: a zip file without config.json is not a Keras archive; re-save the model with model.save('model.keras')")


def _check_hdf5(path: Path) -> None:
    with open(path, "rb") as handle:
        if handle.read(8) != b"\x89HDF\r\n\x1a\n":
            raise LoadError(f"{path}: not an HDF5 file; pass a Keras .h5 or .keras model")
    config = h5_attribute(path, "model_config")
    if config:
        parse_json(config, f"{path}: attribute model_config")


_MISSING_CLASS = re.compile(r"Could not locate (?:class|function) '([^']+)'")


def _load_keras_file(path: Path, unsafe: bool, custom_objects: dict[str, Any]):
    import keras

    try:
        return keras.saving.load_model(str(path), safe_mode=not unsafe, custom_objects=custom_objects, compile=False)
    except Exception as exc:  # Keras raises ValueError/TypeError/KeyError with long messages
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text or "arbitrary code" in text:
            raise LoadError(
                f"{path}: refused under safe mode: the file contains code (a Lambda layer or a lambda in a config); "
                "if you trust it, pass --unsafe-load"
            ) from None
        missing = _MISSING_CLASS.search(text)
        if missing:
            raise LoadError(
                f"{path}: the model uses the unregistered custom object {missing.group(1)!r}; "
                "pass --custom-objects module:Name for it"
            ) from None
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise LoadError(f"{path}: Keras cannot load it ({first[:200]}); check that it was saved with model.save()") from None


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


def _load_saved_model(path: Path, unsafe: bool):
    """Wrap a SavedModel's serving signature in a Functional model with named inputs."""
    import keras
    import tensorflow as tf

    if not unsafe:
        check_saved_model_ops(path)
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:
        raise LoadError(f"{path}: TensorFlow cannot load this SavedModel ({str(exc).splitlines()[0][:200]})") from None
    signatures = dict(loaded.signatures)
    if not signatures:
        raise LoadError(f"{path}: the SavedModel has no signatures; export it with model.export(path) or tf.saved_model.save(..., signatures=...)")
    name = "serving_default" if "serving_default" in signatures else sorted(signatures)[0]
    function = signatures[name]
    input_specs = function.structured_input_signature[1]
    if not input_specs:
        raise LoadError(f"{path}: signature {name!r} has no named inputs; re-export it with named TensorSpecs")
    inputs = {}
    for key, spec in sorted(input_specs.items()):
        shape = tuple(spec.shape.as_list())
        dtype = "string" if spec.dtype == tf.string else spec.dtype.name
        inputs[key] = keras.Input(batch_shape=shape, dtype=dtype, name=key)
    outputs = saved_model_signature(loaded, name)(inputs)
    return keras.Model(inputs, outputs, name=path.name or "saved_model")
