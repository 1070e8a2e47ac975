"""Random affine-preprocessing models for the fold property tests (hypothesis strategies).

A case is a raw input distribution, a chain of 1-3 affine layers whose statistics follow the data
(so the original's own float32 arithmetic is well conditioned), and one consumer layer with random
kernel size, strides, padding, groups, dilation and data format.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

CONSUMERS = (
    "dense", "dense_seq", "einsum", "conv1d", "conv2d", "conv3d", "depthwise1d", "depthwise2d",
    "separable1d", "separable2d", "batchnorm", "zeropad_conv2d", "relu",
)
SPATIAL = {"dense": 0, "dense_seq": 1, "einsum": 1, "conv1d": 1, "conv2d": 2, "conv3d": 3, "depthwise1d": 1,
           "depthwise2d": 2, "separable1d": 1, "separable2d": 2, "batchnorm": 2, "zeropad_conv2d": 2, "relu": 2}
# Keras runs channels_first Conv1D/2D/3D on CPU only through XLA, whose grouped strided results
# are wrong in TF 2.21 (the original model is off, not the fold): channels_first is tested on the
# layers Keras computes correctly.
CHANNELS_FIRST_OK = {"depthwise1d", "depthwise2d", "separable1d", "separable2d", "batchnorm"}


@dataclass(frozen=True)
class Case:
    """One generated model description (hypothesis shows it when a property fails)."""

    consumer: str
    channels: int
    spatial: tuple[int, ...]
    channels_first: bool
    chain: tuple[tuple[str, dict], ...]
    consumer_args: dict
    seed: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.channels, *self.spatial) if self.channels_first else (*self.spatial, self.channels)

    @property
    def channel_axis(self) -> int:
        return 1 if self.channels_first else len(self.spatial) + 1


def _log_uniform(draw, low: float, high: float) -> float:
    return float(10 ** draw(st.floats(np.log10(low), np.log10(high))))


@st.composite
def cases(draw, consumers=CONSUMERS, grouped: bool = True) -> Case:
    """Random cases; ``grouped=False`` keeps convolutions ungrouped (Keras 3 runs a grouped conv
    through an XLA call that tf2onnx cannot convert)."""
    consumer = draw(st.sampled_from(consumers))
    channels = draw(st.sampled_from([1, 2, 3, 4, 6]))
    spatial = tuple(draw(st.integers(5, 9)) for _ in range(SPATIAL[consumer]))
    channels_first = consumer in CHANNELS_FIRST_OK and draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    chain = _chain(draw, channels, channels_first, spatial)
    return Case(consumer, channels, spatial, channels_first, chain, _consumer_args(draw, consumer, channels, grouped), seed)


def _chain(draw, channels: int, channels_first: bool, spatial: tuple[int, ...]):
    """1-3 affine layers; each one's statistics follow the distribution that reaches it."""
    rank, spatial_size = len(spatial) + 2, (spatial[0] if spatial else 0)
    chain = []
    if draw(st.booleans()):  # raw data in [0, R], read by a Rescaling (parity samples draw U[0, 1/max|scale|])
        limit = draw(st.sampled_from([1.0, 255.0, 65535.0]))
        spread = np.array([draw(st.floats(0.5, 1.0)) for _ in range(channels)])
        args, scale, offset = _rescaling(draw, spread / spread.max() / limit, np.full(channels, draw(st.sampled_from([0.0, -0.5, -1.0, 0.25]))), channels_first, rank)
        chain.append(("rescaling", args))
        mean, std = scale * limit / 2 + offset, scale * limit / np.sqrt(12)
    else:  # raw data around a mean of any magnitude, read by a Normalization
        magnitude = draw(st.sampled_from([0.0, 1.0, 100.0, 1e4]))
        mean = np.array([draw(st.floats(-1, 1)) * magnitude for _ in range(channels)])
        std = np.array([_log_uniform(draw, 1e-2, 1e3) for _ in range(channels)])
        chain.append(("normalization", _normalization(draw, mean, std, channels_first, spatial_size)))
        mean, std = np.zeros(channels), np.ones(channels)
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            factor = np.array([draw(st.floats(0.2, 5.0)) * draw(st.sampled_from([1, -1])) for _ in range(channels)]) / std
            shift = -factor * mean + np.array([draw(st.floats(-2, 2)) for _ in range(channels)])
            args, scale, offset = _rescaling(draw, factor, shift, channels_first, rank)
            chain.append(("rescaling", args))
            mean, std = mean * scale + offset, std * np.abs(scale)
        else:
            chain.append(("normalization", _normalization(draw, mean, std, channels_first, spatial_size)))
            mean, std = np.zeros(channels), np.ones(channels)
    return tuple(chain)


def _rescaling(draw, scale: np.ndarray, offset: np.ndarray, channels_first: bool, rank: int):
    """Rescaling args (per-channel or scalar) and the per-channel vectors they mean.

    Per channel: ``(C,)`` lists broadcast along the last axis (channels_last); channels_first
    models give both as ``(C, 1, ...)`` (Keras reshapes a scale only under a channels_first
    *global* image format, which these models do not set).
    """
    if not draw(st.booleans()):
        scale, offset = np.full_like(scale, scale[0]), np.full_like(offset, offset[0])
        return {"scale": float(scale[0]), "offset": float(offset[0])}, scale, offset
    shape = (-1,) + (1,) * (rank - 2) if channels_first else (-1,)
    return {"scale": scale.reshape(shape).tolist(), "offset": offset.reshape(shape).tolist()}, scale, offset


def _normalization(draw, mean, std, channels_first: bool, spatial_size: int) -> dict:
    """Statistics near the data's: per channel, scalar (axis=None), or along a spatial axis."""
    jitter_mean = mean + std * np.array([draw(st.floats(-0.5, 0.5)) for _ in mean])
    jitter_var = (std * np.array([draw(st.floats(0.5, 2.0)) for _ in std])) ** 2
    kind = draw(st.sampled_from(["channel", "scalar", "spatial"] if spatial_size else ["channel", "scalar"]))
    if kind == "scalar":
        return {"axis": None, "mean": float(np.mean(jitter_mean)), "variance": float(np.max(jitter_var))}
    if kind == "spatial":  # varies along an axis no kernel contracts: must stay one fused op
        ripple = np.array([draw(st.floats(-0.3, 0.3)) for _ in range(spatial_size)])
        return {"axis": 2 if channels_first else 1, "mean": (np.mean(jitter_mean) + np.max(std) * ripple).tolist(), "variance": [float(np.max(jitter_var))] * spatial_size}
    return {"axis": 1 if channels_first else -1, "mean": jitter_mean.tolist(), "variance": jitter_var.tolist()}


def _consumer_args(draw, consumer: str, channels: int, grouped: bool) -> dict:
    if consumer in ("dense", "dense_seq", "einsum"):
        return {"units": draw(st.integers(1, 5)), "activation": draw(st.sampled_from([None, "relu"]))}
    if consumer in ("batchnorm", "relu"):
        return {}
    kernel = draw(st.integers(1, 3))
    args = {"kernel_size": kernel, "padding": draw(st.sampled_from(["valid", "same"] + (["causal"] if consumer == "conv1d" else [])))}
    dilated = draw(st.booleans())
    args["strides"] = 1 if dilated else draw(st.integers(1, 2))
    args["dilation_rate"] = draw(st.integers(1, 2)) if dilated else 1
    if consumer.startswith("depthwise") or consumer.startswith("separable"):
        args["depth_multiplier"] = draw(st.integers(1, 2))
    if consumer.startswith("conv") or consumer == "zeropad_conv2d":
        groups = draw(st.sampled_from([g for g in ((1, 2, 3) if grouped else (1,)) if channels % g == 0]))
        args["groups"] = groups
        args["filters"] = groups * draw(st.integers(1, 3))
    if consumer.startswith("separable"):
        args["filters"] = draw(st.integers(1, 4))
    if consumer == "zeropad_conv2d":
        args["padding"] = "valid"
        args["pad"] = draw(st.integers(1, 2))
    return args


def keras_computes_it(model, case: Case) -> bool:
    """False where Keras itself departs from its documented math, so a fold cannot be compared.

    Keras 3.15 (TF 2.21, CPU) adds a channels_first depthwise or grouped convolution's bias along
    the last spatial axis when that axis happens to be as long as the channel axis.
    """
    shape = model.output.shape
    return not (case.channels_first and len(shape) > 2 and shape[-1] == shape[1])


def build(case: Case):
    """The Keras model of ``case``: Input -> chain -> consumer."""
    import keras

    keras.utils.set_random_seed(case.seed)
    data_format = "channels_first" if case.channels_first else "channels_last"
    inputs = keras.Input(case.input_shape, name="x")
    x = inputs
    for kind, args in case.chain:
        x = keras.layers.Rescaling(**args)(x) if kind == "rescaling" else keras.layers.Normalization(**args)(x)
    x = _consumer(case, data_format)(x)
    return keras.Model(inputs, x, name="case")


def _consumer(case: Case, data_format: str):
    import keras

    args = dict(case.consumer_args)
    bias = keras.initializers.RandomNormal(0.0, 0.3, seed=case.seed)
    kind = case.consumer
    if kind in ("dense", "dense_seq"):
        return keras.layers.Dense(args["units"], activation=args["activation"], bias_initializer=bias)
    if kind == "einsum":
        return keras.layers.EinsumDense("abc,cd->abd", output_shape=(None, args["units"]), bias_axes="d", activation=args["activation"], bias_initializer=bias)
    if kind == "batchnorm":
        rng = np.random.default_rng(case.seed)
        c = case.channels
        return keras.layers.BatchNormalization(
            axis=case.channel_axis, moving_mean_initializer=keras.initializers.Constant(rng.normal(0, 0.5, c)),
            moving_variance_initializer=keras.initializers.Constant(rng.uniform(0.5, 2, c)),
            gamma_initializer=keras.initializers.Constant(rng.uniform(0.5, 1.5, c)), beta_initializer=bias,
        )
    if kind == "relu":
        return keras.layers.ReLU()
    if kind == "zeropad_conv2d":
        pad = args.pop("pad")
        return keras.Sequential([keras.layers.ZeroPadding2D(pad, data_format=data_format), _conv("conv2d", args, data_format, bias)])
    return _conv(kind, args, data_format, bias)


def _conv(kind: str, args: dict, data_format: str, bias):
    import keras

    cls = {"conv1d": keras.layers.Conv1D, "conv2d": keras.layers.Conv2D, "conv3d": keras.layers.Conv3D,
           "zeropad_conv2d": keras.layers.Conv2D, "depthwise1d": keras.layers.DepthwiseConv1D,
           "depthwise2d": keras.layers.DepthwiseConv2D, "separable1d": keras.layers.SeparableConv1D,
           "separable2d": keras.layers.SeparableConv2D}[kind]
    if args["padding"] == "causal" and data_format == "channels_first":
        args["padding"] = "same"
    return cls(**args, data_format=data_format, bias_initializer=bias)
