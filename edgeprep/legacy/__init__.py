"""Keras 2 (tf_keras) models: `.h5`, `.keras` and SavedModel files written by Keras 2, and in-memory
``tf_keras.Model``s.

A Keras 2 model is loaded with tf_keras (after a scan that refuses code in its config), translated
into the same model in Keras 3 (`translate`), and that translation goes through the usual rules and
converters. The parity reference stays the tf_keras model (`runner.TfKerasRunner`). Nothing here
imports TensorFlow or tf_keras until a Keras 2 model is actually loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeprep.errors import LoadError
from edgeprep.legacy.source import is_tf_keras_class, is_tf_keras_model, keras2_format

KINDS = {"h5": "keras2_h5", "keras": "keras2_keras", "saved_model": "keras2_saved_model", None: "keras2_memory"}

__all__ = ["KINDS", "is_tf_keras_model", "keras2_format", "load_keras2_file", "load_keras2_model"]


def load_keras2_file(path: Path, fmt: str, unsafe: bool, custom_objects: tuple[str, ...]):
    """Load a Keras 2 file (``fmt`` from `keras2_format`) as a `LoadedModel` with a tf_keras reference."""
    from edgeprep.legacy.source import load_tf_keras, saved_version
    from edgeprep.load import sha256_of

    old_objects, new_objects = _custom_objects(custom_objects)
    old = load_tf_keras(path, fmt, unsafe, old_objects)
    version = saved_version(path, fmt)
    return _loaded(old, str(path), sha256_of(path), KINDS[fmt], unsafe, new_objects, f"saved by Keras {version}" if version else "saved by Keras 2")


def load_keras2_model(model, custom_objects: tuple[str, ...] = ()):
    """Wrap an in-memory tf_keras model as a `LoadedModel` (its Lambda layers are the caller's own code)."""
    if not getattr(model, "built", False) or not getattr(model, "inputs", None):
        raise LoadError("the tf_keras model has no defined inputs; build it with tf_keras.Input(...) or call it once on data")
    return _loaded(model, None, None, KINDS[None], True, _custom_objects(custom_objects)[1], "an in-memory tf_keras model")


def _loaded(old, path, sha256, kind: str, unsafe: bool, custom_objects: dict[str, Any], origin: str):
    import keras
    import tf_keras

    from edgeprep.legacy.runner import TfKerasRunner
    from edgeprep.legacy.translate import translate
    from edgeprep.load import LoadedModel, check_in_memory
    from edgeprep.runners import KerasRunner

    where = path or "the tf_keras model"
    new, notes = translate(old, safe=not unsafe, custom_objects=custom_objects)
    check_in_memory(new, where)
    reference = TfKerasRunner(old)
    translated = KerasRunner(new)
    if _signature(reference.inputs()) != _signature(translated.inputs()) or _signature(reference.outputs()) != _signature(translated.outputs()):
        raise LoadError(
            f"{where}: the Keras 3 translation has inputs {_signature(translated.inputs())} -> {_signature(translated.outputs())}, "
            f"the Keras 2 model {_signature(reference.inputs())} -> {_signature(reference.outputs())}; edgeprep cannot translate this model"
        )
    summary = (
        f"Keras 2 model ({origin}), loaded with tf_keras {tf_keras.__version__} and translated to Keras {keras.__version__} "
        "layer by layer; parity is measured against the tf_keras model"
    )
    return LoadedModel(new, path, sha256, kind, reference=reference, notes=(summary, *notes))


def _signature(specs) -> list[tuple]:
    return [(spec.name, spec.dtype, tuple(spec.shape)) for spec in specs]


def _custom_objects(specs: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``--custom-objects`` split into tf_keras classes (to load the file) and the rest (for the translation)."""
    from edgeprep.load import import_custom_objects

    old, new = {}, {}
    for spec in specs:
        for name, obj in import_custom_objects((spec,)).items():
            (old if isinstance(obj, type) and is_tf_keras_class(obj) else new)[name] = obj
    return old, new
