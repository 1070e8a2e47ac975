"""Run an export directory on raw inputs, as a deployment would: no TensorFlow, no Keras.

Host-side preprocessing steps listed in the manifest (if any) run first, then the device artifact:
the deploy runtime's `edgeprep.runtime.directory.run`, the same code an export ships.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from edgeprep.config import Target
from edgeprep.runtime.directory import run


def run_directory(directory: str | Path, target: Target, feed: Mapping[str, np.ndarray], threads: int = 1) -> dict[str, np.ndarray]:
    """Run ``target``'s artifact of an export directory on raw named inputs (`edgeprep.runtime.directory.run`)."""
    return run(directory, target.value, feed, threads)
