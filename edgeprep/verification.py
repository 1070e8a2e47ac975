"""Re-run parity of an export directory: from its golden vectors alone, or on user data.

With golden vectors (the default) it needs no TensorFlow: only numpy and the runtimes. With
``data`` it loads the source model recorded in the manifest (checking its sha256), rebuilds the
transformed model and streams the data through the whole chain. The sha256 of every artifact is
checked against the manifest first, so a tampered file is named before anything runs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeprep.backend import backend
from edgeprep.config import ExportConfig, Target
from edgeprep.errors import LoadError, ParityError
from edgeprep.host.hosted import HostedRunner
from edgeprep.host.steps import PREPROCESS, HostStep, read_preprocess
from edgeprep.load import sha256_of
from edgeprep.manifest import MANIFEST, Artifact, Golden, Manifest, encode
from edgeprep.parity.chain import EvidenceViews, TargetEvidence
from edgeprep.parity.compare import Comparison, Tolerance
from edgeprep.progress import Progress
from edgeprep.specs import TensorSpec


@dataclass(frozen=True)
class VerifyResult(EvidenceViews):
    """Per-target parity evidence of a verified export directory.

    Attributes:
        directory: the export directory.
        evidence: target -> its evidence (golden vectors: the verdict only; ``data``: the whole chain).
        comparisons: target -> the streaming comparison behind its verdict (for plots).
        samples: how many samples were compared.
    """

    directory: Path
    evidence: dict[Target, TargetEvidence]
    comparisons: dict[Target, Comparison] = field(default_factory=dict, repr=False)
    samples: int = 0


def inside(directory: Path, relative: str, field: str) -> Path:
    """``directory / relative``, for a path the manifest names: only files inside ``directory`` are opened.

    Raises:
        LoadError: an absolute path, a ``..`` component, or a symlink leading out of ``directory``.
    """
    name = Path(relative)
    target = Path(directory) / name
    if not relative or name.is_absolute() or ".." in name.parts or not target.resolve().is_relative_to(Path(directory).resolve()):
        raise LoadError(f"{Path(directory) / MANIFEST}: {field} {relative!r} points outside {directory}; re-run edgeprep export (verify and run open only files inside DIR)")
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


def artifacts_by_target(manifest: Manifest, directory: Path | None = None) -> dict[Target, Artifact]:
    """The manifest's artifact entries by Target (the one place their JSON strings become Targets).

    Raises:
        LoadError: an artifact of a target this edgeprep does not know.
    """
    try:
        return {Target(entry.target): entry for entry in manifest.artifacts}
    except ValueError as exc:
        raise LoadError(f"{Path(directory or '.') / MANIFEST}: field artifacts: {exc}; re-run edgeprep export") from None


def open_runner(directory: Path, manifest: Manifest, entry: Artifact, threads: int = 1):
    """The runner of one artifact entry: its host steps (if any) followed by the artifact."""
    device = backend(Target(entry.target)).runner(inside(directory, entry.file, "artifact file"), threads=threads, requirements=entry.runtime_requirements)
    steps = host_steps(directory, entry, manifest)
    if not steps:
        return device
    inputs = [TensorSpec(spec.name, spec.dtype, spec.shape) for spec in manifest.inputs]
    return HostedRunner(device, steps, inputs, [spec.name for spec in manifest.outputs], entry.host_outputs)


def verify(
    directory: str | Path,
    threads: int = 1,
    data: str | None = None,
    model: str | None = None,
    tolerance: Tolerance | None = None,
    resize_images: bool = False,
    progress: Progress | None = None,
    unsafe_load: bool = False,
) -> VerifyResult:
    """Check hashes, then compare every artifact with the golden outputs (or with Keras on ``data``).

    Args:
        directory: an export directory.
        threads: interpreter threads.
        data: a data file or image folder; None uses the golden vectors.
        model: the source model for ``data`` (default: the manifest's source path).
        tolerance: criteria overriding the manifest's.
        resize_images: resize images of a ``data`` folder to the input size.
        progress: where progress lines go.
        unsafe_load: let the source model file run code while loading (trusted files only).
    """
    directory = Path(directory)
    manifest = Manifest.read(directory)
    check_hashes(directory, manifest.artifacts)
    tolerance = tolerance or manifest_tolerance(manifest)
    if data is not None:
        return _verify_on_data(directory, manifest, data, model, tolerance, threads, resize_images, progress or Progress(), unsafe_load)
    feeds, expected = load_golden(directory, manifest.golden)
    comparisons = {}
    for target, entry in artifacts_by_target(manifest, directory).items():
        comparison = Comparison(target.value, "golden", list(expected))
        with open_runner(directory, manifest, entry, threads) as runner:
            start = 0
            for feed in feeds:
                rows = len(next(iter(feed.values())))
                comparison.update({k: v[start:start + rows] for k, v in expected.items()}, runner.infer(feed))
                start += rows
        comparisons[target] = comparison
    evidence = {target: TargetEvidence(comparison.report(tolerance)) for target, comparison in comparisons.items()}
    return VerifyResult(directory, evidence, comparisons, samples=sum(len(next(iter(f.values()))) for f in feeds))


def manifest_tolerance(manifest: Manifest) -> Tolerance:
    """The parity criteria an export was verified with."""
    return Tolerance.from_json(encode(manifest.tolerance))


def export_config(manifest: Manifest, unsafe_load: bool = False) -> ExportConfig:
    """The config ``manifest``'s export was made with (``unsafe_load`` is the caller's decision, never recorded)."""
    return ExportConfig.from_manifest(manifest.config, unsafe_load=unsafe_load)


def _verify_on_data(directory, manifest: Manifest, data, model, tolerance, threads, resize_images, progress, unsafe_load) -> VerifyResult:
    from edgeprep.data import open_data
    from edgeprep.graph import rebuild
    from edgeprep.load import load
    from edgeprep.parity.chain import Link, run_chain
    from edgeprep.plan import make_plans
    from edgeprep.runners import KerasRunner

    source = manifest.source
    path = model or source.path
    if not path or not Path(path).exists():
        raise LoadError(f"verify --data needs the source model (recorded as {source.path!r}, not found); pass --model PATH")
    if model is None and source.sha256 and sha256_of(path) != source.sha256:
        raise LoadError(f"{path}: changed since the export (sha256 differs from the manifest); pass --model PATH to use it anyway")
    config = export_config(manifest, unsafe_load)
    loaded = load(path, config.unsafe_load, config.custom_objects)
    plans = make_plans(loaded.model, config)
    original = loaded.original_runner()
    data_source = open_data(data, original.inputs(), resize_images)
    with contextlib.ExitStack() as stack, progress.step(f"verify on {data}"):
        links = {}
        for target, entry in artifacts_by_target(manifest, directory).items():
            runner = stack.enter_context(open_runner(directory, manifest, entry, threads))
            transformed = KerasRunner(rebuild(plans[target].graph, batch=config.batch), f"transformed[{target.value}]")
            links[target] = Link(transformed, runner, bool(plans[target].reference_changes))
        chain = run_chain(data_source.batches(), original, links, golden_budget=0, progress=progress)
    return VerifyResult(directory, chain.evidence(tolerance), chain.verdicts, chain.samples)
