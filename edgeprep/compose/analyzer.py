"""The analyzer interface of the adapt pass: the layer it adapts and the combiner that computes its state.

Layer families that hold learned state subclass `LayerAnalyzer` (`edgeprep.families`);
`edgeprep.compose.adapt` drives them together. A leaf module, so families can subclass it without
importing the adapt pass that looks families up.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeprep.compose.sources import Column


@dataclass
class LayerToAdapt:
    """One layer whose state the adapt pass sets: it reads input ``column`` after the ``prefix`` layers.

    Attributes:
        layer: the Keras layer (its state is set in place).
        column: the raw input it reads.
        prefix: stateless layers between the raw input and ``layer``.
        where: how messages name it, e.g. ``"inputs.city/city_string_lookup"``.
        shape: per-example shape of what ``layer`` receives.
    """

    layer: Any
    column: Column
    prefix: tuple = ()
    where: str = ""
    shape: tuple = ()


class LayerAnalyzer:
    """Turns batches of one target's raw column into its statistic, then into layer state.

    Each layer family that holds learned state subclasses it (`edgeprep.families`), listing the
    Keras classes it ``adapts`` and saying with ``needs_state(layer)`` whether a layer still needs it.
    """

    adapts: tuple[str, ...] = ()

    @staticmethod
    def needs_state(layer) -> bool:
        raise NotImplementedError

    def __init__(self, target: LayerToAdapt):
        self.target = target

    def values(self, column: np.ndarray):
        """The target layer's input for a raw batch (``column`` through the prefix layers)."""
        if not self.target.prefix:
            return column
        import keras

        x = _to_tensor(column, self.target.column)
        for layer in self.target.prefix:
            x = layer(x, training=False)
        return keras.ops.convert_to_numpy(x)

    def __getstate__(self) -> dict:
        """Workers (Beam) get the analyzer without the layer: an un-adapted lookup cannot be pickled."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("lookup", "_tokenizer")}
        state["target"] = dataclasses.replace(self.target, layer=None)
        return state

    def create(self):
        raise NotImplementedError

    def add(self, acc, column: np.ndarray):
        raise NotImplementedError

    def merge(self, accs: list):
        raise NotImplementedError

    def apply(self, acc) -> None:
        """Set the layer's state from ``acc`` with Keras' own finalize code."""
        raise NotImplementedError


def _to_tensor(values: np.ndarray, column: Column):
    if column.is_string:
        import tensorflow as tf

        return tf.constant(values.astype(object) if values.dtype.kind == "U" else values)
    return values
