"""Raw sample inputs for checking a built model when no data is given, drawn from layer state.

The first layer reading each input decides: a lookup draws from its vocabulary plus one
out-of-vocabulary token, TextVectorization joins 1-6 vocabulary tokens with spaces,
Discretization draws around its boundaries (and hits each boundary exactly); otherwise the ranges
of `edgeprep.parity.samples` apply (Normalization statistics, Rescaling ranges, dtype defaults).
"""

from __future__ import annotations

import numpy as np

OOV_STRING = "edgeprep-out-of-vocabulary"


def raw_samples(model, rows: int = 16, seed: int = 0) -> dict[str, np.ndarray]:
    """``rows`` raw examples for every input of ``model``, seeded."""
    from edgeprep.graph import flatten
    from edgeprep.parity.samples import InputHint, draw, input_hints
    from edgeprep.runners import KerasRunner

    graph = flatten(model)
    hints = input_hints(graph)
    rng = np.random.default_rng(seed)
    feed = {}
    for spec, tensor in zip(KerasRunner(model).inputs(), graph.inputs):
        shape = (rows, *(d if d is not None else 8 for d in spec.shape[1:]))
        consumers = graph.consumers(tensor)
        layer = consumers[0].layer if len(consumers) == 1 else None
        drawn = _from_state(layer, shape, rng) if layer is not None else None
        if drawn is None:
            drawn = _strings(shape, rng) if spec.is_string else draw(spec, hints.get(spec.name, InputHint("default")), shape, rng)
        feed[spec.name] = drawn.astype(spec.numpy_dtype()) if not spec.is_string else drawn.astype(str)
    return feed


def _from_state(layer, shape, rng: np.random.Generator) -> np.ndarray | None:
    kind = type(layer).__name__
    if kind in ("StringLookup", "IntegerLookup") and not getattr(layer, "invert", False):
        vocabulary = list(layer.get_vocabulary(include_special_tokens=False))
        if not vocabulary:
            return None
        if kind == "StringLookup":
            choices = np.array([str(v) for v in vocabulary] + [OOV_STRING], dtype=object)
        else:
            choices = np.array([int(v) for v in vocabulary] + [max(int(v) for v in vocabulary) + 1], dtype=np.int64)
        return rng.choice(choices, size=shape)
    if kind == "TextVectorization":
        words = [str(v) for v in layer.get_vocabulary(include_special_tokens=False)] + [OOV_STRING]
        texts = [" ".join(rng.choice(words, size=int(rng.integers(1, 7)))) for _ in range(int(np.prod(shape)))]
        return np.array(texts, dtype=object).reshape(shape)
    if kind == "Discretization" and layer.bin_boundaries:
        bounds = np.asarray(layer.bin_boundaries, dtype=np.float64)
        span = max(float(bounds[-1] - bounds[0]), 1.0)
        values = rng.uniform(bounds[0] - 0.1 * span, bounds[-1] + 0.1 * span, size=shape)
        flat = values.reshape(-1)
        flat[: min(bounds.size, flat.size)] = bounds[: flat.size]
        return values
    return None


def _strings(shape, rng: np.random.Generator) -> np.ndarray:
    return np.array([f"s{int(i)}" for i in rng.integers(0, 10, size=int(np.prod(shape)))], dtype=object).reshape(shape)
