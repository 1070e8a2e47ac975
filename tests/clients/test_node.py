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

    (output,) = result["batches"][0]  # the Dense layer's auto name ("dense", "dense_3", ...) depends on what the worker built first
    values = decode_tensor(result["batches"][0][output]).copy()
    values.flat[0] += 1e-2 * np.abs(values).max()
    result["batches"][0][output] = encode_tensor(values)
    report = check_outputs(directory, result, "node")
    assert not report.passed and report.failures()[0].name == output, report.summary()


def test_node_runs_the_seed_text_model_on_raw_text(onnx_export, node, tmp_path):
    """Issue 16: the seed text model's ONNX artifact takes UTF-8 bytes (TextVectorization in the graph);
    Node encodes raw text with TextEncoder (run_onnx.mjs) and the scores equal Keras'."""
    from edgeprep.runtime.manifest import Manifest
    from edgeprep.runners import KerasRunner

    model, directory = onnx_export("seed_text")
    manifest = Manifest.read(directory)
    assert manifest.inputs[0].encoding == "utf8-bytes" and not manifest.artifact("onnx").host_steps
    texts = ["The cat sat on the mat.", "", "ÉCOLE über  Naïve\tdog\nran!!", "zzz 日本 words, MiXeD 😀", "a\u00a0b  big", "e\u0301 \x0b\x0c\r\n end"]
    batches = [np.array(texts).reshape(-1, 1), np.array(texts[2:3]).reshape(-1, 1)]
    feed = {"batches": [{"text": {**encode_tensor(batch), "encoding": "utf8-bytes"}} for batch in batches]}
    (tmp_path / "feed.json").write_text(json.dumps(feed))
    run_node(node, RUN_ONNX, directory / "model.onnx", tmp_path / "feed.json", tmp_path / "outputs.json")
    result = json.loads((tmp_path / "outputs.json").read_text())
    for batch, got in zip(batches, result["batches"]):
        want = KerasRunner(model).infer({"text": batch})["logits"]
        np.testing.assert_allclose(decode_tensor(got["logits"]), want, rtol=1e-5, atol=1e-6)
