"""Every registered rule — the families' and each converter's — is named in some test module's
TESTED_RULES (STYLE: a rule without a test fails)."""

from __future__ import annotations

import ast
from pathlib import Path

from edgeprep.backend import converter_rules
from edgeprep.families import ALL_RULES

TESTS = Path(__file__).resolve().parents[1]


def _tested_rules(path: Path) -> set[str]:
    """The names in ``path``'s module-level ``TESTED_RULES`` tuple (read, not imported)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "TESTED_RULES" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return set()


def test_every_registered_rule_has_a_test():
    tested = set().union(*(_tested_rules(path) for path in TESTS.rglob("test_*.py")))
    assert "lower-exact-gelu" in tested and "fold-rescaling" in tested  # the scan itself works
    missing = sorted(rule.name for rule in ALL_RULES + converter_rules() if rule.name not in tested)
    assert missing == [], f"rules without a test module listing them in TESTED_RULES: {missing}"
