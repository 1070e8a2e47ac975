"""Keras 2 model files: recognise them, read their layer configs without running them, load them.

A file counts as Keras 2 when it says so: an `.h5` whose ``keras_version`` attribute is 2.x, a
`.keras` archive whose ``metadata.json`` says 2.x, a SavedModel directory with the
``keras_metadata.pb`` that tf_keras (and tf.keras 2.x) writes. Recognising a file imports neither
TensorFlow nor tf_keras.

Safety: Keras 2 configs may carry marshalled Python bytecode (Lambda layers, ``lambda`` values),
name functions of any importable module, or name a vocabulary file that tf_keras reads. Every
config in the file is read within `edgeprep.safety`'s size and nesting limits and scanned *before*
tf_keras deserializes anything, and such a file is refused without ``--unsafe-load``; a
SavedModel's graphs are held to `edgeprep.safety`'s op allowlist before TensorFlow restores them.
"""

from __future__ import annotations

import builtins
import re
import zipfile
from pathlib import Path
from typing import Any

from edgeprep.errors import LoadError
from edgeprep.safety import h5_attribute, parse_json, read_archive_json

H5, KERAS, SAVED_MODEL = "h5", "keras", "saved_model"

_UNKNOWN_CLASS = re.compile(r"Unknown (?:layer|object|class)[^']*'([^']+)'|Could not locate (?:class|function) '([^']+)'")


def keras2_format(path: Path) -> str | None:
    """``"h5"``, ``"keras"`` or ``"saved_model"`` when ``path`` was saved by Keras 2, else None."""
    if path.is_dir():
        return SAVED_MODEL if (path / "keras_metadata.pb").is_file() and (path / "saved_model.pb").is_file() else None
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        version = h5_attribute(path, "keras_version")
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
        return h5_attribute(path, "keras_version")
    if fmt == KERAS:
        return _archive_json(path, "metadata.json").get("keras_version")
    root = next(iter(layer_configs(path, fmt)), {})  # the model's own node comes first
    return root.get("keras_version")


def layer_configs(path: Path, fmt: str) -> list[dict]:
    """Every model/layer config stored in the file, as JSON, without deserializing any of it.

    Raises:
        LoadError: unreadable, or past `edgeprep.safety`'s size and nesting limits.
    """
    try:
        if fmt == H5:
            text = h5_attribute(path, "model_config")
            return [parse_json(text, f"{path}: attribute model_config")] if text else []
        if fmt == KERAS:
            return [read_archive_json(path, "config.json")]
        from tf_keras.protobuf import saved_metadata_pb2

        metadata = saved_metadata_pb2.SavedMetadata()
        metadata.ParseFromString((path / "keras_metadata.pb").read_bytes())
        return [parse_json(node.metadata, f"{path}: keras_metadata.pb") for node in metadata.nodes if node.metadata]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise LoadError(f"{path}: cannot read the model config ({exc}); re-save the model") from None


def function_carriers(config: Any) -> list[str]:
    """Names of layers whose config carries code: Lambda layers and marshalled ``lambda`` values."""
    found = [
        layer for node, layer in _nodes(config)
        if node.get("class_name") in ("Lambda", "__lambda__") or any(key.endswith("_type") and value == "lambda" for key, value in node.items())
    ]
    return list(dict.fromkeys(found))


def foreign_functions(config: Any, custom_objects: dict[str, Any], tf_keras) -> list[str]:
    """``module.name (in layer)`` for each function or type spec a config would import from outside
    keras / tf_keras (tf_keras imports the module a config names and calls what it finds there).

    A ``builtins`` function is Keras' own spelling of its built-in activations, losses, ... and is
    allowed when its name is not a Python builtin; a name ``custom_objects`` or tf_keras' registry
    provides is allowed whatever its module (tf_keras looks those up first).
    """
    found = []
    for node, layer in _nodes(config):
        cls = node.get("class_name")
        if cls == "function":
            name, module = node.get("config"), str(node.get("module") or "")
            if _keras_module(module) or (module == "builtins" and isinstance(name, str) and not hasattr(builtins, name)):
                continue
            if _provided((name, node.get("registered_name")), custom_objects, tf_keras):
                continue
            found.append(f"{module}.{name} (in {layer})")
        elif cls == "__typespec__":
            module = str(node.get("module") or "")
            if not (_keras_module(module) or module.split(".")[0] == "tensorflow"):
                found.append(f"{module}.{node.get('spec_name')} (in {layer})")
    return list(dict.fromkeys(found))


def file_vocabularies(config: Any) -> list[str]:
    """``layer: path`` for each layer whose ``vocabulary`` or ``idf_weights`` is a string: a file it reads at load."""
    found = []
    for node, layer in _nodes(config):
        inner = node.get("config")
        if "class_name" in node and isinstance(inner, dict):
            found += [f"{layer}: {inner[key]!r}" for key in ("vocabulary", "idf_weights") if isinstance(inner.get(key), str)]
    return list(dict.fromkeys(found))


def unknown_classes(config: Any, custom_objects: dict[str, Any], tf_keras) -> list[str]:
    """Classes of a config defined outside Keras that neither ``custom_objects`` nor tf_keras'
    registry provides (tf_keras itself fails on them with an unhelpful message, or imports them)."""
    found = []
    for node, _ in _nodes(config):
        module, cls = str(node.get("module") or ""), node.get("class_name")
        if isinstance(cls, str) and module and not cls.startswith("__") and cls != "function" and not _keras_module(module):
            if not _provided((node.get("registered_name") or cls, cls), custom_objects, tf_keras):
                found.append(cls)
    return list(dict.fromkeys(found))


def _keras_module(module: str) -> bool:
    return module.split(".")[0] in ("keras", "tf_keras")


def _provided(names, custom_objects: dict[str, Any], tf_keras) -> bool:
    """True when one of ``names`` is in ``custom_objects`` or tf_keras' registry."""
    return any(
        isinstance(name, str) and (name in custom_objects or tf_keras.saving.get_registered_object(name) is not None)
        for name in names
    )


def _nodes(config: Any):
    """``(dict, name of the layer it belongs to)`` for every dict in a JSON tree, without recursion."""
    todo = [(config, "model")]
    while todo:
        node, layer = todo.pop()
        if isinstance(node, dict):
            inner = node.get("config")
            name = inner.get("name", layer) if isinstance(inner, dict) else node.get("name", layer)
            name = name if isinstance(name, str) else layer
            yield node, name
            todo.extend((value, name) for value in reversed(list(node.values())))
        elif isinstance(node, list):
            todo.extend((value, layer) for value in reversed(node))


def check_configs(path: Path, configs: list[dict], custom_objects: dict[str, Any], tf_keras) -> None:
    """Refuse configs that run code or read files at load; the caller passes only when not ``--unsafe-load``.

    Raises:
        LoadError: Lambda layers or lambdas, functions from outside keras / tf_keras, or file
            vocabularies, named with ``--unsafe-load``.
    """
    carriers = [name for config in configs for name in function_carriers(config)]
    if carriers:
        raise LoadError(
            f"{path}: refused under safe mode: the Keras 2 model carries Python code in its config "
            f"(Lambda layers or lambdas in {', '.join(dict.fromkeys(carriers))}); if you trust it, pass --unsafe-load"
        )
    functions = [name for config in configs for name in foreign_functions(config, custom_objects, tf_keras)]
    if functions:
        raise LoadError(
            f"{path}: refused under safe mode: the Keras 2 model's config calls {', '.join(dict.fromkeys(functions))}, "
            "from outside keras / tf_keras; pass --custom-objects module:Name for your own function, "
            "or --unsafe-load if you trust the file"
        )
    files = [entry for config in configs for entry in file_vocabularies(config)]
    if files:
        raise LoadError(
            f"{path}: refused under safe mode: the Keras 2 model reads a vocabulary file at load ({', '.join(files)}); "
            "re-save it with the vocabulary as a list, or pass --unsafe-load if you trust the file"
        )


def load_tf_keras(path: Path, fmt: str, unsafe: bool, custom_objects: dict[str, Any]):
    """Load a Keras 2 file with tf_keras (after `check_configs` and, for a SavedModel, the op
    allowlist, unless ``unsafe``)."""
    tf_keras = import_tf_keras(str(path))
    configs = layer_configs(path, fmt)
    if not unsafe:
        check_configs(path, configs, custom_objects, tf_keras)
    if fmt == SAVED_MODEL and not unsafe:
        from edgeprep.safety import check_saved_model_ops

        check_saved_model_ops(path)
    unknown = [name for config in configs for name in unknown_classes(config, custom_objects, tf_keras)]
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


def _archive_json(path: Path, member: str) -> dict:
    try:
        data = read_archive_json(path, member)
    except (OSError, KeyError, zipfile.BadZipFile):
        return {}
    return data if isinstance(data, dict) else {}
