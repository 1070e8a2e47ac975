"""Helpers of the family tests: compare a family's host step with its Keras layer, draw parity samples."""

from __future__ import annotations

import numpy as np

from edgeprep.config import HostKind
from edgeprep.runtime.host.steps import KINDS

STRINGS = np.array([["cat"], ["dog"], ["Émile"], ["émile"], [""], ["[UNK]"], ["日本"], ["zebra"], ["CAT"], ["a b"]])
INTS = np.array([[3], [7], [-1], [0], [42], [7], [-9], [100000], [1], [2]], dtype=np.int64)


def keras_output(layer, *inputs) -> np.ndarray:
    """``layer`` called eagerly on ``inputs`` (strings decoded to ``str``)."""
    import tensorflow as tf

    args = [tf.constant(x) for x in inputs]
    out = layer(args if len(args) > 1 else args[0])
    out = out.numpy() if hasattr(out, "numpy") else np.asarray(out)
    if out.dtype == object:
        out = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(out).astype(str)
    return out


def same(layer, kind: HostKind, config: dict, *inputs) -> None:
    """The host implementation of ``kind`` (through `KINDS`) equals Keras: dtype, shape and every value."""
    expected = keras_output(layer, *inputs)
    got = KINDS[kind]([np.asarray(x) for x in inputs], config)
    assert got.dtype == expected.dtype or (got.dtype.kind == expected.dtype.kind == "U"), (got.dtype, expected.dtype)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    np.testing.assert_array_equal(got, expected)


def samples(inputs: dict, outputs: dict, rows: int = 64):
    """The parity hints and one generated feed of ``rows`` for ``keras.Model(inputs, outputs)``."""
    import keras

    from edgeprep.graph import flatten
    from edgeprep.parity.samples import generate, input_hints
    from edgeprep.runners import KerasRunner

    model = keras.Model(inputs, outputs)
    hints = input_hints(flatten(model))
    return hints, generate(KerasRunner(model).inputs(), hints, (rows,), seed=0)[0]


def splits(n: int, rng) -> list[slice]:
    """Six random contiguous parts of ``range(n)``, for merge-in-any-order tests of the analyzers."""
    cuts = np.sort(rng.choice(np.arange(1, n), size=5, replace=False))
    edges = [0, *cuts.tolist(), n]
    return [slice(a, b) for a, b in zip(edges, edges[1:])]
