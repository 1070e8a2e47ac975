"""Synthetic rows of the Cleveland heart-disease CSV that keras-io's structured-data examples read.

Column ranges and categories are the dataset's (age 29-77, cp 0-4, ``thal`` fixed / normal /
reversible, ...); values are drawn uniformly, so every category occurs.
"""

from __future__ import annotations

import numpy as np

INTEGER_CATEGORIES = {"sex": [0, 1], "cp": [0, 1, 2, 3, 4], "fbs": [0, 1], "restecg": [0, 1, 2], "exang": [0, 1], "ca": [0, 1, 2, 3]}
STRING_CATEGORIES = {"thal": ["fixed", "normal", "reversible"]}
NUMERIC_RANGES = {"age": (29, 77), "trestbps": (94, 200), "chol": (126, 564), "thalach": (71, 202), "oldpeak": (0.0, 6.2), "slope": (1, 3)}


def rows(n: int, rng) -> dict[str, np.ndarray]:
    """``n`` rows, one (n,) array per column: integers int64, ``thal`` str, numeric columns float32."""
    data: dict[str, np.ndarray] = {}
    for name, values in INTEGER_CATEGORIES.items():
        data[name] = rng.choice(np.array(values, dtype="int64"), n)
    for name, values in STRING_CATEGORIES.items():
        data[name] = rng.choice(np.array(values), n)
    for name, (low, high) in NUMERIC_RANGES.items():
        value = rng.uniform(low, high, n)
        data[name] = (value if isinstance(low, float) else np.round(value)).astype("float32")
    return data
