"""The LiteRT (TFLite) `edgeprep.backend.Backend`: options, converter, runner, op policy and notes.

Importing this module imports no TensorFlow: `TFLiteBackend.convert` imports the converter when it
runs, and the runner needs only ai-edge-litert.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from converters.tflite.options import TFLiteOptions
from converters.tflite.runner import TFLITE_FLEX, TFLiteRunner
from edgeprep.artifacts import Artifact
from edgeprep.backend import Calibration, random_op_problems
from edgeprep.config import ExportConfig, Target

# TFLite builtins that draw random numbers: none may survive into an inference artifact.
RANDOM_OPS = frozenset({"RANDOM_UNIFORM", "RANDOM_STANDARD_NORMAL", "MULTINOMIAL"})


@dataclass(frozen=True)
class TFLiteBackend:
    """LiteRT flatbuffers with TFLite builtin ops (Select-TF ops only with ``allow_flex``)."""

    target: Target = Target.TFLITE

    def options(self, config: ExportConfig, input_names: tuple[str, ...], output_names: tuple[str, ...],
                calibration: Calibration | None) -> TFLiteOptions:
        """The TFLite options of ``config`` for a device artifact with these IO names."""
        return TFLiteOptions(
            input_names, output_names, config.quantize, calibration, config.int8_per_channel,
            int8_io=config.int8_io, allow_flex=config.allow_flex, batch=config.batch,
        )

    def convert(self, model, options: TFLiteOptions) -> Artifact:
        """Convert ``model`` with TensorFlow's TFLite converter (`converters.tflite.convert`)."""
        from converters.tflite.convert import convert

        return convert(model, options)

    def runner(self, model: bytes | str | os.PathLike, threads: int = 1, requirements: tuple[str, ...] = ()) -> TFLiteRunner:
        """The LiteRT interpreter over ``model`` (TensorFlow's interpreter for a Flex artifact)."""
        return TFLiteRunner(model, threads=threads, requirements=requirements)

    def check_ops(self, artifact: Artifact, options: TFLiteOptions) -> list[str]:
        """Builtin ops only: no custom ops, no random ops, Select-TF ops only with ``allow_flex``."""
        problems = []
        custom = sorted(op for op in artifact.ops if op.startswith("CUSTOM:"))
        if custom:
            problems.append(f"the TFLite artifact contains custom ops {', '.join(custom)}; the stock interpreter cannot run it")
        flex = sorted(op for op in artifact.ops if op.startswith("Flex"))
        if (flex or TFLITE_FLEX in artifact.runtime_requirements) and not options.allow_flex:
            problems.append(f"the TFLite artifact needs {TFLITE_FLEX} (Select-TF ops {', '.join(flex)}), which no option asked for; "
                            "the stock interpreter cannot run it (--allow-flex accepts it)")
        return problems + random_op_problems(artifact, RANDOM_OPS, "TFLite")

    def notes(self, artifact: Artifact, options: TFLiteOptions) -> list[str]:
        """The ops XNNPACK leaves to LiteRT's own kernels, when a static batch would fold them away."""
        fallback = artifact.facts.get("xnnpack", {}).get("fallback_ops")
        if not fallback or options.batch is not None:
            return []
        return [f"{self.target.value}: XNNPACK leaves {', '.join(fallback)} to LiteRT's own kernels; --batch 1 folds shape arithmetic away"]


BACKEND = TFLiteBackend()
