"""examples/08_build_workflow runs end to end: spec, adapt, train in tf.data, build, export, verify, deploy."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import REPO


@pytest.mark.slow  # as examples 03/05/07/10/11 (tests/test_examples.py); CI builds through tests/compose/test_build_cli.py
def test_tabular_build_example_runs_the_whole_workflow(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "08_build_workflow" / "workflow.py"), "--out", str(tmp_path), "--epochs", "2"],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "adapted 3 layer(s)" in result.stdout and "verify dist: passed" in result.stdout
    deployed = next(line for line in result.stdout.splitlines() if line.startswith("deployed:"))
    assert float(deployed.rsplit(" ", 1)[-1]) <= 1e-5  # TFLite on raw rows vs the Keras end-to-end model
    assert {"pre.keras", "model.keras", "full.keras"} <= {p.name for p in tmp_path.iterdir()}
