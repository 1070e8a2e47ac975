"""The Backend contract: every Target has a backend module in the table that implements the protocol,
imports without TensorFlow, and whose op policy refuses what was not opted in to."""

from __future__ import annotations

import subprocess
import sys

import pytest

from edgeprep.artifacts import Artifact
from edgeprep.backend import BACKENDS, Backend, TargetOptions, backend
from edgeprep.config import ExportConfig, OnnxOptimize, Quantization, Target
from edgeprep.errors import ConversionError
from edgeprep.runners import Runner

BLOCK = "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None; sys.modules['tf2onnx'] = None; "


def _artifact(target: Target, ops: dict[str, int], requirements: tuple[str, ...] = (), facts: dict | None = None) -> Artifact:
    return Artifact(target, b"", ops, requirements, Quantization.NONE, facts or {})


def test_every_target_has_a_backend_implementing_the_protocol():
    assert set(BACKENDS) == set(Target)
    for target in Target:
        chosen = backend(target)
        assert isinstance(chosen, Backend) and chosen.target is target
        options = chosen.options(ExportConfig(batch=2), ("x",), ("y",), None)
        assert isinstance(options, TargetOptions) and (options.input_names, options.output_names) == (("x",), ("y",))
        assert chosen.check_ops(_artifact(target, {"ADD": 1, "Add": 1}), options) == []


def test_backends_and_runners_import_without_tensorflow():
    """A TensorFlow import would raise here (the module is blocked); no converter module is loaded."""
    code = BLOCK + (
        "from edgeprep.backend import BACKENDS, backend; "
        "names = [backend(t).target.value for t in BACKENDS]; "
        "loaded = sorted(m for m in sys.modules if m.startswith('converters.') and m.endswith(('.runner', '.convert', '.quantize', '.optimize'))); "
        "print(names, loaded)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['tflite', 'onnx'] ['converters.onnx.runner', 'converters.tflite.runner']"


def test_runner_classes_are_runners():
    from converters.onnx.runner import ONNXRunner
    from converters.tflite.runner import TFLiteRunner

    assert issubclass(TFLiteRunner, Runner) and issubclass(ONNXRunner, Runner)


def test_tflite_policy_refuses_custom_random_and_unasked_flex_ops():
    tflite = backend(Target.TFLITE)
    options = tflite.options(ExportConfig(), ("x",), ("y",), None)
    artifact = _artifact(Target.TFLITE, {"CUSTOM:Foo": 1, "FlexStringSplitV2": 1, "RANDOM_UNIFORM": 2}, ("tflite-flex",))
    assert tflite.check_ops(artifact, options) == [
        "the TFLite artifact contains custom ops CUSTOM:Foo; the stock interpreter cannot run it",
        "the TFLite artifact needs tflite-flex (Select-TF ops FlexStringSplitV2), which no option asked for; "
        "the stock interpreter cannot run it (--allow-flex accepts it)",
        "random ops RANDOM_UNIFORM survived into the TFLite artifact; a training-only layer was not stripped",
    ]
    flex = _artifact(Target.TFLITE, {"FlexStringSplitV2": 1, "ADD": 1}, ("tflite-flex",))
    assert tflite.check_ops(flex, tflite.options(ExportConfig(allow_flex=True), ("x",), ("y",), None)) == []


def test_onnx_policy_allows_other_domains_only_when_opted_in():
    onnx = backend(Target.ONNX)
    plain = onnx.options(ExportConfig(), ("x",), ("y",), None)
    contrib = _artifact(Target.ONNX, {"ai.onnx.contrib::StringRegexReplace": 1, "Add": 1}, ("onnxruntime-extensions",))
    assert onnx.check_ops(contrib, plain) == [
        "the ONNX graph uses non-standard ops ai.onnx.contrib::StringRegexReplace; onnxruntime's stock build cannot run them",
        "the ONNX artifact needs onnxruntime-extensions, which no option asked for; the stock runtime cannot run it",
    ]
    assert onnx.check_ops(contrib, onnx.options(ExportConfig(onnx_extensions=True), ("x",), ("y",), None)) == []
    fused = _artifact(Target.ONNX, {"com.microsoft::FusedConv": 1}, ("onnxruntime",))
    assert len(onnx.check_ops(fused, plain)) == 2
    assert onnx.check_ops(fused, onnx.options(ExportConfig(onnx_optimize=OnnxOptimize.ORT), ("x",), ("y",), None)) == []
    assert onnx.check_ops(_artifact(Target.ONNX, {"RandomNormalLike": 1, "Bernoulli": 1}), plain) == [
        "random ops Bernoulli, RandomNormalLike survived into the ONNX artifact; a training-only layer was not stripped"
    ]


def test_xnnpack_fallback_is_a_note_only_with_a_dynamic_batch():
    tflite = backend(Target.TFLITE)
    artifact = _artifact(Target.TFLITE, {"SHAPE": 1}, facts={"xnnpack": {"fallback_ops": {"SHAPE": 1, "PACK": 1}}})
    assert tflite.notes(artifact, tflite.options(ExportConfig(), ("x",), ("y",), None)) == [
        "tflite: XNNPACK leaves SHAPE, PACK to LiteRT's own kernels; --batch 1 folds shape arithmetic away"
    ]
    assert tflite.notes(artifact, tflite.options(ExportConfig(batch=1), ("x",), ("y",), None)) == []
    assert backend(Target.ONNX).notes(_artifact(Target.ONNX, {}), backend(Target.ONNX).options(ExportConfig(), ("x",), ("y",), None)) == []


def test_op_policy_problems_raise_one_conversion_error():
    from edgeprep.backend import raise_op_problems

    raise_op_problems([])
    with pytest.raises(ConversionError, match="^first; second$"):
        raise_op_problems(["first", "second"])
