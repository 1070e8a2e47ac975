"""Compose a preprocessing model with a trained model, and prove ``full(raw) == model(pre(raw))``.

Wiring: one PRE output tensor feeds a MODEL with one input; a dict of PRE outputs feeds MODEL's
inputs by name (every input fed, every output used). Names, ranks, fixed dimensions and dtypes
must fit; a mismatch is one line naming both sides.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeprep.errors import UsageError, collect
from edgeprep.parity.compare import ParityReport, Tolerance, compare

COMPOSE_TOLERANCE = Tolerance(rtol=1e-6, atol=0.0)


def wiring(pre, model) -> dict[str, str]:
    """MODEL input name -> PRE output name.

    Raises:
        UsageError: the outputs of ``pre`` do not fit the inputs of ``model``.
    """
    from edgeprep.graph import io_names

    pre_names, pre_tensors = _outputs(pre)
    model_names, _ = io_names(model)
    model_tensors = dict(zip(model_names, _flat(_functional(model)._inputs_struct)))
    pre_side = f"PRE outputs ({_describe(pre_names, pre_tensors)})"
    model_side = f"MODEL {model.name!r} inputs ({_describe(model_names, model_tensors)})"
    if not isinstance(_functional(pre)._outputs_struct, dict):
        if len(model_names) != 1:
            raise UsageError(f"cannot compose: PRE gives one tensor, MODEL {model.name!r} has {len(model_names)} inputs ({', '.join(model_names)}); give PRE dict outputs named like them (combine = \"dict\")")
        mapping = {model_names[0]: pre_names[0]}
    else:
        missing = [n for n in model_names if n not in pre_tensors]
        unused = [n for n in pre_names if n not in model_tensors]
        if missing or unused:
            detail = "; ".join(filter(None, [
                f"no PRE output for MODEL input(s) {', '.join(missing)}" if missing else "",
                f"PRE output(s) {', '.join(unused)} feed no MODEL input" if unused else "",
            ]))
            raise UsageError(f"cannot compose {pre_side} with {model_side}: {detail}")
        mapping = {n: n for n in model_names}
    problems = []
    for model_name, pre_name in mapping.items():
        problem = _fit(pre_tensors[pre_name], model_tensors[model_name])
        if problem:
            problems.append(f"PRE output {pre_name!r} is {_text(pre_tensors[pre_name])}, MODEL input {model_name!r} is {_text(model_tensors[model_name])} ({problem})")
    collect(problems, UsageError, "cannot compose")
    return mapping


def compose(pre, model, mapping: dict[str, str]):
    """``full = keras.Model(raw, model(pre(raw)))`` with PRE's raw inputs, nested models kept."""
    import keras
    from keras import tree

    pre_f = _functional(pre)
    raw = [keras.Input(batch_shape=tuple(t.shape), dtype=t.dtype, name=name) for name, t in zip(_input_names(pre), _flat(pre_f._inputs_struct))]
    raw_struct = tree.pack_sequence_as(pre_f._inputs_struct, raw)
    encoded = pre(raw_struct)
    pre_names, _ = _outputs(pre)
    by_name = dict(zip(pre_names, tree.flatten(encoded)))
    model_f = _functional(model)
    from edgeprep.graph import io_names

    model_names, _ = io_names(model)
    feed = tree.pack_sequence_as(model_f._inputs_struct, [by_name[mapping[n]] for n in model_names])
    return keras.Model(raw_struct, model(feed), name=f"{model.name}_with_preprocessing")


def check_composition(full, pre, model, mapping: dict[str, str], feed: dict[str, np.ndarray], name: str = "full") -> ParityReport:
    """Compare ``full(feed)`` with ``model(pre(feed))`` at rtol 1e-6."""
    encoded = call_model(pre, feed)
    reference = call_model(model, {m: encoded[p] for m, p in mapping.items()})
    actual = dict(zip(reference, call_model(full, feed).values()))  # full's outputs are MODEL's, in order
    return compare(name, "model(pre(raw))", reference, actual, COMPOSE_TOLERANCE, (len(next(iter(feed.values()))),))


def check_same(model, reference_model, feed: dict[str, np.ndarray], name: str) -> ParityReport:
    """Compare ``model(feed)`` with ``reference_model(feed)`` at rtol 1e-6."""
    reference = call_model(reference_model, feed)
    actual = dict(zip(reference, call_model(model, feed).values()))
    return compare(name, "built", reference, actual, COMPOSE_TOLERANCE, (len(next(iter(feed.values()))),))


def call_model(model, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``model(feed)`` called directly at ``training=False`` (not through a `Runner`), every input a TensorFlow tensor (strings included)."""
    import tensorflow as tf
    from keras import tree

    from edgeprep.graph import io_names

    input_names, output_names = io_names(model)
    flat = [tf.constant(np.asarray(feed[n]).astype(object) if np.asarray(feed[n]).dtype.kind == "U" else feed[n]) for n in input_names]
    outputs = model(tree.pack_sequence_as(_functional(model)._inputs_struct, flat), training=False)
    return {n: _numpy(v) for n, v in zip(output_names, tree.flatten(outputs))}


def _numpy(value) -> np.ndarray:
    array = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
    return array.astype(str) if array.dtype == object else array


def _functional(model):
    from edgeprep.graph import functional_of

    return functional_of(model) or model


def _flat(struct) -> list:
    from keras import tree

    return list(tree.flatten(struct))


def _input_names(model) -> list[str]:
    from edgeprep.graph import io_names

    return io_names(model)[0]


def _outputs(model) -> tuple[list[str], dict[str, Any]]:
    from edgeprep.graph import io_names

    names = io_names(model)[1]
    return names, dict(zip(names, _flat(_functional(model)._outputs_struct)))


def _fit(produced, expected) -> str | None:
    got, want = tuple(produced.shape), tuple(expected.shape)
    if len(got) != len(want):
        return "ranks differ"
    if any(g is not None and w is not None and g != w for g, w in zip(got[1:], want[1:])):
        return "shapes differ"
    got_dtype, want_dtype = str(produced.dtype), str(expected.dtype)
    if got_dtype != want_dtype and not (got_dtype.startswith("float") and want_dtype.startswith("float")):
        return "dtypes differ"
    return None


def _text(tensor) -> str:
    shape = "(" + ", ".join("N" if d is None else str(d) for d in tensor.shape) + ")"
    return f"{shape} {tensor.dtype}"


def _describe(names: list[str], tensors: dict[str, Any]) -> str:
    return ", ".join(f"{n} {_text(tensors[n])}" for n in names)
