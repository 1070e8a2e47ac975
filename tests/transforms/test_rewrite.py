"""Rules propose, the planner applies: ``check``/``rewrite`` leave the graph as it was, refusals say
whether they are fatal, post-passes return rewrites, and host kinds are `HostKind` until JSON."""

from __future__ import annotations

import dataclasses

import pytest

from edgeprep.config import Action, ExportConfig, HostKind, Quantization, Target
from edgeprep.graph import flatten
from edgeprep.plan import make_plan
from edgeprep.families import phases
from edgeprep.families.affine import FoldNormalization
from edgeprep.families.discretization import LowerDiscretization
from edgeprep.transforms.optins import apply_opt_ins
from converters.tflite.rules import place as place_for_int8
from edgeprep.transforms.rewrite import Severity
from edgeprep.transforms.split import close_host_split
from zoo import augmented_cnn, feature_space_tabular, random_crop_cnn, sequence_conv1d, tabular_numeric


def _snapshot(graph):
    return [(call, call.state_fields()) for call in graph.calls], dict(graph.alias)


def _unchanged(graph, snapshot) -> bool:
    calls, alias = snapshot
    same_calls = len(calls) == len(graph.calls) and all(
        call is now and all(value is now_state[key] for key, value in state.items())
        for (call, state), now, now_state in zip(calls, graph.calls, (c.state_fields() for c in graph.calls))
    )
    return same_calls and dict(graph.alias) == alias


@pytest.mark.parametrize("factory", [augmented_cnn, sequence_conv1d, tabular_numeric, random_crop_cnn, feature_space_tabular])
def test_rules_return_rewrites_and_leave_the_graph_unchanged(factory):
    graph = flatten(factory())
    applied = 0
    for _, rules in phases():
        for call in graph.calls:
            for rule in rules:
                if not (Target.ONNX in rule.targets and rule.matches(call)):
                    continue
                before = _snapshot(graph)
                refusal = rule.check(call, graph, Target.ONNX)
                rewrite = rule.rewrite(call, graph, Target.ONNX) if refusal is None else None
                assert _unchanged(graph, before), rule.name
                if rewrite is None:
                    continue
                edited = graph.apply(rewrite)
                applied += 1
                assert _unchanged(graph, before), rule.name
                assert edited is not graph and {edit.path for edit in rewrite.edits} <= {c.path for c in graph.calls}
                for edit in rewrite.edits:
                    assert edited.call(edit.path).state_fields().keys() == edit.state.state_fields().keys()
                    assert all(edited.call(edit.path).state_fields()[k] is v for k, v in edit.state.state_fields().items() if k != "kwargs")
    assert applied >= 1


def test_calls_and_graphs_are_frozen():
    graph = flatten(augmented_cnn())
    with pytest.raises(dataclasses.FrozenInstanceError):
        graph.calls[0].action = Action.STRIPPED
    with pytest.raises(dataclasses.FrozenInstanceError):
        graph.calls = ()
    with pytest.raises(TypeError):
        graph.alias[0] = None
    with pytest.raises(TypeError):
        graph.calls[0].kwargs["training"] = True


def test_a_fold_edits_the_chain_and_its_absorber_in_one_rewrite():
    import keras

    inputs = keras.Input((3,), name="x")
    x = keras.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0], name="norm")(inputs)
    graph = flatten(keras.Model(inputs, keras.layers.Dense(2, name="dense")(x)))
    head, dense = graph.calls
    rule = FoldNormalization()
    assert rule.check(head, graph, Target.TFLITE) is None
    rewrite = rule.rewrite(head, graph, Target.TFLITE)
    assert [edit.path for edit in rewrite.edits] == [dense.path, head.path] and not rewrite.problems
    edited = graph.apply(rewrite)
    assert graph.calls == (head, dense) and head.action is Action.KEPT and dense.op is None  # the input graph keeps its state
    assert edited.call(head.path).passthrough and edited.call(head.path).action is Action.FOLDED
    assert edited.call(dense.path).op is not None and edited.call(dense.path).op is not dense.layer
    assert edited.resolve(head.outputs[0]) is head.inputs[0] and graph.resolve(head.outputs[0]) is head.outputs[0]


def _discretize_model(**options):
    import keras

    inputs = keras.Input((1,), name="x")
    bins = keras.layers.Discretization(name="bins", **options)(inputs)
    outputs = keras.layers.Dense(2, name="out")(keras.layers.CategoryEncoding(4, output_mode="one_hot")(bins))
    return keras.Model(inputs, outputs)


def test_a_fatal_refusal_is_explicit_and_stops_the_export():
    model = _discretize_model(num_bins=4)  # not adapted: no boundaries
    graph = flatten(model)
    call = next(c for c in graph.calls if c.class_name == "Discretization")
    refusal = LowerDiscretization().check(call, graph, Target.TFLITE)
    assert refusal.severity is Severity.FATAL and "no bin boundaries" in refusal.reason
    plan = make_plan(model, Target.TFLITE, ExportConfig())
    step = next(s for s in plan.steps if s.class_name == "Discretization")
    assert step.action is Action.UNSUPPORTED and step.rule == "lower-discretization"
    assert plan.problems == (refusal.reason,)


def test_a_note_is_explicit_and_keeps_the_layer():
    import keras

    inputs = keras.Input((3,), name="x")
    outputs = keras.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0], name="norm")(inputs)
    model = keras.Model(inputs, outputs)
    graph = flatten(model)
    refusal = FoldNormalization().check(graph.calls[0], graph, Target.ONNX)
    assert refusal.severity is Severity.NOTE and refusal.reason.startswith("not folded")
    plan = make_plan(model, Target.ONNX, ExportConfig())
    assert plan.problems == () and plan.steps[0].action is Action.KEPT and plan.steps[0].detail == refusal.reason


def test_post_passes_return_rewrites_the_planner_applies():
    model = _discretize_model(bin_boundaries=[0.0, 1.0, 2.0])
    config = ExportConfig(quantize=Quantization.INT8)
    lowered = make_plan(model, Target.TFLITE, ExportConfig())
    graph = lowered.graph
    before = _snapshot(graph)
    rewrite = place_for_int8(graph, Target.TFLITE, config)
    assert [edit.state.action for edit in rewrite.edits] == [Action.HOST] and _unchanged(graph, before)
    assert rewrite.edits[0].state.host.kind is HostKind.DISCRETIZATION
    assert not apply_opt_ins(graph, Target.TFLITE, config).edits
    assert not close_host_split(graph, Target.TFLITE).edits and _unchanged(graph, before)
    plan = make_plan(model, Target.TFLITE, config)
    assert [s.action for s in plan.steps if s.class_name == "Discretization"] == [Action.HOST]
    assert any(r.edits and r.edits[0].state.action is Action.HOST for r in plan.rewrites)


def test_host_kinds_are_enums_until_json():
    plan = make_plan(feature_space_tabular(), Target.TFLITE, ExportConfig(host_steps=True))
    kinds = {step.kind for step in plan.split.steps}
    assert kinds and all(isinstance(kind, HostKind) for kind in kinds)
    assert HostKind.HASHED_CROSSING in kinds
    for step in plan.split.steps:
        data = step.to_json()
        assert data["kind"] == step.kind.value and type(step).from_json(data).kind is step.kind
    steps = {call.path: call for call in plan.graph.calls if call.action is Action.HOST}
    assert {call.host.kind for call in steps.values()} == kinds
    assert all(call.op is None for call in steps.values())
