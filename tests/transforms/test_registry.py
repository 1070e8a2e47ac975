"""Every registered rule is named in some test module's TESTED_RULES (STYLE: a rule without a test fails)."""

from __future__ import annotations

import importlib
from pathlib import Path

from edgeprep.transforms import ALL_RULES


def test_every_registered_rule_has_a_test():
    tested: set[str] = set()
    for path in Path(__file__).parent.glob("test_*.py"):
        module = importlib.import_module(path.stem)
        tested.update(getattr(module, "TESTED_RULES", ()))
    missing = sorted(rule.name for rule in ALL_RULES if rule.name not in tested)
    assert missing == [], f"rules without a test module listing them in TESTED_RULES: {missing}"
