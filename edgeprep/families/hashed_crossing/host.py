"""HashedCrossing on the host: its NumPy code is the deploy runtime's `edgeprep.runtime.host.hashed_crossing` (shipped in every export)."""

from edgeprep.runtime.host.hashed_crossing import *  # noqa: F403  (re-exported: ``run`` is this family's host step)
