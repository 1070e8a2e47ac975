"""Glue on the host: its NumPy code is the deploy runtime's `edgeprep.runtime.host.glue` (shipped in every export)."""

from edgeprep.runtime.host.glue import *  # noqa: F403  (re-exported: ``run`` is this family's host step)
