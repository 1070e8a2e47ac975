"""The converter interface: one `Backend` per `Target`, found through a table of module names.

``edgeprep`` reaches ``converters`` only through `BACKENDS`, imported at call time by `backend`, so
importing edgeprep never imports a converter. A backend module (``converters/<target>/backend.py``)
stays importable without TensorFlow: only its ``convert`` imports the converter, so the deploy side
(`Backend.runner`) needs just numpy and the runtime.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from edgeprep.artifacts import Artifact
from edgeprep.config import Quantization, Target
from edgeprep.errors import ConversionError

if TYPE_CHECKING:
    import os

    from edgeprep.config import ExportConfig
    from edgeprep.graph import Graph
    from edgeprep.runners import Runner
    from edgeprep.transforms.base import LayerRule
    from edgeprep.transforms.rewrite import Rewrite

# Target -> the module whose ``BACKEND`` implements `Backend` for it (imported by `backend`).
BACKENDS: Mapping[Target, str] = MappingProxyType({
    Target.TFLITE: "converters.tflite.backend",
    Target.ONNX: "converters.onnx.backend",
})

Calibration = Callable[[], Iterable[Mapping[str, np.ndarray]]]


@dataclass(frozen=True)
class TargetOptions:
    """What every converter needs beyond the model; each backend extends it with its own flags.

    Attributes:
        input_names / output_names: the Keras names of the device artifact's IO, in model order.
        quantize: weight/activation storage.
        calibration: for int8, a callable returning an iterable of named input batches.
        int8_per_channel: per-channel int8 weight scales; False for one scale per tensor.
    """

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    quantize: Quantization = Quantization.NONE
    calibration: Calibration | None = field(default=None, compare=False)
    int8_per_channel: bool = True

    @classmethod
    def from_config(cls, config: ExportConfig, input_names: tuple[str, ...], output_names: tuple[str, ...],
                    calibration: Calibration | None) -> TargetOptions:
        """The options of ``config`` for a device artifact with these IO names."""
        return cls(input_names, output_names, config.quantize, calibration, config.int8_per_channel, **cls.own_fields(config))

    @classmethod
    def own_fields(cls, config: ExportConfig) -> dict:
        """A target's own fields (beyond the shared ones) read from ``config``, by field name."""
        return {}


@runtime_checkable
class Backend(Protocol):
    """A target's converter, its deploy-side runner, the op policy its artifacts meet, and its notes."""

    target: Target

    def options(self, config: ExportConfig, input_names: tuple[str, ...], output_names: tuple[str, ...],
                calibration: Calibration | None) -> TargetOptions:
        """This target's options from ``config`` and the device artifact's IO names (from the plan)."""

    def convert(self, model, options: TargetOptions) -> Artifact:
        """Convert ``model`` (already transformed) to an artifact; imports the converter (TensorFlow)."""

    def runner(self, model: bytes | str | os.PathLike, threads: int = 1, requirements: tuple[str, ...] = ()) -> Runner:
        """The deploy-side runner of an artifact (numpy and the runtime only, never TensorFlow)."""

    def check_ops(self, artifact: Artifact, options: TargetOptions) -> list[str]:
        """Problems with ``artifact``'s ops: anything beyond the builtin set the options opted in to."""

    def notes(self, artifact: Artifact, options: TargetOptions) -> list[str]:
        """What the user should know about ``artifact``, read from its facts (one line each)."""

    def rules(self) -> tuple[LayerRule, ...]:
        """Lowerings this converter needs, run in the planner's lower phase after the families' rules."""

    def place(self, graph: Graph, config: ExportConfig) -> Rewrite:
        """Placement the converter forces after the lower phase (e.g. float-only math to the host)."""


def no_notes(artifact: Artifact, options: TargetOptions) -> list[str]:
    """A backend whose facts go to the manifest only."""
    return []


@dataclass(frozen=True)
class ConverterBackend:
    """A `Backend` from its parts: the options type, the converter module (imported only when
    converting: it needs TensorFlow), the runner type, the op policy and the notes.

    Attributes:
        target: the format it writes.
        options_type: its options; `TargetOptions.from_config` builds them.
        converter: the module whose ``convert(model, options) -> Artifact`` converts.
        runner_type: the deploy-side runner, constructed as ``runner_type(model, threads=, requirements=)``.
        check_ops: the op policy (`Backend.check_ops`).
        notes: notes from the artifact's facts (`Backend.notes`).
        planner: the module holding the converter's planner hooks: ``RULES`` (`Backend.rules`) and,
            optionally, ``place(graph, target, config) -> Rewrite`` (`Backend.place`).
    """

    target: Target
    options_type: type[TargetOptions]
    converter: str
    runner_type: type[Runner]
    check_ops: Callable[[Artifact, TargetOptions], list[str]]
    notes: Callable[[Artifact, TargetOptions], list[str]] = no_notes
    planner: str | None = None

    def options(self, config: ExportConfig, input_names: tuple[str, ...], output_names: tuple[str, ...],
                calibration: Calibration | None) -> TargetOptions:
        """This target's options (`TargetOptions.from_config` of its options type)."""
        return self.options_type.from_config(config, input_names, output_names, calibration)

    def convert(self, model, options: TargetOptions) -> Artifact:
        """Convert ``model`` with the converter module (imported now)."""
        return importlib.import_module(self.converter).convert(model, options)

    def runner(self, model: bytes | str | os.PathLike, threads: int = 1, requirements: tuple[str, ...] = ()) -> Runner:
        """The runner type over ``model``."""
        return self.runner_type(model, threads=threads, requirements=requirements)


    def rules(self) -> tuple[LayerRule, ...]:
        """``RULES`` of the planner module (none without one)."""
        return importlib.import_module(self.planner).RULES if self.planner else ()

    def place(self, graph: Graph, config: ExportConfig) -> Rewrite:
        """``place`` of the planner module, or no change."""
        from edgeprep.transforms.rewrite import Rewrite

        module = importlib.import_module(self.planner) if self.planner else None
        return module.place(graph, self.target, config) if hasattr(module, "place") else Rewrite()


def backend(target: Target) -> Backend:
    """The backend of ``target``, its module imported now (cheap: it imports no converter)."""
    return importlib.import_module(BACKENDS[target]).BACKEND


def random_op_problems(artifact: Artifact, random_ops: frozenset[str], label: str) -> list[str]:
    """The op-policy problem of random ops (``random_ops``) left in ``artifact``, if any."""
    found = sorted(op for op in artifact.ops if op in random_ops)
    if not found:
        return []
    return [f"random ops {', '.join(found)} survived into the {label} artifact; a training-only layer was not stripped"]


def raise_op_problems(problems: list[str]) -> None:
    """Raise one `ConversionError` for the op-policy ``problems`` of an artifact (`Backend.check_ops`)."""
    if problems:
        raise ConversionError("; ".join(problems))


def converter_rules() -> tuple[LayerRule, ...]:
    """Every backend's planner rules, each once (by name), in table order: the registry's tail."""
    seen: dict[str, LayerRule] = {}
    for target in BACKENDS:
        for rule in backend(target).rules():
            seen.setdefault(rule.name, rule)
    return tuple(seen.values())
