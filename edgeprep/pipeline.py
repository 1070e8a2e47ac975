"""The product in one function: load -> plan -> transform -> convert -> verify -> package."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeprep import manifest as manifest_mod
from edgeprep.artifacts import Artifact, ConvertOptions, backend
from edgeprep.config import ExportConfig, Target
from edgeprep.errors import ConversionError, ParityError, UnsupportedLayerError, collect
from edgeprep.package import check_output_dir, npz_bytes, publish, sha256_bytes
from edgeprep.parity.compare import ParityReport, Tolerance, compare
from edgeprep.plan import Plan
from edgeprep.progress import Progress


@dataclass(frozen=True)
class ExportResult:
    """What `export` wrote and measured.

    Attributes:
        out_dir: the export directory.
        artifacts: target -> artifact path.
        manifest: the manifest as written.
        reports: target -> parity report of the artifact against the reference.
        transform_reports: target -> report of the transformed Keras model against the original
            (None where the reference is the transformed model by design).
        plans: target -> plan.
    """

    out_dir: Path
    artifacts: dict[Target, Path]
    manifest: dict
    reports: dict[Target, ParityReport]
    transform_reports: dict[Target, ParityReport | None] = field(default_factory=dict)
    plans: dict[Target, Plan] = field(default_factory=dict, repr=False)

    @property
    def passed(self) -> bool:
        return all(self.reports.values())


def export(model: Any, out_dir: str | os.PathLike, config: ExportConfig = ExportConfig(), tolerance: Tolerance = Tolerance(), progress: Progress | None = None) -> ExportResult:
    """Export ``model`` to ``out_dir`` for every target in ``config``, verified against Keras.

    Args:
        model: a `.keras` / `.h5` path, a SavedModel directory, or an in-memory ``keras.Model``.
        out_dir: the export directory; replaced atomically, and only when everything is written.
        config: targets, batch, folding and loading options.
        tolerance: the parity tolerance (see `edgeprep.parity.compare` for the pass rule).
        progress: where step progress goes (silent by default).

    Returns:
        The `ExportResult`.

    Raises:
        EdgeprepError: bad input, unsupported layers or conversion failures (nothing written).
        ParityError: an artifact failed parity; the export directory holds the evidence.
    """
    from edgeprep.graph import rebuild
    from edgeprep.load import load
    from edgeprep.parity.samples import generate, input_hints
    from edgeprep.plan import make_plans
    from edgeprep.runners import KerasRunner

    progress = progress or Progress()
    out = check_output_dir(out_dir)
    with progress.step("load"):
        loaded = load(model, config.unsafe_load, config.custom_objects)
    with progress.step("plan"):
        plans = make_plans(loaded.model, config)
    collect([p for plan in plans.values() for p in plan.problems], UnsupportedLayerError, "cannot export")

    original = KerasRunner(loaded.model, "keras")
    hints = input_hints(_unedited_graph(loaded.model))
    feeds = generate(original.inputs(), hints, config.parity_batch_sizes(), config.seed)
    with progress.step("run the Keras original"):
        reference, reference_error = _try_infer(original, feeds)

    artifacts: dict[Target, Artifact] = {}
    reports: dict[Target, ParityReport] = {}
    transform_reports: dict[Target, ParityReport | None] = {}
    golden_outputs = reference
    for target, plan in plans.items():
        with progress.step(f"transform for {target.value}"):
            transformed_model = rebuild(plan.graph, batch=config.batch)
            transformed = KerasRunner(transformed_model, "transformed").infer_all(feeds)
        if plan.reference_changes or reference is None:
            # The original does not compute the inference-time semantics (see the REPLACED steps);
            # the transformed model is the reference, and the original's difference is reported.
            target_reference, reference_name = transformed, "transformed"
            golden_outputs = transformed
            transform_reports[target] = None
        else:
            target_reference, reference_name = reference, "keras"
            transform_reports[target] = compare(f"transformed[{target.value}]", "keras", reference, transformed, tolerance, config.parity_batch_sizes())
        options = ConvertOptions(
            tuple(plan.graph.input_names), tuple(plan.graph.output_names), config.quantize, config.onnx_opset,
            onnx_layout=config.onnx_layout, onnx_optimize=config.onnx_optimize,
        )
        with progress.step(f"convert to {target.value}"):
            artifact = backend(target).convert(transformed_model, options)
        with progress.step(f"verify {target.value} in its runtime"):
            with backend(target, need_converter=False).runner(artifact.data, threads=config.threads) as runner:
                _check_io(runner, plan, target)
                outputs = runner.infer_all(feeds)
        artifacts[target] = artifact
        fallback = artifact.facts.get("xnnpack", {}).get("fallback_ops")
        if fallback and config.batch is None:
            progress.note(f"{target.value}: XNNPACK leaves {', '.join(fallback)} to LiteRT's own kernels; --batch 1 folds shape arithmetic away")
        reports[target] = compare(target.value, reference_name, target_reference, outputs, tolerance, config.parity_batch_sizes())
        progress.note(reports[target].summary())

    manifest = _manifest(loaded, original, plans, artifacts, reports, transform_reports, config, tolerance, hints, reference_error)
    files = {artifact.filename: artifact.data for artifact in artifacts.values()}
    files["golden/inputs.npz"] = npz_bytes(_concat(feeds))
    files["golden/outputs.npz"] = npz_bytes(golden_outputs)
    files[manifest_mod.MANIFEST] = manifest_mod.write_json(manifest)
    with progress.step(f"write {out}"):
        publish(out, files)
    result = ExportResult(out, {t: out / a.filename for t, a in artifacts.items()}, manifest, reports, transform_reports, plans)
    if not result.passed:
        failed = "; ".join(report.summary() for report in reports.values() if not report)
        raise ParityError(f"parity failed ({failed}); evidence in {out / manifest_mod.MANIFEST}", result)
    return result


def _unedited_graph(model):
    from edgeprep.graph import flatten

    return flatten(model)


def _try_infer(runner, feeds) -> tuple[dict[str, np.ndarray] | None, str | None]:
    try:
        return runner.infer_all(feeds), None
    except Exception as exc:  # the original may not run at inference (RandomCrop in Keras 3.15)
        text = str(exc).strip().splitlines()
        return None, f"{type(exc).__name__}: {text[0][:300] if text else ''}"


def _check_io(runner, plan: Plan, target: Target) -> None:
    want_in = list(plan.graph.input_names)
    got_in = [spec.name for spec in runner.inputs()]
    problems = []
    if sorted(got_in) != sorted(want_in):
        problems.append(f"inputs are {got_in}, the Keras model's are {want_in}")
    got_out = [spec.name for spec in runner.outputs()]
    if got_out != list(plan.graph.output_names):
        problems.append(f"outputs are {got_out}, the Keras model's are {list(plan.graph.output_names)}")
    collect(problems, ConversionError, f"the {target.value} artifact")


def _concat(feeds: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([feed[name] for feed in feeds], axis=0) for name in feeds[0]}


def _manifest(loaded, original, plans, artifacts, reports, transform_reports, config: ExportConfig, tolerance: Tolerance, hints, reference_error) -> dict:
    versions = manifest_mod.tool_versions()
    artifact_entries = []
    for target, artifact in artifacts.items():
        artifact_entries.append({
            "target": target.value,
            "file": artifact.filename,
            "sha256": sha256_bytes(artifact.data),
            "bytes": len(artifact.data),
            "ops": artifact.ops,
            "runtime_requirements": list(artifact.runtime_requirements),
            "quantization": config.quantize.value,
            "graph": artifact.facts,
        })
    parity = []
    for target, report in reports.items():
        entry = {key: value for key, value in report.to_json().items()}
        chain = transform_reports.get(target)
        entry["chain"] = {
            "transformed_vs_keras": chain.to_json() if chain is not None else None,
            "note": None if chain is not None else (
                "reference is the transformed Keras model: " + ("; ".join(f"{s.layer}: {s.detail}" for s in plans[target].reference_changes) or "the original failed to run")
                + (f" (the original raised {reference_error})" if reference_error else "")
            ),
        }
        parity.append(entry)
    any_plan = next(iter(plans.values()))
    return {
        "format": manifest_mod.FORMAT,
        "passed": all(reports.values()),
        "source": {
            "path": os.path.abspath(loaded.path) if loaded.path else None,
            "sha256": loaded.sha256,
            "kind": loaded.kind,
            "keras_version": versions.get("keras"),
            "tensorflow_version": versions.get("tensorflow") or versions.get("tensorflow-cpu"),
        },
        "tools": versions,
        "config": {
            "targets": [t.value for t in config.targets],
            "batch": config.batch,
            "quantize": config.quantize.value,
            "fold": config.fold,
            "onnx_opset": config.onnx_opset,
            "onnx_layout": config.onnx_layout.value,
            "onnx_optimize": config.onnx_optimize.value,
        },
        "inputs": [spec.with_batch(config.batch).to_json() if config.batch else spec.to_json() for spec in original.inputs()],
        "outputs": [spec.with_batch(config.batch).to_json() if config.batch else spec.to_json() for spec in original.outputs()],
        "containers": [{"path": path, "class": cls} for path, cls in any_plan.containers],
        "transforms": manifest_mod.merge_transforms(plans),
        "artifacts": artifact_entries,
        "tolerance": tolerance.to_json(),
        "golden": {
            "inputs": "golden/inputs.npz",
            "outputs": "golden/outputs.npz",
            "batch_sizes": list(config.parity_batch_sizes()),
            "seed": config.seed,
            "source": "generated",
            "ranges": {name: hint.reason for name, hint in hints.items()},
        },
        "parity": parity,
    }
