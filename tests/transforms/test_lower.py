"""Every lookup / bucketing / encoding / hashing / text layer option, through both real runtimes.

One model per layer family carries every option as its own output, so one export per family
covers them all. Each test asserts that the rule applied N times with the placement it documents
(device or host), that the artifacts hold only builtin ops, and that Keras and
``edgeprep run`` (host steps + artifact, on raw inputs) agree exactly on fresh vocabulary-aware
inputs at batch 1 and 5: integer and string outputs identical, float outputs rel <= 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest

import edgeprep
from helpers import artifact_ops
from edgeprep.config import Action, Target

TESTED_RULES = (
    "lower-index-lookup", "lower-discretization", "lower-category-encoding", "host-hashing", "host-hashed-crossing", "host-text-vectorization",
)

VOCAB = ["red", "green", "blue", "Émile", "日本", "a b"]
INT_VOCAB = [3, 7, 11, -4, 100, 123456789]
TEXT_VOCAB = ["the", "cat", "dog", "sat", "on", "mat", "école", "日本", "a", "big"]


def _lookups():
    import keras

    L = keras.layers
    s1 = keras.Input((1,), dtype="string", name="word")
    s3 = keras.Input((3,), dtype="string", name="words")
    i1 = keras.Input((1,), dtype="int64", name="code")
    i3 = keras.Input((3,), dtype="int64", name="codes")
    idx = keras.Input((1,), dtype="int64", name="index")
    outputs = {
        "s_int": L.StringLookup(vocabulary=VOCAB)(s1),
        "s_mask": L.StringLookup(vocabulary=VOCAB, mask_token="[MASK]")(s1),
        "s_empty_mask": L.StringLookup(vocabulary=VOCAB, mask_token="", num_oov_indices=2)(s1),
        "s_oov3": L.StringLookup(vocabulary=VOCAB, num_oov_indices=3)(s1),
        "s_one_hot": L.StringLookup(vocabulary=VOCAB, output_mode="one_hot")(s1),
        "s_multi_hot": L.StringLookup(vocabulary=VOCAB, output_mode="multi_hot")(s3),
        "s_count": L.StringLookup(vocabulary=VOCAB, output_mode="count", mask_token="")(s3),
        "s_tf_idf": L.StringLookup(vocabulary=VOCAB, output_mode="tf_idf", idf_weights=[0.5, 1, 1.5, 2, 2.5, 3])(s3),
        "s_padded": L.StringLookup(vocabulary=VOCAB, output_mode="multi_hot", max_tokens=12, pad_to_max_tokens=True)(s3),
        "s_invert": L.StringLookup(vocabulary=VOCAB, invert=True)(idx),
        "s_invert_mask": L.StringLookup(vocabulary=VOCAB, invert=True, mask_token="[M]")(idx),
        "i_int": L.IntegerLookup(vocabulary=INT_VOCAB)(i1),
        "i_mask": L.IntegerLookup(vocabulary=INT_VOCAB, mask_token=0)(i1),
        "i_oov3": L.IntegerLookup(vocabulary=INT_VOCAB, num_oov_indices=3)(i1),
        "i_oov_farmhash": L.IntegerLookup(vocabulary=INT_VOCAB, num_oov_indices=2, oov_method="farmhash")(i1),
        "i_one_hot": L.IntegerLookup(vocabulary=INT_VOCAB, output_mode="one_hot")(i1),
        "i_count": L.IntegerLookup(vocabulary=INT_VOCAB, output_mode="count")(i3),
        "i_tf_idf": L.IntegerLookup(vocabulary=INT_VOCAB, output_mode="tf_idf", idf_weights=[1, 2, 3, 4, 5, 6])(i3),
        "i_invert": L.IntegerLookup(vocabulary=INT_VOCAB, invert=True)(idx),
        "i_padded": L.IntegerLookup(vocabulary=INT_VOCAB, output_mode="multi_hot", max_tokens=10, pad_to_max_tokens=True)(i3),
    }
    inputs = {"word": s1, "words": s3, "code": i1, "codes": i3, "index": idx}
    return keras.Model(inputs, outputs, name="lookups")


def _lookups_no_oov():
    import keras

    s1 = keras.Input((1,), dtype="string", name="word")
    i1 = keras.Input((1,), dtype="int64", name="code")
    outputs = {
        "s_no_oov": keras.layers.StringLookup(vocabulary=VOCAB, num_oov_indices=0)(s1),
        "i_no_oov": keras.layers.IntegerLookup(vocabulary=INT_VOCAB, num_oov_indices=0, output_mode="one_hot")(i1),
    }
    return keras.Model({"word": s1, "code": i1}, outputs, name="lookups_no_oov")


def _numeric():
    import keras

    L = keras.layers
    x = keras.Input((1,), name="x")
    x2 = keras.Input((2,), name="x2")
    cats = keras.Input((3,), dtype="int64", name="cats")
    weights = keras.Input((3,), name="weights")
    adapted = L.Discretization(num_bins=6)
    adapted.adapt(np.random.default_rng(0).normal(size=(500, 1)).astype("float32"))
    outputs = {
        "d_int": L.Discretization(bin_boundaries=[-1.0, 0.0, 0.5, 2.0])(x),
        "d_adapted": adapted(x),
        "d_one_hot": L.Discretization(bin_boundaries=[-1.0, 0.0, 0.5, 2.0], output_mode="one_hot")(x),
        "d_multi_hot": L.Discretization(bin_boundaries=[0.0, 1.0], output_mode="multi_hot")(x2),
        "d_count": L.Discretization(bin_boundaries=[0.0, 1.0], output_mode="count")(x2),
        "c_one_hot": L.CategoryEncoding(num_tokens=5, output_mode="one_hot")(L.Reshape((3, 1))(cats)),
        "c_multi_hot": L.CategoryEncoding(num_tokens=5, output_mode="multi_hot")(cats),
        "c_count": L.CategoryEncoding(num_tokens=5, output_mode="count")(cats),
        "c_weighted": L.CategoryEncoding(num_tokens=5, output_mode="count")(cats, count_weights=weights),
    }
    return keras.Model({"x": x, "x2": x2, "cats": cats, "weights": weights}, outputs, name="numeric")


def _hashing():
    import keras

    L = keras.layers
    s = keras.Input((1,), dtype="string", name="s")
    n = keras.Input((1,), dtype="int64", name="n")
    outputs = {
        "h_int": L.Hashing(num_bins=16)(s),
        "h_mask": L.Hashing(num_bins=16, mask_value="")(s),
        "h_salt": L.Hashing(num_bins=7, salt=1337)(s),
        "h_ints": L.Hashing(num_bins=16, mask_value=0)(n),
        "h_one_hot": L.Hashing(num_bins=8, output_mode="one_hot")(n),
        "h_count": L.Hashing(num_bins=8, output_mode="count")(s),
        "h_multi_hot": L.Hashing(num_bins=8, output_mode="multi_hot", salt=[1, 2])(n),
        "x_int": L.HashedCrossing(num_bins=11)((n, s)),
        "x_one_hot": L.HashedCrossing(num_bins=6, output_mode="one_hot")((n, n)),
    }
    features = L.Concatenate()([outputs["h_one_hot"], outputs["h_count"], outputs["x_one_hot"]])
    outputs["score"] = L.Dense(2, name="score")(features)  # the device part
    return keras.Model({"s": s, "n": n}, outputs, name="hashing")


def _text():
    import keras

    L = keras.layers
    t = keras.Input((1,), dtype="string", name="text")
    layers = {
        "t_default": L.TextVectorization(vocabulary=TEXT_VOCAB, output_sequence_length=8),
        "t_none": L.TextVectorization(vocabulary=TEXT_VOCAB, standardize=None, output_sequence_length=6),
        "t_lower": L.TextVectorization(vocabulary=TEXT_VOCAB, standardize="lower", output_sequence_length=6),
        "t_char": L.TextVectorization(vocabulary=list("abcdeé日"), split="character", output_sequence_length=12),
        "t_ngrams": L.TextVectorization(vocabulary=TEXT_VOCAB + ["the cat", "on the"], ngrams=2, output_sequence_length=10),
        "t_multi_hot": L.TextVectorization(vocabulary=TEXT_VOCAB, output_mode="multi_hot"),
        "t_count": L.TextVectorization(vocabulary=TEXT_VOCAB, output_mode="count", ngrams=(1, 2)),
        "t_tf_idf": L.TextVectorization(vocabulary=TEXT_VOCAB, output_mode="tf_idf", idf_weights=np.linspace(0.5, 2, 10)),
        "t_plain_lookup": L.TextVectorization(vocabulary=TEXT_VOCAB, standardize=None, split=None),
    }
    outputs = {name: layer(t) for name, layer in layers.items()}
    pooled = L.GlobalAveragePooling1D()(L.Embedding(len(TEXT_VOCAB) + 2, 4)(outputs["t_default"]))
    outputs["score"] = L.Dense(2, name="score")(pooled)  # the device part
    return keras.Model({"text": t}, outputs, name="text")


FAMILIES = {
    # model, {rule: (device count, host count)} identical for both targets
    "lookups": (_lookups, {"lower-index-lookup": (17, 3)}),
    "lookups_no_oov": (_lookups_no_oov, {"lower-index-lookup": (2, 0)}),
    "numeric": (_numeric, {"lower-discretization": (5, 0), "lower-category-encoding": (4, 0)}),
    # issue 16: text in the artifact by default; hashing here with --host-steps (its in-graph form:
    # tests/families/test_in_graph_strings.py; nine in-graph hashes take minutes to convert to ONNX)
    "hashing": (_hashing, {"host-hashing": (0, 7), "host-hashed-crossing": (0, 2)}),
    "text": (_text, {"in-graph-strings": (9, 0)}),  # the in-graph rule (edgeprep.transforms.in_graph) lowers them
}


@pytest.fixture(scope="module", params=list(FAMILIES))
def exported(request, tmp_path_factory):
    factory, counts = FAMILIES[request.param]
    model = factory()
    out = tmp_path_factory.mktemp(request.param) / "dist"
    return request.param, model, counts, edgeprep.export(model, out, host_steps=request.param == "hashing")


def test_rules_apply_n_times_with_their_placement(exported):
    name, _, counts, result = exported
    for target, plan in result.plans.items():
        for rule, (device, host) in counts.items():
            steps = [s for s in plan.steps if s.rule == rule]
            assert len([s for s in steps if s.action is Action.LOWERED]) == device, (name, target, rule, steps)
            assert len([s for s in steps if s.action is Action.HOST]) == host, (name, target, rule, steps)
        assert not plan.by_action(Action.UNSUPPORTED)
        assert [step.id for step in plan.split.steps] == [s.layer for s in plan.by_action(Action.HOST)]


def test_artifacts_hold_only_builtin_ops(exported):
    name, _, _, result = exported
    for target, path in result.artifacts.items():
        ops = artifact_ops(path)
        if target is Target.ONNX:
            assert all("::" not in op or op.startswith("ai.onnx.ml::") for op in ops), (name, ops)
            assert not {"LookupTableFindV2", "Bucketize", "StringToHashBucketFast"} & set(ops)
        else:
            assert not any(op.startswith(("Flex", "CUSTOM")) for op in ops), (name, ops)
    for entry in result.manifest["artifacts"]:
        assert entry["runtime_requirements"] == []


def _fresh_inputs(model, batch, seed):
    from edgeprep.graph import flatten
    from edgeprep.parity.samples import generate, input_hints
    from edgeprep.runners import KerasRunner

    return generate(KerasRunner(model).inputs(), input_hints(flatten(model)), (batch,), seed)[0]


@pytest.mark.parametrize("batch", [1, 5])
def test_keras_and_edgeprep_run_agree_exactly_on_raw_inputs(exported, batch):
    from edgeprep.deploy import run_directory
    from edgeprep.runners import KerasRunner

    name, model, _, result = exported
    feed = _fresh_inputs(model, batch, seed=100 + batch)
    expected = KerasRunner(model).infer(feed)
    for target in result.artifacts:
        got = run_directory(result.out_dir, target, feed)
        for key, want in expected.items():
            have = got[key]
            assert have.shape == want.shape, (name, target, key, have.shape, want.shape)
            if want.dtype.kind in "fc":
                scale = max(float(np.abs(want).max()), 1e-30)
                assert float(np.abs(have.astype(np.float64) - want).max()) <= 1e-6 * scale, (name, target, key)
            else:
                np.testing.assert_array_equal(have.astype(want.dtype) if want.dtype.kind != "U" else have.astype(str), want, err_msg=f"{name} {target} {key}")


@pytest.mark.parametrize("exported", ["text"], indirect=True)
def test_text_fuzz_corpus_equals_keras(exported):
    """Issue 16: 10,000 texts of tests/ingraph's seeded fuzz corpus through the nine in-graph
    TextVectorizations (every standardize, split, ngrams, output mode) on both targets, raw strings in."""
    import sys
    from pathlib import Path

    from edgeprep.deploy import run_directory
    from edgeprep.runners import KerasRunner

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ingraph"))
    from test_text_ops import CORPUS

    _, model, _, result = exported
    assert not any(entry["host_steps"] for entry in result.manifest["artifacts"])
    keras_runner = KerasRunner(model)
    ordered = sorted(CORPUS, key=lambda t: len(t.encode()))
    assert len(ordered) >= 10_000
    start = 0
    while start < len(ordered):
        size = max(1, min(500, 100_000 // max(1, len(ordered[min(start + 499, len(ordered) - 1)].encode()))))
        feed = {"text": np.array(ordered[start:start + size], dtype=object).reshape(-1, 1)}
        start += size
        want = keras_runner.infer(feed)
        for target in result.artifacts:
            got = run_directory(result.out_dir, target, feed)
            for key, value in want.items():
                assert got[key].shape == value.shape, (target, key)
                if value.dtype.kind == "f":
                    np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-6 * max(1.0, float(np.abs(value).max(initial=0))), err_msg=f"{target} {key}")
                else:
                    np.testing.assert_array_equal(got[key].astype(value.dtype), value, err_msg=f"{target} {key}")


def test_verify_reruns_host_steps_and_artifacts(exported):
    _, _, _, result = exported
    assert edgeprep.verify(result.out_dir).passed


@pytest.mark.parametrize("target", [Target.TFLITE, Target.ONNX], ids=lambda t: t.value)
def test_lookup_cost_does_not_scan_the_vocabulary(target):
    """Ops per lookup grow with log2(V) for integer keys and not at all for string keys: no scan."""
    import keras

    from edgeprep.backend import backend
    from edgeprep.config import ExportConfig
    from edgeprep.graph import rebuild
    from edgeprep.plan import make_plan

    counts = {}
    for vocab in (100, 100_000):
        word = keras.Input((1,), dtype="string", name="word")
        code = keras.Input((1,), dtype="int64", name="code")
        model = keras.Model({"code": code, "word": word}, {
            "a": keras.layers.StringLookup(vocabulary=[f"t{i}" for i in range(vocab)])(word),
            "b": keras.layers.IntegerLookup(vocabulary=list(range(0, 3 * vocab, 3)))(code),
        })
        plan = make_plan(model, target, ExportConfig(targets=(target,)))
        converter = backend(target)
        artifact = converter.convert(rebuild(plan.graph), converter.options(ExportConfig(targets=(target,)), ("code", "word"), ("a", "b"), None))
        counts[vocab] = sum(artifact.ops.values())
        table = "HASHTABLE_FIND" if target is Target.TFLITE else "CategoryMapper"
        assert artifact.ops[table] == 1
    # 100 -> 100_000 entries: the binary search gets 17 - 7 = 10 more rounds of a handful of ops each
    # (6 in TFLite, 12 after tf2onnx); a scan would add thousands of ops or a V-wide tensor.
    assert 0 < counts[100_000] - counts[100] <= 10 * 16, counts
