"""The errors the deploy runtime raises: edgeprep's own classes inside edgeprep, a stand-in hierarchy when shipped.

Inside edgeprep (``edgeprep.runtime``) these are `edgeprep.errors`' classes, so the CLI maps them to
its exit codes; in an export directory (``edgeprep_runtime``) the runtime imports nothing of
edgeprep and defines the same names itself.
"""

from __future__ import annotations

if __package__ == "edgeprep.runtime":
    from edgeprep.errors import ConversionError, DataError, EdgeprepError, LoadError, ParityError, UsageError
else:  # shipped in an export directory: never import edgeprep

    class EdgeprepError(Exception):  # type: ignore[no-redef]
        """Base class: one line saying what is wrong and what to do."""

        exit_code = 2

    class UsageError(EdgeprepError):  # type: ignore[no-redef]
        """An argument that cannot be used as given."""

    class LoadError(EdgeprepError):  # type: ignore[no-redef]
        """The export directory, its manifest or a file in it is missing or unreadable."""

    class DataError(EdgeprepError):  # type: ignore[no-redef]
        """Inputs that do not fit the artifact."""

    class ConversionError(EdgeprepError):  # type: ignore[no-redef]
        """An artifact the installed runtime cannot run."""

    class ParityError(EdgeprepError):  # type: ignore[no-redef]
        """An artifact that does not match the manifest or its golden outputs."""

        exit_code = 1

__all__ = ["ConversionError", "DataError", "EdgeprepError", "LoadError", "ParityError", "UsageError"]
