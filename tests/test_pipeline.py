"""End to end through both real runtimes: every zoo model exports, loads in the stock runtime,
keeps exactly its inputs, carries no random op, and matches the Keras original."""

from __future__ import annotations

import json

import numpy as np
import pytest

import edgeprep
from helpers import artifact_ops, random_ops
from edgeprep.config import Target
from edgeprep.families.augmentation import AUGMENTATION_CLASSES, REGULARIZATION_CLASSES
from zoo import SLOW, ZOO

STRIPPED = set(AUGMENTATION_CLASSES) | set(REGULARIZATION_CLASSES)
CASES = [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name for name in ZOO]


def _layers(model):
    from keras.layers import Pipeline

    for layer in model.layers:
        if hasattr(layer, "layers") and not isinstance(layer, Pipeline):
            yield from _layers(layer)
        elif isinstance(layer, Pipeline):
            yield from layer.layers
        else:
            yield layer


@pytest.fixture(scope="module", params=CASES)
def exported(request, zoo_exports):
    shared = zoo_exports(request.param)
    return request.param, shared.model, shared.result


def test_artifacts_load_in_stock_runtimes_with_exactly_the_model_inputs(exported):
    """Exactly the Keras inputs, or after a host split exactly the raw inputs it reads plus the host outputs."""
    name, model, result = exported
    from converters.onnx.runner import ONNXRunner
    from converters.tflite.runner import TFLiteRunner
    from edgeprep.runners import KerasRunner

    keras_inputs = sorted(spec.name for spec in KerasRunner(model).inputs())
    assert sorted(spec["name"] for spec in result.manifest["inputs"]) == keras_inputs
    entries = {entry["target"]: entry for entry in result.manifest["artifacts"]}
    for target, runner_cls in ((Target.TFLITE, TFLiteRunner), (Target.ONNX, ONNXRunner)):
        split = result.plans[target].split
        expected = keras_inputs if not split.steps else sorted(split.device_inputs)
        with runner_cls(result.artifacts[target]) as runner:
            assert sorted(spec.name for spec in runner.inputs()) == expected == sorted(entries[target.value]["inputs"]), (name, target)
            assert all(spec.shape[0] is None for spec in runner.inputs()), "dynamic batch expected"


def test_no_random_op_survives(exported):
    name, _, result = exported
    for target, path in result.artifacts.items():
        ops = artifact_ops(path)
        assert ops, (name, target)
        assert random_ops(ops) == [], (name, target, random_ops(ops))
        if target is Target.ONNX:
            assert all("::" not in op or op.startswith("ai.onnx.ml::") for op in ops), (name, ops)
        else:
            assert not any(op.startswith(("Flex", "CUSTOM")) for op in ops), (name, ops)


def test_parity_recomputed_from_scratch(exported):
    """Re-run the Keras original and both artifacts on fresh inputs at batch 1 and 5."""
    name, model, result = exported
    from converters.onnx.runner import ONNXRunner
    from converters.tflite.runner import TFLiteRunner
    from edgeprep.graph import flatten
    from edgeprep.parity.samples import generate, input_hints
    from edgeprep.pipeline import with_host_steps
    from edgeprep.runners import KerasRunner

    keras_runner = KerasRunner(model)
    feeds = generate(keras_runner.inputs(), input_hints(flatten(model)), (1, 5), seed=99)
    transformed_reference = result.transform_reports[Target.TFLITE] is None
    if transformed_reference:
        from edgeprep.graph import rebuild

        keras_runner = KerasRunner(rebuild(result.plans[Target.TFLITE].graph))
    reference = keras_runner.infer_all(feeds)
    for key, value in reference.items():
        spread = float(np.std(value.astype(np.float64), axis=0).max())
        assert spread > 1e-4 * max(1.0, float(np.abs(value).max())), f"{name}: output {key} barely varies; parity would be trivial"
    for target, runner_cls in ((Target.TFLITE, TFLiteRunner), (Target.ONNX, ONNXRunner)):
        split = result.plans[target].split  # host steps (if any) run first, as `edgeprep run` does
        with with_host_steps(runner_cls(result.artifacts[target]), split, keras_runner.inputs(), list(reference)) as runner:
            actual = runner.infer_all(feeds)
        for key, ref in reference.items():
            scale = np.abs(ref).max()
            rel = np.abs(actual[key] - ref).max() / scale
            assert rel <= 1e-5, (name, target, key, rel)


def test_manifest_names_every_stripped_layer_and_reports_parity(exported):
    name, model, result = exported
    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    assert manifest["format"] == "edgeprep-manifest/2"
    stripped = {entry["layer"].split("/")[-1] for entry in manifest["transforms"] if entry["action"] == "stripped"}
    expected = {layer.name for layer in _layers(model) if type(layer).__name__ in STRIPPED}
    assert stripped == expected, name
    for entry in manifest["parity"]:
        assert entry["passed"] and entry["max_rel"] <= entry["rtol"] == 1e-5
        assert entry["batch_sizes"][:3] == [1, 3, 32] and entry["samples"] == manifest["samples"]["count"] >= 64  # issue 19: at least 64 generated samples
    for entry in manifest["artifacts"]:
        assert entry["runtime_requirements"] == []
        assert (result.out_dir / entry["file"]).stat().st_size == entry["bytes"]
    assert [i["name"] for i in manifest["inputs"]] == [s.name for s in __import__("edgeprep.runners", fromlist=["KerasRunner"]).KerasRunner(model).inputs()]


def test_verify_passes_on_the_written_directory(exported):
    _, _, result = exported
    assert edgeprep.verify(result.out_dir).passed


@pytest.mark.parametrize("name", [pytest.param("efficientnet_b0", marks=pytest.mark.slow)])  # a large model: slow (CI: test_fold_artifacts' MobileNetV3Small)
def test_efficientnet_has_one_input_not_three(name, tmp_path):
    """Keras' own ONNX export of EfficientNetB0 has 3 inputs (mean/variance leak); ours has 1."""
    import onnx

    model = ZOO[name]()
    result = edgeprep.export(model, tmp_path / "dist", targets=["onnx"])
    graph = onnx.load(str(result.artifacts[Target.ONNX])).graph
    initializers = {i.name for i in graph.initializer}
    assert [i.name for i in graph.input if i.name not in initializers] == [model.layers[0].name]
    assert result.passed


def test_random_crop_becomes_its_inference_crop(zoo_exports):
    """RandomCrop is replaced (not removed): the artifact crops 40x48 to the centred 40x40 window, then resizes to 32x32."""
    import tensorflow as tf

    shared = zoo_exports("random_crop_cnn")
    model, result = shared.model, shared.result
    manifest = result.manifest
    replaced = [e for e in manifest["transforms"] if e["action"] == "replaced"]
    assert [e["class"] for e in replaced] == ["RandomCrop"]
    # Independent reference: centre 40x40 window, bilinear resize to 32x32, then the rest of the model.
    x = np.random.default_rng(0).uniform(0, 255, (2, 40, 48, 3)).astype("float32")
    window = x[:, :, 4:44, :]
    cropped = tf.image.resize(window, (32, 32), method="bilinear").numpy()
    head = __import__("keras").Model(model.layers[2].input, model.output)
    expected = head(cropped).numpy()
    from converters.onnx.runner import ONNXRunner
    from converters.tflite.runner import TFLiteRunner

    for runner_cls, path in ((TFLiteRunner, result.artifacts[Target.TFLITE]), (ONNXRunner, result.artifacts[Target.ONNX])):
        with runner_cls(path) as runner:
            got = runner.infer({"image": x})["logits"]
        assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max()
