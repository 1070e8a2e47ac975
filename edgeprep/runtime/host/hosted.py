"""A runner for an export with a host split: host steps, then the device artifact.

It takes the model's raw inputs and returns the model's outputs, so parity, ``verify`` and
``run`` see one runner whatever the split. Needs only NumPy and the device runtime.
"""

from __future__ import annotations

import numpy as np

from .steps import HostStep, run_steps
from ..runner import Runner
from ..specs import TensorSpec


class HostedRunner(Runner):
    """Host steps followed by a device runner, behind the `Runner` interface.

    Args:
        device: the artifact's runner (its inputs are raw inputs and host outputs).
        steps: the host steps, in order.
        inputs: the model's raw inputs.
        output_names: the model's outputs, in order.
        host_outputs: model output name -> host value, for outputs a host step computes.
    """

    def __init__(self, device: Runner, steps: list[HostStep], inputs: list[TensorSpec], output_names: list[str], host_outputs: dict[str, str]):
        self.device = device
        self.name = device.name
        self.steps = list(steps)
        self._inputs = list(inputs)
        self.host_outputs = dict(host_outputs)
        by_name = {spec.name: spec for spec in device.outputs()}
        dtypes = {step.output: step.dtype for step in self.steps}
        self._outputs = [by_name.get(name) or TensorSpec(name, dtypes[self.host_outputs[name]], ()) for name in output_names]

    def inputs(self) -> list[TensorSpec]:
        return self._inputs

    def outputs(self) -> list[TensorSpec]:
        return self._outputs

    def close(self) -> None:
        self.device.close()

    def _infer(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        device_names = [spec.name for spec in self.device.inputs()]
        values = run_steps(self.steps, feed, device_names + list(self.host_outputs.values()))
        results = self.device.infer({name: values[name] for name in device_names})
        return [results[spec.name] if spec.name in results else values[self.host_outputs[spec.name]] for spec in self._outputs]
