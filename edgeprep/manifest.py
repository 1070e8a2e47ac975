"""The manifest: what was exported, from what, how, and with which parity evidence.

Format ``edgeprep-manifest/1`` (required keys; more are welcome):
``format``, ``source{path, sha256, keras_version, tensorflow_version}``, ``inputs``, ``outputs``,
``transforms[{layer, class, action, detail}]``, ``artifacts[{target, file, sha256, bytes, ops,
runtime_requirements}]``, ``parity[{target, passed, max_abs, max_rel, atol, rtol, samples,
batch_sizes}]``.

``source.kind`` says what was read (``keras``, ``h5``, ``saved_model``, ``memory``; for Keras 2
models ``keras2_h5``, ``keras2_keras``, ``keras2_saved_model``, ``keras2_memory``) and
``source.notes`` how: a Keras 2 model's translation to Keras 3 (parity is against tf_keras), or
that a bare SavedModel's layers could not be seen.

With a host split, each artifact entry also lists its own ``inputs`` / ``outputs`` and
``host_steps`` (ids in ``preprocess.json``, run in order before it) and ``host_outputs`` (model
outputs a host step computes), and ``host{file, sha256, steps}`` describes ``preprocess.json``.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

from edgeprep.errors import LoadError

FORMAT = "edgeprep-manifest/1"
MANIFEST = "manifest.json"
TOOLS = ("edgeprep", "keras", "tf-keras", "tensorflow", "tensorflow-cpu", "tf2onnx", "onnx", "onnxruntime", "ai-edge-litert", "numpy")


def tool_versions() -> dict[str, str]:
    """Versions of every tool in the chain that is installed."""
    versions = {"python": platform.python_version()}
    for name in TOOLS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def merge_transforms(plans) -> list[dict]:
    """One transform entry per layer; per-target entries where targets disagree."""
    by_layer: dict[str, dict] = {}
    order: list[str] = []
    for target, plan in plans.items():
        for step in plan.steps:
            entry = step.to_json()
            if step.layer not in by_layer:
                by_layer[step.layer] = {"entry": entry, "targets": {target.value: entry}}
                order.append(step.layer)
            else:
                by_layer[step.layer]["targets"][target.value] = entry
    merged = []
    for layer in order:
        targets = by_layer[layer]["targets"]
        entries = list(targets.values())
        if all(entry == entries[0] for entry in entries):
            merged.append(entries[0])
        else:
            merged.extend({**entry, "target": target} for target, entry in targets.items())
    return merged


def write_json(data: dict) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=False, allow_nan=True) + "\n").encode()


def read(directory: str | Path) -> dict:
    """Read and check ``directory/manifest.json``.

    Raises:
        LoadError: if the directory or manifest is missing or is not an edgeprep manifest.
    """
    directory = Path(directory)
    path = directory / MANIFEST
    if not directory.is_dir():
        raise LoadError(f"{directory}: not a directory; pass the --out directory of an edgeprep export")
    if not path.is_file():
        raise LoadError(f"{directory}: no {MANIFEST}; pass the --out directory of an edgeprep export")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LoadError(f"{path}: unreadable manifest ({exc}); re-run edgeprep export") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise LoadError(f"{path}: not an {FORMAT} manifest; re-run edgeprep export")
    return data
