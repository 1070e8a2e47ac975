"""Lower layers whose TensorFlow graph a converter cannot take into equivalent builtin layers.

- Depthwise-shaped grouped convolution (``Conv1D/Conv2D`` with ``groups == input channels``,
  channels_last, not causal): Keras 3 runs a grouped conv through an XLA function call, which tf2onnx cannot
  convert (ConvNeXt's 7x7 convolutions). It is exactly a ``DepthwiseConv1D/2D`` with
  ``depth_multiplier = filters / groups``: output channel ``oc`` of the grouped conv reads input
  channel ``oc // m`` through kernel ``K[..., 0, oc]``; the depthwise output ``i*m + j`` reads
  channel ``i`` through ``D[..., i, j]``, so ``D = K.reshape(*k, C, m)`` and the bias is unchanged.
- Dense over the channels of an image (input ``(N, H, W, C)``, ONNX only): exactly a 1x1
  ``Conv2D`` with kernel ``W.reshape(1, 1, C, units)``. As a MatMul it needs the NHWC layout, so
  tf2onnx wraps every one in a Transpose pair (ConvNeXtTiny: 36 of them); as a Conv it stays NCHW.
- Exact GELU (``Activation("gelu")``, ONNX only): TensorFlow computes
  ``0.5 * x * erfc(-x / sqrt(2))`` and tf2onnx has no Erfc; the same function is
  ``0.5 * x * (1 + erf(x / sqrt(2)))`` (ONNX Erf). LiteRT keeps its builtin GELU.
"""

from __future__ import annotations

import numpy as np

from edgeprep import layers
from edgeprep.config import Action, Target
from edgeprep.graph import Call, Graph
from edgeprep.transforms.base import LayerRule, current_layer
from edgeprep.transforms.rewrite import Rewrite


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
        new.build(tuple(call.inputs[0].shape))
        kernel = np.asarray(layer.kernel.numpy())
        new.kernel.assign(kernel.reshape(*kernel.shape[:-2], channels, layer.filters // channels))
        if layer.use_bias:
            new.bias.assign(np.asarray(layer.bias.numpy()))
        return self.replace_op(call, new, f"grouped conv with groups = channels = {channels}: a DepthwiseConv (Keras runs it through XLA, which tf2onnx cannot convert)")


class LowerPixelDense(LayerRule):
    """``Dense`` on an ``(N, H, W, C)`` input -> ``Conv2D(units, 1)`` for ONNX."""

    name = "lower-pixel-dense"
    classes = ("Dense",)
    action = Action.LOWERED
    targets = (Target.ONNX,)

    def matches(self, call: Call) -> bool:
        layer = current_layer(call)
        return super().matches(call) and type(layer) is type(call.layer) and bool(call.inputs) and len(call.inputs[0].shape) == 4

    def rewrite(self, call: Call, graph: Graph, target: Target) -> Rewrite:
        import keras

        layer = current_layer(call)
        conv = keras.layers.Conv2D(
            layer.units, 1, activation=layer.get_config()["activation"], use_bias=layer.use_bias,
            dtype=layer.dtype_policy, name=layer.name,
        )
        conv.build(tuple(call.inputs[0].shape))
        conv.kernel.assign(np.asarray(layer.kernel.numpy()).reshape(1, 1, *layer.kernel.shape))
        if layer.use_bias:
            conv.bias.assign(np.asarray(layer.bias.numpy()))
        return self.replace_op(call, conv, "Dense over image channels as a 1x1 Conv2D: the ONNX graph keeps NCHW instead of a Transpose pair")


class LowerExactGelu(LayerRule):
    """``Activation("gelu")`` -> ``0.5 x (1 + erf(x / sqrt 2))`` for ONNX."""

    name = "lower-exact-gelu"
    classes = ("Activation",)
    action = Action.LOWERED
    targets = (Target.ONNX,)

    def matches(self, call: Call) -> bool:
        return super().matches(call) and call.layer.get_config().get("activation") == "gelu"

    def rewrite(self, call: Call, graph: Graph, target: Target) -> Rewrite:
        return self.replace_op(call, layers.erf_gelu(name=call.layer.name), "exact GELU through Erf (tf2onnx has no Erfc, which TensorFlow's GELU uses)")
