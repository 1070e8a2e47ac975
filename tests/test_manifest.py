"""The typed manifest: it round-trips, carries the full config, reads without edgeprep, and a
manifest of another version, with a missing or a mistyped field is one exit-2 line naming the field."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgeprep
from edgeprep import manifest as manifest_mod
from edgeprep.config import ExportConfig, Target
from edgeprep.errors import LoadError
from edgeprep.manifest import Manifest
from edgeprep.runtime import manifest as runtime_manifest
from edgeprep.verification import export_config
from helpers import error_lines, run_cli
from zoo import tabular_numeric


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    config = ExportConfig(targets=(Target.ONNX,), seed=3, golden_kb=64)
    return config, edgeprep.export(tabular_numeric(), tmp_path_factory.mktemp("manifest") / "dist", config=config)


def test_manifest_round_trips_and_carries_the_full_config(exported):
    config, result = exported
    read = Manifest.read(result.out_dir)
    assert read == result.manifest
    assert Manifest.from_json(json.loads(json.dumps(read.to_json()))) == read
    assert json.loads((result.out_dir / "manifest.json").read_text()) == read.to_json()
    assert read.format == "edgeprep-manifest/2" and list(read.to_json())[0] == "format"
    assert export_config(read) == config
    assert read.config.targets == ("onnx",) and read.config.seed == 3 and read.config.golden_kb == 64


def test_the_manifest_config_is_every_export_config_field_but_trust_threads_and_timing():
    recorded = {f.name for f in dataclasses.fields(manifest_mod.Config)}
    assert recorded == {f.name for f in dataclasses.fields(ExportConfig)} - {"unsafe_load", "threads", "timing"}


def test_timing_is_typed_and_a_manifest_without_it_still_reads(exported):
    _, result = exported
    data = json.loads((result.out_dir / "manifest.json").read_text())
    timing = Manifest.read(result.out_dir).timing
    assert [entry.step for entry in timing][:2] == ["load", "plan"] and all(isinstance(entry, manifest_mod.StepTiming) for entry in timing)
    assert all(entry.seconds >= 0 for entry in timing)
    del data["timing"]  # a manifest of an earlier edgeprep, or of --no-timing
    assert Manifest.from_json(data).timing is None
    assert Manifest.from_json(data) == result.manifest.without_timing()
    data["timing"] = [{"step": "load", "seconds": "fast", "peak_rss_mb": None, "rss_after_mb": None}]
    with pytest.raises(LoadError, match=r"field timing"):
        Manifest.from_json(data)


def test_the_shipped_module_reads_the_manifest_without_importing_edgeprep_or_numpy(exported):
    _, result = exported
    shipped = result.out_dir / manifest_mod.SHIPPED
    assert shipped.read_bytes() == Path(runtime_manifest.__file__).read_bytes()
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from edgeprep_runtime import manifest as m; "
        "d = m.Manifest.read(sys.argv[1]); assert 'edgeprep' not in sys.modules and 'numpy' not in sys.modules; "
        "print(d.artifacts[0].target, d.golden.inputs_for('onnx'), d.tolerance.for_output('label').rtol)"
    )
    ran = subprocess.run([sys.executable, "-I", "-c", code, str(result.out_dir)], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["onnx", "golden/inputs.npz", "1e-05"]


def _edited(directory: Path, tmp_path: Path, edit) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    data = json.loads((copy / "manifest.json").read_text())
    edit(data)
    (copy / "manifest.json").write_text(json.dumps(data))
    return copy


BAD_MANIFESTS = {
    "unknown version": (lambda d: d.update(format="edgeprep-manifest/1"), "format 'edgeprep-manifest/1' is not 'edgeprep-manifest/2'"),
    "missing field": (lambda d: d["golden"].pop("batches"), "field golden.batches is missing"),
    "mistyped field": (lambda d: d["artifacts"][0].update(bytes="12k"), "field artifacts[0].bytes is str \"12k\", not int"),
    "mistyped nested field": (lambda d: d["config"].update(batch_sizes=[1, "3"]), "field config.batch_sizes[1] is str \"3\", not int"),
    "not an object": (lambda d: d.update(source=[]), "field source is not an object"),
}


@pytest.mark.parametrize("case", list(BAD_MANIFESTS))
def test_a_bad_manifest_is_one_exit_2_line_naming_the_file_and_field(exported, tmp_path, case):
    _, result = exported
    edit, words = BAD_MANIFESTS[case]
    directory = _edited(result.out_dir, tmp_path, edit)
    np.savez(tmp_path / "x.npz", age=np.zeros((1, 1), np.float32))
    with pytest.raises(LoadError) as raised:
        Manifest.read(directory)
    message = str(raised.value)
    assert words in message and str(directory / "manifest.json") in message and message.endswith("re-run edgeprep export")
    for argv in (("verify", directory), ("run", directory, "--target", "onnx", "--input", tmp_path / "x.npz", "--output", tmp_path / "y.npy")):
        ran = run_cli(*argv)
        assert ran.returncode == 2 and "Traceback" not in ran.stderr, ran.stderr
        assert error_lines(ran.stderr) == [f"edgeprep: error: {message}"]


def test_a_config_value_this_edgeprep_does_not_know_is_a_load_error(exported):
    _, result = exported
    config = dataclasses.replace(result.manifest.config, quantize="int4")
    with pytest.raises(LoadError, match="field config: 'int4' is not a valid Quantization; re-run edgeprep export"):
        ExportConfig.from_manifest(config)
