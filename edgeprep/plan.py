"""Plan: decide, per target, what happens to every layer call of a model.

Planning runs the registered rules over a fresh flattened graph of the model, so the plan and the
transformed model come from the same edits. Rules only propose (``check`` returns a `Refusal` or
None, ``rewrite`` a `Rewrite`); `make_plan` applies each rewrite to the immutable graph, records
refusals (fatal ones as UNSUPPORTED and a problem, notes as the layer's detail), and returns the
final graph with the steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeprep.config import Action, ExportConfig, Quantization, Target
from edgeprep.graph import Call, Graph, flatten
from edgeprep.transforms.base import Phase
from edgeprep.transforms.rewrite import Edit, Refusal, Rewrite, Severity
from edgeprep.transforms.split import HostSplit


@dataclass(frozen=True)
class Step:
    """What the plan does with one layer call."""

    layer: str
    class_name: str
    action: Action
    detail: str = ""
    rule: str = ""

    def to_json(self) -> dict:
        return {"layer": self.layer, "class": self.class_name, "action": self.action.value, "detail": self.detail}


@dataclass(frozen=True)
class Plan:
    """The decisions for one target, and the edited graph they produced.

    Attributes:
        target: the target planned for.
        steps: one step per layer call, in graph order.
        problems: one message per layer that cannot be exported to ``target``.
        containers: nested models and pipelines that were inlined, as (path, class) pairs.
        graph: the planned graph, immutable (`edgeprep.graph.rebuild` turns it into the
            transformed model).
        split: the host steps and the device artifact's inputs (no steps: the artifact takes the
            model's inputs).
        rewrites: every rewrite applied, in order (rules', refusals', then the post-passes').
    """

    target: Target
    steps: tuple[Step, ...]
    problems: tuple[str, ...]
    containers: tuple[tuple[str, str], ...]
    graph: Graph = field(repr=False, compare=False)
    split: HostSplit = field(default_factory=HostSplit, repr=False, compare=False)
    rewrites: tuple[Rewrite, ...] = field(default=(), repr=False, compare=False)

    def by_action(self, action: Action) -> list[Step]:
        return [step for step in self.steps if step.action is action]

    @property
    def reference_changes(self) -> list[Step]:
        """Steps whose output differs from the original's on purpose (documented replacements)."""
        return self.by_action(Action.REPLACED)


def make_plan(model, target: Target, config: ExportConfig) -> Plan:
    """Run every registered rule for ``target`` over a fresh flattened graph of ``model``."""
    from edgeprep.backend import backend
    from edgeprep.families import phases
    from edgeprep.transforms.fold_affine import int8_activations
    from edgeprep.transforms.in_graph import lower_in_graph
    from edgeprep.transforms.optins import apply_opt_ins
    from edgeprep.transforms.split import close_host_split, host_split, split_problems

    converter = backend(target)
    graph = flatten(model)
    applied: list[Rewrite] = []
    with int8_activations(config.quantize is Quantization.INT8):
        for phase, rules in phases(converter.rules()):
            if phase is Phase.FOLD and not config.fold:
                continue
            for path in [call.path for call in graph.calls]:
                call = graph.call(path)
                if call.passthrough or call.action is not Action.KEPT:
                    continue
                rule = next((rule for rule in rules if target in rule.targets and rule.matches(call)), None)
                if rule is None:
                    continue
                refusal = rule.check(call, graph, target)
                rewrite = rule.rewrite(call, graph, target) if refusal is None else _refused(call, rule.name, refusal)
                graph = graph.apply(rewrite)
                applied.append(rewrite)
    for rewrite_of in (converter.place, lambda graph, config: lower_in_graph(graph, target, config), lambda graph, config: apply_opt_ins(graph, target, config)):
        rewrite = rewrite_of(graph, config)
        graph = graph.apply(rewrite)
        applied.append(rewrite)
    closure = close_host_split(graph, target)
    graph = graph.apply(closure)
    applied.append(closure)
    split = host_split(graph)
    problems = [problem for rewrite in applied for problem in rewrite.problems] + split_problems(split)
    steps = tuple(Step(c.path, c.class_name, c.action, c.detail, c.rule) for c in graph.calls)
    return Plan(target, steps, tuple(problems), graph.containers, graph, split, tuple(applied))


def _refused(call: Call, rule: str, refusal: Refusal) -> Rewrite:
    """How the plan records a refusal: a fatal one makes the layer UNSUPPORTED, a note is its detail."""
    if refusal.severity is Severity.FATAL:
        return Rewrite((Edit.of(call, action=Action.UNSUPPORTED, detail=refusal.reason, rule=rule),), (refusal.reason,))
    return Rewrite.of(call, detail=refusal.reason)


def make_plans(model, config: ExportConfig) -> dict[Target, Plan]:
    """One plan per configured target."""
    return {target: make_plan(model, target, config) for target in config.targets}
