"""One comparator for every target: per-output error statistics against a pass rule.

The pass rule (pinned by tests/parity/test_compare.py):

    A float output passes when ``max|actual - reference| <= atol + rtol * scale``, where
    ``scale = max|reference|`` over the whole output (its largest reference magnitude), and both
    agree on shape and on where values are NaN / +Inf / -Inf.
    An integer, boolean or string output passes only when it is exactly equal.
    A report passes when every output passes.

``max_rel`` is ``max_abs / scale``; ``min_rtol`` is the smallest rtol that would have passed with
the given atol, so a failing report says how far off it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """Tolerances for float outputs, with per-output overrides.

    Attributes:
        rtol: allowed error relative to the output's scale (its largest reference magnitude).
        atol: allowed absolute error on top of ``rtol * scale`` (a floor for all-zero outputs).
        overrides: (output name, Tolerance) pairs that replace the defaults for those outputs.
    """

    rtol: float = 1e-5
    atol: float = 1e-7
    overrides: tuple[tuple[str, "Tolerance"], ...] = field(default=())

    def for_output(self, name: str) -> "Tolerance":
        for key, tolerance in self.overrides:
            if key == name:
                return tolerance
        return self

    def to_json(self) -> dict:
        data = {"rtol": self.rtol, "atol": self.atol}
        if self.overrides:
            data["overrides"] = {key: tol.to_json() for key, tol in self.overrides}
        return data


@dataclass(frozen=True)
class OutputComparison:
    """How one output of an artifact compares with its reference."""

    name: str
    passed: bool
    kind: str  # "float" or "exact"
    max_abs: float
    mean_abs: float
    p99_abs: float
    max_rel: float
    scale: float
    min_rtol: float
    mismatched: int  # elements outside tolerance (or unequal, for exact outputs)
    elements: int
    message: str = ""

    def to_json(self) -> dict:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}


@dataclass(frozen=True)
class ParityReport:
    """Comparison of one runner's outputs with a reference, output by output.

    Truthy when every output passed.
    """

    target: str
    reference: str
    outputs: tuple[OutputComparison, ...]
    tolerance: Tolerance
    samples: int
    batch_sizes: tuple[int, ...]

    @property
    def passed(self) -> bool:
        return bool(self.outputs) and all(output.passed for output in self.outputs)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def max_abs(self) -> float:
        return max((o.max_abs for o in self.outputs), default=float("nan"))

    @property
    def max_rel(self) -> float:
        return max((o.max_rel for o in self.outputs), default=float("nan"))

    def failures(self) -> list[OutputComparison]:
        return [output for output in self.outputs if not output.passed]

    def summary(self) -> str:
        if self.passed:
            return f"{self.target}: passed (max rel {self.max_rel:.2e}, max abs {self.max_abs:.2e})"
        parts = [f"{o.name}: {o.message or f'max rel {o.max_rel:.2e} > rtol {self.tolerance.for_output(o.name).rtol:.0e}'}" for o in self.failures()]
        return f"{self.target} vs {self.reference}: FAILED " + "; ".join(parts)

    def to_json(self) -> dict:
        return {
            "target": self.target,
            "reference": self.reference,
            "passed": self.passed,
            "max_abs": self.max_abs,
            "max_rel": self.max_rel,
            "atol": self.tolerance.atol,
            "rtol": self.tolerance.rtol,
            "samples": self.samples,
            "batch_sizes": list(self.batch_sizes),
            "outputs": [output.to_json() for output in self.outputs],
        }


def compare_output(name: str, reference: np.ndarray, actual: np.ndarray, tolerance: Tolerance) -> OutputComparison:
    """Compare one output under the pass rule of this module."""
    reference, actual = np.asarray(reference), np.asarray(actual)
    tolerance = tolerance.for_output(name)
    elements = int(reference.size)
    if reference.shape != actual.shape:
        return _failed(name, elements, f"shape {actual.shape} != reference {reference.shape}")
    exact = reference.dtype.kind in "iubUSO" or actual.dtype.kind in "iubUSO"
    if exact:
        if reference.dtype.kind in "USO" or actual.dtype.kind in "USO":
            unequal = reference.astype(str) != actual.astype(str)
            diff = unequal.astype(np.float64)
        else:
            diff = np.abs(reference.astype(np.float64) - actual.astype(np.float64))
            unequal = diff != 0
        mismatched = int(unequal.sum())
        max_abs = float(diff.max()) if diff.size else 0.0
        scale = float(np.abs(reference.astype(np.float64)).max()) if reference.dtype.kind not in "USO" and reference.size else 1.0
        return OutputComparison(
            name, mismatched == 0, "exact", max_abs, float(diff.mean()) if diff.size else 0.0,
            float(np.percentile(diff, 99)) if diff.size else 0.0, max_abs / scale if scale else max_abs,
            scale, 0.0 if mismatched == 0 else float("inf"), mismatched, elements,
            "" if mismatched == 0 else f"{mismatched} of {elements} values differ (exact match required)",
        )
    ref64, act64 = reference.astype(np.float64), actual.astype(np.float64)
    ref_special, act_special = ~np.isfinite(ref64), ~np.isfinite(act64)
    special_mismatch = int(
        np.sum(ref_special != act_special)
        + np.sum(ref_special & act_special & ~((ref64 == act64) | (np.isnan(ref64) & np.isnan(act64))))
    )
    finite = ~ref_special & ~act_special
    diff = np.abs(ref64[finite] - act64[finite])
    scale = float(np.abs(ref64[~ref_special]).max()) if np.any(~ref_special) else 0.0
    max_abs = float(diff.max()) if diff.size else 0.0
    allowed = tolerance.atol + tolerance.rtol * scale
    mismatched = int(np.sum(diff > allowed)) + special_mismatch
    passed = mismatched == 0
    min_rtol = max(0.0, max_abs - tolerance.atol) / scale if scale else (0.0 if max_abs <= tolerance.atol else float("inf"))
    message = ""
    if special_mismatch:
        message = f"{special_mismatch} NaN/Inf positions differ from the reference"
    elif not passed:
        message = f"max abs {max_abs:.3e} > allowed {allowed:.3e} (max rel {max_abs / scale if scale else float('inf'):.2e}, rtol {tolerance.rtol:.0e})"
    return OutputComparison(
        name, passed, "float", max_abs, float(diff.mean()) if diff.size else 0.0,
        float(np.percentile(diff, 99)) if diff.size else 0.0, max_abs / scale if scale else (0.0 if max_abs == 0 else float("inf")),
        scale, min_rtol, mismatched, elements, message,
    )


def _failed(name: str, elements: int, message: str) -> OutputComparison:
    inf = float("inf")
    return OutputComparison(name, False, "float", inf, inf, inf, inf, 0.0, inf, elements, elements, message)


def compare(
    target: str,
    reference_name: str,
    reference: Mapping[str, np.ndarray],
    actual: Mapping[str, np.ndarray],
    tolerance: Tolerance,
    batch_sizes: tuple[int, ...] = (),
) -> ParityReport:
    """Compare every reference output with ``actual``; a missing output fails with a message."""
    outputs = []
    for name, ref in reference.items():
        if name not in actual:
            outputs.append(_failed(name, int(np.asarray(ref).size), f"output missing (runner gave {', '.join(actual) or 'nothing'})"))
        else:
            outputs.append(compare_output(name, ref, actual[name], tolerance))
    samples = int(np.asarray(next(iter(reference.values()))).shape[0]) if reference and np.asarray(next(iter(reference.values()))).ndim else 0
    return ParityReport(target, reference_name, tuple(outputs), tolerance, samples, tuple(batch_sizes))
