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
