"""The product in one function: load -> plan -> transform -> convert -> verify -> package."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeprep import manifest as manifest_mod
from edgeprep.artifacts import Artifact
from edgeprep.backend import backend, raise_op_problems
from edgeprep.config import ExportConfig, Quantization, Target
from edgeprep.errors import ConversionError, EdgeprepError, ParityError, UnsupportedLayerError, UsageError, collect
from edgeprep.runtime import shipped_files
from edgeprep.runtime.host.hosted import HostedRunner
from edgeprep.runtime.host.steps import PREPROCESS, preprocess_json
from edgeprep.manifest import Manifest
from edgeprep.memory import StepMeasure, release
from edgeprep.package import check_output_dir, npz_bytes, publish, sha256_bytes
from edgeprep.parity.chain import EvidenceViews, TargetEvidence
from edgeprep.parity.compare import Tolerance, default_tolerance
from edgeprep.parity.hints import finite
from edgeprep.plan import Plan
from edgeprep.progress import Progress

TEMPLATE = Path(__file__).with_name("parity") / "test_parity_template.py"


@dataclass(frozen=True)
class ExportResult(EvidenceViews):
    """What `export` wrote and measured.

    Attributes:
        out_dir: the export directory.
        artifacts: target -> artifact path.
        manifest: the manifest as written.
        evidence: target -> its parity evidence (the verdict and both links of the chain).
        plans: target -> plan.
        steps: per step (load, plan, each conversion, verification, writing) its wall time and peak
            RSS (`edgeprep.memory.StepMeasure`); not in manifest.json, whose bytes are reproducible.
    """

    out_dir: Path
    artifacts: dict[Target, Path]
    manifest: Manifest
    evidence: dict[Target, TargetEvidence]
    plans: dict[Target, Plan] = field(default_factory=dict, repr=False)
    steps: tuple[StepMeasure, ...] = field(default=(), repr=False)


def export(
    model: Any,
    out_dir: str | os.PathLike,
    config: ExportConfig = ExportConfig(),
    tolerance: Tolerance | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> ExportResult:
    """Export ``model`` to ``out_dir`` for every target in ``config``, verified against Keras.

    Args:
        model: a `.keras` / `.h5` path, a SavedModel directory, or an in-memory ``keras.Model``.
        out_dir: the export directory; replaced atomically, and only when everything is written.
        config: targets, batch, folding, loading and data options.
        tolerance: the parity criteria (default: `default_tolerance` of the quantization mode; see
            `edgeprep.parity.compare` for the pass rule).
        progress: where step progress goes (silent by default).
        force: replace ``out_dir`` even if it is a non-empty directory that is not an earlier export.

    Raises:
        EdgeprepError: bad input, unsupported layers or conversion failures (nothing written).
        ParityError: an artifact failed parity; the export directory holds the evidence.
    """
    from edgeprep.data import open_data
    from edgeprep.graph import flatten, rebuild
    from edgeprep.load import load
    from edgeprep.parity.chain import Link, run_chain, shared_models, transformed_runners
    from edgeprep.parity.heldout import describe as held_out_rows, split_rows
    from edgeprep.parity.samples import generated_samples, input_hints
    from edgeprep.plan import make_plans
    from edgeprep.transforms.in_graph import resolve_opset
    from edgeprep.runners import KerasRunner

    progress = progress or Progress()
    first_step = len(progress.measures)
    out = check_output_dir(out_dir, model, force)
    tolerance = tolerance or default_tolerance(config.quantize)
    with progress.step("load"):
        loaded = load(model, config.unsafe_load, config.custom_objects)
    with progress.step("plan"):
        plans = make_plans(loaded.model, config)
    device_config, opset_note = resolve_opset(config, plans)  # --opset unset: 18 for in-graph hashing, else 17
    if opset_note:
        progress.note(opset_note)
    collect([p for plan in plans.values() for p in plan.problems], UnsupportedLayerError, "cannot export")
    original = loaded.original_runner()
    flat = flatten(loaded.model)
    hints = input_hints(flat)
    source = open_data(config.data, original.inputs(), config.resize_images) if config.data else None
    calibration_source = (
        open_data(config.calibration, original.inputs(), config.resize_images, flag="--calibration")
        if config.quantize is Quantization.INT8 and config.calibration else None
    )
    held_out = calibration_source if source is None else None  # a quantized export is judged on real rows
    # int8 has no NaN or ±Inf: its generated samples stay finite, so the manifest's coverage shows no non-finite draws
    sample_hints = finite(hints) if config.quantize is Quantization.INT8 else hints
    generated = None if source or held_out else generated_samples(original.inputs(), sample_hints, flat, config.parity_batch_sizes(), config.batch, config.seed)

    calibration, calibration_info = _calibration(config, original.inputs(), hints, progress, calibration_source, held_out is not None)

    transformed = shared_models({target: plan.graph for target, plan in plans.items()}, lambda graph: rebuild(graph, batch=config.batch, max_bytes=config.max_bytes))
    artifacts: dict[Target, Artifact] = {}
    failures: dict[Target, EdgeprepError] = {}
    for target, plan in plans.items():
        converter = backend(target)
        options = converter.options(device_config, _device_inputs(plan), _device_outputs(plan), _through_host(calibration, plan))
        device_model = rebuild(plan.graph, batch=config.batch, split=plan.split, max_bytes=config.max_bytes) if plan.split.steps else transformed[target]
        try:
            with progress.step(f"convert to {target.value}"):
                artifact = converter.convert(device_model, options)
                del device_model
                release()  # the converter's graphs, before the next converter or the runtimes
            raise_op_problems(converter.check_ops(artifact, options))
        except UsageError:  # an option the model cannot take (--metadata): fix the flags, whatever the other targets do
            raise
        except EdgeprepError as exc:
            failures[target] = exc
            continue
        warnings = padding_warnings(plan, config)
        artifacts[target] = dataclasses.replace(artifact, facts={**artifact.facts, "warnings": warnings}) if warnings else artifact
        for note in [*converter.notes(artifact, options), *warnings]:
            progress.note(note)
    _raise_failed_targets(failures, artifacts)

    with contextlib.ExitStack() as stack, progress.step("verify in the real runtimes"):
        links = {}
        keras_runners = transformed_runners(plans, {target: transformed[target] for target in artifacts})
        for target, artifact in artifacts.items():
            plan = plans[target]
            device = stack.enter_context(backend(target).runner(artifact.data, threads=config.threads, requirements=artifact.runtime_requirements))
            _check_io(device, plan, target)
            runner = with_host_steps(device, plan.split, original.inputs(), list(plan.graph.output_names))
            links[target] = Link(keras_runners[target], runner, bool(plan.reference_changes))
        if generated is not None:
            batches = generated.feeds
        else:
            batches = source.batches(config.data_batch) if source else split_rows(held_out.batches(config.data_batch), True, held_out.label)
        chain = run_chain(batches, original, links, config.golden_kb * 1024, progress, generated=generated is not None)

    evidence = chain.evidence(tolerance)
    for entry in evidence.values():
        progress.note(entry.verdict.summary())
    golden_inputs, golden_outputs = chain.golden()
    host_steps = {step.id: step for plan in plans.values() for step in plan.split.steps}
    files = {artifact.filename: artifact.data for artifact in artifacts.values()}
    if host_steps:
        files[PREPROCESS] = preprocess_json(list(host_steps.values()))
        files.update(_device_golden(plans, golden_inputs))
    samples_source = source.describe() if source else held_out_rows(held_out.describe(), chain.samples) if held_out else None
    manifest = _manifest(loaded, original, plans, artifacts, evidence, config, tolerance, hints, samples_source, chain, calibration_info, files, generated,
                         progress.measures[first_step:])
    files.update(_report_files(manifest, chain, evidence, loaded))
    files["golden/inputs.npz"] = npz_bytes(golden_inputs)
    files["golden/outputs.npz"] = npz_bytes(golden_outputs)
    files["test_parity.py"] = TEMPLATE.read_bytes()
    files.update(shipped_files())  # the deploy runtime the test (and any deploy) imports: edgeprep_runtime/
    files[manifest_mod.MANIFEST] = manifest.to_bytes()
    with progress.step(f"write {out}"):
        publish(out, files)
    steps = tuple(progress.measures[first_step:])
    result = ExportResult(out, {t: out / a.filename for t, a in artifacts.items()}, manifest, evidence, plans, steps)
    if not result.passed:
        failed = "; ".join(report.summary() for report in result.reports.values() if not report)
        raise ParityError(f"parity failed ({failed}); evidence in {out / 'report.html'}", result)
    return result


def padding_warnings(plan: Plan, config: ExportConfig) -> list[str]:
    """TextVectorization without ``output_sequence_length`` pads each batch to its longest row: an
    artifact with a static batch (``--batch N``) pads each group of N rows on its own, so a row's
    output depends on its neighbours in Keras but not in the artifact (0.40 rel on a GRU at batch 16)."""
    if config.batch is None:
        return []
    return [
        f"WARNING: {plan.target.value}: {call.path} (TextVectorization) has no output_sequence_length, so it pads each "
        f"batch to its longest row: this --batch {config.batch} artifact pads every {config.batch} row(s) on their own and can "
        "answer differently from Keras on larger batches; set output_sequence_length to fix the length"
        for call in plan.graph.calls
        if call.class_name == "TextVectorization" and call.layer.get_config().get("output_mode") == "int"
        and call.layer.get_config().get("output_sequence_length") is None
    ]


def _raise_failed_targets(failures: dict[Target, EdgeprepError], converted: dict[Target, Artifact]) -> None:
    """Raise the conversion failures, saying which targets did convert and how to export those alone.

    Nothing is written when a target fails (``dist/`` is all or nothing); the message names the
    targets that converted so that ``--target`` can export them without the failing one.
    """
    if not failures:
        return
    target, error = next(iter(failures.items()))
    if len(failures) == 1 and not converted:
        raise error
    failed = "; ".join(f"{t.value}: {exc}" for t, exc in failures.items())
    if not converted:
        raise type(error)(f"conversion failed for every target ({failed})") from error
    ok = ", ".join(t.value for t in converted)
    advice = " ".join(f"--target {t.value}" for t in converted)
    raise type(error)(
        f"conversion to {', '.join(t.value for t in failures)} failed ({failed}); {ok} converted, "
        f"but nothing was written: pass {advice} to export {ok} alone"
    ) from error


def _calibration(config: ExportConfig, specs, hints, progress: Progress, source=None, hold_out: bool = False):
    """The int8 calibration sample stream and its description (None for other modes); with
    ``hold_out``, the rows parity is judged on (`edgeprep.parity.heldout`) are left out of it."""
    import itertools

    from edgeprep.parity.heldout import ROWS, rebatch, split_rows
    from edgeprep.parity.samples import generate

    if config.quantize is not Quantization.INT8:
        return None, None
    batch = 32 if config.batch is None else config.batch
    count = max(1, config.calibration_samples // batch)
    if source is not None:
        if hold_out:
            info = {**source.describe(), "samples": count * batch, "held_out": f"{ROWS}: not used for calibration, parity runs on them"}
            return (lambda: itertools.islice(rebatch(split_rows(source.batches(batch), False), batch), count)), info
        return (lambda: itertools.islice(source.batches(batch), count)), {**source.describe(), "samples": count * batch}
    progress.note(
        "WARNING: int8 calibration on generated samples is a guess at your data's ranges; "
        "pass --calibration FILE with real inputs"
    )
    return (lambda: generate(specs, finite(hints), (batch,) * count, config.seed + 1)), {"source": "generated", "samples": count * batch, "warning": "synthetic calibration"}


def _through_host(calibration, plan: Plan):
    """Calibration batches as the device artifact of ``plan`` sees them (after its host steps)."""
    if calibration is None or not plan.split.steps:
        return calibration
    from edgeprep.runtime.host.steps import run_steps

    steps, names = list(plan.split.steps), list(_device_inputs(plan))
    return lambda: (run_steps(steps, feed, names) for feed in calibration())


def _device_golden(plans, golden_inputs) -> dict[str, bytes]:
    """Golden inputs as each host-split artifact sees them (after its host steps), for test_parity.py."""
    from edgeprep.runtime.host.steps import run_steps

    files = {}
    for target, plan in plans.items():
        if plan.split.steps:
            device = run_steps(list(plan.split.steps), golden_inputs, list(_device_inputs(plan)))
            files[_device_golden_file(target)] = npz_bytes(device)
    return files


def _device_golden_file(target: Target) -> str:
    return f"golden/device_inputs.{target.value}.npz"


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


def _report_files(manifest: Manifest, chain, evidence, loaded) -> dict[str, bytes]:
    from edgeprep.parity.report import render_html, report_json, summary

    data = summary(evidence, manifest)
    title = f"edgeprep parity: {Path(loaded.path).name if loaded.path else loaded.model.name}"
    return {"report.json": report_json(data), "report.html": render_html(title, data, chain.verdicts, manifest)}


def _manifest(loaded, original, plans, artifacts, evidence, config: ExportConfig, tolerance: Tolerance, hints, source, chain, calibration_info, files, generated,
              steps=()) -> Manifest:
    """The manifest of this export; ``files`` holds the host spec and device golden inputs already written,
    ``steps`` the `StepMeasure` of every step so far (``timing``, unless ``config.timing`` is off)."""
    versions = manifest_mod.tool_versions()
    batch = config.batch
    int8 = config.quantize is Quantization.INT8
    split = any(plan.split.steps for plan in plans.values())
    return Manifest(
        passed=all(entry.verdict for entry in evidence.values()),
        source=manifest_mod.Source(
            path=os.path.abspath(loaded.path) if loaded.path else None,
            sha256=loaded.sha256,
            kind=loaded.kind.value,
            notes=tuple(loaded.notes),
            keras_version=versions.get("keras"),
            tensorflow_version=versions.get("tensorflow") or versions.get("tensorflow-cpu"),
        ),
        tools=versions,
        config=config.to_manifest(),
        inputs=tuple(_tensor(spec.with_batch(batch) if batch else spec, _utf8_inputs(plans.values())) for spec in original.inputs()),
        outputs=tuple(_tensor(spec.with_batch(batch) if batch else spec) for spec in original.outputs()),
        containers=tuple(manifest_mod.Container(path, cls) for path, cls in next(iter(plans.values())).containers),
        transforms=merge_transforms(plans),
        artifacts=tuple(_artifact_entry(target, artifact, plans[target], config) for target, artifact in artifacts.items()),
        host=_host_entry(plans, files),
        tolerance=manifest_mod.decode(manifest_mod.Criteria, tolerance.to_json()),
        samples=manifest_mod.Samples(
            source=source if source else "generated",
            count=chain.samples,
            seed=None if source else config.seed,
            batch_sizes=generated.batch_sizes if not source else (config.data_batch,),
            ranges=None if source else {name: hint.reason for name, hint in hints.items()},
            coverage=generated.coverage if not source and generated.coverage else None,
        ),
        golden=manifest_mod.Golden(
            inputs="golden/inputs.npz",
            outputs="golden/outputs.npz",
            batches=tuple(chain.golden_batches),
            batch_sizes=tuple(sorted(set(chain.golden_batches))),
            reference="transformed" if any(plan.reference_changes for plan in plans.values()) else "keras",
            device_inputs={t.value: _device_golden_file(t) for t, plan in plans.items() if plan.split.steps} if split else None,
        ),
        parity=tuple(_parity_entry(target, entry, plans[target]) for target, entry in evidence.items()),
        quantization=manifest_mod.QuantizationEntry(
            mode=config.quantize.value,
            int8_io=config.int8_io.value if config.int8_io else None,
            calibration=calibration_info,
            int8_weights=("per-channel" if config.int8_per_channel else "per-tensor") if int8 else None,
            int8_activations={"tflite": "int8", "onnx": "uint8"} if int8 else None,
        ),
        timing=tuple(manifest_mod.decode(manifest_mod.StepTiming, step.to_json()) for step in steps) if config.timing else None,
    )


def merge_transforms(plans) -> tuple[manifest_mod.Transform, ...]:
    """One transform entry per layer; per-target entries where the targets disagree."""
    by_layer: dict[str, dict] = {}
    for target, plan in plans.items():
        for step in plan.steps:
            entry = manifest_mod.Transform(step.layer, step.class_name, step.action.value, step.detail)
            by_layer.setdefault(step.layer, {})[target.value] = entry
    merged: list[manifest_mod.Transform] = []
    for targets in by_layer.values():
        entries = list(targets.values())
        if all(entry == entries[0] for entry in entries):
            merged.append(entries[0])
        else:
            merged.extend(dataclasses.replace(entry, target=target) for target, entry in targets.items())
    return tuple(merged)


def _tensor(spec, utf8: set[str] = frozenset()) -> manifest_mod.Tensor:
    encoding = manifest_mod.InputEncoding.UTF8_BYTES.value if spec.name in utf8 else None
    return manifest_mod.Tensor(spec.name, spec.dtype, tuple(spec.shape), encoding)


def _utf8_inputs(plans) -> set[str]:
    """Inputs some artifact takes as UTF-8 bytes (`edgeprep.runtime.text`)."""
    return {name for plan in plans for name in plan.graph.utf8_inputs()}


def _artifact_entry(target: Target, artifact: Artifact, plan: Plan, config: ExportConfig) -> manifest_mod.Artifact:
    return manifest_mod.Artifact(
        target=target.value,
        file=artifact.filename,
        inputs=tuple(_device_inputs(plan)),
        outputs=tuple(_device_outputs(plan)),
        host_steps=tuple(step.id for step in plan.split.steps),
        host_outputs=dict(plan.split.host_outputs),
        sha256=sha256_bytes(artifact.data),
        bytes=len(artifact.data),
        ops=dict(artifact.ops),
        runtime_requirements=tuple(artifact.runtime_requirements),
        quantization=config.quantize.value,
        graph=artifact.facts,
        input_encodings={name: manifest_mod.InputEncoding.UTF8_BYTES.value for name in _utf8_inputs([plan])} or None,
    )


def _parity_entry(target: Target, evidence: TargetEvidence, plan: Plan) -> manifest_mod.Parity:
    link = evidence.transformed_vs_keras
    note = None if link is not None else (
        "reference is the transformed Keras model: " + "; ".join(f"{s.layer}: {s.detail}" for s in plan.reference_changes)
    )
    chain = {"transformed_vs_keras": link.to_json() if link is not None else None, "note": note}
    return manifest_mod.decode(manifest_mod.Parity, {**evidence.verdict.to_json(), "target": target.value, "chain": chain})


def _host_entry(plans, files) -> manifest_mod.Host | None:
    """The host split in the manifest: the spec file and, per step, what it reproduces and where."""
    steps: dict[str, dict] = {}
    for target, plan in plans.items():
        for step in plan.split.steps:
            entry = steps.setdefault(step.id, {"id": step.id, "class_name": step.class_name, "kind": step.kind.value, "inputs": tuple(step.inputs),
                                               "output": step.output, "dtype": step.dtype, "targets": ()})
            entry["targets"] += (target.value,)
    if not steps:
        return None
    return manifest_mod.Host(PREPROCESS, tuple(manifest_mod.HostStep(**entry) for entry in steps.values()), sha256_bytes(files[PREPROCESS]))
