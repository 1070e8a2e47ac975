"""The LiteRT (TFLite) `edgeprep.backend.Backend`: options, converter, runner, op policy and notes.

Importing this module imports no TensorFlow: the converter (`converters.tflite.convert`) is
imported when converting, and the runner needs only ai-edge-litert.
"""

from __future__ import annotations

from converters.tflite.options import TFLiteOptions
from converters.tflite.runner import TFLITE_FLEX, TFLiteRunner
from edgeprep.artifacts import Artifact
from edgeprep.backend import ConverterBackend, random_op_problems
from edgeprep.config import Target

# TFLite builtins that draw random numbers: none may survive into an inference artifact.
RANDOM_OPS = frozenset({"RANDOM_UNIFORM", "RANDOM_STANDARD_NORMAL", "MULTINOMIAL"})


def check_ops(artifact: Artifact, options: TFLiteOptions) -> list[str]:
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


def notes(artifact: Artifact, options: TFLiteOptions) -> list[str]:
    """Degenerate int8 ranges (`converters.tflite.scales`); the ops XNNPACK leaves to LiteRT's own
    kernels, when a static batch would fold them away."""
    warnings = [f"{Target.TFLITE.value}: {w}" for w in artifact.facts.get("quantization_warnings", [])]
    fallback = artifact.facts.get("xnnpack", {}).get("fallback_ops")
    if not fallback or options.batch is not None:
        return warnings
    return warnings + [f"{Target.TFLITE.value}: XNNPACK leaves {', '.join(fallback)} to LiteRT's own kernels; --batch 1 folds shape arithmetic away"]


BACKEND = ConverterBackend(Target.TFLITE, TFLiteOptions, "converters.tflite.convert", TFLiteRunner, check_ops, notes, planner="converters.tflite.rules")
