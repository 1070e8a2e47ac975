"""ONNX-only lowerings: what tf2onnx cannot convert well, rewritten into exact equivalents.

- Dense over the channels of an image (input ``(N, H, W, C)``): exactly a 1x1 ``Conv2D`` with kernel
  ``W.reshape(1, 1, C, units)``. As a MatMul it needs the NHWC layout, so tf2onnx wraps every one in
  a Transpose pair (ConvNeXtTiny: 36 of them); as a Conv it stays NCHW.
- Exact GELU (``Activation("gelu")``, ``activation="gelu"`` on Dense, Conv and the other layers with
  an activation, ``keras.activations.gelu(x)`` with ``approximate=False``): TensorFlow computes
  ``0.5 * x * erfc(-x / sqrt(2))`` and tf2onnx has no Erfc; the same function is
  ``0.5 * x * (1 + erf(x / sqrt(2)))`` (ONNX Erf). A layer with the activation becomes its copy
  (same config and weights) whose activation is that function. LiteRT keeps its builtin GELU.

``RULES`` runs in the planner's lower phase for the ONNX target (`edgeprep.backend.Backend.rules`).
"""

from __future__ import annotations

import numpy as np

from converters.rules import LowerDepthwiseGroupedConv, erf_activation, exact_gelu
from edgeprep import layers
from edgeprep.config import Action, Target
from edgeprep.graph import Call, Graph
from edgeprep.transforms.base import LayerRule, current_layer
from edgeprep.transforms.rewrite import Rewrite


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
        erf_activation(conv, target).build(tuple(call.inputs[0].shape))
        conv.kernel.assign(np.asarray(layer.kernel.numpy()).reshape(1, 1, *layer.kernel.shape))
        if layer.use_bias:
            conv.bias.assign(np.asarray(layer.bias.numpy()))
        return self.replace_op(call, conv, "Dense over image channels as a 1x1 Conv2D: the ONNX graph keeps NCHW instead of a Transpose pair")


class LowerExactGelu(LayerRule):
    """Exact GELU (``activation="gelu"``, ``keras.activations.gelu`` op) -> ``0.5 x (1 + erf(x / sqrt 2))`` for ONNX."""

    name = "lower-exact-gelu"
    classes = (
        "Activation", "Gelu", "Dense", "EinsumDense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose",
        "Conv2DTranspose", "Conv3DTranspose", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
    )
    action = Action.LOWERED
    targets = (Target.ONNX,)

    def matches(self, call: Call) -> bool:
        return super().matches(call) and exact_gelu(current_layer(call))

    def rewrite(self, call: Call, graph: Graph, target: Target) -> Rewrite:
        layer = current_layer(call)
        detail = "exact GELU through Erf (tf2onnx has no Erfc, which TensorFlow's GELU uses)"
        if call.class_name in ("Activation", "Gelu"):
            return self.replace_op(call, layers.erf_gelu(name=call.layer.name), detail)
        copy = type(layer).from_config(layer.get_config())
        copy.build(tuple(call.inputs[0].shape))
        copy.set_weights(layer.get_weights())
        return self.replace_op(call, erf_activation(copy, target), f"{call.class_name} with its {detail}")


RULES: tuple[LayerRule, ...] = (LowerDepthwiseGroupedConv(), LowerPixelDense(), LowerExactGelu())
