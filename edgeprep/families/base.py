"""What one layer family provides: the `Family` record that `edgeprep.families.FAMILIES` lists.

Every field but ``name`` and ``classes`` is optional: a family fills in the roles its layers
have. Nothing here imports TensorFlow or Keras.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeprep.config import HostKind

HostFn = Callable[[list[np.ndarray], dict], np.ndarray]


@dataclass(frozen=True)
class Family:
    """Everything edgeprep knows about one family of Keras layers.

    Attributes:
        name: the family's module name under `edgeprep.families`.
        classes: the Keras class names the family handles (Keras 2 names included).
        rules: its plan rules (`edgeprep.transforms.base.LayerRule`, each with its `Phase`).
        host_kind: the ``kind`` its host steps carry in ``preprocess.json``.
        host: the NumPy implementation of a host step, ``host(inputs, config) -> output``.
        spec: ``spec(layer) -> config``, the portable (JSON-ready) configuration that the host
            implementation and the device layer both read.
        sample_hint: ``sample_hint(layer) -> VocabularyHint | None``, the values parity samples
            must contain for this layer (`edgeprep.parity.samples`).
        range_hint: ``range_hint(layer) -> InputHint | None``, the range of raw values the layer
            implies for its input, when parity draws numbers (not vocabulary) for it.
        shape_hint: ``shape_hint(layer, row_shape, frames) -> row_shape | None``, the input's row shape
            (no batch axis) with its dynamic axes sized so the layer can run on ``frames`` frames (frame
            lengths), for parity samples; None when the layer needs nothing.
        analyzer: the `edgeprep.compose.adapt.LayerAnalyzer` subclass that adapts the layer in
            ``edgeprep build``; its ``needs_state(layer)`` says whether a layer still needs it.
        input_dtype: ``input_dtype(layer) -> str``, the raw input dtype of a lone layer.
        cardinality: ``cardinality(layer) -> int``, the number of distinct outputs (FeatureSpace one-hot).
        keras2_state: ``keras2_state(config, layer)`` writes the state a tf_keras layer keeps
            outside its config into its Keras 3 ``config``.
        save_problem: ``save_problem(layer) -> message | None``, why a built model holding the layer
            cannot be saved as ``.keras`` and reloaded unchanged (``edgeprep build``).
        keras2_replace: ``keras2_replace(entry) -> note | None`` turns a tf_keras layer entry whose
            Keras 3 class computes something else at inference into what tf_keras computes.
    """

    name: str
    classes: tuple[str, ...]
    rules: tuple[Any, ...] = ()
    host_kind: HostKind | None = None
    host: HostFn | None = None
    spec: Callable[[Any], dict] | None = None
    sample_hint: Callable[[Any], Any] | None = None
    range_hint: Callable[[Any], Any] | None = None
    shape_hint: Callable[[Any, tuple, int], tuple | None] | None = None
    analyzer: type | None = None
    input_dtype: Callable[[Any], str] | None = None
    cardinality: Callable[[Any], int] | None = None
    keras2_state: Callable[[dict, Any], None] | None = None
    keras2_replace: Callable[[dict], str | None] | None = None
    save_problem: Callable[[Any], str | None] | None = None


def plain(values) -> list:
    """``values`` as JSON-ready Python scalars (NumPy scalars unwrapped, bytes decoded as UTF-8)."""
    return [v.item() if isinstance(v, np.generic) else (v.decode("utf-8") if isinstance(v, bytes) else v) for v in values]


def config_list(values) -> list:
    """Layer state as a config list: arrays through ``tolist()``, list items unwrapped (Keras 2 translation)."""
    return np.asarray(values).tolist() if not isinstance(values, list) else [v.item() if hasattr(v, "item") else v for v in values]
