"""Run an export directory on raw inputs, as a deployment would: no TensorFlow, no Keras.

Host-side preprocessing steps listed in the manifest (if any) run first, then the device artifact.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from edgeprep.config import Target
from edgeprep.errors import UsageError
from edgeprep.manifest import Manifest
from edgeprep.verification import artifacts_by_target, check_hashes, open_runner


def run_directory(directory: str | Path, target: Target, feed: Mapping[str, np.ndarray], threads: int = 1) -> dict[str, np.ndarray]:
    """Run ``target``'s artifact of an export directory on raw named inputs."""
    directory = Path(directory)
    manifest = Manifest.read(directory)
    entries = artifacts_by_target(manifest, directory)
    entry = entries.get(target)
    if entry is None:
        have = ", ".join(t.value for t in entries) or "none"
        raise UsageError(f"{directory}: has no {target.value} artifact (it has {have}); export with --target {target.value}")
    check_hashes(directory, (entry,))
    with open_runner(directory, manifest, entry, threads) as runner:
        return runner.infer(feed)
