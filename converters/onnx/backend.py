"""The ONNX `edgeprep.backend.Backend`: options, converter, runner and op policy.

Importing this module imports no TensorFlow: the converter (`converters.onnx.convert`, tf2onnx) is
imported when converting, and the runner needs only onnxruntime.
"""

from __future__ import annotations

from converters.onnx.options import ONNXOptions
from converters.onnx.runner import CONTRIB_DOMAIN, ONNX_EXTENSIONS, ONNXRUNTIME_ONLY, ORT_DOMAIN, ONNXRunner
from edgeprep.artifacts import Artifact
from edgeprep.backend import ConverterBackend, random_op_problems
from edgeprep.config import OnnxOptimize, Target

# ONNX ops that draw random numbers: none may survive into an inference artifact.
RANDOM_OPS = frozenset({"RandomUniform", "RandomNormal", "RandomUniformLike", "RandomNormalLike", "Multinomial", "Bernoulli"})


def check_ops(artifact: Artifact, options: ONNXOptions) -> list[str]:
    """Standard domains only, no random ops; contrib ops with ``extensions``, ORT ops with ``optimize=ORT``."""
    opted_in = {ONNX_EXTENSIONS: options.extensions, ONNXRUNTIME_ONLY: options.optimize is OnnxOptimize.ORT}
    allowed = {domain for domain, requirement in ((CONTRIB_DOMAIN, ONNX_EXTENSIONS), (ORT_DOMAIN, ONNXRUNTIME_ONLY)) if opted_in[requirement]}
    problems = []
    foreign = sorted(op for op in artifact.ops if "::" in op and op.split("::")[0] not in allowed)
    if foreign:
        problems.append(f"the ONNX graph uses non-standard ops {', '.join(foreign)}; onnxruntime's stock build cannot run them")
    unasked = [requirement for requirement in artifact.runtime_requirements if not opted_in.get(requirement, False)]
    if unasked:
        problems.append(f"the ONNX artifact needs {', '.join(unasked)}, which no option asked for; the stock runtime cannot run it")
    return problems + random_op_problems(artifact, RANDOM_OPS, "ONNX")


BACKEND = ConverterBackend(Target.ONNX, ONNXOptions, "converters.onnx.convert", ONNXRunner, check_ops, planner="converters.onnx.rules")
