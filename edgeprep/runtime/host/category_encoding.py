"""CategoryEncoding on the host: `encode.encode` of the indices (and count weights)."""

from __future__ import annotations

import numpy as np

from .encode import encode


def run(values: list[np.ndarray], config: dict) -> np.ndarray:
    """The host step: inputs are the indices and, optionally, the count weights."""
    weights = values[1] if len(values) > 1 else None
    return encode(values[0], config["output_mode"], config["depth"], config["dtype"], count_weights=weights)
