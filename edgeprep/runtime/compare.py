"""One comparator for every target: streaming per-output statistics against one pass rule.

The pass rule (pinned by tests/parity/test_compare.py), the one edgeprep, ``verify`` and the shipped
test all apply (this module is part of the deploy runtime, `edgeprep.runtime`):

    Integer, boolean and string outputs pass only when exactly equal, element for element.
    A float output passes when every criterion its `Tolerance` sets holds:
      - ``rtol`` (if set): ``max|actual - reference| <= atol + rtol * scale``, where
        ``scale = max|reference|`` over the whole output (its largest finite reference magnitude);
      - ``min_top1`` (if set, for classifier-shaped outputs ``(N, C)`` with ``C >= 2``): the share of
        rows whose argmax agrees is at least ``min_top1``;
      - ``min_sqnr_db`` (if set): ``10 log10(sum reference^2 / sum (actual - reference)^2)`` is at
        least ``min_sqnr_db``;
      and both agree on shape and on where values are NaN / +Inf / -Inf.
    A report passes when every output passes.

``max_rel`` is ``max_abs / scale``; ``min_rtol`` is the smallest rtol that would have passed with
the given atol, so a failing report says how far off it was. Statistics are accumulated batch by
batch (`OutputAccumulator`), so verifying 100k samples keeps memory flat.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import UsageError

# Abs-error histogram: 40 bins per decade from 1e-12 to 1e+8 (p99 to within ~6%).
_EDGES = np.concatenate([[0.0], np.logspace(-12, 8, 20 * 40 + 1), [np.inf]])
_KEEP_LARGEST = 10_000  # largest errors kept exactly, to count elements outside tolerance
_SAMPLE_POINTS = 4_000  # (reference, actual) pairs kept for plots


@dataclass(frozen=True)
class Tolerance:
    """Pass criteria for float outputs, with per-output overrides (see the module's pass rule).

    Attributes:
        rtol: allowed max error relative to the output's scale; None skips the criterion.
        atol: allowed absolute error on top of ``rtol * scale`` (a floor for all-zero outputs).
        min_top1: minimum argmax agreement for classifier-shaped outputs; None skips it.
        min_sqnr_db: minimum signal-to-quantization-noise ratio in dB; None skips it.
        overrides: (output name, Tolerance) pairs that replace these criteria for those outputs.
    """

    rtol: float | None = 1e-5
    atol: float = 1e-7
    min_top1: float | None = None
    min_sqnr_db: float | None = None
    overrides: tuple[tuple[str, "Tolerance"], ...] = field(default=())

    def __post_init__(self) -> None:
        """Refuse criteria no output could be judged by (the CLI's --rtol/--atol/... and the API alike)."""
        for name, flag, low, high, optional in _CRITERIA:
            value = getattr(self, name)
            if value is None and optional:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
                raise UsageError(f"{name}={value!r} ({flag}): expected a finite number in [{low:g}, {high:g}]")

    def for_output(self, name: str) -> "Tolerance":
        for key, tolerance in self.overrides:
            if key == name:
                return tolerance
        return self

    def to_json(self) -> dict:
        data = {"rtol": self.rtol, "atol": self.atol, "min_top1": self.min_top1, "min_sqnr_db": self.min_sqnr_db}
        if self.overrides:
            data["overrides"] = {key: tol.to_json() for key, tol in self.overrides}
        return data

    @classmethod
    def from_json(cls, data: Mapping) -> "Tolerance":
        overrides = tuple((name, cls.from_json(value)) for name, value in (data.get("overrides") or {}).items())
        return cls(data.get("rtol"), data.get("atol", 0.0), data.get("min_top1"), data.get("min_sqnr_db"), overrides)

    def with_changes(self, **changes) -> "Tolerance":
        """A copy with the given criteria replaced (None values are ignored)."""
        return replace(self, **{key: value for key, value in changes.items() if value is not None})


_CRITERIA = (  # field, CLI flag, bounds, whether None (criterion off) is allowed
    ("rtol", "--rtol", 0.0, math.inf, True),
    ("atol", "--atol", 0.0, math.inf, False),
    ("min_top1", "--min-top1", 0.0, 1.0, True),
    ("min_sqnr_db", "--min-sqnr", -math.inf, math.inf, True),
)

@dataclass(frozen=True)
class OutputComparison:
    """How one output compares with its reference."""

    name: str
    passed: bool
    kind: str  # "float" or "exact"
    max_abs: float
    mean_abs: float
    p99_abs: float
    max_rel: float
    scale: float
    min_rtol: float
    mismatched: int  # elements outside tolerance (or unequal, for exact outputs); capped count
    elements: int
    top1: float | None = None
    top5: float | None = None
    sqnr_db: float | None = None
    message: str = ""

    @property
    def mean_rel(self) -> float:
        """Mean absolute error relative to the output's scale."""
        return _relative(self.mean_abs, self.scale)

    @property
    def p99_rel(self) -> float:
        """99th-percentile absolute error relative to the output's scale."""
        return _relative(self.p99_abs, self.scale)

    def to_json(self) -> dict:
        data = {key: _json_number(getattr(self, key)) for key in self.__dataclass_fields__}
        data.update(mean_rel=_json_number(self.mean_rel), p99_rel=_json_number(self.p99_rel))
        return data


def _relative(error: float, scale: float) -> float:
    if scale:
        return error / scale
    return 0.0 if error == 0 else float("inf")


def _json_number(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


@dataclass(frozen=True)
class ParityReport:
    """Comparison of one runner's outputs with a reference, output by output; truthy when all pass."""

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

    @property
    def top1(self) -> float | None:
        values = [o.top1 for o in self.outputs if o.top1 is not None]
        return min(values) if values else None

    def failures(self) -> list[OutputComparison]:
        return [output for output in self.outputs if not output.passed]

    def summary(self) -> str:
        if self.passed:
            top1 = f", top-1 {self.top1:.2%}" if self.top1 is not None else ""
            return f"{self.target}: passed (max rel {self.max_rel:.2e}, max abs {self.max_abs:.2e}{top1})"
        parts = [f"output {o.name!r}: {o.message}" for o in self.failures()]
        return f"{self.target} vs {self.reference}: FAILED " + "; ".join(parts)

    def to_json(self) -> dict:
        return {
            "target": self.target,
            "reference": self.reference,
            "passed": self.passed,
            "max_abs": _json_number(self.max_abs),
            "max_rel": _json_number(self.max_rel),
            "top1": self.top1,
            "atol": self.tolerance.atol,
            "rtol": self.tolerance.rtol,
            "tolerance": self.tolerance.to_json(),
            "samples": self.samples,
            "batch_sizes": list(self.batch_sizes),
            "outputs": [output.to_json() for output in self.outputs],
        }


class OutputAccumulator:
    """Streaming statistics of one output: feed batches with `update`, then `result`."""

    def __init__(self, name: str, seed: int = 0):
        self.name = name
        self.kind: str | None = None
        self.elements = 0
        self.rows = 0
        self.shape_error = ""
        self.max_abs = 0.0
        self.sum_abs = 0.0
        self.scale = 0.0
        self.special_mismatch = 0
        self.exact_mismatch = 0
        self.signal = 0.0
        self.noise = 0.0
        self.top1_hits = 0
        self.top5_hits = 0
        self.classifier = None
        self.histogram = np.zeros(len(_EDGES) - 1, dtype=np.int64)
        self.largest = np.zeros(0)
        self.points: list[np.ndarray] = []
        self._rng = np.random.default_rng(seed)

    def update(self, reference: np.ndarray, actual: np.ndarray) -> None:
        reference, actual = np.asarray(reference), np.asarray(actual)
        if reference.shape != actual.shape:
            self.shape_error = self.shape_error or f"shape {actual.shape} != reference {reference.shape}"
            self.elements += int(reference.size)
            return
        self.elements += int(reference.size)
        self.rows += int(reference.shape[0]) if reference.ndim else 1
        exact = reference.dtype.kind in "iubUSO" or actual.dtype.kind in "iubUSO"
        self.kind = self.kind or ("exact" if exact else "float")
        if exact:
            self._update_exact(reference, actual)
        else:
            self._update_float(reference.astype(np.float64), actual.astype(np.float64))

    def _update_exact(self, reference: np.ndarray, actual: np.ndarray) -> None:
        if reference.dtype.kind in "USO" or actual.dtype.kind in "USO":
            unequal = reference.astype(str) != actual.astype(str)
            diff = unequal.astype(np.float64)
        else:
            diff = np.abs(reference.astype(np.float64) - actual.astype(np.float64))
            unequal = diff != 0
            if reference.size:
                self.scale = max(self.scale, float(np.abs(reference.astype(np.float64)).max()))
        self.exact_mismatch += int(unequal.sum())
        self._add_errors(diff.ravel())

    def _update_float(self, ref: np.ndarray, act: np.ndarray) -> None:
        ref_special, act_special = ~np.isfinite(ref), ~np.isfinite(act)
        both = ref_special & act_special
        self.special_mismatch += int(np.sum(ref_special != act_special))
        self.special_mismatch += int(np.sum(both & ~((ref == act) | (np.isnan(ref) & np.isnan(act)))))
        finite = ~ref_special & ~act_special
        if np.any(~ref_special):
            self.scale = max(self.scale, float(np.abs(ref[~ref_special]).max()))
        diff = np.abs(ref[finite] - act[finite])
        self.signal += float(np.sum(ref[finite] ** 2))
        self.noise += float(np.sum(diff**2))
        self._add_errors(diff)
        if ref.ndim == 2 and ref.shape[1] >= 2 and self.classifier is not False:
            self.classifier = True
            ref_top = np.argmax(np.where(np.isfinite(ref), ref, -np.inf), axis=1)
            order = np.argsort(-np.where(np.isfinite(act), act, -np.inf), axis=1)
            self.top1_hits += int(np.sum(order[:, 0] == ref_top))
            self.top5_hits += int(np.sum(np.any(order[:, :5] == ref_top[:, None], axis=1)))
        else:
            self.classifier = False
        self._keep_points(ref[finite], act[finite])

    def _add_errors(self, diff: np.ndarray) -> None:
        if not diff.size:
            return
        self.max_abs = max(self.max_abs, float(diff.max()))
        self.sum_abs += float(diff.sum())
        self.histogram += np.histogram(diff, bins=_EDGES)[0]
        merged = np.concatenate([self.largest, diff])
        if merged.size > _KEEP_LARGEST:
            merged = np.partition(merged, merged.size - _KEEP_LARGEST)[-_KEEP_LARGEST:]
        self.largest = merged

    def _keep_points(self, ref: np.ndarray, act: np.ndarray) -> None:
        if not ref.size:
            return
        take = min(ref.size, max(1, _SAMPLE_POINTS // 4))
        index = self._rng.choice(ref.size, size=take, replace=False)
        self.points.append(np.stack([ref[index], act[index]], axis=1))
        if sum(len(p) for p in self.points) > 2 * _SAMPLE_POINTS:
            merged = np.concatenate(self.points)
            self.points = [merged[self._rng.choice(len(merged), size=_SAMPLE_POINTS, replace=False)]]

    def sample_points(self) -> np.ndarray:
        """Up to a few thousand (reference, actual) pairs for plots."""
        return np.concatenate(self.points) if self.points else np.zeros((0, 2))

    def _p99(self) -> float:
        counted = int(self.histogram.sum())
        if not counted:
            return 0.0
        index = int(np.searchsorted(np.cumsum(self.histogram), 0.99 * counted))
        return float(min(_EDGES[index + 1], self.max_abs))

    def result(self, tolerance: Tolerance) -> OutputComparison:
        """Apply the pass rule to everything seen so far."""
        tolerance = tolerance.for_output(self.name)
        inf = float("inf")
        if self.shape_error:
            return OutputComparison(self.name, False, "float", inf, inf, inf, inf, 0.0, inf, self.elements, self.elements, message=self.shape_error)
        mean_abs = self.sum_abs / self.elements if self.elements else 0.0
        if self.kind == "exact":
            passed = self.exact_mismatch == 0
            return OutputComparison(
                self.name, passed, "exact", self.max_abs, mean_abs, self._p99(),
                self.max_abs / self.scale if self.scale else self.max_abs, self.scale,
                0.0 if passed else inf, self.exact_mismatch, self.elements,
                message="" if passed else f"{self.exact_mismatch} of {self.elements} values differ (exact match required)",
            )
        scale = self.scale
        max_rel = self.max_abs / scale if scale else (0.0 if self.max_abs == 0 else inf)
        min_rtol = max(0.0, self.max_abs - tolerance.atol) / scale if scale else (0.0 if self.max_abs <= tolerance.atol else inf)
        sqnr = inf if self.noise == 0 else (10 * math.log10(self.signal / self.noise) if self.signal > 0 else -inf)
        top1 = self.top1_hits / self.rows if self.classifier and self.rows else None
        top5 = self.top5_hits / self.rows if self.classifier and self.rows else None
        problems = []
        mismatched = self.special_mismatch
        if self.special_mismatch:
            problems.append(f"{self.special_mismatch} NaN/Inf positions differ from the reference")
        if tolerance.rtol is not None:
            allowed = tolerance.atol + tolerance.rtol * scale
            outside = int(np.sum(self.largest > allowed))
            mismatched += outside
            if outside:
                more = "+" if outside >= _KEEP_LARGEST else ""
                problems.append(f"max abs error {self.max_abs:.3e} > allowed {allowed:.3e} (max rel {max_rel:.2e} > rtol {tolerance.rtol:.0e}; {outside}{more} of {self.elements} values outside)")
        if tolerance.min_top1 is not None and top1 is not None and top1 < tolerance.min_top1:
            problems.append(f"top-1 agreement {top1:.2%} < {tolerance.min_top1:.2%}")
        if tolerance.min_sqnr_db is not None and sqnr < tolerance.min_sqnr_db:
            problems.append(f"SQNR {sqnr:.1f} dB < {tolerance.min_sqnr_db:.1f} dB")
        return OutputComparison(
            self.name, not problems, "float", self.max_abs, mean_abs, self._p99(), max_rel, scale, min_rtol,
            mismatched, self.elements, top1, top5, None if math.isinf(sqnr) and sqnr > 0 else sqnr, "; ".join(problems),
        )


class Comparison:
    """Streaming comparison of one runner against a reference over many batches."""

    def __init__(self, target: str, reference: str, names: list[str]):
        self.target, self.reference = target, reference
        self.accumulators = {name: OutputAccumulator(name, seed=i) for i, name in enumerate(names)}
        self.missing: dict[str, str] = {}
        self.batch_sizes: list[int] = []

    def update(self, reference: Mapping[str, np.ndarray], actual: Mapping[str, np.ndarray]) -> None:
        for name, accumulator in self.accumulators.items():
            if name not in actual:
                self.missing.setdefault(name, f"output missing (runner gave {', '.join(actual) or 'nothing'})")
                continue
            accumulator.update(reference[name], actual[name])
        first = next(iter(reference.values()), None)
        if first is not None:
            batch = int(np.asarray(first).shape[0]) if np.asarray(first).ndim else 1
            if batch not in self.batch_sizes:
                self.batch_sizes.append(batch)

    def report(self, tolerance: Tolerance) -> ParityReport:
        outputs = []
        inf = float("inf")
        for name, accumulator in self.accumulators.items():
            if name in self.missing:
                outputs.append(OutputComparison(name, False, "float", inf, inf, inf, inf, 0.0, inf, 0, 0, message=self.missing[name]))
            else:
                outputs.append(accumulator.result(tolerance))
        rows = max((a.rows for a in self.accumulators.values()), default=0)
        return ParityReport(self.target, self.reference, tuple(outputs), tolerance, rows, tuple(self.batch_sizes))


def compare_output(name: str, reference: np.ndarray, actual: np.ndarray, tolerance: Tolerance) -> OutputComparison:
    """Compare one whole output under the pass rule of this module."""
    accumulator = OutputAccumulator(name)
    accumulator.update(reference, actual)
    return accumulator.result(tolerance)


def compare(
    target: str,
    reference_name: str,
    reference: Mapping[str, np.ndarray],
    actual: Mapping[str, np.ndarray],
    tolerance: Tolerance,
    batch_sizes: tuple[int, ...] = (),
) -> ParityReport:
    """Compare every reference output with ``actual`` in one go; a missing output fails."""
    comparison = Comparison(target, reference_name, list(reference))
    comparison.update(reference, actual)
    report = comparison.report(tolerance)
    return replace(report, batch_sizes=tuple(batch_sizes) or report.batch_sizes)
