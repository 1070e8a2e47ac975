"""edgeprep: export Keras models with their preprocessing to TFLite and ONNX, proven equal.

``import edgeprep`` is light: TensorFlow and Keras load only when a function needs them.

    >>> import edgeprep
    >>> result = edgeprep.export("model.keras", "dist/")       # both targets, verified
    >>> edgeprep.verify("dist/").passed
    True
"""

from __future__ import annotations

from edgeprep.config import Action, ExportConfig, Quantization, Target
from edgeprep.errors import (
    ConversionError,
    DataError,
    EdgeprepError,
    LoadError,
    OutputError,
    ParityError,
    UnsupportedLayerError,
    UsageError,
)
from edgeprep.parity.compare import ParityReport, Tolerance

__version__ = "0.1.0"


def export(model, out_dir, targets=None, config: ExportConfig | None = None, tolerance: Tolerance | None = None, progress=None, **options):
    """Export ``model`` to ``out_dir``; see `edgeprep.pipeline.export`.

    ``targets`` (Target values or strings) and keyword ``options`` (fields of `ExportConfig`)
    override ``config``.
    """
    import dataclasses

    from edgeprep.pipeline import export as _export

    config = config or ExportConfig()
    if targets is not None:
        options["targets"] = tuple(Target(t) for t in ([targets] if isinstance(targets, (str, Target)) else targets))
    if options:
        config = dataclasses.replace(config, **options)
    return _export(model, out_dir, config, tolerance, progress)


def inspect(model, config: ExportConfig | None = None):
    """Plan ``model`` for every target without converting; see `edgeprep.inspection`."""
    from edgeprep.inspection import inspect_model

    return inspect_model(model, config or ExportConfig())


def verify(directory, threads: int = 1):
    """Re-run parity of an export directory from its golden vectors (no TensorFlow needed)."""
    from edgeprep.verification import verify as _verify

    return _verify(directory, threads=threads)


__all__ = [
    "Action", "ConversionError", "DataError", "EdgeprepError", "ExportConfig", "LoadError", "OutputError",
    "ParityError", "ParityReport", "Quantization", "Target", "Tolerance", "UnsupportedLayerError", "UsageError",
    "export", "inspect", "verify",
]
