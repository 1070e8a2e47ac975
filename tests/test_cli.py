"""The CLI as users run it: inspect, export, verify, run; exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgeprep.runtime import shipped_files
from helpers import cli_in_process, error_lines, run_cli, tree


@pytest.fixture(scope="module")
def saved(zoo_exports):
    return {name: zoo_exports.saved(name) for name in ("augmented_cnn", "tabular_numeric")}


@pytest.fixture(scope="module")
def exported(saved, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "dist"
    result = run_cli("export", saved["augmented_cnn"], "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def test_inspect_lists_every_layer_with_its_action_per_target(saved):
    result = run_cli("inspect", saved["augmented_cnn"])
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    flip = next(row for row in rows if row[1:2] == ["RandomFlip"])
    assert flip[0].startswith("augmentation/") and flip[2:4] == ["stripped", "stripped"]
    conv = next(row for row in rows if row[1:2] == ["Conv2D"])
    assert conv[2:4] == ["kept", "kept"]
    data = json.loads(cli_in_process("inspect", saved["augmented_cnn"], "--json").stdout)  # the same plan, no second TensorFlow start-up
    assert sorted(row["class"] for row in data["layers"] if row["tflite"] == row["onnx"] == "stripped") == [
        "Dropout", "RandomFlip", "RandomRotation", "RandomZoom"
    ]


def test_export_writes_artifacts_manifest_and_golden(exported):
    runtime = sorted({*shipped_files(), *(str(Path(name).parent) for name in shipped_files())})  # edgeprep_runtime/
    assert tree(exported) == [
        *runtime, "golden", "golden/inputs.npz", "golden/outputs.npz", "manifest.json", "model.onnx", "model.tflite",
        "report.html", "report.json", "test_parity.py",
    ]
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["passed"] and {p["target"] for p in manifest["parity"]} == {"tflite", "onnx"}


def test_verify_passes_then_catches_a_tampered_artifact(exported, tmp_path):
    ok = run_cli("verify", exported)
    assert ok.returncode == 0, ok.stderr
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(exported, copy)
    data = bytearray((copy / "model.onnx").read_bytes())
    data[-10] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    bad = run_cli("verify", copy)
    assert bad.returncode == 1
    assert "model.onnx" in bad.stderr and "sha256" in bad.stderr


def test_run_writes_outputs_for_each_target(exported, tmp_path):
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.savez(tmp_path / "in.npz", image=x)
    results = {}
    for target in ("tflite", "onnx"):
        out = tmp_path / f"{target}.npy"
        result = run_cli("run", exported, "--target", target, "--input", tmp_path / "in.npz", "--output", out)
        assert result.returncode == 0, result.stderr
        results[target] = np.load(out)
    assert results["tflite"].shape == (2, 5)
    np.testing.assert_allclose(results["tflite"], results["onnx"], rtol=1e-5, atol=1e-6)


def test_export_with_one_target_and_static_batch(saved, tmp_path):
    out = tmp_path / "dist"
    result = cli_in_process("export", saved["tabular_numeric"], "--out", out, "--target", "tflite", "--batch", "2")  # the flags; `exported` is the real process
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert [a["target"] for a in manifest["artifacts"]] == ["tflite"]
    assert {i["name"]: i["shape"] for i in manifest["inputs"]} == {"age": [2, 1], "income": [2, 3]}
    assert manifest["parity"][0]["batch_sizes"] == [2]


def _bad_model_files(root):
    (root / "empty.keras").write_bytes(b"")
    (root / "random.keras").write_bytes(os.urandom(2048))
    (root / "notes.txt").write_text("not a model")
    with zipfile.ZipFile(root / "other.keras", "w") as archive:
        archive.writestr("hello.txt", "hi")
    (root / "a_dir").mkdir()
    return {
        "missing": (root / "nope.keras", "no such file"),
        "empty": (root / "empty.keras", "empty"),
        "random bytes": (root / "random.keras", "not a .keras archive"),
        "not a model": (root / "notes.txt", "not a model file"),
        "zip without config": (root / "other.keras", "without config.json"),
        "directory": (root / "a_dir", "not a SavedModel"),
    }


def test_bad_model_files_exit_2_with_one_line_and_write_nothing(tmp_path):
    for case, (path, words) in _bad_model_files(tmp_path).items():
        out = tmp_path / f"out_{case.replace(' ', '_')}"
        result = (run_cli if case == "random bytes" else cli_in_process)("export", path, "--out", out)  # one real process
        assert result.returncode == 2, (case, result.stderr)
        errors = error_lines(result.stderr)
        assert len(errors) == 1 and words in errors[0], (case, result.stderr)
        assert "Traceback" not in result.stderr
        assert not out.exists(), case


def test_truncated_keras_file(saved, tmp_path):
    data = saved["augmented_cnn"].read_bytes()
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(data[: len(data) // 2])
    result = run_cli("export", truncated, "--out", tmp_path / "out")
    assert result.returncode == 2 and len(error_lines(result.stderr)) == 1
    assert "truncated" in result.stderr and not (tmp_path / "out").exists()


def test_lambda_model_is_refused_and_its_code_never_runs(tmp_path):
    import keras

    marker = tmp_path / "pwned"
    inputs = keras.Input((2,), name="x")
    payload = eval(f"lambda t: (open({str(marker)!r}, 'w').close(), t)[1]")  # the path is a constant in the code
    outputs = keras.layers.Lambda(payload)(inputs)
    model = keras.Model(inputs, outputs)
    path = tmp_path / "lambda.keras"
    model.save(path)
    if marker.exists():
        marker.unlink()  # saving traced the lambda once; only loading matters
    result = cli_in_process("export", path, "--out", tmp_path / "out")  # a refusal: no TensorFlow start-up
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert "--unsafe-load" in line
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_unwritable_or_file_output_is_refused_before_any_work(saved, tmp_path):
    file_out = tmp_path / "a_file"
    file_out.write_text("x")
    result = run_cli("export", saved["tabular_numeric"], "--out", file_out)
    assert result.returncode == 2 and "is a file" in result.stderr
    if os.geteuid() != 0:  # root ignores permissions
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        result = run_cli("export", saved["tabular_numeric"], "--out", locked / "dist")
        assert result.returncode == 2 and "writable" in result.stderr


def test_usage_errors_exit_2():
    assert run_cli("export", "x.keras").returncode == 2  # --out missing
    assert run_cli("export", "x.keras", "--out", "d", "--target", "coreml").returncode == 2
    assert run_cli("export", "x.keras", "--out", "d", "--batch", "0").returncode == 2
    assert run_cli("verify", "/nonexistent/dir").returncode == 2


def test_run_takes_a_bare_array_for_a_single_input_model(exported, tmp_path):
    """Issue 17 item 3: `run --input x.npy` crashed; an .npz keyed ``keras_tensor`` was refused."""
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "keyed.npz", keras_tensor=x)
    np.savez(tmp_path / "named.npz", image=x)
    outputs = []
    for name in ("x.npy", "keyed.npz", "named.npz"):
        out = tmp_path / "missing" / f"{name}.out.npy"  # the output's directory is created
        result = run_cli("run", exported, "--target", "onnx", "--input", tmp_path / name, "--output", out)
        assert result.returncode == 0, result.stderr
        outputs.append(np.load(out))
    assert outputs[0].shape == (2, 5)
    np.testing.assert_array_equal(outputs[0], outputs[1])
    np.testing.assert_array_equal(outputs[0], outputs[2])


def test_force_replaces_a_non_export_directory_and_only_then(saved, tmp_path):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "todo.txt").write_text("keep me")
    refused = cli_in_process("export", saved["tabular_numeric"], "--out", out, "--target", "onnx")  # a refusal: no TensorFlow start-up
    assert refused.returncode == 2 and "--force" in error_lines(refused.stderr)[0]
    assert tree(out) == ["todo.txt"]
    forced = run_cli("export", saved["tabular_numeric"], "--out", out, "--target", "onnx", "--force", "--junit", tmp_path / "ci" / "junit.xml")
    assert forced.returncode == 0, forced.stderr
    assert "todo.txt" not in tree(out) and (out / "manifest.json").is_file() and (tmp_path / "ci" / "junit.xml").is_file()
    again = cli_in_process("export", saved["tabular_numeric"], "--out", out, "--target", "onnx")  # an earlier export: no --force needed
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ci", "notes"]


def test_int8_with_calibration_and_no_data_is_judged_on_held_out_digits(tmp_path):
    """Issue 19: a well-calibrated digits CNN, ``--quantize int8 --calibration digits.npz`` and no ``--data``
    is judged on a held-out slice of the calibration rows (never on noise): exit 0, top-1 reported."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    train = root / "examples" / "01_image_normalization" / "train.py"
    done = subprocess.run([sys.executable, str(train), "--out", str(tmp_path / "digits.keras"), "--epochs", "15"],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    sys.path.insert(0, str(train.parent))
    try:
        from train import load_digits_uint8
    finally:
        sys.path.remove(str(train.parent))
    images, _ = load_digits_uint8()
    np.savez(tmp_path / "digits.npz", image=images)

    result = cli_in_process("export", tmp_path / "digits.keras", "--out", tmp_path / "dist", "--quantize", "int8",
                            "--calibration", tmp_path / "digits.npz")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    manifest = json.loads((tmp_path / "dist" / "manifest.json").read_text())
    samples = manifest["samples"]
    held_out = len(images) // 5
    assert samples["source"]["rows"] == "every 5th row (row index % 5 == 4)" and samples["source"]["held_out_from"] == "calibration"
    assert samples["count"] == samples["source"]["count"] == held_out
    assert "not used for calibration" in manifest["quantization"]["calibration"]["held_out"]
    assert [p["target"] for p in manifest["parity"]] == ["tflite", "onnx"]
    for parity in manifest["parity"]:
        assert parity["passed"] and parity["top1"] >= 0.97
    assert "top-1" in result.stdout or "top1" in result.stdout


def _will_fail_models():
    """Models whose export fails on exactly one target (measured below), each through a layer with no rule."""
    import keras

    x = keras.Input((8, 8, 4), name="image")
    grouped = keras.Model(x, keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Conv2D(4, 3, groups=2, name="partly_grouped")(x))))
    x = keras.Input((8, 8, 3), name="image")
    bicubic = keras.Model(x, keras.layers.Flatten()(keras.layers.UpSampling2D(2, interpolation="bicubic", name="bicubic_up")(x)))
    x = keras.Input((16, 6), name="series")
    grouped_1d = keras.Model(x, keras.layers.GlobalAveragePooling1D()(keras.layers.Conv1D(6, 3, groups=3, name="grouped_1d")(x)))
    return {"partly_grouped": (grouped, "onnx"), "bicubic_up": (bicubic, "tflite"), "grouped_1d": (grouped_1d, "onnx")}


def test_inspect_predicts_the_target_and_layer_an_export_fails_on(tmp_path):
    import edgeprep

    for index, (layer, (model, failing)) in enumerate(_will_fail_models().items()):
        other = "tflite" if failing == "onnx" else "onnx"
        with pytest.raises(edgeprep.EdgeprepError) as caught:  # the export: fails on one target, names the other
            edgeprep.export(model, tmp_path / layer)
        assert f"conversion to {failing} failed" in str(caught.value) and f"pass --target {other}" in str(caught.value)
        assert not (tmp_path / layer).exists()
        edgeprep.export(model, tmp_path / f"{layer}-{other}", targets=[other])  # the other target alone exports and verifies
        if index == 0:  # the CLI once (in this process: test_inspect_lists_every_layer_with_its_action_per_target runs it in its own), the API for the others
            model.save(tmp_path / f"{layer}.keras")
            result = cli_in_process("inspect", tmp_path / f"{layer}.keras", "--json")
            assert result.returncode == 0, result.stderr
            report = json.loads(result.stdout)
        else:
            report = edgeprep.inspect(model).to_json()
        assert list(report["will_fail"]) == [failing] and list(report["will_fail"][failing]) == [layer]
        row = next(r for r in report["layers"] if r["layer"] == layer)
        assert row[failing] == "will fail" and row[other] == "kept" and f"will fail on {failing}: " in row["detail"]
        assert any(line.startswith(f"{layer} will fail on {failing}: ") and line.endswith(f"--target {other}") for line in report["advice"])


def test_cli_in_process_answers_as_the_console_script_and_restores_the_process(tmp_path):
    """tests/helpers.cli_in_process (the refusal tests' fast path): the same exit code and error line as a real
    ``python -m edgeprep.cli``, and the process as it was (signal handlers, environment, cwd, sys.path, warning filters)."""
    import signal
    import sys
    import warnings

    from edgeprep import interrupts

    before = ({s: signal.getsignal(s) for s in interrupts.HANDLED}, dict(os.environ), os.getcwd(), list(sys.path), list(warnings.filters))
    argv = ("verify", tmp_path / "nonexistent")
    real, here = run_cli(*argv), cli_in_process(*argv, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path), "GRPC_VERBOSITY": "INFO"})
    assert real.returncode == here.returncode == 2
    assert error_lines(real.stderr) == error_lines(here.stderr) and len(error_lines(here.stderr)) == 1
    assert cli_in_process("export", "x.keras").returncode == 2 and "--out" in cli_in_process("export", "x.keras").stderr  # argparse's SystemExit
    after = ({s: signal.getsignal(s) for s in interrupts.HANDLED}, dict(os.environ), os.getcwd(), list(sys.path), list(warnings.filters))
    assert after == before
