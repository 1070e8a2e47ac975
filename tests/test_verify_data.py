"""`export --data` and `verify --data`: parity on user data, streamed, with the chain report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import cli_in_process, error_lines, run_cli


@pytest.fixture(scope="module")
def tabular(zoo_exports, tmp_path_factory):
    root = tmp_path_factory.mktemp("verify-data")
    model_path = zoo_exports.saved("tabular_numeric")
    rng = np.random.default_rng(0)
    rows = ["age,income_0,income_1,income_2"]
    for _ in range(2500):
        age, a, b, c = rng.uniform(18, 90), rng.normal(5e4, 2e4), rng.normal(2e3, 1e3), rng.normal(10, 5)
        rows.append(f"{age:.3f},{a:.2f},{b:.2f},{c:.3f}")
    csv = root / "rows.csv"
    csv.write_text("\n".join(rows) + "\n")
    return model_path, csv, root


@pytest.fixture(scope="module")
def csv_export(tabular, tmp_path_factory):
    """``edgeprep export --data rows.csv --golden-kb 16`` once, for both tests below (read it, don't change it)."""
    model_path, csv, _ = tabular
    out = tmp_path_factory.mktemp("csv-export") / "dist"
    return run_cli("export", model_path, "--out", out, "--data", csv, "--golden-kb", "16"), out


def test_export_and_verify_on_a_csv(tabular, csv_export, tmp_path):
    _, csv, _ = tabular
    exported, out = csv_export
    assert exported.returncode == 0, exported.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["samples"]["source"]["kind"] == "csv" and manifest["samples"]["count"] == 2500
    assert all(p["samples"] == 2500 for p in manifest["parity"])
    assert 0 < sum(manifest["golden"]["batches"]) < 2500  # the golden subset fits its 16 KB budget
    report_dir = tmp_path / "report"
    verified = run_cli("verify", out, "--data", csv, "--report", report_dir)
    assert verified.returncode == 0, verified.stderr
    assert "passed on 2500 samples" in verified.stdout
    report = json.loads((report_dir / "report.json").read_text())
    for entry in report["targets"].values():
        assert entry["verdict"]["samples"] == 2500 and entry["transformed_vs_keras"]["passed"]


def test_verify_data_with_a_stricter_tolerance_fails_with_evidence(tabular, csv_export):
    _, csv, _ = tabular
    exported, out = csv_export  # suite time: the export above, not a second one
    assert exported.returncode == 0
    strict = run_cli("verify", out, "--data", csv, "--rtol", "1e-12", "--atol", "0")
    assert strict.returncode == 1
    assert "FAILED output" in strict.stderr and "FAILED on 2500 samples" in strict.stderr


def test_data_that_does_not_fit_exits_2_and_writes_nothing(tabular, tmp_path):
    model_path, _, root = tabular
    bad = root / "bad.csv"
    bad.write_text("age,income\n1,2\n")
    out = tmp_path / "dist"
    result = cli_in_process("export", model_path, "--out", out, "--data", bad)  # a refusal: no TensorFlow start-up
    assert result.returncode == 2 and not out.exists()
    (line,) = error_lines(result.stderr)
    assert "income_0 .. income_2" in line


def test_verify_data_replans_an_int8_export_as_it_was_exported(tmp_path):
    """verify --data rebuilds the export's config from the manifest, quantization included: int8
    TFLite buckets on the host (transforms/quantized.py), and the re-plan must agree."""
    import edgeprep
    from edgeprep.config import ExportConfig, Quantization, Target
    from edgeprep.load import load
    from edgeprep.manifest import Manifest
    from edgeprep.pipeline import merge_transforms
    from edgeprep.plan import make_plans
    from edgeprep.verification import export_config
    from zoo import feature_space_tabular

    model_path = tmp_path / "fs.keras"
    feature_space_tabular(cross=False).save(model_path)
    rng = np.random.default_rng(5)
    n = 128
    rows = tmp_path / "rows.npz"
    np.savez(
        rows, color=rng.choice(["red", "green", "blue", "white"], (n, 1)), rooms=rng.integers(1, 7, (n, 1)).astype("int32"),
        area=rng.normal(80, 20, (n, 1)).astype("float32"), age=rng.uniform(0, 100, (n, 1)).astype("float32"),
    )
    config = ExportConfig(targets=(Target.TFLITE,), quantize=Quantization.INT8, calibration=str(rows), calibration_samples=64, data=str(rows))
    out = edgeprep.export(str(model_path), tmp_path / "dist", config=config).out_dir
    manifest = Manifest.read(out)
    assert export_config(manifest) == config
    assert any(t.action == "host" and "discretized" in t.layer for t in manifest.transforms)
    assert merge_transforms(make_plans(load(str(model_path)).model, export_config(manifest))) == manifest.transforms
    verified = run_cli("verify", out, "--data", rows)
    assert verified.returncode == 0, verified.stderr
    assert f"passed on {n} samples" in verified.stdout
