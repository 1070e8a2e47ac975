"""Keras' public examples, used as a new user would: ``edgeprep export`` with default flags, then
``edgeprep run`` on raw inputs of the example's schema for both targets, equal to Keras' predict
within the manifest's tolerance (issue 19). The models are rebuilt in this folder (gallery.py).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from edgeprep.config import ALL_TARGETS
from gallery import EXAMPLES, as_input_dtypes, edgeprep_cli, keras_outputs, run_against_keras
from helpers import REPO, error_lines

ROWS = 16

# Failing today, each with the error it fails with and who fixes it; strict, so a fix flips them red.
KNOWN_FAILURES: dict[str, str] = {}


def _params():
    for example in EXAMPLES:
        marks = [pytest.mark.slow] if example.slow else []
        if example.name in KNOWN_FAILURES:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[example.name]))
        yield pytest.param(example, id=example.name, marks=marks)


@pytest.mark.parametrize("example", _params())
def test_public_example(example, tmp_path):
    model = example.build()
    path = tmp_path / f"{example.name}.keras"
    model.save(path)
    dist = tmp_path / "dist"
    exported = edgeprep_cli("export", path, "--out", dist, *example.export_flags)
    assert exported.returncode == 0, (error_lines(exported.stderr) or [exported.stderr[-3000:]], exported.stdout[-2000:])

    raw = as_input_dtypes(model, example.raw_inputs(ROWS, seed=1))
    np.savez(tmp_path / "raw.npz", **raw)
    reference = keras_outputs(model, raw, [tensor.name for tensor in model.outputs])
    for target in ALL_TARGETS:
        ran, report = run_against_keras(dist, target.value, tmp_path / "raw.npz", list(reference.values()), tmp_path / f"{target.value}.npz")
        assert ran.returncode == 0, (target.value, error_lines(ran.stderr) or ran.stderr[-3000:])
        assert report.passed, report.summary()


def test_readme_gallery_lists_every_example():
    """README's gallery table (scripts/gallery_table.py) has one row per example of the catalog, in its order."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("<!-- BEGIN gallery -->")[1].split("<!-- END gallery -->")[0]
    assert re.findall(r"^\| \[([a-z0-9_]+)\]", section, re.M) == [example.name for example in EXAMPLES]
