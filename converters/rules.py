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

Converter-specific rules live beside their converter (``converters/<target>/rules.py``), whose
``RULES`` the backend hands to the planner's lower phase (`edgeprep.backend.Backend.rules`).
"""

from __future__ import annotations

import numpy as np

from edgeprep import layers
from edgeprep.config import Action, Target
from edgeprep.graph import Call, Graph
from edgeprep.transforms.base import LayerRule, current_layer
from edgeprep.transforms.rewrite import Rewrite


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
