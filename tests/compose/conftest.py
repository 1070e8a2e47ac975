"""Fixtures of the build tests: the seeded tabular data set, as arrays and as files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tabular import tabular, write_csv  # noqa: E402


@pytest.fixture(scope="session")
def data():
    return tabular()


@pytest.fixture(scope="session")
def csv_file(data, tmp_path_factory):
    return write_csv(data, tmp_path_factory.mktemp("data") / "train.csv")
