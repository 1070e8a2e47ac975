"""Layer families: one home per family of Keras layers, listed in one explicit tuple.

A family holds everything edgeprep does with its layers (see `edgeprep.families.base.Family`):
the device layer the converters see, the host step and its portable config, the parity samples
that exercise it, its adapt analyzer and its Keras 2 translation. Each family's plan rule still
lives in `edgeprep.transforms` (its module docstring says where). Everything that dispatches on a
layer class or a host kind looks the family up here. Adding a family: one module (or package)
exposing ``FAMILY``, plus one line in `FAMILIES`; see the README's contributing section.

Nothing here imports TensorFlow or Keras; the host code (``<family>/host.py``) needs only NumPy.
"""

from __future__ import annotations

from edgeprep.config import HostKind
from edgeprep.families import (
    affine, augmentation, category_encoding, discretization, hashed_crossing, hashing, index_lookup, text_vectorization,
)
from edgeprep.families.base import Family, HostFn

FAMILIES: tuple[Family, ...] = (
    index_lookup.FAMILY,
    text_vectorization.FAMILY,
    discretization.FAMILY,
    category_encoding.FAMILY,
    hashing.FAMILY,
    hashed_crossing.FAMILY,
    affine.FAMILY,
    augmentation.FAMILY,
)

_BY_CLASS: dict[str, Family] = {name: family for family in FAMILIES for name in family.classes}


def for_class(class_name: str) -> Family | None:
    """The family that handles the Keras class ``class_name``, or None."""
    return _BY_CLASS.get(class_name)


def for_layer(layer) -> Family | None:
    """The family of a layer object (by its class name), or None."""
    return _BY_CLASS.get(type(layer).__name__)


def host_kinds() -> dict[HostKind, HostFn]:
    """Every host implementation, by the kind `edgeprep.host.steps.HostStep` carries."""
    return {family.host_kind: family.host for family in FAMILIES if family.host_kind is not None}


def analyzer_for(layer) -> type | None:
    """The adapt analyzer class for ``layer`` (`edgeprep.compose.adapt`), or None if it holds no learned state."""
    family = for_layer(layer)
    analyzer = family.analyzer if family is not None else None
    return analyzer if analyzer is not None and type(layer).__name__ in analyzer.adapts else None


def adapted_classes() -> tuple[str, ...]:
    """Every Keras class name that some family's analyzer adapts."""
    return tuple(dict.fromkeys(name for family in FAMILIES if family.analyzer is not None for name in family.analyzer.adapts))


__all__ = ["FAMILIES", "Family", "adapted_classes", "analyzer_for", "for_class", "for_layer", "host_kinds"]
