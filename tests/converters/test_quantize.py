"""Quantization with parity that means something: a CNN trained here on scikit-learn's digits,
exported float16 / dynamic / int8 to both targets, judged by top-1 agreement and SQNR against the
float Keras model on the held-out split."""

from __future__ import annotations

from collections import Counter

import json
from pathlib import Path

import numpy as np
import pytest

import edgeprep
from edgeprep.config import Target
from helpers import cli_in_process  # the CLI in this process: no TensorFlow start-up per call (suite time)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The seed CNN (Rescaling inside) on digits upsampled 3x to 24x24, trained a few epochs."""
    import keras
    from sklearn.datasets import load_digits

    keras.utils.set_random_seed(0)
    data = load_digits()
    images = np.kron(data.images * (255.0 / 16.0), np.ones((3, 3))).astype("float32")[..., None]
    order = np.random.default_rng(0).permutation(len(images))
    images, labels = images[order], data.target[order]
    split = int(0.8 * len(images))
    model = keras.Sequential([
        keras.Input((24, 24, 1), name="image"),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(10, name="logits"),
    ])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(images[:split], labels[:split], epochs=6, batch_size=64, verbose=0)
    assert model.evaluate(images[split:], labels[split:], verbose=0)[1] > 0.9
    root = tmp_path_factory.mktemp("digits")
    np.savez(root / "train.npz", image=images[:split])
    np.savez(root / "heldout.npz", image=images[split:])
    model.save(root / "digits.keras")
    return root


@pytest.fixture(scope="module")
def exports(digits):
    results = {}
    for mode in ("none", "float16", "dynamic", "int8"):
        extra = {"calibration": str(digits / "train.npz")} if mode == "int8" else {}
        results[mode] = edgeprep.export(
            str(digits / "digits.keras"), digits / f"dist-{mode}", quantize=edgeprep.Quantization(mode), data=str(digits / "heldout.npz"), **extra
        )
    return results


def _size(result, target):
    return result.artifacts[target].stat().st_size


@pytest.mark.parametrize("mode, max_ratio", [("int8", 0.35), ("float16", 0.55), ("dynamic", 0.35)])
def test_quantized_artifacts_agree_with_the_float_model_and_shrink(exports, target, mode, max_ratio):
    result = exports[mode]
    report = result.reports[target]
    assert report.passed, report.summary()
    assert report.samples == 360  # the whole held-out split
    assert report.top1 >= 0.99, report.summary()
    output = report.outputs[0]
    assert output.sqnr_db is not None and output.sqnr_db >= (25 if mode == "int8" else 30)
    ratio = _size(result, target) / _size(exports["none"], target)
    assert ratio <= max_ratio, (mode, target, ratio)
    manifest = result.manifest
    assert manifest["quantization"]["mode"] == mode
    assert manifest["tolerance"]["min_top1"] is not None and manifest["tolerance"]["rtol"] is None


def test_int8_graphs_are_integer(exports):
    ops = {a["target"]: a["ops"] for a in exports["int8"].manifest["artifacts"]}
    assert ops["onnx"].get("QuantizeLinear", 0) >= 1 and ops["onnx"].get("DequantizeLinear", 0) >= 3
    assert ops["tflite"].get("QUANTIZE", 0) >= 1 and ops["tflite"].get("DEQUANTIZE", 0) >= 1
    calibration = exports["int8"].manifest["quantization"]["calibration"]
    assert calibration["kind"] == "npz" and calibration["samples"] == 256
    assert _float_convs_left_by_onnxruntime(exports["int8"].artifacts[Target.ONNX]) == (0, 1)


def _float_convs_left_by_onnxruntime(path) -> tuple[int, int]:
    """(float Convs, QLinearConvs) in the graph onnxruntime's CPU provider actually runs."""
    ops = _onnxruntime_ops(path)
    return ops["Conv"], ops["QLinearConv"]


def _onnxruntime_ops(path) -> Counter:
    """Op counts of the graph onnxruntime's CPU provider actually runs (its optimized graph)."""
    import tempfile

    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return Counter(node.op_type for node in onnx.load(options.optimized_model_filepath).graph.node)


def _hard_swish_model(tmp_path):
    """Three hard-swish Conv2Ds behind a Rescaling; writes calibration.npz and heldout.npz to ``tmp_path``."""
    import keras

    keras.utils.set_random_seed(4)
    inputs = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    for filters in (8, 16, 16):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="hard_swish")(x)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calibration.npz", image=rng.uniform(0, 255, (64, 16, 16, 3)).astype("float32"))
    np.savez(tmp_path / "heldout.npz", image=rng.uniform(0, 255, (256, 16, 16, 3)).astype("float32"))
    return keras.Model(inputs, keras.layers.Dense(4, name="logits")(keras.layers.GlobalAveragePooling2D()(x)))


def test_int8_onnx_scalar_muls_fold_into_scales(tmp_path):
    """Hard-swish divides by 6: in QDQ that Mul folds into the dequantize scale, so onnxruntime runs one
    QLinearMul per hard-swish (x times its hard-sigmoid), not two, and nothing in float."""
    model = _hard_swish_model(tmp_path)
    result = edgeprep.export(
        model, tmp_path / "dist", targets=(Target.ONNX,), quantize=edgeprep.Quantization.INT8,
        calibration=str(tmp_path / "calibration.npz"), data=str(tmp_path / "heldout.npz"),
    )
    ops = _onnxruntime_ops(result.artifacts[Target.ONNX])
    assert ops["QLinearConv"] == 3 and ops["QLinearMul"] == 3, ops
    assert not {"Mul", "Div", "Conv", "Add"} & set(ops), ops
    assert result.reports[Target.ONNX].passed
    assert result.reports[Target.ONNX].outputs[0].sqnr_db >= 25


def test_integer_io_runs_through_the_float_interface(digits, tmp_path):
    result = edgeprep.export(
        str(digits / "digits.keras"), tmp_path / "dist", targets=["tflite"], quantize=edgeprep.Quantization.INT8,
        calibration=str(digits / "train.npz"), int8_io="uint8", data=str(digits / "heldout.npz"),
    )
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(result.artifacts[Target.TFLITE]))
    assert interpreter.get_input_details()[0]["dtype"] == np.uint8
    assert result.reports[Target.TFLITE].top1 >= 0.99


def test_bad_calibration_fails_with_the_numbers_and_empty_calibration_is_bad_input(digits, tmp_path):
    np.savez(tmp_path / "zeros.npz", image=np.zeros((64, 24, 24, 1), np.float32))
    bad = cli_in_process("export", digits / "digits.keras", "--out", tmp_path / "bad", "--quantize", "int8", "--calibration", tmp_path / "zeros.npz", "--data", digits / "heldout.npz")
    assert bad.returncode == 1
    assert "top-1 agreement" in bad.stderr and "SQNR" in bad.stderr
    assert json.loads((tmp_path / "bad" / "manifest.json").read_text())["passed"] is False
    (tmp_path / "empty.npz").write_bytes(b"")
    empty = cli_in_process("export", digits / "digits.keras", "--out", tmp_path / "empty", "--quantize", "int8", "--calibration", tmp_path / "empty.npz")
    assert empty.returncode == 2 and "--calibration" in empty.stderr and not (tmp_path / "empty").exists()


def test_synthetic_calibration_is_loud(digits, tmp_path):
    result = cli_in_process("export", digits / "digits.keras", "--out", tmp_path / "dist", "--quantize", "int8", "--target", "tflite")
    assert "WARNING: int8 calibration on generated samples" in result.stderr
    manifest = json.loads((tmp_path / "dist" / "manifest.json").read_text())
    assert manifest["quantization"]["calibration"]["warning"] == "synthetic calibration"


def test_int8_hard_swish_is_rewritten_into_ops_xnnpack_takes(tmp_path):
    """int8 HARD_SWISH falls out of XNNPACK; edgeprep's TFLite artifact computes it as ADD(RELU6), MUL,
    MUL on the calibrated grids: one delegate partition, and as close to float as the converter's op."""
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from converters.tflite.delegate import xnnpack_report

    model = _hard_swish_model(tmp_path)
    result = edgeprep.export(
        model, tmp_path / "dist", targets=(Target.TFLITE,), batch=1, quantize=edgeprep.Quantization.INT8,
        calibration=str(tmp_path / "calibration.npz"), data=str(tmp_path / "heldout.npz"),
    )
    entry = result.manifest["artifacts"][0]
    assert entry["graph"]["int8_rewrites"] == {"HARD_SWISH -> ADD(RELU6), MUL, MUL": 3}
    assert "HARD_SWISH" not in entry["ops"] and entry["ops"]["MUL"] >= 6
    data = result.artifacts[Target.TFLITE].read_bytes()
    assert xnnpack_report(data)["partitions"] == 1 and not xnnpack_report(data)["fallback_ops"]
    # The converter's own int8 graph (HARD_SWISH kept), same calibration: the rewrite is no less accurate.
    images = np.load(tmp_path / "heldout.npz")["image"]
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    calibration = np.load(tmp_path / "calibration.npz")["image"]
    converter.representative_dataset = lambda: ([calibration[i : i + 1]] for i in range(len(calibration)))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    reference = converter.convert()
    expected = model.predict(images, verbose=0)

    def sqnr(content):
        interpreter = Interpreter(model_content=content)
        interpreter.allocate_tensors()
        outputs = []
        for image in images:
            interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image[None])
            interpreter.invoke()
            outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0])
        return 10 * np.log10(np.sum(expected**2) / np.sum((np.array(outputs) - expected) ** 2))

    assert "HARD_SWISH" in {op["op_name"] for op in Interpreter(model_content=reference)._get_ops_details()}
    ours, theirs = sqnr(data), sqnr(reference)
    assert ours >= theirs - 1.0 and ours >= 25, (ours, theirs)
    assert result.reports[Target.TFLITE].passed


@pytest.mark.slow
def test_mobilenet_v3_small_int8_size_and_quality(tmp_path):
    """MobileNetV3Small (224x224, 1000-class logits): int8 <= 0.28x of float32 per target, per-channel and
    per-tensor (shared TFLite zero-point vectors, compact ONNX names); SQNR against the float Keras
    model reported and above the default; XNNPACK takes every op but the dynamic batch's shape ops."""
    import keras

    from zoo import calibrate

    keras.utils.set_random_seed(0)
    model = calibrate(keras.applications.MobileNetV3Small(input_shape=(224, 224, 3), weights=None, include_preprocessing=True, classifier_activation=None), seed=7)
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "calibration.npz", **{model.layers[0].name: rng.uniform(0, 255, (128, 224, 224, 3)).astype("float32")})
    float_result = edgeprep.export(model, tmp_path / "float")
    for per_channel, limit in ((True, 0.28), (False, 0.28)):
        try:  # random weights: 1000 nearly tied logits make top-1 on a few samples a coin toss; size and SQNR are the point
            result = edgeprep.export(model, tmp_path / f"int8-{per_channel}", quantize=edgeprep.Quantization.INT8, calibration=str(tmp_path / "calibration.npz"), int8_per_channel=per_channel)
        except edgeprep.ParityError as exc:
            result = exc.result
        for target, path in result.artifacts.items():
            ratio = path.stat().st_size / float_result.artifacts[target].stat().st_size
            assert ratio <= limit, (target, per_channel, ratio)
            assert result.reports[target].outputs[0].sqnr_db >= 25
        assert _float_convs_left_by_onnxruntime(result.artifacts[Target.ONNX]) == (0, 54)
        assert _onnxruntime_ops(result.artifacts[Target.ONNX])["QLinearMul"] == 28  # 56 before the /6 Muls were folded into scales
        tflite = next(a for a in result.manifest["artifacts"] if a["target"] == "tflite")
        assert tflite["graph"]["int8_rewrites"] == {"HARD_SWISH -> ADD(RELU6), MUL, MUL": 19}
        assert "HARD_SWISH" not in tflite["graph"]["xnnpack"]["fallback_ops"]


@pytest.mark.parametrize("raw_max", [255.0, 65535.0])
def test_float16_does_not_overflow_on_raw_camera_ranges(raw_max, tmp_path):
    """float16 tops out at 65504: raw uint16-range pixels must be scaled before anything runs in float16."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 1), name="image")
    x = keras.layers.Rescaling(1.0 / raw_max)(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(4, name="logits")(x))
    result = edgeprep.export(model, tmp_path / "dist", quantize=edgeprep.Quantization.FLOAT16)
    assert result.manifest["samples"]["ranges"]["image"].endswith(f"[0, {raw_max:g}]")
    for target, report in result.reports.items():
        assert report.passed, report.summary()
        assert report.outputs[0].sqnr_db > 40 and report.outputs[0].mismatched == 0  # no NaN/Inf anywhere
    x = np.full((2, 16, 16, 1), raw_max, np.float32)
    from converters.onnx.runner import ONNXRunner

    with ONNXRunner(result.artifacts[Target.ONNX]) as runner:
        assert np.all(np.isfinite(runner.infer({"image": x})["logits"]))


@pytest.mark.parametrize("mode", ["float16", "dynamic", "int8"])
def test_feature_space_quantizes_with_its_lookups_integer(mode, tmp_path):
    """Lowered lookups stay integer under every mode; int8 TFLite buckets on the host and its ONE_HOTs
    sit on their output grids (the converter's own quantization of both was measured at SQNR < 5 dB)."""
    from zoo import feature_space_tabular

    model = feature_space_tabular(cross=False)
    rng = np.random.default_rng(5)
    n = 256
    np.savez(
        tmp_path / "rows.npz", color=rng.choice(["red", "green", "blue", "white", "Grün"], (n, 1)), rooms=rng.integers(1, 7, (n, 1)).astype("int32"),
        area=rng.normal(80, 20, (n, 1)).astype("float32"), age=rng.uniform(0, 100, (n, 1)).astype("float32"),
    )
    extra = {"calibration": str(tmp_path / "rows.npz")} if mode == "int8" else {}
    result = edgeprep.export(model, tmp_path / "dist", quantize=edgeprep.Quantization(mode), data=str(tmp_path / "rows.npz"), **extra)
    assert all(report.passed for report in result.reports.values())
    for target, report in result.reports.items():
        # measured int8: ONNX 40 dB, TFLite 23 dB (its calibrated output range stops short of the largest prices)
        assert report.outputs[0].sqnr_db is None or report.outputs[0].sqnr_db >= 20, (target, report.summary())
    entries = {a["target"]: a for a in result.manifest["artifacts"]}
    assert entries["tflite"]["ops"]["HASHTABLE_FIND"] == 1 and entries["onnx"]["ops"]["CategoryMapper"] == 1
    discretization = next(t for t in result.manifest["transforms"] if "discretized" in t["layer"] and t.get("target", "tflite") == "tflite")
    assert discretization["action"] == ("host" if mode == "int8" else "lowered"), discretization
    if mode == "int8":
        assert entries["tflite"]["graph"]["int8_rewrites"]["ONE_HOT on/off values onto the output grid"] >= 2


def test_float16_keeps_large_integer_lookups_exact(tmp_path):
    """IntegerLookup keys 100000.. differ by 1, which float16 cannot tell apart: compared in float32."""
    import keras

    keras.utils.set_random_seed(1)
    vocabulary = list(range(100_000, 100_040))
    inputs = keras.Input((1,), dtype="int64", name="code")
    outputs = keras.layers.Dense(3, name="y")(keras.layers.IntegerLookup(vocabulary=vocabulary, output_mode="one_hot")(inputs))
    np.savez(tmp_path / "codes.npz", code=np.array(vocabulary + [5, 100_040], np.int64).reshape(-1, 1))
    result = edgeprep.export(keras.Model(inputs, outputs), tmp_path / "dist", quantize=edgeprep.Quantization.FLOAT16, data=str(tmp_path / "codes.npz"))
    for report in result.reports.values():
        assert report.passed and report.max_abs < 1e-3, report.summary()
