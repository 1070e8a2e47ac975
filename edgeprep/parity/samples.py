"""Generated parity inputs with realistic ranges, read from the model itself.

For each input, the first layer that gives values a meaning decides the range (layers that only
move pixels around, such as augmentation, Resizing or CenterCrop, are looked through):
- ``Rescaling(scale, offset)``: raw values uniform in ``[0, 1/|scale|]`` (0..255 for 1/255),
- ``Normalization(mean, var)``: raw values normal around ``mean`` with std ``sqrt(var)``,
- ``Embedding(input_dim)``: integers in ``[0, input_dim)``,
- otherwise by dtype: standard normal floats, integers in [0, 10), random booleans.
In every batch of three or more rows, rows 0 and 1 are made of edge values only: each element is
the low or the high edge of its range (0 or 255 for images, mean -/+ 3 std for normalised inputs,
0 or 4 for plain floats), row 1 the mirror of row 0, so every element meets both extremes. Samples are seeded; the seed is recorded in the
manifest so a failure reproduces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeprep.parity.vocab_samples import VocabularyHint, draw_vocabulary, vocabulary_hint
from edgeprep.specs import TensorSpec

LOOK_THROUGH = {
    "Resizing", "CenterCrop", "RandomCrop", "InputLayer", "Cast", "Reshape", "Permute",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
}


@dataclass(frozen=True)
class InputHint:
    """How to draw raw values for one input."""

    kind: str  # "uniform" | "normal" | "integer" | "bool" | "default" | "vocabulary" (low: a VocabularyHint)
    low: object = 0.0
    high: object = 1.0
    reason: str = "by dtype"


def input_hints(graph) -> dict[str, InputHint]:
    """Range hints for every input of a flattened (unedited) graph."""
    from edgeprep.transforms.strip import AUGMENTATION_CLASSES, REGULARIZATION_CLASSES

    through = LOOK_THROUGH | set(AUGMENTATION_CLASSES) | set(REGULARIZATION_CLASSES)
    hints = {}
    for name, tensor in zip(graph.input_names, graph.inputs):
        hints[name] = InputHint("default")
        vocabulary = vocabulary_hint(graph, tensor, through)
        if vocabulary is not None:  # lookup / text / bucketing layers: see vocab_samples
            hints[name] = InputHint("vocabulary", vocabulary, None, vocabulary.reason)
            continue
        frontier = [tensor]
        for _ in range(32):
            if not frontier:
                break
            consumers = graph.consumers(frontier.pop())
            if len(consumers) != 1:
                break
            call = consumers[0]
            hint = _hint_from_layer(call.layer, tuple(tensor.shape))
            if hint is not None:
                hints[name] = hint
                break
            if call.class_name in through:
                frontier.append(call.outputs[0])
    return hints


def _hint_from_layer(layer, shape) -> InputHint | None:
    kind = type(layer).__name__
    if kind == "Rescaling":
        scale = np.asarray(layer.scale, dtype=np.float64)
        magnitude = float(np.max(np.abs(scale))) if scale.size else 1.0
        if magnitude == 0:
            return None
        return InputHint("uniform", 0.0, 1.0 / magnitude, f"Rescaling(scale={_short(scale)}) reads raw values in [0, {1 / magnitude:g}]")
    if kind == "Normalization" and not getattr(layer, "invert", False) and getattr(layer, "mean", None) is not None:
        mean = np.asarray(layer.mean, dtype=np.float64)
        std = np.sqrt(np.maximum(np.asarray(layer.variance, dtype=np.float64), 0.0))
        return InputHint("normal", mean, np.where(std > 0, std, 1.0), "Normalization statistics")
    if kind == "Embedding":
        return InputHint("integer", 0, int(layer.input_dim), f"Embedding(input_dim={layer.input_dim})")
    return None


def _short(array: np.ndarray) -> str:
    return f"{float(array.reshape(-1)[0]):g}" if array.size == 1 else f"{array.size} values"


def generate(specs: list[TensorSpec], hints: dict[str, InputHint], batch_sizes: tuple[int, ...], seed: int) -> list[dict[str, np.ndarray]]:
    """One feed per batch size, drawn with ``hints`` from a generator seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    feeds = []
    for batch in batch_sizes:
        feed = {}
        for spec in specs:
            shape = (batch, *(dim if dim is not None else 8 for dim in spec.shape[1:]))
            hint = hints.get(spec.name, InputHint("default"))
            values = draw(spec, hint, shape, rng)
            if batch >= 3 and hint.kind != "vocabulary" and not spec.is_string:  # vocabularies carry their own edge cases
                low, high = edges(spec, hint, shape[1:])
                pick = rng.random(shape[1:]) < 0.5
                values[0], values[1] = np.where(pick, low, high), np.where(pick, high, low)
            feed[spec.name] = values
        feeds.append(feed)
    return feeds


def edges(spec: TensorSpec, hint: InputHint, row_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The low and high edge rows of an input's range."""
    dtype = np.dtype(spec.dtype)
    if dtype.kind == "b":
        return np.zeros(row_shape, bool), np.ones(row_shape, bool)
    if hint.kind == "uniform":
        low, high = np.full(row_shape, float(hint.low)), np.full(row_shape, float(hint.high))
    elif hint.kind == "normal":
        std, mean = _broadcast(hint.high, row_shape), _broadcast(hint.low, row_shape)
        low, high = mean - 3 * std, mean + 3 * std
    elif hint.kind == "integer":
        low, high = np.full(row_shape, int(hint.low)), np.full(row_shape, int(hint.high) - 1)
    elif dtype.kind in "iu":
        low, high = np.zeros(row_shape), np.full(row_shape, 9)
    else:
        low, high = np.zeros(row_shape), np.full(row_shape, 4.0)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        low, high = np.clip(np.round(low), info.min, info.max), np.clip(np.round(high), info.min, info.max)
    return low.astype(dtype), high.astype(dtype)


def draw(spec: TensorSpec, hint: InputHint, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Draw one array of ``shape`` for ``spec`` following ``hint``."""
    if hint.kind == "vocabulary" or spec.is_string:
        return draw_vocabulary(spec.dtype, hint.low if hint.kind == "vocabulary" else VocabularyHint(), shape, rng)
    dtype = np.dtype(spec.dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        low, high = (int(hint.low), int(hint.high)) if hint.kind == "integer" else (0, 10)
        if hint.kind == "uniform":
            low, high = 0, int(max(1, round(float(hint.high)))) + 1
        info = np.iinfo(dtype)
        return rng.integers(max(low, info.min), min(high, info.max + 1), size=shape).astype(dtype)
    if hint.kind == "uniform":
        values = rng.uniform(float(hint.low), float(hint.high), size=shape)
    elif hint.kind == "normal":
        values = rng.standard_normal(shape) * _broadcast(hint.high, shape) + _broadcast(hint.low, shape)
    elif hint.kind == "integer":
        values = rng.integers(int(hint.low), int(hint.high), size=shape)
    else:
        values = rng.standard_normal(shape)
    return values.astype(dtype)


def _broadcast(value, shape) -> np.ndarray:
    """``value`` (a layer statistic in Keras' broadcast shape, batch axis included) over ``shape``."""
    array = np.asarray(value, dtype=np.float64)
    while array.ndim > len(shape) and array.shape[0] == 1:  # a row has no batch axis
        array = array[0]
    try:
        return np.broadcast_to(array, shape)
    except ValueError:
        return np.broadcast_to(array.reshape(array.shape[-1:] if array.ndim else ()), shape)
