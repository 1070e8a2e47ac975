"""The supported-layer matrix, read from the rule registry: layer class x target -> what happens.

Generated, never written by hand: README's table comes from `markdown()` (scripts/update_readme.py
writes it; tests/test_readme.py fails when README and registry disagree).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeprep.config import ALL_TARGETS, Action, Target
from edgeprep.transforms.base import Phase


@dataclass(frozen=True)
class Row:
    """One layer class: its action per target and where the decision comes from."""

    class_name: str
    actions: dict[Target, str]
    source: str
    note: str


def _first_line(obj) -> str:
    doc = (obj.__doc__ or "").strip()
    return doc.splitlines()[0].rstrip(".") if doc else ""


def support_matrix() -> list[Row]:
    """Every layer class a rule, the coverage table or the strip list names, with its action per target."""
    from edgeprep.backend import converter_rules
    from edgeprep.families import phases
    from edgeprep.transforms.coverage import CONTAINERS, KEPT_AS_IS, UNSUPPORTED

    rows: dict[str, Row] = {}
    for phase, rules in phases(converter_rules()):
        for rule in rules:
            for class_name in rule.classes:
                if class_name in rows:
                    continue
                actions = {}
                for target in ALL_TARGETS:
                    if class_name in UNSUPPORTED and target in UNSUPPORTED[class_name]:
                        actions[target] = Action.UNSUPPORTED.value
                    elif target not in rule.targets or rule.action is Action.UNSUPPORTED:
                        actions[target] = Action.KEPT.value
                    elif phase is Phase.FOLD:
                        actions[target] = "folded where exact"
                    else:
                        actions[target] = rule.action.value
                note = UNSUPPORTED[class_name].get(Target.ONNX, "") if rule.action is Action.UNSUPPORTED else _first_line(rule)
                rows[class_name] = Row(class_name, actions, rule.name, note)
    for class_name, note in KEPT_AS_IS.items():
        rows.setdefault(class_name, Row(class_name, {t: Action.KEPT.value for t in ALL_TARGETS}, "kept as is", note))
    for class_name, note in CONTAINERS.items():
        rows.setdefault(class_name, Row(class_name, {t: "inlined" for t in ALL_TARGETS}, "container", note))
    return sorted(rows.values(), key=lambda row: (_group(row), row.class_name))


def _group(row: Row) -> int:
    order = ["folded where exact", Action.LOWERED.value, Action.HOST.value, Action.REPLACED.value, Action.STRIPPED.value, Action.KEPT.value, "inlined", Action.UNSUPPORTED.value]
    first = row.actions[Target.TFLITE]
    return order.index(first) if first in order else len(order)


def markdown() -> str:
    """The matrix as a Markdown table; classes that share actions, rule and note share a row."""
    groups: dict[tuple, list[str]] = {}
    for row in support_matrix():
        key = (row.actions[Target.TFLITE], row.actions[Target.ONNX], row.source, row.note)
        groups.setdefault(key, []).append(row.class_name)
    lines = ["| layer | tflite | onnx | rule | how |", "|---|---|---|---|---|"]
    for (tflite, onnx, source, note), classes in groups.items():
        note = note.replace("|", "\\|")
        lines.append(f"| {', '.join(classes)} | {tflite} | {onnx} | `{source}` | {note} |")
    return "\n".join(lines)
