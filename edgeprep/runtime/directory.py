"""An export directory on the deploy side: open its artifacts' runners, compare with the golden outputs, run inputs.

This is what ``edgeprep verify`` (golden vectors), ``edgeprep run``, the shipped ``test_parity.py``
and the examples call. Every artifact's sha256 is checked against the manifest before it runs,
and the host steps of ``preprocess.json`` (whose own sha256 is checked too) run in front of it, so
golden inputs are the model's raw inputs for every target. Targets are the manifest's strings
(``"tflite"``, ``"onnx"``); no TensorFlow, Keras or edgeprep is imported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .compare import Comparison, Tolerance
from .errors import LoadError, ParityError, UsageError
from .host.hosted import HostedRunner
from .host.steps import PREPROCESS, HostStep, read_preprocess
from .manifest import Artifact, Golden, Manifest, encode
from .runner import Runner
from .specs import TensorSpec

# The Python package each target's runner needs (what ``pip install`` brings it).
RUNTIME_MODULES = {"onnx": "onnxruntime", "tflite": "ai_edge_litert"}


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def inside(directory: Path, relative: str, field: str) -> Path:
    """``directory / relative``, for a path the manifest names: only files inside ``directory`` are opened.

    Raises:
        LoadError: an empty or absolute path, a ``..`` component, or a symlink leading out of ``directory``.
    """
    name = Path(relative)
    target = Path(directory) / name
    if not relative or name.is_absolute() or ".." in name.parts or not target.resolve().is_relative_to(Path(directory).resolve()):
        raise LoadError(f"{Path(directory) / 'manifest.json'}: {field} {relative!r} points outside {directory}; "
                        "re-run edgeprep export (verify and run open only files inside DIR)")
    return target


def check_hashes(directory: Path, artifacts: tuple[Artifact, ...]) -> None:
    """Raise ParityError naming the first artifact whose sha256 differs from the manifest."""
    for entry in artifacts:
        path = inside(directory, entry.file, "artifact file")
        if not path.is_file():
            raise ParityError(f"{path}: listed in the manifest but missing; re-run edgeprep export")
        digest = sha256_of(path)
        if digest != entry.sha256:
            raise ParityError(f"{path}: sha256 {digest[:12]}... does not match the manifest ({entry.sha256[:12]}...): the file was modified")


def load_golden(directory: Path, golden: Golden) -> tuple[list[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Golden inputs split into the recorded batches, and the golden outputs."""
    try:
        with np.load(inside(directory, golden.inputs, "golden inputs"), allow_pickle=False) as archive:
            inputs = {key: archive[key] for key in archive.files}
        with np.load(inside(directory, golden.outputs, "golden outputs"), allow_pickle=False) as archive:
            outputs = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as exc:
        raise LoadError(f"{directory}: golden vectors missing or unreadable ({exc}); re-run edgeprep export") from None
    feeds, start = [], 0
    for size in golden.batches or [len(next(iter(inputs.values())))]:
        feeds.append({key: value[start:start + size] for key, value in inputs.items()})
        start += size
    return feeds, outputs


def host_steps(directory: Path, entry: Artifact, manifest: Manifest) -> list[HostStep]:
    """The host steps an artifact entry of the manifest runs before its artifact, in order."""
    if not entry.host_steps:
        return []
    expected = manifest.host.sha256 if manifest.host else None
    path = inside(directory, PREPROCESS, "host steps")
    if path.is_file() and expected and sha256_of(path) != expected:
        raise ParityError(f"{path}: sha256 does not match the manifest: the host preprocessing spec was modified")
    available = read_preprocess(directory)
    missing = [step_id for step_id in entry.host_steps if step_id not in available]
    if missing:
        raise LoadError(f"{directory}: {PREPROCESS} lacks host step(s) {', '.join(missing)} listed in the manifest; re-run edgeprep export")
    return [available[step_id] for step_id in entry.host_steps]


def device_runner(target: str, path: Path, threads: int = 1, requirements: tuple[str, ...] = ()) -> Runner:
    """The runner of one artifact file in its stock runtime (imported here, lazily)."""
    if target == "onnx":
        from .onnx import ONNXRunner

        return ONNXRunner(path, threads=threads, requirements=requirements)
    if target == "tflite":
        from .tflite import TFLiteRunner

        return TFLiteRunner(path, threads=threads, requirements=requirements)
    raise LoadError(f"{path}: artifact target {target!r} is unknown to this runtime; re-run edgeprep export")


def open_runner(directory: Path, manifest: Manifest, entry: Artifact, threads: int = 1, device: Runner | None = None) -> Runner:
    """The runner of one artifact entry: its host steps (if any) followed by the artifact (in its
    stock runtime, or in ``device``: e.g. tflite-micro's, `edgeprep.runtime.micro`)."""
    if device is None:
        device = device_runner(entry.target, inside(directory, entry.file, "artifact file"), threads, entry.runtime_requirements)
    steps = host_steps(directory, entry, manifest)
    if not steps:
        return device
    inputs = [TensorSpec(spec.name, spec.dtype, spec.shape) for spec in manifest.inputs]
    return HostedRunner(device, steps, inputs, [spec.name for spec in manifest.outputs], entry.host_outputs)


def manifest_tolerance(manifest: Manifest) -> Tolerance:
    """The parity criteria an export was verified with."""
    return Tolerance.from_json(encode(manifest.tolerance))


def compare_golden(directory: Path, manifest: Manifest, entry: Artifact, threads: int = 1) -> Comparison:
    """Run one artifact (host steps in front) on the golden inputs, batch by batch, against the golden outputs.

    The artifact's sha256 is checked first. ``comparison.report(tolerance)`` applies the pass rule.
    """
    check_hashes(directory, (entry,))
    feeds, expected = load_golden(directory, manifest.golden)
    comparison = Comparison(entry.target, "golden", list(expected))
    with open_runner(directory, manifest, entry, threads) as runner:
        start = 0
        for feed in feeds:
            rows = len(next(iter(feed.values())))
            comparison.update({key: value[start:start + rows] for key, value in expected.items()}, runner.infer(feed))
            start += rows
    return comparison


def entry_for(directory: Path, manifest: Manifest, target: str) -> Artifact:
    """The manifest's artifact entry of ``target``; a UsageError naming the targets it has otherwise."""
    for entry in manifest.artifacts:
        if entry.target == target:
            return entry
    have = ", ".join(entry.target for entry in manifest.artifacts) or "none"
    raise UsageError(f"{directory}: has no {target} artifact (it has {have}); export with --target {target}")


def run(directory: str | Path, target: str, feed: Mapping[str, np.ndarray], threads: int = 1) -> dict[str, np.ndarray]:
    """Run ``target``'s artifact of an export directory on raw named inputs (host steps first)."""
    directory = Path(directory)
    manifest = Manifest.read(directory)
    entry = entry_for(directory, manifest, target)
    check_hashes(directory, (entry,))
    with open_runner(directory, manifest, entry, threads) as runner:
        return runner.infer(feed)
