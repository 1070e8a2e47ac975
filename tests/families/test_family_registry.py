"""The family registry: every family has a test module, every host kind an implementation, every
class one family (STYLE: a registered family without a test fails)."""

from __future__ import annotations

from pathlib import Path

from edgeprep.config import HostKind
from edgeprep.families import FAMILIES, for_class, host_kinds
from edgeprep.runtime.host.steps import KINDS


def test_every_family_has_a_test_module():
    here = Path(__file__).parent
    missing = [family.name for family in FAMILIES if not (here / f"test_{family.name}.py").is_file()]
    assert missing == [], f"families without tests/families/test_<name>.py: {missing}"


def test_every_host_kind_has_exactly_one_implementation():
    kinds = [family.host_kind for family in FAMILIES if family.host_kind is not None]
    assert sorted(kinds, key=lambda k: k.value) == sorted(HostKind, key=lambda k: k.value)
    assert set(KINDS) == set(HostKind) and KINDS == host_kinds()
    assert all(family.host is not None for family in FAMILIES if family.host_kind is not None)


def test_every_class_belongs_to_one_family():
    names = [name for family in FAMILIES for name in family.classes]
    assert len(names) == len(set(names))
    assert all(for_class(name).name == family.name for family in FAMILIES for name in family.classes)
    assert len({family.name for family in FAMILIES}) == len(FAMILIES)
