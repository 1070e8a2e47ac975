"""Exactness under fuzzing: random small models export to both targets and pass parity.

CI runs a bounded, derandomized set (EDGEPREP_FUZZ_EXAMPLES, default 6); scripts/fuzz.py sweeps
more. Every failure found becomes a regression test in tests/test_fuzz_regressions.py.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings

import edgeprep
from fuzz_models import build, model_recipes

EXAMPLES = int(os.environ.get("EDGEPREP_FUZZ_EXAMPLES", "6"))
RANDOM = os.environ.get("EDGEPREP_FUZZ_RANDOM") == "1"


@settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, suppress_health_check=list(HealthCheck), database=None)
@given(recipe=model_recipes())
def test_random_models_export_with_parity(recipe, tmp_path_factory):
    model = build(recipe)
    result = edgeprep.export(model, tmp_path_factory.mktemp("fuzz") / "dist")
    assert result.passed, recipe
    for report in result.reports.values():
        assert report.max_rel <= 1e-5, (recipe, report.summary())
