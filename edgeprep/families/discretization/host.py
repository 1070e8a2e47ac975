"""Discretization on the host: its NumPy code is the deploy runtime's `edgeprep.runtime.host.discretization` (shipped in every export)."""

from edgeprep.runtime.host.discretization import *  # noqa: F403  (re-exported: ``run`` is this family's host step)
