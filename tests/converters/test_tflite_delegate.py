"""Static-batch TFLite: shape arithmetic folds away and XNNPACK takes the graph in one partition;
the manifest records partitions and fallback ops as the runtime reports them."""

from __future__ import annotations

import pytest

import edgeprep
from helpers import artifact_ops
from converters.tflite.delegate import xnnpack_report
from edgeprep.config import Target
from zoo import convnext_tiny, mobilenet_v3_small, seed_cnn

SHAPE_OPS = {"SHAPE", "GATHER", "REDUCE_PROD", "STRIDED_SLICE", "PACK"}


def test_dynamic_batch_flatten_falls_back_and_static_batch_does_not(zoo_exports, tmp_path):
    """seed_cnn's Flatten with a dynamic batch: SHAPE/STRIDED_SLICE/PACK/RESHAPE run outside XNNPACK."""
    dynamic = zoo_exports("seed_cnn").result  # both targets; the TFLite artifact comes first
    static = edgeprep.export(seed_cnn(), tmp_path / "static", targets=["tflite"], batch=1)
    facts = dynamic.manifest["artifacts"][0]["graph"]["xnnpack"]
    assert facts == {"partitions": 2, "nodes": 7, "delegated_nodes": 3, "fallback_ops": {"PACK": 1, "RESHAPE": 1, "SHAPE": 1, "STRIDED_SLICE": 1}}
    static_facts = static.manifest["artifacts"][0]["graph"]["xnnpack"]
    assert static_facts["partitions"] == 1 and static_facts["fallback_ops"] == {}
    assert static_facts["delegated_nodes"] == static_facts["nodes"] == sum(artifact_ops(static.artifacts[Target.TFLITE]).values())
    assert dynamic.passed and static.passed


@pytest.mark.parametrize("name", ["mobilenet_v3_small", pytest.param("convnext_tiny", marks=pytest.mark.slow)])
def test_static_batch_is_one_partition_without_shape_ops(name, tmp_path):
    model = convnext_tiny() if name == "convnext_tiny" else mobilenet_v3_small()
    result = edgeprep.export(model, tmp_path / "dist", targets=["tflite"], batch=1)
    ops = artifact_ops(result.artifacts[Target.TFLITE])
    assert not SHAPE_OPS & set(ops), ops
    report = xnnpack_report(result.artifacts[Target.TFLITE].read_bytes())
    assert report["partitions"] == 1 and report["fallback_ops"] == {}, report
    assert result.manifest["artifacts"][0]["graph"]["xnnpack"] == report
    assert result.passed


@pytest.mark.slow
def test_convnext_dynamic_batch_splits_into_partitions(tmp_path):
    """The measurement behind --batch: a dynamic batch leaves LayerNorm shape arithmetic to LiteRT."""
    result = edgeprep.export(convnext_tiny(), tmp_path / "dist", targets=["tflite"])
    report = result.manifest["artifacts"][0]["graph"]["xnnpack"]
    assert report["partitions"] > 1 and {"SHAPE"} & set(report["fallback_ops"]), report


def test_inspect_suggests_a_static_batch_for_edge_targets():
    inspection = edgeprep.inspect(seed_cnn())
    assert any("--batch 1" in line and "XNNPACK" in line for line in inspection.advice)
