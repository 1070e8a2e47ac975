"""The pass rule of edgeprep.parity.compare, pinned case by case."""

from __future__ import annotations

import numpy as np

from edgeprep.parity.compare import Tolerance, compare, compare_output


def test_float_pass_rule_is_relative_to_the_output_scale():
    ref = np.array([[100.0, -50.0, 0.0]], dtype=np.float32)
    ok = ref + np.array([[1e-3, 0, 0]], dtype=np.float32)  # 1e-3 <= 1e-5 * 100 + 1e-7
    bad = ref + np.array([[0, 0, 2e-3]], dtype=np.float32)  # 2e-3 > 1.000001e-3
    assert compare_output("y", ref, ok, Tolerance()).passed
    result = compare_output("y", ref, bad, Tolerance())
    assert not result.passed and result.mismatched == 1
    assert np.isclose(result.max_rel, 2e-3 / 100, rtol=1e-3)
    assert np.isclose(result.min_rtol, (result.max_abs - 1e-7) / 100, rtol=1e-6)


def test_atol_is_the_floor_for_all_zero_outputs():
    ref = np.zeros((2, 3), np.float32)
    assert compare_output("y", ref, ref + 5e-8, Tolerance()).passed
    assert not compare_output("y", ref, ref + 5e-7, Tolerance()).passed


def test_integer_and_string_outputs_must_be_exact():
    ints = np.array([1, 2, 3])
    assert compare_output("i", ints, ints.copy(), Tolerance(rtol=1.0)).passed
    assert not compare_output("i", ints, ints + np.array([0, 0, 1]), Tolerance(rtol=1.0)).passed
    strings = np.array(["a", "b"])
    assert compare_output("s", strings, np.array(["a", "b"]), Tolerance()).passed
    assert compare_output("s", strings, np.array(["a", "c"]), Tolerance()).mismatched == 1


def test_nan_and_inf_must_match_positions():
    ref = np.array([1.0, np.nan, np.inf, -np.inf])
    assert compare_output("y", ref, ref.copy(), Tolerance()).passed
    assert not compare_output("y", ref, np.array([1.0, 0.0, np.inf, -np.inf]), Tolerance()).passed
    assert not compare_output("y", ref, np.array([1.0, np.nan, -np.inf, -np.inf]), Tolerance()).passed


def test_shape_mismatch_and_missing_output_fail_with_a_message():
    report = compare("onnx", "keras", {"a": np.zeros((2, 3)), "b": np.zeros(2)}, {"a": np.zeros((3, 2))}, Tolerance())
    assert not report
    messages = [o.message for o in report.outputs]
    assert "shape" in messages[0] and "missing" in messages[1]


def test_per_output_overrides():
    tol = Tolerance(overrides=(("loose", Tolerance(rtol=1e-1, atol=0.0)),))
    ref = np.ones(4)
    assert compare_output("loose", ref, ref * 1.05, tol).passed
    assert not compare_output("strict", ref, ref * 1.05, tol).passed


def test_report_is_truthy_only_when_every_output_passes():
    ref = {"a": np.ones(3), "b": np.ones(3)}
    assert compare("t", "r", ref, {"a": np.ones(3), "b": np.ones(3)}, Tolerance())
    assert not compare("t", "r", ref, {"a": np.ones(3), "b": np.ones(3) * 2}, Tolerance())


def test_top1_and_sqnr_criteria():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(200, 10))
    noisy = ref + rng.normal(scale=0.01, size=ref.shape)
    result = compare_output("logits", ref, noisy, Tolerance(rtol=None, min_top1=0.95, min_sqnr_db=30.0))
    assert result.passed and result.top1 >= 0.95 and 35 < result.sqnr_db < 45
    flipped = ref.copy()
    flipped[:20] = -flipped[:20]  # 10% of rows change their argmax
    bad = compare_output("logits", ref, flipped, Tolerance(rtol=None, min_top1=0.95))
    assert not bad.passed and bad.top1 <= 0.9 and "top-1" in bad.message
    assert not compare_output("y", ref, noisy, Tolerance(rtol=None, min_sqnr_db=50.0)).passed


def test_streaming_statistics_equal_one_shot():
    from edgeprep.parity.compare import Comparison

    rng = np.random.default_rng(1)
    ref = rng.normal(size=(300, 4)).astype(np.float32)
    act = ref + rng.normal(scale=1e-6, size=ref.shape).astype(np.float32)
    streaming = Comparison("t", "r", ["y"])
    for start in range(0, 300, 7):
        streaming.update({"y": ref[start:start + 7]}, {"y": act[start:start + 7]})
    one = compare_output("y", ref, act, Tolerance())
    got = streaming.report(Tolerance()).outputs[0]
    assert (got.max_abs, got.scale, got.passed, got.mismatched) == (one.max_abs, one.scale, one.passed, one.mismatched)
    assert np.isclose(got.mean_abs, one.mean_abs) and got.top1 == one.top1
    exact_p99 = np.percentile(np.abs(ref.astype(np.float64) - act), 99)
    assert exact_p99 <= got.p99_abs <= exact_p99 * 1.07


def test_mismatch_count_is_exact_below_the_cap():
    ref = np.zeros(50_000)
    act = ref.copy()
    act[:1234] = 1.0
    assert compare_output("y", ref, act, Tolerance()).mismatched == 1234


def test_relative_statistics_are_relative_to_the_output_scale():
    ref = np.array([10.0, -20.0, 5.0, 0.0])
    result = compare_output("y", ref, ref + np.array([0.0, 0.0, 0.002, 0.002]), Tolerance())
    assert np.isclose(result.mean_rel, 0.001 / 20) and np.isclose(result.max_rel, 0.002 / 20)
    assert result.p99_rel <= result.max_rel * 1.07
    data = result.to_json()
    assert data["mean_rel"] == result.mean_rel and data["p99_rel"] == result.p99_rel
