"""examples/02_tabular_build runs end to end: spec, adapt, train in tf.data, build, export, verify, deploy."""

from __future__ import annotations

from helpers import run_example


def test_tabular_build_example_runs_the_whole_workflow(tmp_path):
    result = run_example("02_tabular_build/workflow.py", "--out", tmp_path, "--epochs", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "adapted 3 layer(s)" in result.stdout and "verify dist: passed" in result.stdout
    deployed = next(line for line in result.stdout.splitlines() if line.startswith("deployed:"))
    assert float(deployed.rsplit(" ", 1)[-1]) <= 1e-5  # TFLite on raw rows vs the Keras end-to-end model
    assert {"pre.keras", "model.keras", "full.keras"} <= {p.name for p in tmp_path.iterdir()}
