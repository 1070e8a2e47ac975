"""TextVectorization on the host: its NumPy code is the deploy runtime's `edgeprep.runtime.host.text_vectorization` (shipped in every export)."""

from edgeprep.runtime.host.text_vectorization import *  # noqa: F403  (re-exported: ``run`` is this family's host step)
