"""The rule interface: one `LayerRule` per layer family, keyed by exact Keras class names.

A rule's ``check`` returns None when it applies and a `Refusal` when it does not (it never raises;
the refusal says whether it is fatal); ``rewrite`` returns the `Rewrite` the planner applies.
Neither changes the graph or its calls. The module docstring of each rule states the math.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from typing import ClassVar

from edgeprep.config import ALL_TARGETS, Action, Target
from edgeprep.graph import Call, Graph
from edgeprep.transforms.rewrite import Refusal, Rewrite

# Modules whose classes rules may match: Keras 3 and Keras 2 (tf_keras), public or internal paths.
KERAS_MODULE_ROOTS = ("keras.", "tf_keras.", "keras")


def keras_class_name(layer) -> str | None:
    """The class name of a layer defined by Keras itself, or None for user classes."""
    cls = type(layer)
    module = cls.__module__ or ""
    if module == "keras" or module.startswith(("keras.", "tf_keras.")):
        return cls.__name__
    return None


class Phase(enum.Enum):
    """When a rule runs. Phases run in this order over the flattened graph: strip (training-only
    layers go first, so they never block a fold), fold (affine preprocessing into weights), lower
    (table/text layers into builtin ops, then the lowerings the target's converter needs)."""

    STRIP = "strip"
    FOLD = "fold"
    LOWER = "lower"


class LayerRule(ABC):
    """A transform of one layer family.

    Class attributes:
        name: short identifier recorded in the plan and manifest.
        classes: exact Keras class names the rule is keyed by (subclasses are not matched: a
            subclass may change what the layer does).
        action: the action recorded when the rule applies.
        targets: targets the rule applies to.
        phase: when it runs (`Phase`).
    """

    name: ClassVar[str]
    classes: ClassVar[tuple[str, ...]]
    action: ClassVar[Action]
    targets: ClassVar[tuple[Target, ...]] = ALL_TARGETS
    phase: ClassVar[Phase] = Phase.LOWER

    def matches(self, call: Call) -> bool:
        return keras_class_name(call.layer) in self.classes

    def check(self, call: Call, graph: Graph, target: Target) -> Refusal | None:
        """Return None if the rule applies to ``call``, else why not (fatal or a note)."""
        return None

    @abstractmethod
    def rewrite(self, call: Call, graph: Graph, target: Target) -> Rewrite:
        """What to do for ``call`` (after ``check`` returned None), with its action and detail."""

    def replace_op(self, call: Call, op, detail: str) -> Rewrite:
        """Make ``call`` run ``op`` (with the call's positional inputs only), and say why."""
        return Rewrite.of(call, op=op, kwargs={}, action=self.action, rule=self.name, detail=detail)


def current_layer(call: Call):
    """What ``call`` runs now: the layer an earlier rule put in place (a fold), else the original."""
    return call.op if call.op is not None else call.layer
