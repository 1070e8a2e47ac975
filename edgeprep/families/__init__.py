"""Layer families: one home per family of Keras layers, listed in one explicit tuple.

A family holds everything edgeprep does with its layers (see `edgeprep.families.base.Family`):
its plan rules, the device layer the converters see, the host step and its portable config, the
parity samples that exercise it, its adapt analyzer and its Keras 2 translation. Everything that
dispatches on a layer class or a host kind looks the family up here, and the rule registry the
planner runs (`phases`) is read from `FAMILIES`: strip, fold and lower rules in family order, then
the explicit refusals of `edgeprep.transforms.coverage`, then the converter's own lowerings. Adding a family: one module (or package)
exposing ``FAMILY``, plus one line in `FAMILIES`; see the README's contributing section.

Nothing here imports TensorFlow or Keras; the host code (``<family>/host.py``) needs only NumPy.
"""

from __future__ import annotations

from edgeprep.config import HostKind
from edgeprep.families import (
    affine, audio, augmentation, category_encoding, discretization, glue, hashed_crossing, hashing, index_lookup, text_vectorization,
)
from edgeprep.families.base import Family, HostFn
from edgeprep.transforms.base import LayerRule, Phase
from edgeprep.transforms.coverage import Unsupported
from edgeprep.transforms.lower import LoweringRule

FAMILIES: tuple[Family, ...] = (
    index_lookup.FAMILY,
    text_vectorization.FAMILY,
    discretization.FAMILY,
    category_encoding.FAMILY,
    hashing.FAMILY,
    hashed_crossing.FAMILY,
    affine.FAMILY,
    augmentation.FAMILY,
    audio.FAMILY,
    glue.FAMILY,
)

# Every family's rules, then the refusals of layers no family takes (the end of the lower phase).
ALL_RULES: tuple[LayerRule, ...] = tuple(rule for family in FAMILIES for rule in family.rules) + (Unsupported(),)

# The rules whose layers can run as host steps (`LoweringRule.place_on_host`), for the host split.
HOST_RULES: tuple[LoweringRule, ...] = tuple(rule for rule in ALL_RULES if isinstance(rule, LoweringRule))


def phases(converter_rules: tuple[LayerRule, ...] = ()) -> tuple[tuple[Phase, tuple[LayerRule, ...]], ...]:
    """The planner's rules phase by phase; ``converter_rules`` (a backend's `rules`) end the lower phase."""
    return tuple(
        (phase, tuple(rule for rule in ALL_RULES if rule.phase is phase) + (converter_rules if phase is Phase.LOWER else ()))
        for phase in Phase
    )


_BY_CLASS: dict[str, Family] = {name: family for family in FAMILIES for name in family.classes}


def for_class(class_name: str) -> Family | None:
    """The family that handles the Keras class ``class_name``, or None."""
    return _BY_CLASS.get(class_name)


def for_layer(layer) -> Family | None:
    """The family of a layer object (by its class name), or None."""
    return _BY_CLASS.get(type(layer).__name__)


def host_kinds() -> dict[HostKind, HostFn]:
    """Every host implementation, by the kind `edgeprep.runtime.host.steps.HostStep` carries."""
    return {family.host_kind: family.host for family in FAMILIES if family.host_kind is not None}


def analyzer_for(layer) -> type | None:
    """The adapt analyzer class for ``layer`` (`edgeprep.compose.adapt`), or None if it holds no learned state."""
    family = for_layer(layer)
    analyzer = family.analyzer if family is not None else None
    return analyzer if analyzer is not None and type(layer).__name__ in analyzer.adapts else None


def adapted_classes() -> tuple[str, ...]:
    """Every Keras class name that some family's analyzer adapts."""
    return tuple(dict.fromkeys(name for family in FAMILIES if family.analyzer is not None for name in family.analyzer.adapts))


__all__ = [
    "ALL_RULES", "FAMILIES", "HOST_RULES", "Family", "adapted_classes", "analyzer_for", "for_class", "for_layer", "host_kinds", "phases",
]
