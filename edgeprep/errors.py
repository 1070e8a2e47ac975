"""The error hierarchy: every failure a user can cause, with the fix in its message.

Each error carries the CLI exit code it maps to: 2 for bad input or usage (nothing written),
1 for a parity or quality failure (evidence written).
"""

from __future__ import annotations


class EdgeprepError(Exception):
    """Base class. The message is one line: what is wrong, then what to do about it."""

    exit_code = 2


class UsageError(EdgeprepError):
    """A flag, path or argument that cannot be used as given."""


class LoadError(EdgeprepError):
    """The model file is missing, unreadable, not a model, or refused as unsafe."""


class DataError(EdgeprepError):
    """A data file (``--data``, ``--adapt``, ``--calibration``, ``--input``) does not fit the model."""


class UnsupportedLayerError(EdgeprepError):
    """A layer edgeprep cannot export to the requested target with builtin ops."""


class ConversionError(EdgeprepError):
    """A converter failed, or produced an artifact that breaks edgeprep's guarantees."""


class OutputError(EdgeprepError):
    """The output location cannot be written."""


class ParityError(EdgeprepError):
    """An artifact does not reproduce the Keras original within tolerance.

    Raised only after the evidence (manifest, reports) has been written.
    """

    exit_code = 1

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


def collect(problems: list[str], error_type: type[EdgeprepError], what: str) -> None:
    """Raise ``error_type`` once for all ``problems``, if there are any.

    Args:
        problems: one message per problem, each naming the thing and the fix.
        error_type: the error class to raise.
        what: a short prefix such as ``"cannot export model.keras"``.
    """
    if not problems:
        return
    if len(problems) == 1:
        raise error_type(f"{what}: {problems[0]}")
    raise error_type(f"{what}: {len(problems)} problems: " + "; ".join(problems))
