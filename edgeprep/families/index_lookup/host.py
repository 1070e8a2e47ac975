"""StringLookup / IntegerLookup on the host: its NumPy code is the deploy runtime's `edgeprep.runtime.host.index_lookup` (shipped in every export)."""

from edgeprep.runtime.host.index_lookup import *  # noqa: F403  (re-exported: ``run`` is this family's host step)
