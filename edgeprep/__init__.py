"""edgeprep: export Keras models with their preprocessing to TFLite and ONNX, proven equal.

``import edgeprep`` is light: TensorFlow and Keras load only when a function needs them.

    >>> import edgeprep
    >>> result = edgeprep.export("model.keras", "dist/")       # both targets, verified
    >>> edgeprep.verify("dist/").passed
    True
"""

from __future__ import annotations

from edgeprep.config import Action, ExportConfig, Int8IO, Quantization, Target
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


def export(model, out_dir, targets=None, config: ExportConfig | None = None, tolerance: Tolerance | None = None, progress=None, force: bool = False, **options):
    """Export ``model`` to ``out_dir``; see `edgeprep.pipeline.export` (and ``force`` there).

    ``targets`` (Target values or strings) and keyword ``options`` (fields of `ExportConfig`; Enum
    fields also take their strings) override ``config``; the config refuses what the CLI refuses.
    """
    from edgeprep.pipeline import export as _export

    config = config or ExportConfig()
    if targets is not None:
        options["targets"] = targets
    if options:
        config = config.with_changes(**options)
    return _export(model, out_dir, config, tolerance, progress, force)


def inspect(model, config: ExportConfig | None = None):
    """Plan ``model`` for every target, and convert its kept layers alone to predict which will fail; see `edgeprep.inspection`."""
    from edgeprep.inspection import inspect_model

    return inspect_model(model, config or ExportConfig())


def build(model=None, preprocessing=None, adapt=None, runner="local", *, out=None, beam_options=(), progress: bool = False, unsafe_load: bool = False, custom_objects=(), seed: int = 0):
    """Build a model carrying its preprocessing; see `edgeprep.compose.builder.run_build`.

    ``preprocessing`` is a ``.toml`` spec or ``.keras`` file (FeatureSpace, layer or model), a spec
    dict, or such an object; its stateful layers are adapted from ``adapt`` (a path, glob, list of
    paths or dict of arrays) in one pass (``runner="local"`` or ``"beam"``). With ``model``, returns
    ``model(preprocessing(raw))`` as one Keras model, checked equal on sample raw inputs; with
    ``out``, also writes it there atomically.

        >>> pre = edgeprep.build(preprocessing="spec.toml", adapt="train-*.csv", out="pre.keras")
        >>> full = edgeprep.build("model.keras", preprocessing="pre.keras", out="full.keras")
    """
    from edgeprep.compose.builder import AdaptEngine, run_build

    return run_build(
        model, preprocessing, adapt, AdaptEngine(runner), out, tuple(beam_options), bar=progress,
        unsafe_load=unsafe_load, custom_objects=tuple(custom_objects), seed=seed,
    ).model


def verify(directory, threads: int = 1):
    """Re-run parity of an export directory from its golden vectors (no TensorFlow needed)."""
    from edgeprep.verification import verify as _verify

    return _verify(directory, threads=threads)


__all__ = [
    "Action", "ConversionError", "DataError", "EdgeprepError", "ExportConfig", "Int8IO", "LoadError", "OutputError",
    "ParityError", "ParityReport", "Quantization", "Target", "Tolerance", "UnsupportedLayerError", "UsageError",
    "build", "export", "inspect", "verify",
]
