"""ExportConfig validates itself: the Python API and the CLI refuse the same configs with the same
one-line UsageError, and the CLI only turns strings into the config."""

from __future__ import annotations

import pytest

import edgeprep
from edgeprep.config import ExportConfig, Int8IO, OnnxLayout, Quantization, Target
from edgeprep.errors import UsageError
from edgeprep.parity.compare import Tolerance
from helpers import error_lines, run_cli

# case -> (ExportConfig keyword options, the same request as CLI flags, words of the message)
REFUSED = {
    "int8 IO without int8": ({"int8_io": "int8"}, ["--int8-io", "int8"], "apply to --quantize int8 only"),
    "int8 IO with dynamic": ({"quantize": "dynamic", "int8_io": Int8IO.UINT8}, ["--quantize", "dynamic", "--int8-io", "uint8"], "apply to --quantize int8 only"),
    "calibration without int8": ({"calibration": "c.npz"}, ["--calibration", "c.npz"], "apply to --quantize int8 only"),
    "per-tensor without int8": ({"int8_per_channel": False}, ["--int8-per-tensor"], "apply to --quantize int8 only"),
    "batch 0": ({"batch": 0}, ["--batch", "0"], "batch=0 (--batch): must be at least 1"),
    "opset 0": ({"onnx_opset": 0}, ["--opset", "0"], "onnx_opset=0 (--opset): must be at least 1"),
    "negative seed": ({"seed": -1}, ["--seed", "-1"], "seed=-1 (--seed): must be at least 0"),
    "golden budget 0": ({"golden_kb": 0}, ["--golden-kb", "0"], "golden_kb=0 (--golden-kb): must be at least 1"),
}

TOLERANCES = {
    "negative rtol": ({"rtol": -1e-5}, ["--rtol=-1e-5"], "rtol=-1e-05 (--rtol): expected a finite number in [0, inf]"),
    "NaN atol": ({"atol": float("nan")}, ["--atol", "nan"], "atol=nan (--atol): expected a finite number in [0, inf]"),
    "top-1 above 1": ({"min_top1": 1.5}, ["--min-top1", "1.5"], "min_top1=1.5 (--min-top1): expected a finite number in [0, 1]"),
}


def _refusal(call) -> str:
    with pytest.raises(UsageError) as raised:
        call()
    return str(raised.value)


@pytest.mark.parametrize("case", list(REFUSED) + list(TOLERANCES))
def test_the_api_and_the_cli_refuse_the_same_config_with_the_same_line(case, tmp_path):
    options, flags, words = {**REFUSED, **TOLERANCES}[case]
    out = tmp_path / "dist"
    if case in TOLERANCES:
        message = _refusal(lambda: edgeprep.export("model.keras", out, tolerance=Tolerance(**options)))
    else:
        message = _refusal(lambda: edgeprep.export("model.keras", out, **options))
    assert words in message and "\n" not in message
    ran = run_cli("export", tmp_path / "model.keras", "--out", out, *flags)
    assert ran.returncode == 2 and "Traceback" not in ran.stderr
    assert error_lines(ran.stderr) == [f"edgeprep: error: {message}"]
    assert not out.exists()


def test_enum_fields_take_enums_and_the_api_edge_takes_their_strings():
    config = ExportConfig().with_changes(targets="onnx", quantize="int8", int8_io="uint8", onnx_layout="nchw")
    assert config.targets == (Target.ONNX,) and config.quantize is Quantization.INT8
    assert config.int8_io is Int8IO.UINT8 and config.onnx_layout is OnnxLayout.NCHW
    assert ExportConfig().with_changes(targets=["onnx", "tflite", "onnx"]).targets == (Target.ONNX, Target.TFLITE)
    assert ExportConfig().with_changes(custom_objects=["m:Layer"], batch_sizes=[2]).custom_objects == ("m:Layer",)
    assert "expected one of Int8IO.INT8, Int8IO.UINT8" in _refusal(lambda: ExportConfig(quantize=Quantization.INT8, int8_io="uint8"))
    assert "expected one of 'int8', 'uint8'" in _refusal(lambda: ExportConfig().with_changes(quantize="int8", int8_io="int4"))
    assert "unknown export option(s) batchsize" in _refusal(lambda: ExportConfig().with_changes(batchsize=2))
    assert "expected distinct Target values" in _refusal(lambda: ExportConfig(targets=(Target.ONNX, Target.ONNX)))
    assert "expected an integer" in _refusal(lambda: ExportConfig(batch=2.0))
    assert "expected True or False" in _refusal(lambda: ExportConfig(fold="no"))
