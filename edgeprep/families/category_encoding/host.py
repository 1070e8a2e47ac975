"""CategoryEncoding on the host: its NumPy code is the deploy runtime's `edgeprep.runtime.host.category_encoding` (shipped in every export)."""

from edgeprep.runtime.host.category_encoding import *  # noqa: F403  (re-exported: ``run`` is this family's host step)
