"""The host split as users meet it: ``inspect`` shows it, ``export`` writes preprocess.json,
``run`` and ``verify`` reproduce Keras on raw inputs (without TensorFlow), opt-ins are explicit.

Since issue 16 these layers are computed in the artifact by default; the host split is the
explicit ``--host-steps`` fallback, which every test here asks for."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from helpers import cli_in_process, error_lines, run_cli, tree
from zoo import seed_text

RAW_TEXT = np.array([["The cat sat on the mat."], [""], ["ÉCOLE über  Naïve\tdog\nran!!"], ["zzz unknown 日本 words, MiXeD"], ["a\u00a0b  big"]])


def _raw_tabular():
    return {
        "color": np.array([["red"], ["Grün"], [""], ["purple"], ["RED"]]),
        "rooms": np.array([[1], [6], [0], [-3], [99]], np.int32),
        "area": np.array([[80.0], [0.0], [-1.0], [1e4], [55.5]], np.float32),
        "age": np.array([[0.0], [25.0], [50.0], [99.9], [-5.0]], np.float32),
    }


MODELS = ("seed_text", "feature_space_tabular")


@pytest.fixture(scope="module")
def models(zoo_exports):
    saved = {name: (zoo_exports.model(name), zoo_exports.saved(name)) for name in MODELS}
    return saved["seed_text"][1].parent, saved


@pytest.fixture(scope="module")
def exported(zoo_exports):
    """The session's shared API exports with ``--host-steps`` (CLI exports from .keras files: test_cli, test_reliability, the examples)."""
    return {name: zoo_exports(name, host_steps=True).out_dir for name in MODELS}


def test_inspect_shows_the_split_per_target(models):
    _, saved = models
    result = run_cli("inspect", saved["seed_text"][1], "--host-steps")
    assert result.returncode == 0, result.stderr
    row = next(line.split() for line in result.stdout.splitlines() if "TextVectorization" in line)
    assert row[2:4] == ["host", "host"]
    assert "tflite: host split: vectorize (TextVectorization)" in result.stdout
    data = json.loads(cli_in_process("inspect", saved["feature_space_tabular"][1], "--json", "--host-steps").stdout)  # suite time: no second start-up
    split = data["host_split"]["onnx"]
    assert [step["class"] for step in split["steps"]] == ["StringLookup", "IntegerLookup", "HashedCrossing"]
    assert set(split["device_inputs"]) >= {"area", "age", "color_X_rooms"}


def test_export_writes_preprocess_json_and_lists_host_steps(exported):
    dist = exported["seed_text"]
    assert "preprocess.json" in tree(dist)
    manifest = json.loads((dist / "manifest.json").read_text())
    assert manifest["host"]["file"] == "preprocess.json" and len(manifest["host"]["sha256"]) == 64
    spec = json.loads((dist / "preprocess.json").read_text(encoding="utf-8"))
    (step,) = spec["steps"]
    assert step["kind"] == "text_vectorization" and step["config"]["output_sequence_length"] == 20
    assert step["config"]["standardize"] == "lower_and_strip_punctuation" and len(step["config"]["lookup"]["vocabulary"]) <= 1000
    for entry in manifest["artifacts"]:
        assert entry["host_steps"] == ["vectorize"] and entry["inputs"] == ["vectorize"]
        assert entry["runtime_requirements"] == []


@pytest.mark.parametrize("name", ["seed_text", "feature_space_tabular"])
@pytest.mark.parametrize("target", ["tflite", "onnx"])
def test_run_on_raw_inputs_matches_keras(models, exported, name, target, tmp_path):
    model = models[1][name][0]
    feed = {"text": RAW_TEXT} if name == "seed_text" else _raw_tabular()
    np.savez(tmp_path / "in.npz", **feed)
    result = run_cli("run", exported[name], "--target", target, "--input", tmp_path / "in.npz", "--output", tmp_path / "out.npy")
    assert result.returncode == 0, result.stderr
    got = np.load(tmp_path / "out.npy")
    from edgeprep.runners import KerasRunner

    want = next(iter(KerasRunner(model).infer(feed).values()))
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-6 * max(1.0, np.abs(want).max())


def test_run_and_verify_need_no_tensorflow(exported, tmp_path):
    np.savez(tmp_path / "in.npz", text=RAW_TEXT)
    block = "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None; sys.modules['tf2onnx'] = None; "
    code = (
        "import edgeprep, numpy as np; from edgeprep.deploy import run_directory; from edgeprep.config import Target; "
        f"assert edgeprep.verify({str(exported['seed_text'])!r}).passed; "
        f"y = run_directory({str(exported['seed_text'])!r}, Target.TFLITE, dict(np.load({str(tmp_path / 'in.npz')!r}))); "
        "print(next(iter(y.values())).shape)"
    )
    result = subprocess.run([sys.executable, "-c", block + code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(5, 2)"


def test_verify_catches_a_modified_preprocess_spec(exported, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(exported["seed_text"], copy)
    spec = json.loads((copy / "preprocess.json").read_text(encoding="utf-8"))
    spec["steps"][0]["config"]["lookup"]["vocabulary"][5] = "tampered"
    (copy / "preprocess.json").write_text(json.dumps(spec), encoding="utf-8")
    result = run_cli("verify", copy)
    assert result.returncode == 1 and "preprocess.json" in result.stderr


def test_allow_flex_moves_host_layers_to_the_device_and_refuses_to_write_what_it_cannot_verify(models, tmp_path):
    path = models[1]["seed_text"][1]
    inspected = json.loads(cli_in_process("inspect", path, "--json", "--allow-flex", "--host-steps").stdout)
    row = next(r for r in inspected["layers"] if r["class"] == "TextVectorization")
    assert row["tflite"] == "lowered" and row["onnx"] == "host" and "--allow-flex" in row["detail"]
    result = cli_in_process("export", path, "--out", tmp_path / "dist", "--target", "tflite", "--allow-flex", "--host-steps")  # a refusal
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert "Flex" in line and "drop --allow-flex" in line
    assert tree(tmp_path / "dist") == []


def test_allow_flex_artifact_carries_flex_ops_and_the_requirement():
    from converters.tflite.runner import TFLITE_FLEX
    from edgeprep.backend import backend
    from edgeprep.config import ExportConfig, Target
    from edgeprep.graph import rebuild
    from edgeprep.plan import make_plan

    model = seed_text()
    plan = make_plan(model, Target.TFLITE, ExportConfig(allow_flex=True, host_steps=True))
    assert not plan.split.steps
    tflite = backend(Target.TFLITE)
    artifact = tflite.convert(rebuild(plan.graph), tflite.options(ExportConfig(allow_flex=True, host_steps=True), ("text",), ("logits",), None))
    assert artifact.runtime_requirements == (TFLITE_FLEX,)
    assert {"FlexStaticRegexReplace", "FlexStringSplitV2"} <= set(artifact.ops) and "HASHTABLE_FIND" in artifact.ops


def test_onnx_extensions_keep_hashing_on_the_host_because_its_hash_differs_from_tensorflow():
    """The measured reason behind EXTENSION_GAPS: onnxruntime-extensions' StringToHashBucketFast vs TF."""
    import onnxruntime as ort
    from onnx import TensorProto, helper
    from onnxruntime_extensions import get_library_path

    from edgeprep.runtime.host.hashes import hash_buckets

    words = np.array(["a", "hello", "", "zz", "日本"], dtype=object)
    node = helper.make_node("StringToHashBucketFast", ["x", "n"], ["y"], domain="ai.onnx.contrib")  # as tf2onnx emits it
    buckets = helper.make_tensor("n", TensorProto.INT64, [1], [8])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.STRING, [None])], [helper.make_tensor_value_info("y", TensorProto.INT64, [None])], [buckets])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.contrib", 1)])
    options = ort.SessionOptions()
    options.register_custom_ops_library(get_library_path())
    ortx = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"]).run(None, {"x": words})[0]
    tf_buckets = hash_buckets(words.astype(str), 8)  # equal to tf.strings.to_hash_bucket_fast (tests/host)
    assert not np.array_equal(ortx, tf_buckets)
