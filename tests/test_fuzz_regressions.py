"""Models the fuzzer (tests/test_fuzz.py, scripts/fuzz.py) once broke, kept as regression tests."""

from __future__ import annotations

import pytest

import edgeprep
from fuzz_models import InputRecipe, ModelRecipe, build

REGRESSIONS = {
    # samples.py crashed formatting a per-channel Rescaling scale of one element.
    "one_element_scale_list": ModelRecipe(
        inputs=(InputRecipe("sequence", (5, 1), (("Rescaling", ([1.0], 0.0)),), "none", (("Conv1D", (2, 1, 1, "valid", None)),)),),
        units=1, seed=0,
    ),
}


@pytest.mark.parametrize("name", list(REGRESSIONS))
def test_regression(name, tmp_path):
    result = edgeprep.export(build(REGRESSIONS[name]), tmp_path / "dist")
    assert result.passed, name
