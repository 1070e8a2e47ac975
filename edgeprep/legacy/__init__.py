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
from edgeprep.loaded import LoadedModel, LoadKind, check_in_memory, import_custom_objects, sha256_of

KINDS = {"h5": LoadKind.KERAS2_H5, "keras": LoadKind.KERAS2_KERAS, "saved_model": LoadKind.KERAS2_SAVED_MODEL, None: LoadKind.KERAS2_MEMORY}

__all__ = ["KINDS", "is_tf_keras_model", "keras2_format", "load_keras2_file", "load_keras2_model"]


def load_keras2_file(path: Path, fmt: str, unsafe: bool, custom_objects: tuple[str, ...]):
    """Load a Keras 2 file (``fmt`` from `keras2_format`) as a `LoadedModel` with a tf_keras reference."""
    from edgeprep.legacy.source import load_tf_keras, saved_version

    old_objects, new_objects = _custom_objects(custom_objects)
    old = load_tf_keras(path, fmt, unsafe, old_objects)
    version = saved_version(path, fmt)
    return _loaded(old, str(path), sha256_of(path), KINDS[fmt], unsafe, new_objects, f"saved by Keras {version}" if version else "saved by Keras 2")


def load_keras2_model(model, custom_objects: tuple[str, ...] = ()):
    """Wrap an in-memory tf_keras model as a `LoadedModel` (its Lambda layers are the caller's own code)."""
    if not getattr(model, "built", False) or not getattr(model, "inputs", None):
        raise LoadError("the tf_keras model has no defined inputs; build it with tf_keras.Input(...) or call it once on data")
    return _loaded(model, None, None, KINDS[None], True, _custom_objects(custom_objects)[1], "an in-memory tf_keras model")


def _loaded(old, path, sha256, kind: LoadKind, unsafe: bool, custom_objects: dict[str, Any], origin: str):
    import keras
    import tf_keras

    from edgeprep.legacy.runner import TfKerasRunner
    from edgeprep.legacy.translate import translate
    from edgeprep.runners import KerasRunner

    where = path or "the tf_keras model"
    new, notes = translate(old, safe=not unsafe, custom_objects=custom_objects)
    check_in_memory(new, where)
    reference = TfKerasRunner(old)
    translated = KerasRunner(new)
    notes += _io_differences(where, reference, translated)
    summary = (
        f"Keras 2 model ({origin}), loaded with tf_keras {tf_keras.__version__} and translated to Keras {keras.__version__} "
        "layer by layer; parity is measured against the tf_keras model"
    )
    return LoadedModel(new, path, sha256, kind, reference=reference, notes=(summary, *notes))


def _io_differences(where: str, reference, translated) -> tuple[str, ...]:
    """Notes on integer widths that differ between the tf_keras model and its translation.

    Raises:
        LoadError: names, shapes or kinds of inputs/outputs differ (the translation is wrong).
    """
    notes = []
    for what, old, new in (("input", reference.inputs(), translated.inputs()), ("output", reference.outputs(), translated.outputs())):
        same = [s.name for s in old] == [s.name for s in new] and all(_fits(a.shape, b.shape) for a, b in zip(old, new))
        for a, b in zip(old, new) if same else ():
            if a.dtype != b.dtype and not (_integer(a.dtype) and _integer(b.dtype)):
                same = False
            elif a.dtype != b.dtype:
                notes.append(f"{what} {a.name!r} is {b.dtype} in Keras 3 ({a.dtype} in tf_keras): same values, narrower type")
        if not same:
            raise LoadError(
                f"{where}: the Keras 3 translation's {what}s are {[(s.name, s.dtype, s.shape) for s in new]}, the Keras 2 model's "
                f"{[(s.name, s.dtype, s.shape) for s in old]}; edgeprep cannot translate this model"
            )
    return tuple(notes)


def _fits(old_shape, new_shape) -> bool:
    """Same rank, and every dimension tf_keras fixes is the same in the translation."""
    return len(old_shape) == len(new_shape) and all(a is None or a == b for a, b in zip(old_shape, new_shape))


def _integer(dtype: str) -> bool:
    return dtype.startswith(("int", "uint"))


def _custom_objects(specs: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``--custom-objects`` split into tf_keras classes (to load the file) and the rest (for the
    translation); a function serves both (the file's config names it, the translation calls it)."""
    old, new = {}, {}
    for spec in specs:
        for name, obj in import_custom_objects((spec,)).items():
            (old if isinstance(obj, type) and is_tf_keras_class(obj) else new)[name] = obj
            if not isinstance(obj, type):
                old[name] = obj
    return old, new
