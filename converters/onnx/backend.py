"""The ONNX `edgeprep.backend.Backend`: options, converter, runner, op policy and notes.

Importing this module imports no TensorFlow: `ONNXBackend.convert` imports the converter (tf2onnx)
when it runs, and the runner needs only onnxruntime.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from converters.onnx.options import ONNXOptions
from converters.onnx.runner import CONTRIB_DOMAIN, ONNX_EXTENSIONS, ONNXRUNTIME_ONLY, ORT_DOMAIN, ONNXRunner
from edgeprep.artifacts import Artifact
from edgeprep.backend import Calibration, random_op_problems
from edgeprep.config import ExportConfig, OnnxOptimize, Target

# ONNX ops that draw random numbers: none may survive into an inference artifact.
RANDOM_OPS = frozenset({"RandomUniform", "RandomNormal", "RandomUniformLike", "RandomNormalLike", "Multinomial", "Bernoulli"})


@dataclass(frozen=True)
class ONNXBackend:
    """ONNX models with ``ai.onnx`` / ``ai.onnx.ml`` ops (other domains only when opted in)."""

    target: Target = Target.ONNX

    def options(self, config: ExportConfig, input_names: tuple[str, ...], output_names: tuple[str, ...],
                calibration: Calibration | None) -> ONNXOptions:
        """The ONNX options of ``config`` for a device artifact with these IO names."""
        return ONNXOptions(
            input_names, output_names, config.quantize, calibration, config.int8_per_channel,
            opset=config.onnx_opset, layout=config.onnx_layout, optimize=config.onnx_optimize, extensions=config.onnx_extensions,
        )

    def convert(self, model, options: ONNXOptions) -> Artifact:
        """Convert ``model`` with tf2onnx and clean the graph (`converters.onnx.convert`)."""
        from converters.onnx.convert import convert

        return convert(model, options)

    def runner(self, model: bytes | str | os.PathLike, threads: int = 1, requirements: tuple[str, ...] = ()) -> ONNXRunner:
        """An onnxruntime CPU session over ``model`` (with onnxruntime-extensions when required)."""
        return ONNXRunner(model, threads=threads, requirements=requirements)

    def check_ops(self, artifact: Artifact, options: ONNXOptions) -> list[str]:
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

    def notes(self, artifact: Artifact, options: ONNXOptions) -> list[str]:
        """None: the ONNX facts (layout transposes, repairs) are recorded in the manifest only."""
        return []


BACKEND = ONNXBackend()
