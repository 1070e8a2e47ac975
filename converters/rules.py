"""Lowerings both TensorFlow converters need: layers whose traced graph a converter cannot take.

- Depthwise-shaped grouped convolution (``Conv1D/Conv2D`` with ``groups == input channels``,
  channels_last, not causal): Keras 3 runs a grouped conv through an XLA function call, which tf2onnx cannot
  convert (ConvNeXt's 7x7 convolutions). It is exactly a ``DepthwiseConv1D/2D`` with
  ``depth_multiplier = filters / groups``: output channel ``oc`` of the grouped conv reads input
  channel ``oc // m`` through kernel ``K[..., 0, oc]``; the depthwise output ``i*m + j`` reads
  channel ``i`` through ``D[..., i, j]``, so ``D = K.reshape(*k, C, m)`` and the bias is unchanged.

Exact GELU (``activation="gelu"``, or ``keras.activations.gelu`` with ``approximate=False``) is
``0.5 x erfc(-x / sqrt 2)`` in TensorFlow, and tf2onnx has no Erfc: `exact_gelu` tells a layer or op
that computes it, and `erf_activation` makes a layer a lowering builds compute it through Erf for
ONNX (``converters/onnx/rules.py`` lowers the rest).

Recurrent layers (GRU, LSTM, SimpleRNN) run as a While loop whose TensorList needs a static batch
in the TFLite converter ("TensorListReserve requires element_shape to be static"). With a dynamic
batch and static timesteps, `unrolled_recurrent` rewrites such a layer as its copy with
``unroll=True`` (same weights; the TFLite target's placement hook applies it, since only the
config says whether the batch is dynamic). Measured (GRU(64), 1 thread, batch 1): 12 steps 0.037 ms
unrolled vs 0.113 ms as a WHILE; 100 steps 1.02 ms vs 0.60 ms and 648 KB vs 366 KB, so a static
batch keeps the loop. Beyond `MAX_UNROLL` steps, or over a dynamic number, a layer that returns only its
final output runs as a WHILE over its states alone (`converters.tflite.recurrent`, measured there); one
that returns its sequence is refused with ``--batch 1`` / ``--target onnx`` advice.

Converter-specific rules live beside their converter (``converters/<target>/rules.py``), whose
``RULES`` the backend hands to the planner's lower phase (`edgeprep.backend.Backend.rules`).
"""

from __future__ import annotations

import numpy as np

from edgeprep import layers
from edgeprep.config import Action, Target
from edgeprep.graph import Call, Graph
from edgeprep.transforms.base import LayerRule, current_layer
from edgeprep.transforms.rewrite import Edit, Rewrite

RECURRENT = ("GRU", "LSTM", "SimpleRNN")
MAX_UNROLL = 64


def exact_gelu(layer) -> bool:
    """True when ``layer`` (a Keras layer or op) computes the exact, erf-based GELU."""
    if type(layer).__name__ == "Gelu":  # keras.activations.gelu / keras.ops.gelu in a functional model
        return not layer.approximate
    get_config = getattr(layer, "get_config", None)
    return get_config is not None and get_config().get("activation") == "gelu"


def erf_activation(layer, target: Target):
    """``layer`` (just built by a lowering) with its exact GELU computed through Erf for ONNX."""
    if target is Target.ONNX and exact_gelu(layer):
        layer.activation = layers.erf_gelu_function
    return layer


class LowerDepthwiseGroupedConv(LayerRule):
    """``Conv(groups=C)`` -> ``DepthwiseConv(depth_multiplier=filters/C)``, same weights reshaped."""

    name = "lower-grouped-conv"
    classes = ("Conv1D", "Conv2D")
    action = Action.LOWERED

    def matches(self, call: Call) -> bool:
        layer = current_layer(call)  # a fold may have replaced its weights
        if not super().matches(call) or type(layer) is not type(call.layer) or layer.groups == 1 or layer.padding == "causal":
            return False  # DepthwiseConv1D has no causal padding
        return layer.data_format == "channels_last" and bool(call.inputs) and call.inputs[0].shape[-1] == layer.groups

    def rewrite(self, call: Call, graph: Graph, target: Target) -> Rewrite:
        import keras

        layer = current_layer(call)
        cls = keras.layers.DepthwiseConv2D if type(layer).__name__ == "Conv2D" else keras.layers.DepthwiseConv1D
        config = layer.get_config()
        channels = layer.groups
        new = cls(
            kernel_size=layer.kernel_size, strides=layer.strides, padding=layer.padding,
            depth_multiplier=layer.filters // channels, dilation_rate=layer.dilation_rate,
            activation=config["activation"], use_bias=layer.use_bias, data_format="channels_last",
            dtype=layer.dtype_policy, name=layer.name,
        )
        erf_activation(new, target).build(tuple(call.inputs[0].shape))
        kernel = np.asarray(layer.kernel.numpy())
        new.kernel.assign(kernel.reshape(*kernel.shape[:-2], channels, layer.filters // channels))
        if layer.use_bias:
            new.bias.assign(np.asarray(layer.bias.numpy()))
        return self.replace_op(call, new, f"grouped conv with groups = channels = {channels}: a DepthwiseConv (Keras runs it through XLA, which tf2onnx cannot convert)")


def unrolled_recurrent(graph: Graph, rule_name: str = "unroll-recurrent") -> Rewrite:
    """Every kept GRU / LSTM / SimpleRNN call of ``graph`` rewritten for a dynamic-batch TFLite artifact:
    unrolled over up to `MAX_UNROLL` static timesteps; beyond that, or over a dynamic number, a loop over
    its states alone when only its final output is used (`converters.tflite.recurrent`); otherwise a
    fatal problem with ``--batch 1`` / ``--target onnx`` advice."""
    from converters.tflite.recurrent import loopable, state_loop
    from edgeprep.transforms.base import keras_class_name

    rewrite = Rewrite()
    for call in graph.live_calls():
        layer = current_layer(call)
        if keras_class_name(call.layer) not in RECURRENT or call.action is not Action.KEPT or layer.unroll:
            continue
        steps = call.inputs[0].shape[1] if call.inputs else None
        if steps is not None and steps <= MAX_UNROLL:
            copy = type(layer).from_config(layer.get_config() | {"unroll": True})
            copy.build(tuple(call.inputs[0].shape))
            copy.set_weights(layer.get_weights())
            detail = f"unrolled over its {steps} timesteps: TFLite's WHILE loop needs a static batch (--batch 1 keeps the loop)"
            rewrite = rewrite.then(Rewrite.of(call, op=copy, action=Action.LOWERED, rule=rule_name, detail=detail))
        elif loopable(layer):
            detail = (f"a WHILE over its states alone for {steps or 'a dynamic number of'} timesteps (Keras' loop keeps "
                      "TensorLists, which TFLite takes only with a static batch)")
            rewrite = rewrite.then(Rewrite.of(call, op=state_loop(layer), action=Action.LOWERED, rule=rule_name, detail=detail))
        else:
            problem = (f"{call.path} ({call.class_name}) returns its sequence over {steps or 'a dynamic number of'} timesteps, "
                       f"which TFLite converts only with a static batch (unrolled up to {MAX_UNROLL} steps); pass --batch 1, or "
                       "--target onnx (ONNX keeps the loop with a dynamic batch)")
            rewrite = rewrite.then(Rewrite((Edit.of(call, action=Action.UNSUPPORTED, detail=problem, rule=rule_name),), (problem,)))
    return rewrite
