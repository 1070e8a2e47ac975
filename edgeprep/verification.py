"""Re-run parity from an export directory alone: host steps + artifacts against golden outputs.

Needs no TensorFlow: only numpy and the runtimes. The sha256 of every artifact is checked against
the manifest first, so a tampered file is named before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeprep import manifest as manifest_mod
from edgeprep.artifacts import backend
from edgeprep.config import Target
from edgeprep.errors import LoadError, ParityError
from edgeprep.host.runner import HostedRunner
from edgeprep.host.steps import PREPROCESS, HostStep, read_preprocess
from edgeprep.specs import TensorSpec
from edgeprep.load import sha256_of
from edgeprep.parity.compare import ParityReport, Tolerance, compare


@dataclass(frozen=True)
class VerifyResult:
    """Per-target parity reports of a verified export directory."""

    directory: Path
    reports: dict[Target, ParityReport]

    @property
    def passed(self) -> bool:
        return bool(self.reports) and all(self.reports.values())


def tolerance_from_manifest(data: dict) -> Tolerance:
    tol = data.get("tolerance", {})
    overrides = tuple((name, Tolerance(v["rtol"], v["atol"])) for name, v in tol.get("overrides", {}).items())
    return Tolerance(tol.get("rtol", Tolerance.rtol), tol.get("atol", Tolerance.atol), overrides)


def check_hashes(directory: Path, data: dict) -> None:
    """Raise ParityError naming the first artifact whose sha256 differs from the manifest."""
    for entry in data["artifacts"]:
        path = directory / entry["file"]
        if not path.is_file():
            raise ParityError(f"{path}: listed in the manifest but missing; re-run edgeprep export")
        digest = sha256_of(path)
        if digest != entry["sha256"]:
            raise ParityError(f"{path}: sha256 {digest[:12]}... does not match the manifest ({entry['sha256'][:12]}...): the file was modified")


def load_golden(directory: Path, data: dict) -> tuple[list[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Golden inputs split into the recorded batches, and the golden outputs."""
    golden = data.get("golden") or {}
    try:
        with np.load(directory / golden["inputs"], allow_pickle=False) as archive:
            inputs = {key: archive[key] for key in archive.files}
        with np.load(directory / golden["outputs"], allow_pickle=False) as archive:
            outputs = {key: archive[key] for key in archive.files}
    except (KeyError, OSError, ValueError) as exc:
        raise LoadError(f"{directory}: golden vectors missing or unreadable ({exc}); re-run edgeprep export") from None
    sizes = golden.get("batch_sizes") or [len(next(iter(inputs.values())))]
    total = len(next(iter(inputs.values())))
    feeds, start = [], 0
    while start < total:
        for size in sizes:
            if start >= total:
                break
            feeds.append({key: value[start:start + size] for key, value in inputs.items()})
            start += size
    return feeds, outputs


def host_steps(directory: Path, entry: dict, data: dict) -> list[HostStep]:
    """The host steps an artifact entry of the manifest runs before its artifact, in order."""
    ids = entry.get("host_steps") or []
    if not ids:
        return []
    expected = (data.get("host") or {}).get("sha256")
    path = directory / PREPROCESS
    if path.is_file() and expected and sha256_of(path) != expected:
        raise ParityError(f"{path}: sha256 does not match the manifest: the host preprocessing spec was modified")
    available = read_preprocess(directory)
    missing = [step_id for step_id in ids if step_id not in available]
    if missing:
        raise LoadError(f"{directory}: {PREPROCESS} lacks host step(s) {', '.join(missing)} listed in the manifest; re-run edgeprep export")
    return [available[step_id] for step_id in ids]


def open_runner(directory: Path, data: dict, entry: dict, threads: int = 1):
    """The runner of one artifact entry: its host steps (if any) followed by the artifact."""
    requirements = tuple(entry.get("runtime_requirements") or ())
    device = backend(Target(entry["target"]), need_converter=False).runner(directory / entry["file"], threads=threads, requirements=requirements)
    steps = host_steps(directory, entry, data)
    if not steps:
        return device
    inputs = [TensorSpec.from_json(spec) for spec in data["inputs"]]
    return HostedRunner(device, steps, inputs, [spec["name"] for spec in data["outputs"]], entry.get("host_outputs") or {})


def verify(directory: str | Path, threads: int = 1) -> VerifyResult:
    """Check hashes, then run every artifact on the golden inputs and compare with golden outputs."""
    directory = Path(directory)
    data = manifest_mod.read(directory)
    check_hashes(directory, data)
    feeds, expected = load_golden(directory, data)
    tolerance = tolerance_from_manifest(data)
    reports = {}
    for entry in data["artifacts"]:
        target = Target(entry["target"])
        with open_runner(directory, data, entry, threads) as runner:
            outputs = runner.infer_all(feeds)
        reports[target] = compare(target.value, "golden", expected, outputs, tolerance, tuple(data["golden"].get("batch_sizes", ())))
    return VerifyResult(directory, reports)
