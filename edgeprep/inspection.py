"""``edgeprep inspect``: every layer call of a model and what each target's plan does with it.

A plan knows the layers that have a rule; a layer kept as it is converts or not depending on the
converter. So inspect measures: every distinct kept layer (class, config without its name, input
shapes and dtypes) is built alone into one trial model per target and converted with the target's
own converter and op policy (no verification: that needs the full model). When the trial model
fails, each layer is tried alone, and those that fail are reported as "will fail on TARGET: reason"
(the export's own message). Results are cached per layer and target for the process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from edgeprep.config import ALL_TARGETS, Action, ExportConfig, Target
from edgeprep.plan import Plan
from edgeprep.specs import TensorSpec


@dataclass(frozen=True)
class Inspection:
    """The plans of one model for every target, with its inputs and outputs."""

    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    plans: dict[Target, Plan]
    advice: tuple[str, ...]
    failures: dict[Target, dict[str, str]] = field(default_factory=dict)  # target -> layer path -> why it will fail

    def rows(self) -> list[dict[str, str]]:
        """One row per layer call: path, class, and per-target action (with detail)."""
        first = next(iter(self.plans.values()))
        rows = []
        for index, step in enumerate(first.steps):
            row = {"layer": step.layer, "class": step.class_name}
            details = []
            for target, plan in self.plans.items():
                other = plan.steps[index]
                reason = self.failures.get(target, {}).get(step.layer)
                row[target.value] = "will fail" if reason else other.action.value
                if reason:
                    details.append(f"will fail on {target.value}: {reason}")
                if other.detail and other.detail not in details:
                    details.append(other.detail)
            row["detail"] = "; ".join(details)
            rows.append(row)
        return rows

    def to_json(self) -> dict:
        return {
            "model": self.name,
            "inputs": [spec.to_json() for spec in self.inputs],
            "outputs": [spec.to_json() for spec in self.outputs],
            "layers": self.rows(),
            "problems": {t.value: list(p.problems) for t, p in self.plans.items() if p.problems},
            "will_fail": {t.value: dict(layers) for t, layers in self.failures.items() if layers},
            "host_split": {
                t.value: {"steps": [step.to_json() | {"config": None} for step in p.split.steps], "device_inputs": list(p.split.device_inputs)}
                for t, p in self.plans.items() if p.split.steps
            },
            "advice": list(self.advice),
        }


def inspect_model(model: Any, config: ExportConfig = ExportConfig(targets=ALL_TARGETS), trial: bool = True) -> Inspection:
    """Plan ``model`` (a path or keras.Model) for every target; with ``trial``, convert its kept
    layers alone to predict which will fail (`trial_failures`), never the whole model."""
    from edgeprep.load import load
    from edgeprep.pipeline import padding_warnings
    from edgeprep.plan import make_plans
    from edgeprep.transforms.in_graph import resolve_opset

    loaded = load(model, config.unsafe_load, config.custom_objects)
    plans = make_plans(loaded.model, config)
    config, opset_note = resolve_opset(config, plans)
    runner = loaded.original_runner()
    advice = [opset_note] if opset_note else []
    if any(None in spec.shape for spec in runner.inputs()) and config.batch is None:
        advice.append(
            "inputs have a dynamic batch; for edge targets pass --batch 1 so shape arithmetic (SHAPE/GATHER/"
            "REDUCE_PROD) folds away and XNNPACK can take the TFLite graph in one partition"
        )
    advice.extend(loaded.notes)
    for target, plan in plans.items():
        for problem in plan.problems:
            advice.append(f"{target.value}: {problem}")
        advice.extend(padding_warnings(plan, config))
    failures = trial_failures(plans, config) if trial else {}
    for target, layers in failures.items():
        working = [t.value for t in plans if t is not target and not failures.get(t)]
        for layer, reason in layers.items():
            advice.append(f"{layer} will fail on {target.value}: {reason}"
                          + (f"; export {', '.join(working)} alone with {' '.join('--target ' + t for t in working)}" if working else ""))
    for target, plan in plans.items():
        if plan.split.steps:
            steps = ", ".join(f"{step.layer} ({step.class_name})" for step in plan.split.steps)
            advice.append(f"{target.value}: host split: {steps} run on the host (edgeprep.runtime.host, preprocess.json); "
                          f"the artifact's inputs are {', '.join(plan.split.device_inputs)}")
    return Inspection(loaded.model.name, tuple(runner.inputs()), tuple(runner.outputs()), plans, tuple(advice), failures)


_TRIALS: dict[tuple, str | None] = {}  # (target, layer key) -> why it failed alone, or None


def trial_failures(plans: dict[Target, Plan], config: ExportConfig) -> dict[Target, dict[str, str]]:
    """Per target, the kept layers (path -> reason) that fail to convert alone with its converter."""
    out: dict[Target, dict[str, str]] = {}
    for target, plan in plans.items():
        keyed: dict[tuple, list] = {}
        for call in plan.graph.live_calls():
            key = _layer_key(call) if call.action is Action.KEPT else None
            if key is not None:
                keyed.setdefault(key, []).append(call)
        todo = {key: calls[0] for key, calls in keyed.items() if (target, key) not in _TRIALS}
        if todo and _convert_alone(target, list(todo.values()), config) is not None:
            for key, call in todo.items():
                _TRIALS[(target, key)] = _convert_alone(target, [call], config)
        else:
            _TRIALS.update({(target, key): None for key in todo})
        failed = {call.path: _TRIALS[(target, key)] for key, calls in keyed.items() for call in calls if _TRIALS[(target, key)]}
        if failed:
            out[target] = failed
    return out


def _layer_key(call) -> tuple | None:
    """What a trial of ``call`` depends on: its class, config without the name, input shapes and dtypes."""
    try:
        config = {k: v for k, v in call.layer.get_config().items() if k != "name"}
        text = json.dumps(config, sort_keys=True, default=str)
    except Exception:  # not a serializable Keras layer (an op call): nothing to try
        return None
    if not call.inputs or not hasattr(call.layer, "get_config"):
        return None
    return (type(call.layer).__module__, call.class_name, text, tuple((tuple(t.shape[1:]), str(t.dtype)) for t in call.inputs))


def _convert_alone(target: Target, calls: list, config: ExportConfig) -> str | None:
    """Convert a model made of ``calls``' layers side by side (fresh inputs each) for ``target``;
    None when it converts within the target's op policy, else the reason."""
    import keras

    from edgeprep.backend import backend
    from edgeprep.errors import EdgeprepError
    from edgeprep.graph import io_names

    inputs, outputs = [], []
    for index, call in enumerate(calls):
        fresh = [keras.Input(batch_shape=(config.batch, *t.shape[1:]), dtype=t.dtype, name=f"trial{index}_{n}") for n, t in enumerate(call.inputs)]
        try:  # a copy from its config: the model's own layers stay as they are (weights do not decide which ops convert)
            layer = type(call.layer).from_config(call.layer.get_config())
            result = layer(fresh[0] if len(fresh) == 1 else fresh)
        except Exception:  # a layer that takes more than tensors, or has no faithful config: the plan has the last word
            continue
        inputs.extend(fresh)
        outputs.extend(keras.tree.flatten(result))
    if not outputs:
        return None
    model = keras.Model(inputs, outputs, name="trial")
    converter = backend(target)
    trial_config = ExportConfig(targets=(target,), batch=config.batch, onnx_opset=config.onnx_opset, allow_flex=config.allow_flex,
                                onnx_extensions=config.onnx_extensions, onnx_layout=config.onnx_layout, onnx_optimize=config.onnx_optimize)
    names = io_names(model)
    options = converter.options(trial_config, tuple(names[0]), tuple(names[1]), None)
    try:
        problems = converter.check_ops(converter.convert(model, options), options)
    except EdgeprepError as exc:
        return str(exc).split("\n")[0]
    return "; ".join(problems) if problems else None


def render(inspection: Inspection) -> str:
    """A plain-text table (rich is used by the CLI when available)."""
    rows = inspection.rows()
    headers = ["layer", "class"] + [t.value for t in inspection.plans] + ["detail"]
    widths = {h: max(len(h), *(len(r[h]) for r in rows)) if rows else len(h) for h in headers}
    widths["detail"] = min(widths["detail"], 90)
    lines = [f"model {inspection.name}"]
    for spec in inspection.inputs:
        lines.append(f"  input  {spec.name}: {spec.dtype} {_shape(spec.shape)}")
    for spec in inspection.outputs:
        lines.append(f"  output {spec.name}: {spec.dtype} {_shape(spec.shape)}")
    lines.append("  ".join(h.ljust(widths[h]) for h in headers))
    for row in rows:
        lines.append("  ".join(row[h][: widths[h]].ljust(widths[h]) for h in headers).rstrip())
    counts = {}
    for plan in inspection.plans.values():
        for action in Action:
            n = len(plan.by_action(action))
            if n and action is not Action.KEPT:
                counts.setdefault(action.value, set()).add(n)
    if counts:
        lines.append("summary: " + ", ".join(f"{'/'.join(map(str, sorted(v)))} {k}" for k, v in counts.items()))
    lines.extend(f"note: {line}" for line in inspection.advice)
    return "\n".join(lines)


def _shape(shape) -> str:
    return "(" + ", ".join("N" if d is None else str(d) for d in shape) + ")"
