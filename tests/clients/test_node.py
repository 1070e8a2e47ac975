"""onnxruntime-node runs the ONNX artifacts and matches their golden outputs under the manifest's tolerance."""

from __future__ import annotations

import json

import numpy as np

from feeds import check_outputs, decode_tensor, encode_tensor, write_feed
from js_clients import RUN_ONNX, run_node


def test_node_matches_golden(seed_export, node, tmp_path):
    feed = write_feed(seed_export, tmp_path / "feed.json")
    run_node(node, RUN_ONNX, seed_export / "model.onnx", feed, tmp_path / "outputs.json")
    result = json.loads((tmp_path / "outputs.json").read_text())

    assert result["client"].startswith("onnxruntime-node")
    assert len(result["batches"]) == len(json.loads(feed.read_text())["batches"])
    report = check_outputs(seed_export, result, result["client"])
    assert report.passed, report.summary()


def test_a_changed_output_fails(onnx_export, node, tmp_path):
    """The comparison is real: one output value off by 1e-2 of its scale fails the golden check."""
    directory = onnx_export("seed_cnn")[1]
    feed = write_feed(directory, tmp_path / "feed.json")
    run_node(node, RUN_ONNX, directory / "model.onnx", feed, tmp_path / "outputs.json")
    result = json.loads((tmp_path / "outputs.json").read_text())
    assert check_outputs(directory, result, "node").passed

    values = decode_tensor(result["batches"][0]["dense"]).copy()
    values.flat[0] += 1e-2 * np.abs(values).max()
    result["batches"][0]["dense"] = encode_tensor(values)
    report = check_outputs(directory, result, "node")
    assert not report.passed and report.failures()[0].name == "dense", report.summary()
