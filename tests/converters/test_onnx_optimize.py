"""Edge-grade ONNX: tf2onnx's optimizer failure is detected and repaired (or fails loudly), at most
one layout Transpose (none with NCHW IO), constants folded, Resize shapes as the spec computes them,
and the onnxruntime-only variant says so."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgeprep
from converters.onnx import optimize
from edgeprep.config import OnnxLayout, OnnxOptimize, Target
from edgeprep.errors import ConversionError
from zoo import augmented_cnn, mobilenet_v3_small

MODELS = ("seed_cnn", "augmented_cnn", "sequence_conv1d", "pipeline_nested", "random_crop_cnn")


def _graph(path) -> onnx.GraphProto:
    return onnx.load(str(path)).graph


def _layout_transposes(graph) -> int:
    return sum(node.op_type == "Transpose" and optimize._perm(node) in optimize.LAYOUT_PERMS for node in graph.node)


@pytest.fixture(scope="module")
def exported(zoo_exports):
    """The shared exports to both targets (their ONNX artifacts equal ONNX-only ones up to tf2onnx's node-name counter)."""
    return {name: zoo_exports(name).result for name in MODELS}


def test_at_most_one_layout_transpose_and_constants_folded(exported):
    for name, result in exported.items():
        graph = _graph(result.artifacts[Target.ONNX])
        assert _layout_transposes(graph) <= 1, name
        constants = {init.name for init in graph.initializer}
        foldable = [node.op_type for node in graph.node if node.input and all(i in constants or not i for i in node.input)]
        assert foldable == [], (name, foldable)
        assert result.passed, name


def test_flatten_after_conv_needs_no_transpose(exported):
    """seed_cnn: Conv -> MaxPool -> Flatten -> Dense; the NHWC flatten order moved into the weights."""
    graph = _graph(exported["seed_cnn"].artifacts[Target.ONNX])
    assert [node.op_type for node in graph.node if node.op_type == "Transpose"] == []
    assert exported["seed_cnn"].reports[Target.ONNX].max_rel <= 1e-5


def test_resize_output_shape_is_the_same_by_the_spec_and_in_onnxruntime(exported):
    """48 -> 40 as float32 scale 0.8333333 gives 39 by the spec's floor and 40 in onnxruntime."""
    model = onnx.load(str(exported["pipeline_nested"].artifacts[Target.ONNX]))
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    resize = next(node for node in inferred.graph.node if node.op_type == "Resize")
    shape = next(v for v in inferred.graph.value_info if v.name == resize.output[0]).type.tensor_type.shape
    assert [d.dim_value for d in shape.dim][1:] in ([3, 40, 40], [40, 40, 3])


def test_failed_transpose_optimizer_is_detected_and_repaired(tmp_path):
    """MobileNetV3Small: tf2onnx's transpose optimizer raises on a scalar add after a bias-less conv."""
    result = edgeprep.export(mobilenet_v3_small(), tmp_path / "dist", targets=["onnx"])
    facts = result.manifest["artifacts"][0]["graph"]
    assert facts["repaired"] and any("optimize_transpose" in f and "max() arg is an empty sequence" in f for f in facts["tf2onnx_optimizer_failures"])
    graph = _graph(result.artifacts[Target.ONNX])
    assert _layout_transposes(graph) == facts["layout_transposes"] == 1
    assert graph.node[0].op_type == "Transpose" and graph.node[0].input[0] == graph.input[0].name, "the one Transpose sits at the input"
    assert graph.node[1].op_type == "Add", "the kept shift runs on NCHW planes, after the Transpose"
    assert result.passed


def _broken_reshape_model():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])
    constant = numpy_helper.from_array(np.ones((2, 3), np.float32), "c")
    shape = numpy_helper.from_array(np.array([4], np.int64), "s")
    nodes = [helper.make_node("Reshape", ["c", "s"], ["t"]), helper.make_node("Add", ["x", "t"], ["y"])]
    graph = helper.make_graph(nodes, "g", [x], [y], [constant, shape])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_an_unrepairable_optimizer_failure_fails_loudly():
    from tf2onnx.graph import GraphUtil

    with optimize.watch_optimizers() as failures:
        GraphUtil.optimize_model_proto(_broken_reshape_model(), catch_errors=True)
    assert any(f.startswith("Failed to apply fold_constants: ValueError: cannot reshape") for f in failures), failures
    with pytest.raises(ConversionError, match="repair failed too .*cannot reshape"):
        optimize.repair(_broken_reshape_model(), list(failures))


def test_nchw_layout_has_no_transpose_and_still_speaks_keras_layout(tmp_path):
    result = edgeprep.export(augmented_cnn(), tmp_path / "dist", targets=["onnx"], onnx_layout=OnnxLayout.NCHW)
    model = onnx.load(str(result.artifacts[Target.ONNX]))
    dims = [d.dim_value or d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, 32, 32]
    assert [n.op_type for n in model.graph.node if n.op_type == "Transpose"] == []
    assert {p.key: p.value for p in model.metadata_props}["edgeprep.nchw"] == '["image"]'
    assert result.passed and edgeprep.verify(result.out_dir).passed
    assert result.manifest["config"]["onnx_layout"] == "nchw"


def test_ort_optimized_artifact_is_marked_onnxruntime_only(tmp_path):
    portable = edgeprep.export(augmented_cnn(), tmp_path / "portable", targets=["onnx"])
    fused = edgeprep.export(augmented_cnn(), tmp_path / "ort", targets=["onnx"], onnx_optimize=OnnxOptimize.ORT)
    entry = fused.manifest["artifacts"][0]
    assert entry["runtime_requirements"] == ["onnxruntime"]
    assert any(op.startswith("com.microsoft::") for op in entry["ops"])
    assert all("::" not in op for op in portable.manifest["artifacts"][0]["ops"])
    assert fused.passed and edgeprep.verify(fused.out_dir).passed


@pytest.mark.slow
def test_convnext_exports_to_onnx_with_one_layout_transpose(tmp_path):
    """ConvNeXtTiny: grouped 7x7 convs and exact GELU are lowered, so tf2onnx converts every op."""
    from zoo import convnext_tiny

    result = edgeprep.export(convnext_tiny(), tmp_path / "dist")
    graph = _graph(result.artifacts[Target.ONNX])
    assert _layout_transposes(graph) == 1 and {"Erf", "Conv"} <= {node.op_type for node in graph.node}
    assert result.passed


REPRODUCE = """
import hashlib, sys
sys.path.insert(0, {tests!r})
from zoo import sequence_conv1d
import edgeprep
result = edgeprep.export(sequence_conv1d(), sys.argv[1], targets=["onnx"])
print(hashlib.sha256(result.artifacts[edgeprep.Target.ONNX].read_bytes()).hexdigest())
"""


def test_the_same_model_gives_the_same_onnx_bytes_in_separate_processes(tmp_path):
    """Issue 18 hole 10: tf2onnx's process-global name counters made two processes differ (2 runs of 3)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from helpers import REPO

    script = REPRODUCE.format(tests=str(Path(__file__).resolve().parents[1]))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    digests = [
        subprocess.run([sys.executable, "-c", script, str(tmp_path / f"run{index}")], env=env, cwd=REPO, capture_output=True, text=True, check=True, timeout=600).stdout.split()[-1]
        for index in (1, 2)
    ]
    assert digests[0] == digests[1]
    graph = _graph(tmp_path / "run1" / "model.onnx")
    assert [node.name for node in graph.node] == [f"{node.op_type}_{index}" for index, node in enumerate(graph.node)]
    assert all(initializer.name.startswith("v") and initializer.name[1:].isdigit() for initializer in graph.initializer)
    assert [i.name for i in graph.input] == ["signal"] and [o.name for o in graph.output] == ["classes"]


def test_canonical_names_follow_graph_order_and_keep_io_names():
    weight = numpy_helper.from_array(np.ones((2, 2), np.float32), "tf2onnx_const__17")
    bias = numpy_helper.from_array(np.zeros(2, np.float32), "axes_const__13__14")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "tf2onnx_const__17"], ["mm:0"], name="dense/MatMul"), helper.make_node("Add", ["mm:0", "axes_const__13__14"], ["y"], name="dense/BiasAdd")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], [bias, weight],
    )
    model = helper.make_model(graph)
    optimize.canonical_names(model)
    assert [(n.name, list(n.input), list(n.output)) for n in model.graph.node] == [("MatMul_0", ["x", "v0"], ["v1"]), ("Add_1", ["v1", "v2"], ["y"])]
    assert [i.name for i in model.graph.initializer] == ["v0", "v2"]  # sorted by first use: the weight first
    onnx.checker.check_model(model, full_check=True)
    feed = {"x": np.array([[1.0, 2.0]], np.float32)}
    import onnxruntime

    (out,) = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed)
    np.testing.assert_array_equal(out, [[3.0, 3.0]])
