"""Folds in real artifacts: parity in both runtimes, what each graph keeps before its first conv,
the manifest record, and ``--no-fold``."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings

import edgeprep
from edgeprep.config import Target
from fold_cases import build, cases, keras_computes_it
from helpers import artifact_ops, cli_in_process

ELEMENTWISE = {"ADD", "SUB", "MUL", "DIV", "Add", "Sub", "Mul", "Div"}
CONVS = {"CONV_2D", "DEPTHWISE_CONV_2D", "CONV_3D", "Conv"}
# Each example is a full two-target export (~6 s): 8 derandomized examples in the default suite, the
# full 20 with EDGEPREP_SLOW=1 (`make test-slow`). The Keras-level fold properties in test_fold.py
# run their full example counts in every run.
FOLD_EXAMPLES = 20 if os.environ.get("EDGEPREP_SLOW") == "1" else 8


def ops_before_first_conv(path: Path) -> list[str]:
    """The artifact's ops in execution order up to its first convolution, read by its runtime library."""
    if path.suffix == ".onnx":
        import onnx

        ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    else:
        from ai_edge_litert.interpreter import Interpreter

        ops = [op["op_name"] for op in Interpreter(model_path=str(path))._get_ops_details()]
    first = next(i for i, op in enumerate(ops) if op in CONVS)
    return ops[:first]


@settings(max_examples=FOLD_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(case=cases(consumers=("conv2d", "zeropad_conv2d", "depthwise2d", "separable2d", "dense", "conv1d", "batchnorm", "einsum"), grouped=False))
def test_folded_artifacts_pass_parity_in_both_runtimes(case):
    """(SeparableConv1D is left out: TF's converter rejects its channels_first form, folded or not.)"""
    model = build(case)
    assume(keras_computes_it(model, case))
    with tempfile.TemporaryDirectory() as tmp:
        result = edgeprep.export(model, Path(tmp) / "dist")
    assert result.passed, (case, [r.summary() for r in result.reports.values()])
    assert all(report is None or report.passed for report in result.transform_reports.values()), case


def _imagenet_cnn(padding: str):
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Normalization(mean=[0.485, 0.456, 0.406], variance=[0.229**2, 0.224**2, 0.225**2])(x)
    x = keras.layers.Conv2D(8, 3, padding=padding, activation="relu", bias_initializer="random_normal")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4, name="logits")(x), name=f"imagenet_cnn_{padding}")


def test_valid_first_conv_leaves_no_elementwise_op_before_it(tmp_path):
    result = edgeprep.export(_imagenet_cnn("valid"), tmp_path / "dist")
    assert result.passed
    for target, path in result.artifacts.items():
        assert not ELEMENTWISE & set(ops_before_first_conv(path)), (target, ops_before_first_conv(path))
    folded = [entry for entry in result.manifest["transforms"] if entry["action"] == "folded"]
    assert [entry["class"] for entry in folded] == ["Rescaling", "Normalization"]
    assert all(entry["detail"].startswith("folded into conv2d") and "nothing kept" in entry["detail"] for entry in folded)


def test_same_padding_keeps_exactly_one_add(tmp_path):
    result = edgeprep.export(_imagenet_cnn("same"), tmp_path / "dist")
    assert result.passed
    for target, path in result.artifacts.items():
        kept = [op for op in ops_before_first_conv(path) if op in ELEMENTWISE]
        assert kept in (["ADD"], ["Add"]), (target, ops_before_first_conv(path))
    entry = next(e for e in result.manifest["transforms"] if e["class"] == "Rescaling")
    assert "kept one elementwise add" in entry["detail"] and "pads with zeros" in entry["detail"]


@pytest.mark.parametrize("name", ["mobilenet_v3_small", pytest.param("efficientnet_b0", marks=pytest.mark.slow)])
def test_application_stem_keeps_at_most_one_elementwise_op(name, zoo_exports):
    """MobileNetV3 (Rescaling -> same-padded stem) and EfficientNetB0 (Rescaling -> Normalization ->
    ZeroPadding2D -> stem): Keras' own exports keep MUL/SUB/MUL (ONNX: Mul/Add/Mul) before the stem."""
    model_args = {"imagenet_statistics": True} if name == "efficientnet_b0" else {}
    folded = zoo_exports(name, model_args).result
    unfolded = zoo_exports(name, model_args, fold=False).result
    assert folded.passed and unfolded.passed
    for target in (Target.TFLITE, Target.ONNX):
        kept = [op for op in ops_before_first_conv(folded.artifacts[target]) if op in ELEMENTWISE]
        before = [op for op in ops_before_first_conv(unfolded.artifacts[target]) if op in ELEMENTWISE]
        assert len(kept) <= 1, (target, kept)
        if name == "efficientnet_b0":  # --no-fold keeps the chain: the fold is what removed it
            assert len(before) >= 2, (target, before)


def test_normalized_regression_head_is_two_fully_connected_ops(tmp_path):
    """Normalization -> Dense(relu) -> Dense -> Normalization(invert=True): TFLite holds two
    FULLY_CONNECTED ops and nothing else; ONNX no Sub/Mul/Div."""
    import keras

    keras.utils.set_random_seed(5)
    inputs = keras.Input((5,), name="features")
    x = keras.layers.Normalization(mean=[1, 2, 3, 4, 5], variance=[1, 4, 9, 16, 25])(inputs)
    x = keras.layers.Dense(8, activation="relu", bias_initializer="random_normal")(x)
    x = keras.layers.Dense(2)(x)
    outputs = keras.layers.Normalization(mean=[100.0, -3.0], variance=[400.0, 0.25], invert=True, name="target")(x)
    result = edgeprep.export(keras.Model(inputs, outputs), tmp_path / "dist")
    assert result.passed
    assert artifact_ops(result.artifacts[Target.TFLITE]) == {"FULLY_CONNECTED": 2}
    onnx_ops = artifact_ops(result.artifacts[Target.ONNX])
    assert not {"Sub", "Mul", "Div"} & set(onnx_ops) and onnx_ops["MatMul"] + onnx_ops.get("Gemm", 0) == 2
    head = next(e for e in result.manifest["transforms"] if e["layer"] == "target")
    assert head["action"] == "folded" and head["detail"].startswith("folded backward into dense")


def test_no_fold_flag_keeps_preprocessing_in_the_artifacts(tmp_path):
    model_path = tmp_path / "model.keras"
    _imagenet_cnn("valid").save(model_path)
    result = cli_in_process("export", model_path, "--out", tmp_path / "nofold", "--no-fold", "--target", "onnx")  # suite time: no TensorFlow start-up
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "nofold" / "manifest.json").read_text())
    assert manifest["config"]["fold"] is False
    assert not [e for e in manifest["transforms"] if e["action"] == "folded"]
    assert ELEMENTWISE & set(ops_before_first_conv(tmp_path / "nofold" / "model.onnx"))
