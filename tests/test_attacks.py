"""The attack catalogue: hostile model files, each built from scratch, each refused the same way.

One row per attack (issue 18): an id, a builder that writes the hostile file under ``tmp_path``
(any payload aims at ``tmp_path / "marker"``), the command run on it, and the words its one error
line must hold besides the file's path. The outcome is the same for every row: exit 2, one
``edgeprep: error:`` line naming the file and the fix, and nothing written anywhere (no marker,
no ``--out``). A new attack joins with one row. `test_the_payloads_are_real` shows that the code
and file payloads do run when the file is trusted with ``--unsafe-load``; the last tests check that
the SavedModel op allowlist still admits what Keras itself exports.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from helpers import cli_in_process, error_lines, run_cli, tree
from zoo import feature_space_tabular, seed_text

from edgeprep.errors import EdgeprepError
from edgeprep.load import load
from edgeprep.safety import (
    ARCHIVE_INFLATE_FLOOR,
    CHECKPOINT_SAVE_OPS,
    JSON_BYTES_LIMIT,
    JSON_DEPTH_LIMIT,
    MIB,
    SAVED_MODEL_OPS,
    saved_model_refusals,
)

MARKER = "marker"
PAYLOAD_MODULE = "edgeprep_attack_payload"
DEEP = 200_000


# --- SavedModels: ops that touch files, reached from where the old scan did not look -------------


def _saved_model_with_initializer(path: Path, effect: Callable[[], object]) -> Path:
    """A bare SavedModel holding a resource whose initializer (run by TensorFlow at load) does ``effect``
    (which returns the op that must run, or None)."""
    import tensorflow as tf

    class Payload(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self):
            return tf.raw_ops.HashTableV2(key_dtype=tf.string, value_dtype=tf.int64)

        def _initialize(self):
            with tf.control_dependencies([op for op in [effect()] if op is not None]):
                return tf.raw_ops.LookupTableImportV2(table_handle=self.resource_handle, keys=tf.constant(["a"]), values=tf.constant([1], tf.int64))

    class Scorer(tf.Module):
        def __init__(self):
            super().__init__()
            self.payload = Payload()

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def serve(self, x):
            return {"y": x * 2.0}

    module = Scorer()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def saver_reaches_write_file(tmp_path: Path) -> Path:
    """Hole 1: a WriteFile initializer referenced from the saver node, the graph node that called it removed."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    marker = str(tmp_path / MARKER)
    path = _saved_model_with_initializer(tmp_path / "saver_write", lambda: tf.io.write_file(marker, "written by the model"))
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((path / "saved_model.pb").read_bytes())
    meta = saved.meta_graphs[0]
    (writer,) = [f.signature.name for f in meta.graph_def.library.function if any(n.op == "WriteFile" for n in f.node_def)]
    save_node = meta.saver_def.save_tensor_name.split(":")[0]
    callers = {n.name for n in meta.graph_def.node if n.name != save_node and any(v.func.name == writer for v in n.attr.values())}
    kept = [n for n in meta.graph_def.node if n.name not in callers]
    del meta.graph_def.node[:]
    meta.graph_def.node.extend(kept)
    for node in meta.graph_def.node:
        node.input[:] = [i for i in node.input if i.lstrip("^").split(":")[0] not in callers]
        if node.name == save_node:
            node.attr["payload"].func.name = writer
    (path / "saved_model.pb").write_bytes(saved.SerializeToString())
    return path


def summary_writer_initializer(tmp_path: Path) -> Path:
    """Hole 2: an initializer that opens a summary writer (an events file) where the model says."""
    import tensorflow as tf

    logdir = str(tmp_path / MARKER)

    def write_summary():
        writer = tf.raw_ops.SummaryWriter(shared_name="attack")
        tf.raw_ops.CreateSummaryFileWriter(writer=writer, logdir=logdir, max_queue=1, flush_millis=1, filename_suffix=".attack")
        tf.raw_ops.WriteScalarSummary(writer=writer, step=tf.constant(0, tf.int64), tag="x", value=tf.constant(1.0))
        return tf.raw_ops.FlushSummaryWriter(writer=writer)

    return _saved_model_with_initializer(tmp_path / "summary_writer", write_summary)


def checkpoint_write_outside_the_saver(tmp_path: Path) -> Path:
    """The saver's own op, SaveV2, in an initializer: it writes a checkpoint where the model says at load."""
    import tensorflow as tf

    prefix = str(tmp_path / MARKER / "ckpt")
    return _saved_model_with_initializer(
        tmp_path / "checkpoint_writer",
        lambda: tf.raw_ops.SaveV2(prefix=prefix, tensor_names=["x"], shape_and_slices=[""], tensors=[tf.constant(1.0)]),
    )


def read_file_in_the_signature(tmp_path: Path) -> Path:
    """A serving signature that reads a file of the model's choice into its outputs (then into the artifacts)."""
    import tensorflow as tf

    secret = str(tmp_path / "secret.txt")
    (tmp_path / "secret.txt").write_text("secret")

    class Reader(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def serve(self, x):
            return {"y": x + tf.cast(tf.strings.length(tf.io.read_file(secret)), tf.float32)}

    module = Reader()
    path = tmp_path / "reader"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


# --- Keras 2 configs: callables from outside keras / tf_keras, file vocabularies --------------------


def _keras2_text_archive(tmp_path: Path, standardize: dict) -> Path:
    """A tf_keras `.keras` text model whose TextVectorization ``standardize`` is ``standardize``."""
    import tf_keras

    words = ["cat", "dog", "mat"]
    text = tf_keras.Input((1,), dtype="string", name="text")
    vectorize = tf_keras.layers.TextVectorization(max_tokens=8, output_sequence_length=4, vocabulary=words, name="vectorize")
    outputs = tf_keras.layers.Dense(2)(tf_keras.layers.Embedding(8, 3)(vectorize(text)))
    path = tmp_path / "standardize.keras"
    tf_keras.Model(text, outputs).save(str(path))

    def edit(config: dict) -> None:
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "TextVectorization":
                layer["config"]["standardize"] = standardize

    _rewrite_member(path, "config.json", lambda data: json.dumps(_edited(json.loads(data), edit)).encode())
    return path


def keras2_standardize_from_a_module(tmp_path: Path) -> Path:
    """Hole 3: ``standardize`` names a function of an importable module; importing or calling it writes the marker."""
    (tmp_path / f"{PAYLOAD_MODULE}.py").write_text(
        f"open({str(tmp_path / MARKER)!r}, 'a').write('imported')\n"
        f"def touch(x):\n    open({str(tmp_path / MARKER)!r}, 'a').write('called')\n    return x\n"
    )
    return _keras2_text_archive(tmp_path, {"module": PAYLOAD_MODULE, "class_name": "function", "config": "touch", "registered_name": "touch"})


def keras2_standardize_builtins_exit(tmp_path: Path) -> Path:
    """Hole 3 as found: ``{"module": "builtins", ..., "config": "exit"}`` ended the process with exit 1 and no error."""
    return _keras2_text_archive(tmp_path, {"module": "builtins", "class_name": "function", "config": "exit", "registered_name": "exit"})


def keras2_h5_file_vocabulary(tmp_path: Path) -> Path:
    """Hole 4: a Keras 2 `.h5` whose StringLookup vocabulary is a path: tf_keras reads that file at load."""
    import h5py
    import tf_keras

    secret = tmp_path / "secret.txt"
    secret.write_text("secret-token-1\nsecret-token-2\n")
    inputs = tf_keras.Input((1,), dtype="string", name="token")
    outputs = tf_keras.layers.StringLookup(vocabulary=["a", "b"], name="lookup")(inputs)
    path = tmp_path / "vocabulary.h5"
    tf_keras.Model(inputs, outputs).save(str(path))
    with h5py.File(path, "r+") as handle:
        config = json.loads(handle.attrs["model_config"])
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "StringLookup":
                layer["config"]["vocabulary"] = str(secret)
        handle.attrs["model_config"] = json.dumps(config).encode()
    return path


# --- Zip bombs and nesting: limits read before anything is inflated or parsed ----------------------


def _keras3_archive(tmp_path: Path) -> Path:
    import keras

    inputs = keras.Input((3,), name="x")
    path = tmp_path / "small.keras"
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(path)
    return path


def config_json_bomb(tmp_path: Path) -> Path:
    """Hole 8: config.json inflating past the JSON limit (valid JSON: the padding is whitespace)."""
    path = _keras3_archive(tmp_path)
    _rewrite_member(path, "config.json", lambda data: data + b" " * (JSON_BYTES_LIMIT + MIB))
    return path


def metadata_json_bomb(tmp_path: Path) -> Path:
    """Hole 8: metadata.json, read first to tell Keras 2 from Keras 3, inflating past the JSON limit."""
    path = _keras3_archive(tmp_path)
    _rewrite_member(path, "metadata.json", lambda data: data + b" " * (JSON_BYTES_LIMIT + MIB))
    return path


def weights_bomb(tmp_path: Path) -> Path:
    """Hole 8: model.weights.h5 inflating past max(floor, ratio x the archive's size)."""
    path = _keras3_archive(tmp_path)
    _rewrite_member(path, "model.weights.h5", lambda data: data + bytes(ARCHIVE_INFLATE_FLOOR + MIB))
    return path


def deep_metadata_json(tmp_path: Path) -> Path:
    """A metadata.json nested 200k levels deep (was a RecursionError shown as an internal error)."""
    path = _keras3_archive(tmp_path)
    _rewrite_member(path, "metadata.json", lambda data: b"[" * DEEP + b"]" * DEEP)
    return path


def deep_config_json(tmp_path: Path) -> Path:
    """A config.json nested 200k levels deep."""
    path = _keras3_archive(tmp_path)
    _rewrite_member(path, "config.json", lambda data: b'{"a":' * DEEP + b"1" + b"}" * DEEP)
    return path


def _h5_with_model_config(tmp_path: Path, keras_2: bool, model_config: bytes) -> Path:
    """A small `.h5` saved by tf_keras (``keras_2``) or Keras 3, its ``model_config`` attribute replaced."""
    import h5py

    if keras_2:
        import tf_keras as keras
    else:
        import keras
    inputs = keras.Input((3,), name="x")
    path = tmp_path / ("keras2.h5" if keras_2 else "keras3.h5")
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(str(path))
    with h5py.File(path, "r+") as handle:
        del handle.attrs["model_config"]
        handle.attrs["model_config"] = model_config
    return path


def deep_h5_model_config(tmp_path: Path) -> Path:
    """A Keras 2 `.h5` whose ``model_config`` attribute is nested 200k levels deep."""
    return _h5_with_model_config(tmp_path, True, b"[" * DEEP + b"]" * DEEP)


def deep_keras3_h5_model_config(tmp_path: Path) -> Path:
    """A Keras 3 `.h5` whose ``model_config`` attribute is nested 200k levels deep."""
    return _h5_with_model_config(tmp_path, False, b"[" * DEEP + b"]" * DEEP)


def h5_model_config_over_the_size_limit(tmp_path: Path) -> Path:
    """A Keras 2 `.h5` whose ``model_config`` attribute is larger than any config Keras writes."""
    return _h5_with_model_config(tmp_path, True, b"[" + b" " * (JSON_BYTES_LIMIT + MIB) + b"]")


def _rewrite_member(path: Path, member: str, change: Callable[[bytes], bytes]) -> None:
    """Rewrite one member of a zip archive in place (deflated, as a bomb would be)."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    members[member] = change(members[member])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())


def _remove_marker(tmp_path: Path) -> None:
    marker = tmp_path / MARKER
    if marker.is_dir():
        shutil.rmtree(marker)
    marker.unlink(missing_ok=True)


def _edited(config: dict, edit: Callable[[dict], None]) -> dict:
    edit(config)
    return config


# --- Careless commands: outputs that would destroy data, bad options, escaping manifests, bad data ----
# These rows run on the materials their ``needs`` names, copied into tmp_path first (see `_prepare`):
# "export" is a tabular two-input export in tmp_path/export with its model as tmp_path/source.keras,
# "text-export" the single-input seed text model, "batch4-export" the tabular model exported with batch 4.


def out_is_the_model_directory(tmp_path: Path) -> Path:
    """Hole 5: --out is the directory the model lives in (it was deleted with everything in it)."""
    _keras3_archive(tmp_path)
    return tmp_path


def out_is_a_parent_of_the_model(tmp_path: Path) -> Path:
    _keras3_archive(tmp_path)
    return tmp_path.parent


def out_is_the_current_directory(tmp_path: Path) -> Path:
    """Hole 6: --out . (the whole export ran, then 'Device or resource busy' and stray ..old/..lock)."""
    _keras3_archive(tmp_path)
    return Path(".")


def out_is_the_root(tmp_path: Path) -> Path:
    _keras3_archive(tmp_path)
    return Path("/")


def out_is_a_non_export_directory(tmp_path: Path) -> Path:
    """Hole 5: any non-empty directory that is not an earlier export was silently replaced."""
    _keras3_archive(tmp_path)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"not really a cat")
    return tmp_path / "photos"


def junit_in_an_unwritable_place(tmp_path: Path) -> Path:
    """Hole 9: the export was published, then --junit failed with an internal error."""
    _keras3_archive(tmp_path)
    return Path("/proc/edgeprep/report.xml")


def small_model(tmp_path: Path) -> Path:
    return _keras3_archive(tmp_path)


def _edit_manifest(tmp_path: Path, edit: Callable[[dict], None]) -> Path:
    directory = tmp_path / "export"
    manifest = json.loads((directory / "manifest.json").read_text())
    edit(manifest)
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def _first_artifact(change: dict) -> Callable[[dict], None]:
    return lambda manifest: manifest["artifacts"][0].update(change)


def manifest_file_with_dot_dot(tmp_path: Path) -> Path:
    """Hole 7: an artifact ``file`` leaving DIR: it was opened and hashed."""
    return _edit_manifest(tmp_path, _first_artifact({"file": "../../../../../../etc/passwd"}))


def manifest_file_absolute(tmp_path: Path) -> Path:
    """Hole 7: absolute paths to another export's files, DIR otherwise empty: 'passed'."""
    other = tmp_path / "other"
    shutil.copytree(tmp_path / "export", other)

    def edit(manifest: dict) -> None:
        for entry in manifest["artifacts"]:
            entry["file"] = str(other / entry["file"])
        for key in ("inputs", "outputs"):
            manifest["golden"][key] = str(other / manifest["golden"][key])

    directory = _edit_manifest(tmp_path, edit)
    for path in list(directory.iterdir()):
        if path.name != "manifest.json":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    return directory


def manifest_file_is_a_symlink_out(tmp_path: Path) -> Path:
    """Hole 7: the artifact named by the manifest is a symlink to a file outside DIR."""
    directory = tmp_path / "export"
    name = json.loads((directory / "manifest.json").read_text())["artifacts"][0]["file"]
    (tmp_path / "elsewhere").write_bytes((directory / name).read_bytes())
    (directory / name).unlink()
    (directory / name).symlink_to(tmp_path / "elsewhere")
    return directory


def manifest_golden_outside(tmp_path: Path) -> Path:
    return _edit_manifest(tmp_path, lambda manifest: manifest["golden"].update(inputs="/etc/hostname"))


def manifest_without_sha256(tmp_path: Path) -> Path:
    return _edit_manifest(tmp_path, lambda manifest: manifest["artifacts"][0].pop("sha256"))


def manifest_with_an_unknown_target(tmp_path: Path) -> Path:
    return _edit_manifest(tmp_path, _first_artifact({"target": "coreml"}))


def manifest_artifacts_as_a_string(tmp_path: Path) -> Path:
    return _edit_manifest(tmp_path, lambda manifest: manifest.update(artifacts="model.onnx"))


def manifest_nested_deep(tmp_path: Path) -> Path:
    (tmp_path / "export" / "manifest.json").write_text("[" * DEEP + "]" * DEEP)
    return tmp_path / "export"


def report_path_is_a_file(tmp_path: Path) -> Path:
    (tmp_path / "report.txt").write_text("my notes")
    return tmp_path / "report.txt"


def object_arrays_in_the_input(tmp_path: Path) -> Path:
    """An .npz whose array is pickled Python objects (np.load would need allow_pickle)."""
    import numpy as np

    path = tmp_path / "objects.npz"
    np.savez(path, age=np.array([{"x": 1}], dtype=object), income=np.zeros((1, 3), np.float32))
    return path


def output_is_a_directory(tmp_path: Path) -> Path:
    _inputs_npz(tmp_path)
    (tmp_path / "out.npz").mkdir()
    return tmp_path / "out.npz"


def output_in_an_unwritable_place(tmp_path: Path) -> Path:
    _inputs_npz(tmp_path)
    return Path("/proc/edgeprep/out.npz")


def zero_rows(tmp_path: Path) -> Path:
    """`run` with 0 rows on a --batch 4 export (was an internal error from the runtime)."""
    import numpy as np

    path = tmp_path / "empty.npz"
    np.savez(path, age=np.zeros((0, 1), np.float32), income=np.zeros((0, 3), np.float32))
    return path


def _inputs_npz(tmp_path: Path) -> Path:
    import numpy as np

    path = tmp_path / "inputs.npz"
    np.savez(path, age=np.ones((2, 1), np.float32), income=np.ones((2, 3), np.float32))
    return path


def csv_cell_over_the_limit(tmp_path: Path) -> Path:
    path = tmp_path / "huge_cell.csv"
    path.write_text("age,income_0,income_1,income_2\n" + "1" * 140_000 + ",1,2,3\n")
    return path


def csv_not_utf8(tmp_path: Path) -> Path:
    path = tmp_path / "latin1.csv"
    path.write_bytes("age,income_0,income_1,income_2\n1,2,3,4\n# café\n".encode("latin-1"))
    return path


def npy_of_objects(tmp_path: Path) -> Path:
    import numpy as np

    path = tmp_path / "objects.npy"
    np.save(path, np.array([["the cat sat"]], dtype=object), allow_pickle=True)
    return path


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pre.toml"
    path.write_text(text)
    return path


def spec_scale_is_text(tmp_path: Path) -> Path:
    return _spec(tmp_path, '[inputs.a]\nlayers = [{ class_name = "Rescaling", config = { scale = "abc" } }]\n')


def spec_dtype_is_a_module(tmp_path: Path) -> Path:
    return _spec(tmp_path, '[inputs.a]\ndtype = { module = "os", class_name = "system" }\n')


def spec_nested_deep(tmp_path: Path) -> Path:
    return _spec(tmp_path, "a = " + "[" * 100_000 + "]" * 100_000 + "\n")



# --- The catalogue --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attack:
    """One hostile input: how to build it, the command run on it, what its error line must say."""

    id: str
    build: Callable[[Path], Path]
    command: str
    words: tuple[str, ...]
    flags: tuple[str, ...] = ()
    needs: str | None = None
    names_path: bool = True


MATERIALS = {"export": "tabular_numeric", "text-export": "seed_text", "batch4-export": "tabular_numeric"}

# command kind -> the argv it runs, given the built path and tmp_path
COMMANDS: dict[str, Callable[[Path, Path], tuple]] = {
    "inspect": lambda path, tmp: ("inspect", path),
    "export": lambda path, tmp: ("export", path, "--out", tmp / "dist"),
    "export --out": lambda path, tmp: ("export", tmp / "small.keras", "--out", path),
    "export --out ''": lambda path, tmp: ("export", path, "--out", ""),
    "export --junit": lambda path, tmp: ("export", tmp / "small.keras", "--out", tmp / "dist", "--junit", path),
    "verify": lambda path, tmp: ("verify", path),
    "verify --report": lambda path, tmp: ("verify", tmp / "export", "--report", path),
    "verify --data": lambda path, tmp: ("verify", tmp / "export", "--data", path, "--model", tmp / "source.keras"),
    "run --input": lambda path, tmp: ("run", tmp / "export", "--target", "onnx", "--input", path, "--output", tmp / "out.npz"),
    "run --output": lambda path, tmp: ("run", tmp / "export", "--target", "onnx", "--input", tmp / "inputs.npz", "--output", path),
    "build": lambda path, tmp: ("build", "--preprocess", path, "--out", tmp / "full.keras"),
    "build --out": lambda path, tmp: ("build", tmp / "small.keras", "--preprocess", tmp / "pre.toml", "--out", path),
}


FIX_UNSAFE = "--unsafe-load"
FIX_RESAVE = "re-save the model"

ATTACKS = (
    Attack("saver-reaches-write-file", saver_reaches_write_file, "export", ("WriteFile", FIX_UNSAFE)),
    Attack("summary-writer-initializer/inspect", summary_writer_initializer, "inspect", ("SummaryWriter", FIX_UNSAFE)),
    Attack("summary-writer-initializer/export", summary_writer_initializer, "export", ("SummaryWriter", FIX_UNSAFE)),
    Attack("checkpoint-write-outside-the-saver", checkpoint_write_outside_the_saver, "export", ("SaveV2", FIX_UNSAFE)),
    Attack("read-file-in-the-signature", read_file_in_the_signature, "export", ("ReadFile", FIX_UNSAFE)),
    Attack("keras2-standardize-from-a-module", keras2_standardize_from_a_module, "export", (f"{PAYLOAD_MODULE}.touch", FIX_UNSAFE)),
    Attack("keras2-standardize-builtins-exit", keras2_standardize_builtins_exit, "inspect", ("builtins.exit", FIX_UNSAFE)),
    Attack("keras2-h5-file-vocabulary", keras2_h5_file_vocabulary, "export", ("secret.txt", FIX_UNSAFE)),
    Attack("config-json-bomb", config_json_bomb, "export", ("config.json", f"limit of {JSON_BYTES_LIMIT // MIB} MiB", FIX_RESAVE)),
    Attack("metadata-json-bomb", metadata_json_bomb, "inspect", ("metadata.json", f"limit of {JSON_BYTES_LIMIT // MIB} MiB", FIX_RESAVE)),
    Attack("weights-bomb", weights_bomb, "export", ("model.weights.h5", f"limit of {ARCHIVE_INFLATE_FLOOR:,}", FIX_RESAVE)),
    Attack("deep-metadata-json", deep_metadata_json, "inspect", ("metadata.json", f"limit of {JSON_DEPTH_LIMIT}", FIX_RESAVE)),
    Attack("deep-config-json", deep_config_json, "export", ("config.json", f"limit of {JSON_DEPTH_LIMIT}", FIX_RESAVE)),
    Attack("deep-h5-model-config", deep_h5_model_config, "export", ("model_config", f"limit of {JSON_DEPTH_LIMIT}", FIX_RESAVE)),
    Attack("deep-keras3-h5-model-config", deep_keras3_h5_model_config, "inspect", ("model_config", f"limit of {JSON_DEPTH_LIMIT}", FIX_RESAVE)),
    Attack("h5-model-config-over-the-size-limit", h5_model_config_over_the_size_limit, "export", ("model_config", f"limit of {JSON_BYTES_LIMIT // MIB} MiB", FIX_RESAVE)),
    # careless commands (holes 5, 6, 7, 9 and the unhandled errors of issue 18)
    Attack("out-is-the-model-directory", out_is_the_model_directory, "export --out", ("holds the model", "outside it")),
    Attack("out-is-a-parent-of-the-model", out_is_a_parent_of_the_model, "export --out", ("holds the model", "outside it")),
    Attack("out-is-the-current-directory", out_is_the_current_directory, "export --out", ("--out .", "current directory", "new directory")),
    Attack("out-is-the-root", out_is_the_root, "export --out", ("--out /", "current directory or one of its parents", "new directory")),
    Attack("out-is-empty", small_model, "export --out ''", ("--out ''", "empty path"), names_path=False),
    Attack("out-is-a-non-export-directory", out_is_a_non_export_directory, "export --out", ("not an edgeprep export", "--force")),
    Attack("junit-in-an-unwritable-place", junit_in_an_unwritable_place, "export --junit", ("--junit", "writable path")),
    Attack("atol-negative", small_model, "export", ("--atol", "[0, inf]"), flags=("--atol", "-1"), names_path=False),
    Attack("rtol-nan", small_model, "export", ("--rtol", "finite number"), flags=("--rtol", "nan"), names_path=False),
    Attack("seed-negative", small_model, "export", ("--seed", "at least 0"), flags=("--seed", "-5"), names_path=False),
    Attack("manifest-file-with-dot-dot", manifest_file_with_dot_dot, "verify", ("etc/passwd", "outside", "re-run edgeprep export"), needs="export"),
    Attack("manifest-file-absolute", manifest_file_absolute, "verify", ("outside", "re-run edgeprep export"), needs="export"),
    Attack("manifest-file-is-a-symlink-out", manifest_file_is_a_symlink_out, "verify", ("outside", "re-run edgeprep export"), needs="export"),
    Attack("manifest-golden-outside", manifest_golden_outside, "verify", ("/etc/hostname", "outside"), needs="export"),
    Attack("manifest-without-sha256", manifest_without_sha256, "verify", ("sha256 is missing", "re-run edgeprep export"), needs="export"),
    Attack("manifest-with-an-unknown-target", manifest_with_an_unknown_target, "verify", ("coreml", "re-run edgeprep export"), needs="export"),
    Attack("manifest-artifacts-as-a-string", manifest_artifacts_as_a_string, "verify", ("not a list", "re-run edgeprep export"), needs="export"),
    Attack("manifest-nested-deep", manifest_nested_deep, "verify", ("recursion", "re-run edgeprep export"), needs="export"),
    Attack("report-path-is-a-file", report_path_is_a_file, "verify --report", ("--report", "is a file", "give a directory"), needs="export"),
    Attack("object-arrays-in-the-input", object_arrays_in_the_input, "run --input", ("Python objects", "astype(str)"), needs="export"),
    Attack("output-is-a-directory", output_is_a_directory, "run --output", ("--output", "is a directory", "file path"), needs="export"),
    Attack("output-in-an-unwritable-place", output_in_an_unwritable_place, "run --output", ("--output", "writable path"), needs="export"),
    Attack("zero-rows-on-a-batch-4-export", zero_rows, "run --input", ("no rows", "at least one row"), needs="batch4-export"),
    Attack("csv-cell-over-the-limit", csv_cell_over_the_limit, "verify --data", ("131,072", "quote fields"), needs="export"),
    Attack("csv-not-utf8", csv_not_utf8, "verify --data", ("not UTF-8", "save it as UTF-8"), needs="export"),
    Attack("npy-of-objects", npy_of_objects, "verify --data", ("Python objects", "astype(str)"), needs="text-export"),
    Attack("spec-scale-is-text", spec_scale_is_text, "build", ("scale = 'abc'", "must be numbers")),
    Attack("spec-dtype-is-a-module", spec_dtype_is_a_module, "build", ("dtype", "is not one of")),
    Attack("spec-nested-deep", spec_nested_deep, "build", ("nested", "limit")),
    Attack("build-out-is-the-trained-model", small_model, "build --out", ("is the MODEL file", "another path")),
    Attack("build-out-is-a-directory", out_is_the_model_directory, "build --out", ("is a directory", "file path")),
)


# Suite time: a refusal runs in this process (`cli_in_process`: no TensorFlow start-up), except these, whose
# hole was about the process itself (a payload module found through PYTHONPATH at start-up, builtins.exit
# ending the interpreter, recursion at an interpreter's own stack depth); EDGEPREP_SLOW=1 runs every row
# in a subprocess, as users run edgeprep.
IN_A_SUBPROCESS = {"keras2-standardize-from-a-module", "keras2-standardize-builtins-exit", "manifest-nested-deep"}


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.id)
def test_attack_is_refused_with_one_line_and_writes_nothing(attack, tmp_path, zoo_exports):
    _prepare(attack, tmp_path, zoo_exports)
    path = attack.build(tmp_path)
    _remove_marker(tmp_path)  # building may have run the payload; only loading must not
    before, parent_before = tree(tmp_path), sorted(p.name for p in tmp_path.parent.iterdir())
    out = tmp_path / "dist"
    args = COMMANDS[attack.command](path, tmp_path) + attack.flags
    run = run_cli if attack.id in IN_A_SUBPROCESS or os.environ.get("EDGEPREP_SLOW") == "1" else cli_in_process
    result = run(*args, env={"PYTHONPATH": os.pathsep.join(filter(None, (os.environ.get("PYTHONPATH"), str(tmp_path))))})
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    for word in ((str(path),) if attack.names_path else ()) + attack.words:
        assert word in lines[0], (word, lines[0])
    assert not (tmp_path / MARKER).exists() and not out.exists()
    assert tree(tmp_path) == before
    assert sorted(p.name for p in tmp_path.parent.iterdir()) == parent_before  # no stray ..old / ..lock next to it


def _prepare(attack: Attack, tmp_path: Path, zoo_exports) -> None:
    """Copy the shared export (and its model) that ``attack`` works on into tmp_path."""
    if attack.needs is None:
        return
    name = MATERIALS[attack.needs]
    exported = zoo_exports(name, batch=4) if attack.needs == "batch4-export" else zoo_exports(name)
    shutil.copytree(exported.out_dir, tmp_path / "export")
    shutil.copyfile(zoo_exports.saved(name), tmp_path / "source.keras")


def _marker_after_a_trusted_load(tmp_path: Path, path: Path) -> bool:
    try:
        load(path, unsafe=True)
    except EdgeprepError:  # a payload may break the model while it runs: the marker is the evidence
        pass
    return (tmp_path / MARKER).exists()


def _secret_in_the_vocabulary(tmp_path: Path, path: Path) -> bool:
    import tf_keras

    model = tf_keras.models.load_model(str(path), compile=False)
    return "secret-token-1" in model.get_layer("lookup").get_vocabulary()


LIVE = {  # attack id -> whether its payload ran when the file was trusted
    "saver-reaches-write-file": _marker_after_a_trusted_load,
    "summary-writer-initializer/export": _marker_after_a_trusted_load,
    "checkpoint-write-outside-the-saver": _marker_after_a_trusted_load,
    "keras2-standardize-from-a-module": _marker_after_a_trusted_load,
    "keras2-h5-file-vocabulary": _secret_in_the_vocabulary,
}


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.id in LIVE], ids=lambda attack: attack.id)
def test_the_payloads_are_real(attack, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    path = attack.build(tmp_path)
    _remove_marker(tmp_path)
    assert LIVE[attack.id](tmp_path, path)


def test_every_attack_has_a_distinct_id_and_every_live_check_a_row():
    ids = [attack.id for attack in ATTACKS]
    assert len(ids) == len(set(ids)) and set(LIVE) <= set(ids)
    assert {attack.command for attack in ATTACKS} <= set(COMMANDS) and {"inspect", "export"} <= set(COMMANDS)
    assert {attack.needs for attack in ATTACKS} - {None} <= set(MATERIALS)
    assert IN_A_SUBPROCESS <= set(ids)


def test_allowlisted_ops_are_tensorflow_ops():
    from tensorflow.python.framework import op_def_registry

    assert not CHECKPOINT_SAVE_OPS & SAVED_MODEL_OPS
    assert sorted(op for op in SAVED_MODEL_OPS | CHECKPOINT_SAVE_OPS if op_def_registry.get(op) is None) == []


@pytest.mark.parametrize("factory", [feature_space_tabular, seed_text], ids=lambda f: f.__name__)
def test_the_allowlist_admits_keras_exports_with_lookups_hashing_and_text(factory, tmp_path):
    factory().export(str(tmp_path / "exported"), format="tf_saved_model", verbose=False)
    assert saved_model_refusals(tmp_path / "exported") == []
