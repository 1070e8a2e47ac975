"""What a rule asks the planner to do: frozen edits of calls, and refusals that say if they are fatal.

Modelled on onnxscript's rewriter: a rule's ``check`` returns None (it applies) or a `Refusal`,
and its ``rewrite`` returns a `Rewrite`; neither touches the graph. The planner
(`edgeprep.plan.make_plan`) applies the rewrite with `edgeprep.graph.Graph.apply`, which returns a
new graph, and records the refusal. A fold edits several calls at once (the chain it removes and
the Dense that absorbs it), so a rewrite carries one `Edit` per call it changes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from edgeprep.config import Action
from edgeprep.graph import Call, CallState, HostPlacement


@dataclass(frozen=True)
class Edit:
    """The new `CallState` of the call at ``path``."""

    path: str
    state: CallState

    @classmethod
    def of(cls, call: Call, **changes) -> "Edit":
        """``call``'s current state with ``changes`` (names of `CallState` fields)."""
        return cls(call.path, CallState(**(call.state_fields() | changes)))


@dataclass(frozen=True)
class Rewrite:
    """What one rule or post-pass wants done to the graph.

    Attributes:
        edits: applied in order; a later edit of the same path replaces an earlier one.
        problems: why the plan cannot be exported (the planner reports them).
    """

    edits: tuple[Edit, ...] = ()
    problems: tuple[str, ...] = ()

    @classmethod
    def of(cls, call: Call, **changes) -> "Rewrite":
        """One edit of ``call`` (see `Edit.of`)."""
        return cls((Edit.of(call, **changes),))

    @classmethod
    def passthrough(cls, call: Call, action: Action, detail: str, rule: str) -> "Rewrite":
        """Remove ``call`` from the computation: its output becomes its first input."""
        return cls.of(call, passthrough=True, action=action, detail=detail, rule=rule)

    @classmethod
    def on_host(cls, call: Call, placement: HostPlacement, detail: str, rule: str) -> "Rewrite":
        """Run ``call`` as a host step (the device artifact starts at its output)."""
        return cls.of(call, op=None, action=Action.HOST, detail=detail, rule=rule, host=placement)

    def then(self, other: "Rewrite") -> "Rewrite":
        """This rewrite followed by ``other``."""
        return Rewrite(self.edits + other.edits, self.problems + other.problems)


class Severity(enum.Enum):
    """What a refusal means for the export."""

    FATAL = "fatal"  # the layer cannot be exported to the target: UNSUPPORTED, and a plan problem
    NOTE = "note"  # the rule does not apply; the layer is exported as it is, the reason is its detail


@dataclass(frozen=True)
class Refusal:
    """Why a rule does not apply to a call, and whether that stops the export."""

    reason: str
    severity: Severity

    @classmethod
    def fatal(cls, reason: str | None) -> "Refusal | None":
        """A fatal refusal for ``reason`` (None: no refusal)."""
        return None if reason is None else cls(reason, Severity.FATAL)

    @classmethod
    def note(cls, reason: str | None) -> "Refusal | None":
        """A refusal that only annotates the layer (None: no refusal)."""
        return None if reason is None else cls(reason, Severity.NOTE)
