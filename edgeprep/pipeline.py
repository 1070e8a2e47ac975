"""The product in one function: load -> plan -> transform -> convert -> verify -> package."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeprep import manifest as manifest_mod
from edgeprep.artifacts import Artifact
from edgeprep.backend import backend, raise_op_problems
from edgeprep.config import ExportConfig, Quantization, Target
from edgeprep.errors import ConversionError, ParityError, UnsupportedLayerError, collect
from edgeprep.host.runner import HostedRunner
from edgeprep.host.steps import PREPROCESS, preprocess_json
from edgeprep.package import check_output_dir, npz_bytes, publish, sha256_bytes
from edgeprep.parity.compare import ParityReport, Tolerance, default_tolerance
from edgeprep.plan import Plan
from edgeprep.progress import Progress

TEMPLATE = Path(__file__).with_name("parity") / "test_parity_template.py"


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
        converter_reports: target -> report of the artifact against the transformed Keras model.
        plans: target -> plan.
    """

    out_dir: Path
    artifacts: dict[Target, Path]
    manifest: dict
    reports: dict[Target, ParityReport]
    transform_reports: dict[Target, ParityReport | None] = field(default_factory=dict)
    converter_reports: dict[Target, ParityReport] = field(default_factory=dict)
    plans: dict[Target, Plan] = field(default_factory=dict, repr=False)

    @property
    def passed(self) -> bool:
        return all(self.reports.values())


def export(
    model: Any,
    out_dir: str | os.PathLike,
    config: ExportConfig = ExportConfig(),
    tolerance: Tolerance | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Export ``model`` to ``out_dir`` for every target in ``config``, verified against Keras.

    Args:
        model: a `.keras` / `.h5` path, a SavedModel directory, or an in-memory ``keras.Model``.
        out_dir: the export directory; replaced atomically, and only when everything is written.
        config: targets, batch, folding, loading and data options.
        tolerance: the parity criteria (default: `default_tolerance` of the quantization mode; see
            `edgeprep.parity.compare` for the pass rule).
        progress: where step progress goes (silent by default).

    Raises:
        EdgeprepError: bad input, unsupported layers or conversion failures (nothing written).
        ParityError: an artifact failed parity; the export directory holds the evidence.
    """
    from edgeprep.data import open_data
    from edgeprep.graph import flatten, rebuild
    from edgeprep.load import load
    from edgeprep.parity.chain import Link, run_chain
    from edgeprep.parity.samples import generate, input_hints
    from edgeprep.plan import make_plans
    from edgeprep.runners import KerasRunner

    progress = progress or Progress()
    out = check_output_dir(out_dir)
    tolerance = tolerance or default_tolerance(config.quantize)
    with progress.step("load"):
        loaded = load(model, config.unsafe_load, config.custom_objects)
    with progress.step("plan"):
        plans = make_plans(loaded.model, config)
    collect([p for plan in plans.values() for p in plan.problems], UnsupportedLayerError, "cannot export")
    original = loaded.original_runner()
    hints = input_hints(flatten(loaded.model))
    source = open_data(config.data, original.inputs(), config.resize_images) if config.data else None

    calibration, calibration_info = _calibration(config, original.inputs(), hints, progress)

    transformed = {target: rebuild(plan.graph, batch=config.batch) for target, plan in plans.items()}
    artifacts: dict[Target, Artifact] = {}
    for target, plan in plans.items():
        converter = backend(target)
        options = converter.options(config, _device_inputs(plan), _device_outputs(plan), _through_host(calibration, plan))
        device_model = rebuild(plan.graph, batch=config.batch, split=plan.split) if plan.split.steps else transformed[target]
        with progress.step(f"convert to {target.value}"):
            artifacts[target] = converter.convert(device_model, options)
        raise_op_problems(converter.check_ops(artifacts[target], options))
        for note in converter.notes(artifacts[target], options):
            progress.note(note)

    with contextlib.ExitStack() as stack, progress.step("verify in the real runtimes"):
        links = {}
        for target, artifact in artifacts.items():
            plan = plans[target]
            device = stack.enter_context(backend(target).runner(artifact.data, threads=config.threads, requirements=artifact.runtime_requirements))
            _check_io(device, plan, target)
            runner = with_host_steps(device, plan.split, original.inputs(), list(plan.graph.output_names))
            transformed_runner = KerasRunner(transformed[target], f"transformed[{target.value}]", names=(plan.graph.input_names, plan.graph.output_names))
            links[target.value] = Link(transformed_runner, runner, bool(plan.reference_changes))
        batches = source.batches(config.data_batch) if source else generate(original.inputs(), hints, config.parity_batch_sizes(), config.seed)
        chain = run_chain(batches, original, links, config.golden_kb * 1024, progress)

    reports = {Target(t): r for t, r in chain.reports(tolerance).items()}
    transform_reports = {Target(t): r for t, r in chain.transform_reports(default_tolerance(Quantization.NONE)).items()}
    converter_reports = {Target(t): r for t, r in chain.converter_reports(tolerance).items()}
    for report in reports.values():
        progress.note(report.summary())
    golden_inputs, golden_outputs = chain.golden()
    host_steps = {step.id: step for plan in plans.values() for step in plan.split.steps}
    preprocess = preprocess_json(list(host_steps.values())) if host_steps else None
    manifest = _manifest(loaded, original, plans, artifacts, reports, transform_reports, config, tolerance, hints, source, chain)
    manifest["quantization"] = {
        "mode": config.quantize.value, "int8_io": config.int8_io, "calibration": calibration_info,
        "int8_weights": ("per-channel" if config.int8_per_channel else "per-tensor") if config.quantize is Quantization.INT8 else None,
        "int8_activations": {"tflite": "int8", "onnx": "uint8"} if config.quantize is Quantization.INT8 else None,
    }
    files = {artifact.filename: artifact.data for artifact in artifacts.values()}
    if preprocess is not None:
        manifest["host"]["sha256"] = sha256_bytes(preprocess)
        files[PREPROCESS] = preprocess
        files.update(_device_golden(plans, golden_inputs, manifest))
    files.update(_report_files(manifest, chain, tolerance, reports, transform_reports, converter_reports, loaded))
    files["golden/inputs.npz"] = npz_bytes(golden_inputs)
    files["golden/outputs.npz"] = npz_bytes(golden_outputs)
    files["test_parity.py"] = TEMPLATE.read_bytes()
    files[manifest_mod.MANIFEST] = manifest_mod.write_json(manifest)
    with progress.step(f"write {out}"):
        publish(out, files)
    result = ExportResult(out, {t: out / a.filename for t, a in artifacts.items()}, manifest, reports, transform_reports, converter_reports, plans)
    if not result.passed:
        failed = "; ".join(report.summary() for report in reports.values() if not report)
        raise ParityError(f"parity failed ({failed}); evidence in {out / 'report.html'}", result)
    return result


def _calibration(config: ExportConfig, specs, hints, progress: Progress):
    """The int8 calibration sample stream and its description (None for other modes)."""
    import itertools

    from edgeprep.data import open_data
    from edgeprep.parity.samples import generate

    if config.quantize is not Quantization.INT8:
        return None, None
    batch = 32 if config.batch is None else config.batch
    count = max(1, config.calibration_samples // batch)
    if config.calibration:
        source = open_data(config.calibration, specs, config.resize_images, flag="--calibration")
        return (lambda: itertools.islice(source.batches(batch), count)), {**source.describe(), "samples": count * batch}
    progress.note(
        "WARNING: int8 calibration on generated samples is a guess at your data's ranges; "
        "pass --calibration FILE with real inputs"
    )
    return (lambda: generate(specs, hints, (batch,) * count, config.seed + 1)), {"source": "generated", "samples": count * batch, "warning": "synthetic calibration"}


def _through_host(calibration, plan: Plan):
    """Calibration batches as the device artifact of ``plan`` sees them (after its host steps)."""
    if calibration is None or not plan.split.steps:
        return calibration
    from edgeprep.host.steps import run_steps

    steps, names = list(plan.split.steps), list(_device_inputs(plan))
    return lambda: (run_steps(steps, feed, names) for feed in calibration())


def _device_golden(plans, golden_inputs, manifest) -> dict[str, bytes]:
    """Golden inputs as each host-split artifact sees them (after its host steps), for test_parity.py."""
    from edgeprep.host.steps import run_steps

    files = {}
    for target, plan in plans.items():
        if plan.split.steps:
            device = run_steps(list(plan.split.steps), golden_inputs, list(_device_inputs(plan)))
            name = f"golden/device_inputs.{target.value}.npz"
            files[name] = npz_bytes(device)
            manifest["golden"].setdefault("device_inputs", {})[target.value] = name
    return files


def _device_inputs(plan: Plan) -> tuple[str, ...]:
    """The device artifact's inputs: the model's, or after a host split the split's."""
    return plan.split.device_inputs if plan.split.steps else tuple(plan.graph.input_names)


def _device_outputs(plan: Plan) -> tuple[str, ...]:
    return plan.split.device_outputs if plan.split.steps else tuple(plan.graph.output_names)


def with_host_steps(device_runner, split, inputs, output_names):
    """``device_runner`` behind the host steps of ``split`` (itself when there are none)."""
    if not split.steps:
        return device_runner
    return HostedRunner(device_runner, list(split.steps), list(inputs), output_names, dict(split.host_outputs))


def _check_io(runner, plan: Plan, target: Target) -> None:
    want_in = list(_device_inputs(plan))
    got_in = [spec.name for spec in runner.inputs()]
    problems = []
    if sorted(got_in) != sorted(want_in):
        problems.append(f"inputs are {got_in}, the Keras model's are {want_in}")
    got_out = [spec.name for spec in runner.outputs()]
    if got_out != list(_device_outputs(plan)):
        problems.append(f"outputs are {got_out}, the Keras model's are {list(_device_outputs(plan))}")
    collect(problems, ConversionError, f"the {target.value} artifact")


def _report_files(manifest, chain, tolerance, reports, transform_reports, converter_reports, loaded) -> dict[str, bytes]:
    from edgeprep.parity.report import render_html, report_json, summary

    data = summary(
        {t.value: r for t, r in reports.items()},
        {t.value: r for t, r in transform_reports.items()},
        {t.value: r for t, r in converter_reports.items()},
        manifest,
    )
    title = f"edgeprep parity: {Path(loaded.path).name if loaded.path else loaded.model.name}"
    return {"report.json": report_json(data), "report.html": render_html(title, data, chain.verdicts, manifest)}


def _manifest(loaded, original, plans, artifacts, reports, transform_reports, config: ExportConfig, tolerance: Tolerance, hints, source, chain) -> dict:
    versions = manifest_mod.tool_versions()
    artifact_entries = []
    for target, artifact in artifacts.items():
        split = plans[target].split
        artifact_entries.append({
            "target": target.value,
            "file": artifact.filename,
            "inputs": list(_device_inputs(plans[target])),
            "outputs": list(_device_outputs(plans[target])),
            "host_steps": [step.id for step in split.steps],
            "host_outputs": dict(split.host_outputs),
            "sha256": sha256_bytes(artifact.data),
            "bytes": len(artifact.data),
            "ops": artifact.ops,
            "runtime_requirements": list(artifact.runtime_requirements),
            "quantization": config.quantize.value,
            "graph": artifact.facts,
        })
    parity = []
    for target, report in reports.items():
        entry = report.to_json()
        entry["target"] = target.value
        chain_report = transform_reports.get(target)
        entry["chain"] = {
            "transformed_vs_keras": chain_report.to_json() if chain_report is not None else None,
            "note": None if chain_report is not None else (
                "reference is the transformed Keras model: " + "; ".join(f"{s.layer}: {s.detail}" for s in plans[target].reference_changes)
            ),
        }
        parity.append(entry)
    any_plan = next(iter(plans.values()))
    batch = config.batch
    return {
        "format": manifest_mod.FORMAT,
        "passed": all(reports.values()),
        "source": {
            "path": os.path.abspath(loaded.path) if loaded.path else None,
            "sha256": loaded.sha256,
            "kind": loaded.kind.value,
            "notes": list(loaded.notes),
            "keras_version": versions.get("keras"),
            "tensorflow_version": versions.get("tensorflow") or versions.get("tensorflow-cpu"),
        },
        "tools": versions,
        "config": {
            "targets": [t.value for t in config.targets],
            "batch": batch,
            "quantize": config.quantize.value,
            "fold": config.fold,
            "onnx_opset": config.onnx_opset,
            "allow_flex": config.allow_flex,
            "onnx_extensions": config.onnx_extensions,
            "onnx_layout": config.onnx_layout.value,
            "onnx_optimize": config.onnx_optimize.value,
        },
        "inputs": [(spec.with_batch(batch) if batch else spec).to_json() for spec in original.inputs()],
        "outputs": [(spec.with_batch(batch) if batch else spec).to_json() for spec in original.outputs()],
        "containers": [{"path": path, "class": cls} for path, cls in any_plan.containers],
        "transforms": manifest_mod.merge_transforms(plans),
        "artifacts": artifact_entries,
        "host": _host_entry(plans),
        "tolerance": tolerance.to_json(),
        "samples": {
            "source": source.describe() if source else "generated",
            "count": chain.samples,
            "seed": None if source else config.seed,
            "batch_sizes": list(config.parity_batch_sizes()) if not source else [config.data_batch],
            "ranges": None if source else {name: hint.reason for name, hint in hints.items()},
        },
        "golden": {
            "inputs": "golden/inputs.npz",
            "outputs": "golden/outputs.npz",
            "batches": chain.golden_batches,
            "batch_sizes": sorted(set(chain.golden_batches)),
            "reference": "transformed" if any(plan.reference_changes for plan in plans.values()) else "keras",
        },
        "parity": parity,
    }


def _host_entry(plans) -> dict | None:
    """The host split in the manifest: the spec file and, per step, what it reproduces and where."""
    steps = {}
    for target, plan in plans.items():
        for step in plan.split.steps:
            entry = steps.setdefault(step.id, {"id": step.id, "class": step.class_name, "kind": step.kind.value, "inputs": list(step.inputs),
                                               "output": step.output, "dtype": step.dtype, "targets": []})
            entry["targets"].append(target.value)
    return {"file": PREPROCESS, "steps": list(steps.values())} if steps else None
