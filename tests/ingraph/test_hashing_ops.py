"""edgeprep.ingraph's hashes through edgeprep's converters, bit for bit equal to TensorFlow's own ops.

One probe model (tests/ingraph/hash_probe.py) is converted once per target (with the target's native
`Bitwise`; the portable opset-17 form under ``-m slow``) and run once on each of two
batches of a seeded corpus: 9,500 strings of 0-64 bytes and 560 of 65-5,000 bytes (every 64-byte
chunk boundary), each row with an int64 (min, max, negatives, every power of ten). Its outputs are
raw 64-bit Fingerprint64 / SipHash / cross hashes and the buckets Keras' Hashing and HashedCrossing
produce, for several bin counts and salts.
"""

from __future__ import annotations

import numpy as np
import pytest
from hash_probe import OUTPUTS, build_model, corpus, encode, numbers, tensorflow_answers

from edgeprep.backend import backend
from edgeprep.config import ExportConfig
from edgeprep.config import Target
from edgeprep.graph import io_names
from edgeprep.ingraph.uint64 import Bitwise

INPUTS = ("text", "length", "number")
# What the lowering may use: integer arithmetic, comparisons, gathers, a loop, 32-bit bitwise ops.
TFLITE_OPS = {
    "ADD", "SUB", "MUL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL", "EQUAL", "NOT_EQUAL", "LOGICAL_AND",
    "SELECT_V2", "SELECT", "CAST", "GATHER", "SUM", "REDUCE_MAX", "REDUCE_ALL", "MAXIMUM", "MINIMUM", "FLOOR_MOD",
    "FLOOR_DIV", "ROUND", "RESHAPE", "STRIDED_SLICE", "CONCATENATION", "PACK", "UNPACK", "PAD", "SHAPE", "RANGE",
    "ZEROS_LIKE", "EXPAND_DIMS", "WHILE", "FILL", "BROADCAST_TO", "SQUEEZE", "NEG", "ABS", "LOGICAL_NOT", "SLICE",
    "BITCAST", "BITWISE_XOR", "RIGHT_SHIFT",  # Bitwise.TFLITE: on int32 / uint32 halves
}




@pytest.fixture(scope="module")
def batches():
    """(feed, TensorFlow's answers) for the short and the long batch."""
    shorts, longs = corpus()
    values = numbers(len(shorts) + len(longs))
    out = []
    for strings, ints in ((shorts, values[: len(shorts)]), (longs, values[len(shorts):])):
        data, lengths = encode(strings)
        out.append(({"text": data, "length": lengths, "number": ints}, tensorflow_answers(strings, ints)))
    return out


def test_corpus_covers_the_brief(batches):
    strings = sum(len(feed["length"]) for feed, _ in batches)
    lengths = np.concatenate([feed["length"] for feed, _ in batches])
    values = np.concatenate([feed["number"] for feed, _ in batches])
    assert strings >= 10_000 and len(values) >= 10_000
    assert {0, 1, 3, 4, 7, 8, 16, 17, 32, 33, 64, 65, 127, 128, 129, 5000} <= set(lengths.tolist())
    assert {np.iinfo(np.int64).min, np.iinfo(np.int64).max, -1, 0} <= set(values.tolist())
    texts = [bytes(row[:n]) for feed, _ in batches for row, n in zip(feed["text"], feed["length"])]
    assert any("😀".encode() in t for t in texts) and any("e\u0301".encode() in t for t in texts)
    assert any(max(t, default=0) >= 0x80 for t in texts)


def test_hashes_equal_tensorflow(target, batches):
    _check_artifact(target, Bitwise.native(target), batches)


@pytest.mark.slow
def test_onnx17_hashes_equal_tensorflow(batches):
    """ONNX opset 17 (taken only with an explicit ``--opset 17`` since in-graph hashing picks opset 18) with
    BitShift and byte-table XOR, no bitwise op: its conversion and run take minutes on CI's 2 cores, hence slow;
    CI checks the same form at the Keras level (test_keras_model_equals_tensorflow[Bitwise.ONNX17])."""
    _check_artifact(Target.ONNX, Bitwise.ONNX17, batches)


@pytest.mark.slow
def test_portable_hashes_equal_tensorflow(target, batches):
    """The one form both targets take at ONNX opset 17 (64x the elements: minutes, hence slow)."""
    _check_artifact(target, Bitwise.PORTABLE, batches)


def _check_artifact(target: Target, bitwise: Bitwise, batches) -> None:
    model = build_model(bitwise)
    inputs, outputs = io_names(model)
    assert inputs == list(INPUTS) and sorted(outputs) == sorted(OUTPUTS)
    options = backend(target).options(ExportConfig(onnx_opset=bitwise.onnx_opset), tuple(inputs), tuple(outputs), None)
    artifact = backend(target).convert(model, options)
    assert not artifact.runtime_requirements
    if target is Target.TFLITE:
        assert set(artifact.ops) <= TFLITE_OPS, sorted(set(artifact.ops) - TFLITE_OPS)
        assert ("BITWISE_XOR" in artifact.ops) == (bitwise is Bitwise.TFLITE)
    else:
        assert not [op for op in artifact.ops if "::" in op]  # ai.onnx only
        assert ("BitwiseXor" in artifact.ops) == (bitwise is Bitwise.ONNX)
    with backend(target).runner(artifact.data) as runner:
        for feed, answers in batches:
            got = runner.infer(feed)
            for name in OUTPUTS:
                np.testing.assert_array_equal(np.asarray(got[name], np.int64), answers[name], err_msg=f"{target.value}/{bitwise.value}: {name}")


@pytest.mark.parametrize("bitwise", [Bitwise.TFLITE, Bitwise.ONNX, Bitwise.ONNX17])
def test_keras_model_equals_tensorflow(bitwise, batches):
    """The lowered Keras model itself (the middle of edgeprep's parity chain), on 200 short and 24 long rows."""
    model = build_model(bitwise)
    (short, short_answers), (long, long_answers) = batches
    rows = (slice(0, 200), slice(0, 24))
    width = long["text"][rows[1]].shape[1]
    feed = {  # one call, one trace
        "text": np.concatenate([np.pad(short["text"][rows[0]], [(0, 0), (0, width - short["text"].shape[1])]), long["text"][rows[1]]]),
        **{name: np.concatenate([short[name][rows[0]], long[name][rows[1]]]) for name in ("length", "number")},
    }
    got = model.predict_on_batch(feed)
    for name in OUTPUTS:
        expected = np.concatenate([short_answers[name][rows[0]], long_answers[name][rows[1]]])
        np.testing.assert_array_equal(np.asarray(got[name], np.int64), expected, err_msg=name)


def test_onnxruntime_reduce_sum_int64_is_inexact():
    """Why `uint64.from_bits` sums 32-bit halves: onnxruntime sums int64 in double (docs/UPSTREAM.md)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=0)], "g",
        [helper.make_tensor_value_info("x", TensorProto.INT64, [None, None])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [None])],
        [helper.make_tensor("axes", TensorProto.INT64, [1], [-1])],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(proto)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.array([[0x123456789ABCDEF0, 1], [2**62, 2**62]], np.int64)
    assert session.run(None, {"x": x})[0].tolist() != x.sum(-1).tolist()
