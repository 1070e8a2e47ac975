"""Host-side preprocessing: exact NumPy reproductions of Keras layers that a device runtime lacks.

No TensorFlow or Keras import here: this package runs next to the artifact. See `steps` for the
``preprocess.json`` format and `run_steps`.
"""

from edgeprep.host.steps import PREPROCESS, HostStep, read_preprocess, run_steps

__all__ = ["PREPROCESS", "HostStep", "read_preprocess", "run_steps"]
