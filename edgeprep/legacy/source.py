"""Keras 2 model files: recognise them, read their layer configs without running them, load them.

A file counts as Keras 2 when it says so: an `.h5` whose ``keras_version`` attribute is 2.x, a
`.keras` archive whose ``metadata.json`` says 2.x, a SavedModel directory with the
``keras_metadata.pb`` that tf_keras (and tf.keras 2.x) writes. Recognising a file imports neither
TensorFlow nor tf_keras.

Safety: Keras 2 configs may carry marshalled Python bytecode (Lambda layers, ``lambda`` values).
Every config in the file is scanned *before* tf_keras deserializes anything, and such a file is
refused without ``--unsafe-load``; a SavedModel's function graphs are scanned for file and Python
ops before TensorFlow restores its variables.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

from edgeprep.errors import LoadError

H5, KERAS, SAVED_MODEL = "h5", "keras", "saved_model"

_UNKNOWN_CLASS = re.compile(r"Unknown (?:layer|object|class)[^']*'([^']+)'|Could not locate (?:class|function) '([^']+)'")


def keras2_format(path: Path) -> str | None:
    """``"h5"``, ``"keras"`` or ``"saved_model"`` when ``path`` was saved by Keras 2, else None."""
    if path.is_dir():
        return SAVED_MODEL if (path / "keras_metadata.pb").is_file() and (path / "saved_model.pb").is_file() else None
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        version = _h5_attribute(path, "keras_version")
        return H5 if version and version.startswith("2.") else None
    if suffix == ".keras":
        version = _archive_json(path, "metadata.json").get("keras_version", "")
        return KERAS if str(version).startswith("2.") else None
    return None


def is_tf_keras_model(obj: Any) -> bool:
    """True for an in-memory model built with tf_keras (Keras 2)."""
    return is_tf_keras_class(type(obj))


def is_tf_keras_class(cls: type) -> bool:
    """True for a class defined by tf_keras or derived from one of its classes."""
    return isinstance(cls, type) and any((base.__module__ or "").startswith("tf_keras") for base in cls.__mro__)


def saved_version(path: Path, fmt: str) -> str | None:
    """The Keras version that wrote the file, when the file records it."""
    if fmt == H5:
        return _h5_attribute(path, "keras_version")
    if fmt == KERAS:
        return _archive_json(path, "metadata.json").get("keras_version")
    root = next(iter(layer_configs(path, fmt)), {})  # the model's own node comes first
    return root.get("keras_version")


def layer_configs(path: Path, fmt: str) -> list[dict]:
    """Every model/layer config stored in the file, as JSON, without deserializing any of it."""
    try:
        if fmt == H5:
            text = _h5_attribute(path, "model_config")
            return [json.loads(text)] if text else []
        if fmt == KERAS:
            return [_archive_json(path, "config.json")]
        from tf_keras.protobuf import saved_metadata_pb2

        metadata = saved_metadata_pb2.SavedMetadata()
        metadata.ParseFromString((path / "keras_metadata.pb").read_bytes())
        return [json.loads(node.metadata) for node in metadata.nodes if node.metadata]
    except (OSError, ValueError) as exc:
        raise LoadError(f"{path}: cannot read the model config ({exc}); re-save the model") from None


def function_carriers(config: Any) -> list[str]:
    """Names of layers whose config carries code: Lambda layers and marshalled ``lambda`` values."""
    found: list[str] = []

    def walk(node: Any, layer: str) -> None:
        if isinstance(node, dict):
            inner = node.get("config")
            name = inner.get("name", layer) if isinstance(inner, dict) else node.get("name", layer)
            cls = node.get("class_name")
            if cls == "Lambda" or cls == "__lambda__" or any(
                key.endswith("_type") and value == "lambda" for key, value in node.items()
            ):
                found.append(name)
            for value in node.values():
                walk(value, name)
        elif isinstance(node, list):
            for value in node:
                walk(value, layer)

    walk(config, "model")
    return list(dict.fromkeys(found))


def unknown_classes(config: Any, custom_objects: dict[str, Any], tf_keras) -> list[str]:
    """Classes of a `.keras` config defined outside Keras that neither ``custom_objects`` nor
    tf_keras' registry provides (tf_keras itself fails on them with an unhelpful message)."""
    found = []
    for node in _dicts(config):
        module, name = str(node.get("module") or ""), node.get("registered_name") or node.get("class_name")
        if "class_name" in node and module and module.split(".")[0] not in ("keras", "tf_keras", "builtins", "numpy"):
            if name not in custom_objects and node["class_name"] not in custom_objects and tf_keras.saving.get_registered_object(name) is None:
                found.append(str(node["class_name"]))
    return list(dict.fromkeys(found))


def _dicts(node: Any):
    """Every dict in a JSON tree, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _dicts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _dicts(value)


def check_no_code(path: Path, fmt: str) -> None:
    """Refuse a file whose configs carry code; the caller passes only when not ``--unsafe-load``."""
    carriers = [name for config in layer_configs(path, fmt) for name in function_carriers(config)]
    if carriers:
        raise LoadError(
            f"{path}: refused under safe mode: the Keras 2 model carries Python code in its config "
            f"(Lambda layers or lambdas in {', '.join(dict.fromkeys(carriers))}); if you trust it, pass --unsafe-load"
        )


def load_tf_keras(path: Path, fmt: str, unsafe: bool, custom_objects: dict[str, Any]):
    """Load a Keras 2 file with tf_keras (after `check_no_code` unless ``unsafe``)."""
    tf_keras = import_tf_keras(str(path))
    if not unsafe:
        check_no_code(path, fmt)
    if fmt == SAVED_MODEL and not unsafe:
        from edgeprep.load import check_saved_model_ops

        check_saved_model_ops(path)
    if fmt == KERAS:
        unknown = [name for config in layer_configs(path, fmt) for name in unknown_classes(config, custom_objects, tf_keras)]
        if unknown:
            raise _unregistered(path, unknown[0])
    options = {"safe_mode": not unsafe} if fmt == KERAS else {}
    try:
        model = tf_keras.models.load_model(str(path), custom_objects=custom_objects, compile=False, **options)
    except Exception as exc:  # tf_keras raises ValueError/TypeError/KeyError with long messages
        raise load_failure(path, exc, "tf_keras cannot load it") from None
    if not isinstance(model, tf_keras.Model):
        raise LoadError(f"{path}: tf_keras loaded a {type(model).__name__}, not a model; re-save the model with model.save()")
    return model


def load_failure(where: Any, exc: Exception, failed: str) -> LoadError:
    """A one-line LoadError for an exception raised while loading or translating a Keras 2 model."""
    text = str(exc)
    if "safe_mode" in text or "arbitrary code" in text:
        return LoadError(f"{where}: refused under safe mode: the model contains code (a lambda); if you trust it, pass --unsafe-load")
    missing = _UNKNOWN_CLASS.search(text)
    if missing:
        return _unregistered(where, missing.group(1) or missing.group(2))
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return LoadError(f"{where}: {failed} ({first[:200]})")


def _unregistered(where: Any, name: str) -> LoadError:
    return LoadError(
        f"{where}: the model uses the unregistered custom object {name!r}; pass --custom-objects module:Name for it "
        "(for a Keras 2 model: its tf_keras class and a Keras 3 class of the same name)"
    )


def import_tf_keras(where: str):
    """tf_keras, or a LoadError saying how to install it."""
    try:
        import tf_keras
    except ImportError:
        raise LoadError(f"{where}: this is a Keras 2 model; loading it needs tf_keras: pip install 'edgeprep[legacy]'") from None
    return tf_keras


def _h5_attribute(path: Path, name: str) -> str | None:
    try:
        import h5py

        with h5py.File(path, "r") as handle:
            value = handle.attrs.get(name)
    except (OSError, ImportError):
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return None if value is None else str(value)


def _archive_json(path: Path, member: str) -> dict:
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read(member))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return {}
    return data if isinstance(data, dict) else {}
