"""The manifest (``manifest.json``): its typed reader and writer are part of the deploy runtime.

Everything lives in `edgeprep.runtime.manifest` (shipped in every export as
``edgeprep_runtime/manifest.py``); this module re-exports it under its long-standing name.
"""

from edgeprep.runtime.manifest import *  # noqa: F403
