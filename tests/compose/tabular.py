"""A seeded tabular data set with the edge cases adapt must get right, and ways to write it.

Counts are exact, so vocabulary ties are real: city has paris/rome at 700 each (Keras orders ties
by token, descending: rome first), "" (a mask token) and "[UNK]" (the OOV token) that must not be
learned; code has 3/7 tied, 0 (a mask token) and -1 (IntegerLookup's OOV token).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROWS = 3000
CITY = {"paris": 700, "rome": 700, "oslo": 500, "lima": 500, "kyiv": 300, "": 200, "[UNK]": 100}
CODE = {3: 800, 7: 800, 1: 500, 0: 400, -1: 300, 42: 200}
WORDS = ["The", "cat,", "sat!", "on", "the", "MAT.", "dog's", "café", "Über", "a-b", "  ", "x"]


def tabular(seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    city = np.repeat(list(CITY), list(CITY.values()))
    code = np.repeat(list(CODE), list(CODE.values())).astype(np.int64)
    review = [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 9)))) for _ in range(ROWS)]
    return {
        "amount": rng.normal(50, 12, ROWS).astype("float32"),
        "income": rng.lognormal(3, 0.8, ROWS).astype("float32"),
        "city": rng.permutation(city),
        "code": rng.permutation(code),
        "review": np.array(review),
        "label": rng.integers(0, 2, ROWS),
    }


def write_csv(data: dict[str, np.ndarray], path: Path, rows: slice = slice(None)) -> Path:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    pcsv.write_csv(pa.table({name: values[rows] for name, values in data.items()}), str(path))
    return path


def write_npz(data: dict[str, np.ndarray], path: Path) -> Path:
    np.savez(path, **data)
    return path


@pytest.fixture(scope="session")
def data():
    """The data set as arrays (import this fixture into a test module to use it)."""
    return tabular()


@pytest.fixture(scope="session")
def csv_file(data, tmp_path_factory):
    """The data set as one CSV file."""
    return write_csv(data, tmp_path_factory.mktemp("data") / "train.csv")
