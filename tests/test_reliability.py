"""Reliability: the bad-input catalogue, interrupted and concurrent exports, reproducible bytes."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import edgeprep
from helpers import REPO, cli_in_process, error_lines, run_cli, tree

CUSTOM_MODULE = '''
import keras

@keras.saving.register_keras_serializable(package="acme")
class Doubler(keras.layers.Layer):
    def call(self, x):
        return x * 2.0
'''


@pytest.fixture(scope="module")
def models(zoo_exports):
    return {"seed": zoo_exports.saved("seed_cnn"), "tabular": zoo_exports.saved("tabular_numeric"), "mobilenet": zoo_exports.saved("mobilenet_v3_small"),
            "seed_dist": zoo_exports("seed_cnn").out_dir}


def _digests(directory: Path) -> dict[str, str]:
    return {name: hashlib.sha256((directory / name).read_bytes()).hexdigest() for name in tree(directory) if (directory / name).is_file()}


def _assert_one_line_exit_2(result, *words):
    assert result.returncode == 2, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_unregistered_custom_object_names_the_flag_and_the_flag_works(tmp_path):
    (tmp_path / "acme_layers.py").write_text(CUSTOM_MODULE)
    saver = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import keras, acme_layers; i = keras.Input((3,), name='x'); keras.Model(i, keras.layers.Dense(2)(acme_layers.Doubler()(i))).save({str(tmp_path / 'custom.keras')!r})"
    subprocess.run([sys.executable, "-c", saver], check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    refused = cli_in_process("export", tmp_path / "custom.keras", "--out", tmp_path / "out")  # refusals in this process (suite time)
    _assert_one_line_exit_2(refused, "Doubler", "--custom-objects module:Name")
    assert not (tmp_path / "out").exists()
    accepted = run_cli("export", tmp_path / "custom.keras", "--out", tmp_path / "out", "--custom-objects", "acme_layers:Doubler", env={"PYTHONPATH": str(tmp_path)})
    assert accepted.returncode == 0, accepted.stderr
    bad_spec = cli_in_process("export", tmp_path / "custom.keras", "--out", tmp_path / "out2", "--custom-objects", "nosuchmodule:X")
    _assert_one_line_exit_2(bad_spec, "nosuchmodule:X")


def test_h5_lambda_is_refused_without_running_it(tmp_path):
    import keras

    marker = tmp_path / "ran"
    inputs = keras.Input((2,), name="x")
    outputs = keras.layers.Lambda(eval(f"lambda t: (open({str(marker)!r}, 'w').close(), t)[1]"))(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "lambda.h5")
    marker.unlink(missing_ok=True)
    _assert_one_line_exit_2(cli_in_process("export", tmp_path / "lambda.h5", "--out", tmp_path / "out"), "--unsafe-load")
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_model_without_inputs(tmp_path):
    import keras

    keras.Sequential([keras.layers.Dense(2)]).save(tmp_path / "unbuilt.keras")
    _assert_one_line_exit_2(cli_in_process("export", tmp_path / "unbuilt.keras", "--out", tmp_path / "out"), "no defined inputs")
    assert not (tmp_path / "out").exists()


def test_output_that_cannot_be_created(models):
    _assert_one_line_exit_2(run_cli("export", models["seed"], "--out", "/proc/edgeprep-test/dist"), "/proc/edgeprep-test/dist")


def test_debug_shows_the_traceback(tmp_path):
    result = run_cli("--debug", "export", tmp_path / "missing.keras", "--out", tmp_path / "out")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_disk_full_leaves_nothing(models, tmp_path):
    """A real tiny filesystem when we may mount one; the monkeypatched writer case is in test_package."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True).returncode == 0
    if not mounted:
        pytest.skip("cannot mount a tmpfs here (not root); covered by test_package's simulated ENOSPC")
    try:
        result = run_cli("export", models["seed"], "--out", mount / "dist")
        _assert_one_line_exit_2(result, "disk is full")
        assert os.listdir(mount) == [] or all(name.endswith(".lock") for name in os.listdir(mount))
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def _interrupt_mid_conversion(models, tmp_path, signum, second: str = "mobilenet") -> tuple[int, str, dict, dict]:
    """Start an export (of ``second``) over an earlier export (a copy of the session's seed export), send
    ``signum`` while it converts."""
    out = tmp_path / "dist"
    shutil.copytree(models["seed_dist"], out)
    before = _digests(out)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "edgeprep.cli", "export", str(models[second]), "--out", str(out)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=REPO,
    )
    for line in process.stderr:
        if "convert to" in line:
            break
    time.sleep(0.5)
    process.send_signal(signum)
    rest = process.stderr.read()
    return process.wait(timeout=300), rest, before, _digests(out)


def test_sigint_mid_conversion_leaves_the_previous_export_intact(models, tmp_path):
    code, rest, before, after = _interrupt_mid_conversion(models, tmp_path, signal.SIGINT)
    assert code == 130, rest
    assert "interrupted; nothing was written" in rest
    assert after == before
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name] == []


def test_sigterm_is_handled_like_sigint(models, tmp_path):
    """Hole 11: SIGTERM during the write left .dist.tmp-XXXX next to dist/."""
    code, rest, before, after = _interrupt_mid_conversion(models, tmp_path, signal.SIGTERM, second="tabular")
    assert code == 128 + signal.SIGTERM, rest
    assert len(error_lines(rest)) == 0 and "edgeprep: interrupted; nothing was written" in rest and "Traceback" not in rest
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dist"]  # no temporaries, no lock file


def test_an_interrupt_during_publishing_finishes_it_and_says_so(tmp_path, monkeypatch):
    """Hole 11: SIGINT right after publishing said 'nothing was written' although dist/ was replaced."""
    from edgeprep import interrupts
    from edgeprep.package import publish

    out = tmp_path / "dist"
    publish(out, {"old.txt": b"old"})
    interrupts._published.clear()  # the earlier export, as by another command
    real_rename = os.rename

    def rename_then_signal(source, destination):
        real_rename(source, destination)
        if Path(destination) == out:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)  # the handler runs here: recorded, not raised inside the publish

    previous = signal.getsignal(signal.SIGINT)
    interrupts.install()
    monkeypatch.setattr(os, "rename", rename_then_signal)
    try:
        with pytest.raises(KeyboardInterrupt):
            publish(out, {"new.txt": b"new"})
        assert tree(out) == ["new.txt"] and sorted(p.name for p in tmp_path.iterdir()) == ["dist"]
        assert interrupts.message() == f"edgeprep: interrupted after {out} was written (the export is complete there); nothing else was written"
    finally:
        monkeypatch.undo()
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        interrupts._received.clear()
        interrupts._published.clear()
        interrupts._signal.clear()


def test_a_ctrl_c_that_a_library_swallowed_still_stops_publishing(tmp_path):
    """SIGINT caught by someone else's broad ``except``: the CLI's record of it still stops the write."""
    from edgeprep import interrupts
    from edgeprep.package import publish

    previous = signal.getsignal(signal.SIGINT)
    interrupts.install()
    try:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)  # the handler runs here and raises
        except BaseException:  # what a careless library does
            pass
        with pytest.raises(KeyboardInterrupt):
            publish(tmp_path / "dist", {"manifest.json": b"{}"})
        assert sorted(p.name for p in tmp_path.iterdir()) == []
    finally:
        signal.signal(signal.SIGINT, previous)
        interrupts._received.clear()


def test_concurrent_exports_to_one_directory_never_mix(models, tmp_path):
    out = tmp_path / "dist"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    processes = [
        subprocess.Popen([sys.executable, "-m", "edgeprep.cli", "export", str(models[name]), "--out", str(out)], env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for name in ("seed", "tabular")
    ]
    assert [p.wait(timeout=600) for p in processes] == [0, 0]
    assert edgeprep.verify(out).passed  # hashes, golden inputs and outputs all belong to one export
    manifest = __import__("json").loads((out / "manifest.json").read_text())
    assert manifest["source"]["path"] in {str(models["seed"]), str(models["tabular"])}
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name] == []


def test_exports_are_byte_identical_across_processes_and_within_one(models, tmp_path):
    """The CLI's process and this one (across processes), and two exports in this one: every file the same
    bytes but manifest.json's ``timing``, which ``--no-timing`` (``timing=False``) leaves out."""
    assert run_cli("export", models["tabular"], "--out", tmp_path / "cli1", "--no-timing").returncode == 0
    first = edgeprep.export(str(models["tabular"]), tmp_path / "api1")
    second = edgeprep.export(str(models["tabular"]), tmp_path / "api2", timing=False)
    assert _digests(tmp_path / "cli1") == _digests(tmp_path / "api2")  # every file, manifest.json too
    timed = _digests(tmp_path / "api1")
    assert timed.pop("manifest.json") != _digests(tmp_path / "api2").pop("manifest.json")
    assert timed == {name: digest for name, digest in _digests(tmp_path / "api2").items() if name != "manifest.json"}
    assert first.manifest.without_timing().to_bytes() == (tmp_path / "api2" / "manifest.json").read_bytes()
    assert second.manifest.timing is None and "timing" not in (tmp_path / "cli1" / "manifest.json").read_text()
    steps = [entry.step for entry in first.manifest.timing]
    assert steps[:2] == ["load", "plan"] and "verify in the real runtimes" in steps and not any(step.startswith("write") for step in steps)
    for entry in first.manifest.timing:
        assert 0 <= entry.seconds < 600 and 50 < entry.peak_rss_mb < 64 * 1024 and 0 < entry.rss_after_mb <= entry.peak_rss_mb * 1.05 + 16, entry
    for target in first.artifacts:
        assert first.artifacts[target].read_bytes() == second.artifacts[target].read_bytes() == (tmp_path / "cli1" / first.artifacts[target].name).read_bytes()


def test_unsupported_layer_is_refused_before_anything_is_written(tmp_path):
    import keras

    images, boxes, labels = keras.Input((8, 8, 3), name="images"), keras.Input((4, 4), name="boxes"), keras.Input((4,), name="labels")
    padded = keras.layers.MaxNumBoundingBoxes(max_number=2)({"images": images, "bounding_boxes": {"boxes": boxes, "labels": labels}})
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(padded["bounding_boxes"]["boxes"]))
    keras.Model([images, boxes, labels], outputs).save(tmp_path / "boxes.keras")
    result = cli_in_process("export", tmp_path / "boxes.keras", "--out", tmp_path / "out", "--target", "onnx")
    _assert_one_line_exit_2(result, "MaxNumBoundingBoxes", "inference model")
    assert not (tmp_path / "out").exists()
