"""Plan: decide, per target, what happens to every layer call of a model.

Planning runs the registered rules over a fresh flattened graph of the model, so the plan and the
transformed model come from the same edits: `make_plan` returns the edited graph with the steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeprep.config import Action, ExportConfig, Target
from edgeprep.graph import Graph, flatten
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
        graph: the edited graph (`edgeprep.graph.rebuild` turns it into the transformed model).
        split: the host steps and the device artifact's inputs (no steps: the artifact takes the
            model's inputs).
    """

    target: Target
    steps: tuple[Step, ...]
    problems: tuple[str, ...]
    containers: tuple[tuple[str, str], ...]
    graph: Graph = field(repr=False, compare=False)
    split: HostSplit = field(default_factory=HostSplit, repr=False, compare=False)

    def by_action(self, action: Action) -> list[Step]:
        return [step for step in self.steps if step.action is action]

    @property
    def reference_changes(self) -> list[Step]:
        """Steps whose output differs from the original's on purpose (documented replacements)."""
        return self.by_action(Action.REPLACED)


def make_plan(model, target: Target, config: ExportConfig) -> Plan:
    """Run every registered rule for ``target`` over a fresh flattened graph of ``model``."""
    from edgeprep.transforms import PHASES
    from edgeprep.transforms.optins import apply_opt_ins
    from edgeprep.transforms.quantized import place_for_int8
    from edgeprep.transforms.split import close_host_split, host_split, split_problems

    graph = flatten(model)
    problems: list[str] = []
    for phase, rules in PHASES:
        if phase == "fold" and not config.fold:
            continue
        for call in list(graph.calls):
            if call.passthrough or call.action is not Action.KEPT:
                continue
            rule = next((rule for rule in rules if target in rule.targets and rule.matches(call)), None)
            if rule is None:
                continue
            reason = rule.check(call, graph, target)
            if reason is None:
                rule.rewrite(call, graph, target)
            elif rule.action in (Action.STRIPPED, Action.REPLACED, Action.LOWERED, Action.HOST, Action.UNSUPPORTED):
                call.action, call.detail, call.rule = Action.UNSUPPORTED, reason, rule.name
                problems.append(reason)
            else:
                call.detail = reason
    place_for_int8(graph, target, config)
    apply_opt_ins(graph, target, config)
    problems.extend(close_host_split(graph, target))
    split = host_split(graph)
    problems.extend(split_problems(split))
    steps = tuple(Step(c.path, c.class_name, c.action, c.detail, c.rule) for c in graph.calls)
    return Plan(target, steps, tuple(problems), tuple(graph.containers), graph, split)


def make_plans(model, config: ExportConfig) -> dict[Target, Plan]:
    """One plan per configured target."""
    return {target: make_plan(model, target, config) for target in config.targets}
