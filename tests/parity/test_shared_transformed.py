"""Targets whose planned graphs compute the same thing share one transformed Keras model, run once per batch."""

from __future__ import annotations

import numpy as np

from edgeprep.config import ExportConfig, Target
from edgeprep.graph import rebuild
from edgeprep.parity.chain import Link, run_chain, same_computation, shared_models, transformed_runners
from edgeprep.plan import make_plans
from edgeprep.runners import KerasRunner


class Counting(KerasRunner):
    """A KerasRunner that counts its inferences (the real model runs)."""

    def __init__(self, runner: KerasRunner):
        super().__init__(runner.model, runner.name, names=([s.name for s in runner.inputs()], [s.name for s in runner.outputs()]))
        self.calls = 0

    def _infer(self, feed):
        self.calls += 1
        return super()._infer(feed)


def test_same_graphs_share_one_model_and_one_run(zoo_exports):
    exported = zoo_exports("seed_cnn")
    model, result = exported.model, exported.result
    plans = make_plans(model, ExportConfig())
    tflite, onnx = plans[Target.TFLITE].graph, plans[Target.ONNX].graph
    # each plan folds Rescaling into its own new Conv2D: equal config and weights, not the same object
    conv = next(call.path for call in tflite.calls if call.class_name == "Conv2D")  # "conv2d_N": Keras numbers layers per session
    assert tflite.call(conv).op is not onnx.call(conv).op
    assert same_computation(tflite, onnx)
    assert not same_computation(tflite, make_plans(model, ExportConfig(fold=False))[Target.ONNX].graph)

    built = []
    models = shared_models({t: p.graph for t, p in plans.items()}, lambda graph: built.append(graph) or rebuild(graph))
    assert len(built) == 1 and models[Target.TFLITE] is models[Target.ONNX]
    runners = transformed_runners(plans, models)
    shared = Counting(runners[Target.TFLITE])
    original = KerasRunner(model)
    rng = np.random.default_rng(0)
    batches = [{original.inputs()[0].name: rng.uniform(0, 255, (rows, 28, 28, 1)).astype(np.float32)} for rows in (1, 3)]
    # the artifacts' stand-ins: separately rebuilt transformed models (what edgeprep ran before sharing)
    separate = {t: KerasRunner(rebuild(p.graph), f"transformed[{t.value}]", names=(p.graph.input_names, p.graph.output_names)) for t, p in plans.items()}
    chain = run_chain(batches, original, {t: Link(shared, separate[t]) for t in plans})
    assert shared.calls == len(batches)  # once per batch for both targets, not once per target
    tolerance = result.evidence[Target.TFLITE].verdict.tolerance
    for target in plans:
        assert chain.verdicts[target].report(tolerance).passed
        converter = chain.converters[target].report(tolerance)
        assert converter.outputs[0].max_abs == 0.0  # shared and separate transformed models agree bit for bit


def test_affine_layers_are_the_same_op_only_with_equal_constants():
    from edgeprep.layers import affine
    from edgeprep.parity.chain import _same_op

    a, b = affine([0.5, 0.5, 0.5], 2.0, None, "a"), affine([0.5, 0.5, 0.5], 2.0, None, "a")
    assert a is not b and _same_op(a, b)
    assert not _same_op(a, affine([0.5, 0.5, 0.25], 2.0, None, "a"))
    assert not _same_op(a, affine([0.5, 0.5, 0.5], 2.0, 1.0, "a"))
