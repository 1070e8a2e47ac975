"""``edgeprep inspect``: every layer call of a model and what each target's plan does with it."""

from __future__ import annotations

from dataclasses import dataclass
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

    def rows(self) -> list[dict[str, str]]:
        """One row per layer call: path, class, and per-target action (with detail)."""
        first = next(iter(self.plans.values()))
        rows = []
        for index, step in enumerate(first.steps):
            row = {"layer": step.layer, "class": step.class_name}
            details = []
            for target, plan in self.plans.items():
                other = plan.steps[index]
                row[target.value] = other.action.value
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
            "host_split": {
                t.value: {"steps": [step.to_json() | {"config": None} for step in p.split.steps], "device_inputs": list(p.split.device_inputs)}
                for t, p in self.plans.items() if p.split.steps
            },
            "advice": list(self.advice),
        }


def inspect_model(model: Any, config: ExportConfig = ExportConfig(targets=ALL_TARGETS)) -> Inspection:
    """Plan ``model`` (a path or keras.Model) for every target without converting anything."""
    from edgeprep.load import load
    from edgeprep.pipeline import padding_warnings
    from edgeprep.plan import make_plans

    loaded = load(model, config.unsafe_load, config.custom_objects)
    plans = make_plans(loaded.model, config)
    runner = loaded.original_runner()
    advice = []
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
    for target, plan in plans.items():
        if plan.split.steps:
            steps = ", ".join(f"{step.layer} ({step.class_name})" for step in plan.split.steps)
            advice.append(f"{target.value}: host split: {steps} run on the host (edgeprep.runtime.host, preprocess.json); "
                          f"the artifact's inputs are {', '.join(plan.split.device_inputs)}")
    return Inspection(loaded.model.name, tuple(runner.inputs()), tuple(runner.outputs()), plans, tuple(advice))


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
