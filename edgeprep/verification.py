"""Re-run parity of an export directory: from its golden vectors alone, or on user data.

With golden vectors (the default) it is the deploy runtime's `edgeprep.runtime.directory.compare_golden`
per artifact (the code the shipped test runs): no TensorFlow, only numpy and the runtimes. A
``--micro`` artifact also runs in tflite-micro when it is installed (`edgeprep.runtime.micro.compare_golden`,
in a subprocess), judged by the same comparator and tolerance (`VerifyResult.micro`). With
``data`` it loads the source model recorded in the manifest (checking its sha256), rebuilds the
transformed model and streams the data through the whole chain. The sha256 of every artifact is
checked against the manifest first, so a tampered file is named before anything runs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path


from edgeprep.config import ExportConfig, Target
from edgeprep.errors import LoadError
from edgeprep.load import sha256_of
from edgeprep.manifest import MANIFEST, Artifact, Manifest
from edgeprep.parity.chain import EvidenceViews, TargetEvidence
from edgeprep.parity.compare import Comparison, ParityReport, Tolerance
from edgeprep.progress import Progress
from edgeprep.runtime.directory import check_hashes, compare_golden, manifest_tolerance, open_runner  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class VerifyResult(EvidenceViews):
    """Per-target parity evidence of a verified export directory.

    Attributes:
        directory: the export directory.
        evidence: target -> its evidence (golden vectors: the verdict only; ``data``: the whole chain).
        comparisons: target -> the streaming comparison behind its verdict (for plots).
        samples: how many samples were compared.
        micro: target -> its ``--micro`` artifact run in tflite-micro on the golden vectors (empty
            for other exports, with ``data``, or without the tflite-micro package: `micro_note`).
        micro_note: why a ``--micro`` artifact was not run in tflite-micro, or None.
    """

    directory: Path
    evidence: dict[Target, TargetEvidence]
    comparisons: dict[Target, Comparison] = field(default_factory=dict, repr=False)
    samples: int = 0
    micro: dict[Target, ParityReport] = field(default_factory=dict)
    micro_note: str | None = None

    @property
    def passed(self) -> bool:
        """Every verdict passed, in tflite-micro too."""
        return super().passed and all(report.passed for report in self.micro.values())


def artifacts_by_target(manifest: Manifest, directory: Path | None = None) -> dict[Target, Artifact]:
    """The manifest's artifact entries by Target (the one place their JSON strings become Targets).

    Raises:
        LoadError: an artifact of a target this edgeprep does not know.
    """
    try:
        return {Target(entry.target): entry for entry in manifest.artifacts}
    except ValueError as exc:
        raise LoadError(f"{Path(directory or '.') / MANIFEST}: field artifacts: {exc}; re-run edgeprep export") from None


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
    entries = artifacts_by_target(manifest, directory)
    comparisons = {target: compare_golden(directory, manifest, entry, threads) for target, entry in entries.items()}
    evidence = {target: TargetEvidence(comparison.report(tolerance)) for target, comparison in comparisons.items()}
    micro, note = _in_tflite_micro(directory, manifest, entries, tolerance)
    return VerifyResult(directory, evidence, comparisons, samples=max((e.verdict.samples for e in evidence.values()), default=0), micro=micro, micro_note=note)


def _in_tflite_micro(directory: Path, manifest: Manifest, entries: dict[Target, Artifact], tolerance: Tolerance):
    """The ``--micro`` artifacts run in tflite-micro on the golden vectors: (reports, why not run)."""
    from edgeprep.runtime import micro

    found = {target: entry for target, entry in entries.items() if (entry.graph or {}).get("micro")}
    if not found:
        return {}, None
    if not micro.available():
        return {}, "the --micro artifact was not run in tflite-micro (not installed: pip install tflite-micro)"
    return {target: micro.compare_golden(directory, manifest, entry).report(tolerance) for target, entry in found.items()}, None


def export_config(manifest: Manifest, unsafe_load: bool = False) -> ExportConfig:
    """The config ``manifest``'s export was made with (``unsafe_load`` is the caller's decision, never recorded)."""
    return ExportConfig.from_manifest(manifest.config, unsafe_load=unsafe_load)


def _verify_on_data(directory, manifest: Manifest, data, model, tolerance, threads, resize_images, progress, unsafe_load) -> VerifyResult:
    from edgeprep.data import open_data
    from edgeprep.graph import rebuild
    from edgeprep.load import load
    from edgeprep.parity.chain import Link, run_chain, shared_models, transformed_runners
    from edgeprep.plan import make_plans

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
        entries = artifacts_by_target(manifest, directory)
        models = shared_models({target: plans[target].graph for target in entries}, lambda graph: rebuild(graph, batch=config.batch, max_bytes=config.max_bytes))
        transformed = transformed_runners(plans, models)
        for target, entry in entries.items():
            runner = stack.enter_context(open_runner(directory, manifest, entry, threads))
            links[target] = Link(transformed[target], runner, bool(plans[target].reference_changes))
        chain = run_chain(data_source.batches(), original, links, golden_budget=0, progress=progress)
    return VerifyResult(directory, chain.evidence(tolerance), chain.verdicts, chain.samples)
