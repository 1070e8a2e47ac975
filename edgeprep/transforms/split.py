"""Complete the host split of a planned graph: host closure, step names, device inputs.

A host step can only read raw model inputs or other host steps' outputs (the device artifact
runs after the host). So when a HOST layer reads a value computed by a device layer, that
producer moves to the host too if its rule can run it there (a rule of
`edgeprep.families.HOST_RULES`, e.g. the StringLookup feeding a HashedCrossing), or if it is
shape and dtype glue (Reshape, Flatten, Concatenate, casts, slices, expand / squeeze:
`edgeprep.families.glue`) whose own inputs are raw inputs, host values or such producers in turn
(a ``glue`` host step); otherwise the plan reports a problem naming the host layer and the producer. Every host output that a device layer or
a model output reads becomes an input of the device artifact, named after its layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeprep.config import Action, HostKind
from edgeprep.graph import Call, Graph, HostPlacement
from edgeprep.runtime.host.steps import HostStep
from edgeprep.transforms.rewrite import Rewrite


@dataclass(frozen=True)
class HostSplit:
    """The host part of a plan.

    Attributes:
        steps: host steps in run order.
        device_inputs: names of the device artifact's inputs: raw inputs it reads, then host outputs.
        outputs: host call path -> the name of its output value.
        host_outputs: model output name -> host value, for outputs a host step computes (the
            device artifact does not have them).
        device_outputs: the model outputs the device artifact computes, in the artifact's order.
    """

    steps: tuple[HostStep, ...] = ()
    device_inputs: tuple[str, ...] = ()
    outputs: tuple[tuple[str, str], ...] = ()
    host_outputs: tuple[tuple[str, str], ...] = ()
    device_outputs: tuple[str, ...] = ()

    def output_name(self, call: Call) -> str | None:
        return dict(self.outputs).get(call.path)


def _host_rule_for(call: Call, target):
    """The rule that can run ``call`` on the host for ``target``, or None."""
    from edgeprep.families import HOST_RULES

    return next((rule for rule in HOST_RULES if target in rule.targets and rule.matches(call)), None)


def _host_movable(producer: Call, graph: Graph, target) -> bool:
    """Whether the rule of ``producer`` can run it on the host (`edgeprep.families.HOST_RULES`)."""
    rule = _host_rule_for(producer, target)
    return rule is not None and producer.action in (Action.LOWERED, Action.KEPT) and rule.check(producer, graph, target) is None


def _glue_config(call: Call, graph: Graph, target) -> dict | None:
    """The glue host config of a kept glue ``call`` whose inputs all can be on the host, else None."""
    from edgeprep.families import glue

    config = glue.spec(call) if call.action is Action.KEPT else None
    if config is None:
        return None
    for tensor in call.inputs:
        producer = graph.producer(tensor)
        if producer is None or producer.action is Action.HOST or _host_movable(producer, graph, target):
            continue
        if _glue_config(producer, graph, target) is None:
            return None
    return config


def _move_to_host(producer: Call, graph: Graph, target, consumer: str) -> Rewrite | None:
    """The rewrite that runs ``producer`` on the host (its rule's host step, or a glue step), or None."""
    detail = f"feeds host step {consumer}, so runs on the host too"
    if _host_movable(producer, graph, target):
        return _host_rule_for(producer, target).place_on_host(producer, detail)
    config = _glue_config(producer, graph, target)
    if config is None:
        return None
    return Rewrite.on_host(producer, HostPlacement(HostKind.GLUE, config), f"shape/dtype glue that {detail}", "host-glue")


def close_host_split(graph: Graph, target) -> Rewrite:
    """Move device producers of host inputs to the host where possible; the problems where not.

    Each move is applied to a local copy before the next call is looked at (a moved producer's
    own producers follow it), and the returned rewrite holds them all.
    """
    rewrite = Rewrite()
    problems: list[str] = []
    changed = True
    while changed:
        changed = False
        for path in [call.path for call in graph.live_calls()]:
            call = graph.call(path)
            if call.action is not Action.HOST:
                continue
            for tensor in call.inputs:
                producer = graph.producer(tensor)
                if producer is None or producer.action is Action.HOST:
                    continue
                moved = _move_to_host(producer, graph, target, call.layer.name)
                if moved is not None:
                    graph, rewrite = graph.apply(moved), rewrite.then(moved)
                    changed = True
                else:
                    message = f"{call.layer.name} runs on the host but reads the output of {producer.layer.name} ({producer.class_name}), which only the device can compute"
                    if message not in problems:
                        problems.append(message)
    return Rewrite(rewrite.edits, tuple(problems))


def host_split(graph: Graph) -> HostSplit:
    """Name the host steps' values and list the device artifact's inputs (after `close_host_split`)."""
    names: dict[int, str] = {id(t): name for name, t in zip(graph.input_names, graph.inputs)}
    taken = set(graph.input_names)
    steps, outputs = [], []
    host_calls = [call for call in graph.live_calls() if call.action is Action.HOST]
    for call in host_calls:
        name = _unique(call.layer.name, taken)
        kind, config = call.host.kind, call.host.config
        inputs = tuple(names[id(graph.resolve(t))] for t in call.inputs if id(graph.resolve(t)) in names)
        steps.append(HostStep(call.path, kind, call.layer.name, call.class_name, inputs, name, config["dtype"], config))
        names[id(call.outputs[0])] = name
        outputs.append((call.path, name))
    host_values = {id(call.outputs[0]) for call in host_calls}
    host_outputs = [(name, names[id(graph.resolve(t))]) for name, t in zip(graph.output_names, graph.outputs) if id(graph.resolve(t)) in host_values]
    device_outputs = sorted(name for name in graph.output_names if name not in dict(host_outputs))
    read = set()
    for call in graph.live_calls():
        if call.action is not Action.HOST:
            read.update(id(graph.resolve(t)) for t in call.inputs)
    read.update(id(graph.resolve(t)) for name, t in zip(graph.output_names, graph.outputs) if name in device_outputs)
    device_inputs = [name for name, t in zip(graph.input_names, graph.inputs) if id(t) in read]
    device_inputs += [names[id(call.outputs[0])] for call in host_calls if id(call.outputs[0]) in read]
    return HostSplit(tuple(steps), tuple(device_inputs), tuple(outputs), tuple(host_outputs), tuple(device_outputs))


def split_problems(split: HostSplit) -> list[str]:
    """What makes a host split unusable (it leaves the device nothing to compute)."""
    if split.steps and not split.device_outputs:
        return ["every model output is computed by host steps, so there is nothing left for the device artifact; export the model that consumes these features"]
    return []


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate
