"""Load a model safely: a `.keras` file, a Keras `.h5`, a SavedModel directory, or an in-memory model.

Files are untrusted by default: Keras' safe mode is on, so a Lambda layer or an unknown class is
refused with the flag that allows it, and nothing in the file runs. Models saved by Keras 2
(tf_keras) are loaded and translated by `edgeprep.legacy`.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Any

from edgeprep import legacy
from edgeprep.errors import LoadError
from edgeprep.safety import check_archive, check_saved_model_ops, h5_attribute, parse_json
from edgeprep.layers import saved_model_signature
from edgeprep.loaded import LoadedModel, LoadKind, check_in_memory, import_custom_objects, sha256_of

OPAQUE_NOTE = (
    "a bare SavedModel signature, not a Keras model: its layers cannot be seen, so nothing was stripped, folded or "
    "lowered at layer level; only the converters' graph-level constant folding applies"
)


def load(source: Any, unsafe: bool = False, custom_objects: tuple[str, ...] = ()) -> LoadedModel:
    """Load ``source`` (a path or an in-memory Keras model).

    Args:
        source: `.keras` / `.h5` file, SavedModel directory, or a built ``keras.Model``.
        unsafe: allow code in the file to run (Lambda layers); only for trusted files.
        custom_objects: ``module:Name`` strings of custom classes the file may use.

    Raises:
        LoadError: with a one-line message naming the problem and the fix.
    """
    if not isinstance(source, (str, os.PathLike)):
        if legacy.is_tf_keras_model(source):
            return legacy.load_keras2_model(source, custom_objects)
        return LoadedModel(check_in_memory(source), None, None, LoadKind.MEMORY)
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
        return LoadedModel(model, str(path), sha256_of(path), LoadKind.SAVED_MODEL, opaque=True, notes=(OPAQUE_NOTE,))
    if path.stat().st_size == 0:
        raise LoadError(f"{path}: the file is empty; re-save the model with model.save('model.keras')")
    suffix = path.suffix.lower()
    if suffix == ".keras":
        _check_keras_archive(path)
        kind = LoadKind.KERAS
    elif suffix in (".h5", ".hdf5"):
        _check_hdf5(path)
        kind = LoadKind.H5
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
