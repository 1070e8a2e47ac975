"""Linear layers that absorb an affine map: one `Absorber` per layer family, with its math.

An affine map ``z = s * x + o`` (``s``, ``o`` per channel along the layer's contracted input
axis) folds *forward* into a linear layer ``y = act(W . z + b)``:

    y = act((W * s) . x + (b + W . o))

and a map ``y' = s * y + o`` on a linear layer's output (no activation) folds *backward*:

    y' = (W * s) . x + (b * s + o)         (s, o along the output channel axis)

Each absorber says which input axis its kernel contracts, whether it pads with zeros (then only
``s`` folds: a zero padded in normalised space is not a zero in raw space), and builds a NEW layer
with the folded weights, computed in float64 and rounded once to the layer's float32 variables.
The original layer is never touched. Per family:

- Dense: ``W[i, j] * s[i]``; bias ``b[j] + sum_i W[i, j] o[i]``. Backward: ``W[i, j] * s[j]``.
- EinsumDense (no ``...``): ``s`` may vary only along contracted labels (in the kernel, not in
  the output); ``W' = W * s`` on those labels, bias term ``einsum(o, W)`` over the kernel's free
  labels (bias axes widened to cover them). No backward fold.
- Conv1D/2D/3D (any strides, dilations, groups): kernel ``(*k, C_in/g, C_out)``; output channel
  ``oc`` of group ``oc // (C_out/g)`` reads input channel ``group * C_in/g + i``, so
  ``W[..., i, oc] * s[that channel]`` and bias ``b[oc] + sum_{k,i} W[k, i, oc] o[that channel]``.
  ``padding="same"``/``"causal"`` pad with zeros: scale only.
- DepthwiseConv1D/2D: kernel ``(*k, C_in, m)``, output ``i * m + j``: ``W[..., i, j] * s[i]``,
  bias ``b[i*m + j] + o[i] * sum_k W[k, i, j]``.
- SeparableConv1D/2D: the scale goes into the depthwise kernel, the shift's depthwise response
  ``d[i*m + j] = o[i] sum_k D[k, i, j]`` goes through the pointwise kernel into the bias
  ``b + d . P``. Backward: into the pointwise kernel and bias.
- BatchNormalization (inference: ``gamma (z - mean) / sqrt(var + eps) + beta``): forward
  ``gamma' = gamma s``, ``mean' = (mean - o) / s`` (needs ``s != 0``); backward ``gamma' = gamma s``,
  ``beta' = beta s + o``. Variance and epsilon are unchanged.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from edgeprep.transforms.base import keras_class_name


class Absorber(ABC):
    """Folds an affine map into (or out of) one family of linear layers."""

    classes: ClassVar[tuple[str, ...]]
    backward_supported: ClassVar[bool] = True

    def problem(self, layer) -> str | None:
        """Why ``layer`` cannot take a fold at all, or None."""
        policy = getattr(layer, "dtype_policy", None)
        if policy is not None and (policy.compute_dtype != "float32" or policy.variable_dtype != "float32"):
            return f"{layer.name} computes in {policy.name}, folds are float32 only"
        if getattr(layer, "quantization_mode", None):
            return f"{layer.name} is quantized"
        if getattr(layer, "lora_enabled", False):
            return f"{layer.name} has LoRA weights"
        return None

    def in_axis(self, layer, rank: int) -> int:
        """The input axis the kernel contracts (the channel axis)."""
        return 1 if getattr(layer, "data_format", "channels_last") == "channels_first" else rank - 1

    def out_axis(self, layer, rank: int) -> int:
        """The output channel axis (for backward folds)."""
        return self.in_axis(layer, rank)

    def pads_with_zeros(self, layer) -> bool:
        return False

    def is_linear(self, layer) -> bool:
        """Whether the layer's output is affine in its input (no activation after the bias)."""
        activation = layer.get_config().get("activation", "linear")
        return activation in ("linear", None)

    @abstractmethod
    def forward(self, layer, scale: np.ndarray, offset: np.ndarray | None, name: str, input_shape):
        """A new layer computing ``layer(scale * x + offset)`` (``offset=None``: scale only)."""

    def backward(self, layer, scale: np.ndarray, offset: np.ndarray, name: str, input_shape):
        """A new layer computing ``scale * layer(x) + offset``."""
        raise NotImplementedError(type(self).__name__)


def _clone(layer, name: str, input_shape, **changes):
    """A fresh, built layer of ``layer``'s class and config (with ``changes``), weights unset."""
    config = layer.get_config() | {"name": name, **changes}
    new = type(layer).from_config(config)
    new.build(input_shape)
    return new


def _f32(value: np.ndarray) -> np.ndarray:
    return np.asarray(value, dtype=np.float64).astype(np.float32)


def _numpy(variable) -> np.ndarray:
    return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable, dtype=np.float64)


def _bias(layer, size: int) -> np.ndarray:
    bias = getattr(layer, "bias", None)
    return _numpy(bias) if bias is not None else np.zeros(size)


class DenseAbsorber(Absorber):
    classes = ("Dense",)

    def forward(self, layer, scale, offset, name, input_shape):
        kernel = _numpy(layer.kernel)
        new = _clone(layer, name, input_shape, use_bias=layer.use_bias or offset is not None)
        new.kernel.assign(_f32(kernel * scale[:, None]))
        if new.use_bias:
            bias = _bias(layer, kernel.shape[1]) + (offset @ kernel if offset is not None else 0.0)
            new.bias.assign(_f32(bias))
        return new

    def backward(self, layer, scale, offset, name, input_shape):
        kernel = _numpy(layer.kernel)
        new = _clone(layer, name, input_shape, use_bias=True)
        new.kernel.assign(_f32(kernel * scale[None, :]))
        new.bias.assign(_f32(_bias(layer, kernel.shape[1]) * scale + offset))
        return new


class ConvAbsorber(Absorber):
    classes = ("Conv1D", "Conv2D", "Conv3D")

    def pads_with_zeros(self, layer) -> bool:
        return layer.padding in ("same", "causal")

    def forward(self, layer, scale, offset, name, input_shape):
        kernel = _numpy(layer.kernel)
        channel = _group_channels(kernel.shape[-2], kernel.shape[-1], layer.groups)
        new = _clone(layer, name, input_shape, use_bias=layer.use_bias or offset is not None)
        new.kernel.assign(_f32(kernel * scale[channel]))
        if new.use_bias:
            shift = np.sum(kernel * offset[channel], axis=tuple(range(kernel.ndim - 1))) if offset is not None else 0.0
            new.bias.assign(_f32(_bias(layer, kernel.shape[-1]) + shift))
        return new

    def backward(self, layer, scale, offset, name, input_shape):
        kernel = _numpy(layer.kernel)
        new = _clone(layer, name, input_shape, use_bias=True)
        new.kernel.assign(_f32(kernel * scale))
        new.bias.assign(_f32(_bias(layer, kernel.shape[-1]) * scale + offset))
        return new


def _group_channels(in_per_group: int, out_channels: int, groups: int) -> np.ndarray:
    """``[i, oc] -> input channel`` read by kernel entry ``(i, oc)`` of a grouped convolution."""
    out_per_group = out_channels // groups
    group = np.arange(out_channels) // out_per_group
    return group[None, :] * in_per_group + np.arange(in_per_group)[:, None]


class DepthwiseAbsorber(Absorber):
    classes = ("DepthwiseConv1D", "DepthwiseConv2D")

    def pads_with_zeros(self, layer) -> bool:
        return layer.padding in ("same", "causal")

    def forward(self, layer, scale, offset, name, input_shape):
        kernel = _numpy(layer.kernel)  # (*k, C_in, m)
        new = _clone(layer, name, input_shape, use_bias=layer.use_bias or offset is not None)
        new.kernel.assign(_f32(kernel * scale[:, None]))
        if new.use_bias:
            spatial = tuple(range(kernel.ndim - 2))
            shift = (np.sum(kernel, axis=spatial) * offset[:, None]).reshape(-1) if offset is not None else 0.0
            new.bias.assign(_f32(_bias(layer, kernel.shape[-2] * kernel.shape[-1]) + shift))
        return new

    def backward(self, layer, scale, offset, name, input_shape):
        kernel = _numpy(layer.kernel)
        new = _clone(layer, name, input_shape, use_bias=True)
        new.kernel.assign(_f32(kernel * scale.reshape(kernel.shape[-2:])))
        new.bias.assign(_f32(_bias(layer, scale.size) * scale + offset))
        return new


class SeparableAbsorber(Absorber):
    classes = ("SeparableConv1D", "SeparableConv2D")

    def pads_with_zeros(self, layer) -> bool:
        return layer.padding in ("same", "causal")

    def forward(self, layer, scale, offset, name, input_shape):
        depthwise, pointwise = _numpy(layer.depthwise_kernel), _numpy(layer.pointwise_kernel)
        new = _clone(layer, name, input_shape, use_bias=layer.use_bias or offset is not None)
        new.depthwise_kernel.assign(_f32(depthwise * scale[:, None]))
        new.pointwise_kernel.assign(_f32(pointwise))
        if new.use_bias:
            shift = 0.0
            if offset is not None:
                response = (np.sum(depthwise, axis=tuple(range(depthwise.ndim - 2))) * offset[:, None]).reshape(-1)
                shift = response @ pointwise.reshape(-1, pointwise.shape[-1])
            new.bias.assign(_f32(_bias(layer, pointwise.shape[-1]) + shift))
        return new

    def backward(self, layer, scale, offset, name, input_shape):
        depthwise, pointwise = _numpy(layer.depthwise_kernel), _numpy(layer.pointwise_kernel)
        new = _clone(layer, name, input_shape, use_bias=True)
        new.depthwise_kernel.assign(_f32(depthwise))
        new.pointwise_kernel.assign(_f32(pointwise * scale))
        new.bias.assign(_f32(_bias(layer, pointwise.shape[-1]) * scale + offset))
        return new


class BatchNormAbsorber(Absorber):
    classes = ("BatchNormalization",)

    def problem(self, layer) -> str | None:
        if getattr(layer, "renorm", False):
            return f"{layer.name} uses batch renormalization"
        return super().problem(layer)

    def in_axis(self, layer, rank: int) -> int:
        axis = layer.axis
        return axis if axis >= 0 else axis + rank

    def is_linear(self, layer) -> bool:
        return True

    def _parts(self, layer):
        size = layer.moving_mean.shape[0]
        gamma = _numpy(layer.gamma) if layer.scale else np.ones(size)
        beta = _numpy(layer.beta) if layer.center else np.zeros(size)
        return gamma, beta, _numpy(layer.moving_mean), _numpy(layer.moving_variance)

    def _build(self, layer, name, input_shape, gamma, beta, mean, variance):
        new = _clone(layer, name, input_shape, center=True, scale=True)
        for variable, value in ((new.gamma, gamma), (new.beta, beta), (new.moving_mean, mean), (new.moving_variance, variance)):
            variable.assign(_f32(value))
        return new

    def forward(self, layer, scale, offset, name, input_shape):
        gamma, beta, mean, variance = self._parts(layer)
        if np.any(scale == 0):
            return f"{layer.name}: a zero scale cannot move through its mean"
        shift = offset if offset is not None else 0.0
        return self._build(layer, name, input_shape, gamma * scale, beta, (mean - shift) / scale, variance)

    def backward(self, layer, scale, offset, name, input_shape):
        gamma, beta, mean, variance = self._parts(layer)
        return self._build(layer, name, input_shape, gamma * scale, beta * scale + offset, mean, variance)


class EinsumAbsorber(Absorber):
    classes = ("EinsumDense",)
    backward_supported = False

    def _specs(self, layer) -> tuple[str, str, str] | None:
        match = re.fullmatch(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", layer.equation.replace(" ", ""))
        return match.groups() if match else None

    def _contracted(self, layer) -> list[int]:
        inputs, weights, outputs = self._specs(layer)
        return [i for i, label in enumerate(inputs) if label in weights and label not in outputs]

    def problem(self, layer) -> str | None:
        if self._specs(layer) is None:
            return f"{layer.name}: EinsumDense equation {layer.equation!r} uses '...'; only explicit equations fold"
        if len(self._contracted(layer)) != 1:
            return f"{layer.name}: EinsumDense {layer.equation!r} does not contract exactly one input axis"
        return super().problem(layer)

    def in_axis(self, layer, rank: int) -> int:
        return self._contracted(layer)[0]

    def forward(self, layer, scale, offset, name, input_shape):
        inputs, weights, outputs = self._specs(layer)
        label = inputs[self.in_axis(layer, len(inputs))]
        kernel = _numpy(layer.kernel)
        free = "".join(char for char in outputs if char in weights)
        bias_axes = layer.bias_axes or ""
        if offset is not None:
            bias_axes = "".join(char for char in outputs if char in bias_axes or char in free)
        new = _clone(layer, name, input_shape, bias_axes=bias_axes or None)
        new.kernel.assign(_f32(np.einsum(f"{weights},{label}->{weights}", kernel, scale)))
        if new.bias is not None:
            bias = _numpy(layer.bias) if layer.bias is not None else np.zeros(tuple(new.bias.shape))
            if offset is not None:
                # The bias spans the output axes from the first bias axis on (1 where not a bias axis).
                tail = outputs[min(outputs.index(char) for char in bias_axes):]
                term = np.einsum(f"{label},{weights}->{free}", offset, kernel)
                bias = bias + term.reshape([term.shape[free.index(char)] if char in free else 1 for char in tail])
            new.bias.assign(_f32(bias))
        return new


ABSORBERS: tuple[Absorber, ...] = (
    DenseAbsorber(), EinsumAbsorber(), ConvAbsorber(), DepthwiseAbsorber(), SeparableAbsorber(), BatchNormAbsorber(),
)


def absorber_of(layer) -> Absorber | None:
    """The absorber of ``layer``'s exact Keras class, or None."""
    name = keras_class_name(layer)
    return next((absorber for absorber in ABSORBERS if name in absorber.classes), None)
