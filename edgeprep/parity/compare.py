"""The comparator and pass rule (`edgeprep.runtime.compare`, the deploy runtime's) and the default criteria per quantization.

The comparison itself lives in the deploy runtime so that ``verify``, ``run``, the shipped test and
export all apply one implementation; what a quantization mode allows is an export-side choice, here.
"""

from __future__ import annotations

from edgeprep.config import Quantization
from edgeprep.runtime.compare import (  # noqa: F401  (re-exported: edgeprep's comparator IS the runtime's)
    Comparison, OutputComparison, ParityReport, Tolerance, compare, compare_output,
)

DEFAULT_TOLERANCES: dict[Quantization, Tolerance] = {
    Quantization.NONE: Tolerance(rtol=1e-5, atol=1e-7),
    Quantization.FLOAT16: Tolerance(rtol=None, atol=0.0, min_top1=0.99, min_sqnr_db=35.0),
    Quantization.DYNAMIC: Tolerance(rtol=None, atol=0.0, min_top1=0.98, min_sqnr_db=20.0),
    Quantization.INT8: Tolerance(rtol=None, atol=0.0, min_top1=0.97, min_sqnr_db=12.0),
}


def default_tolerance(quantization: Quantization) -> Tolerance:
    """The default criteria for artifacts stored with ``quantization``."""
    return DEFAULT_TOLERANCES[quantization]
