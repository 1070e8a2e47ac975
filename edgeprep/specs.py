"""Framework-free descriptions of a model's or artifact's inputs and outputs (`edgeprep.runtime.specs`)."""

from edgeprep.runtime.specs import TensorSpec

__all__ = ["TensorSpec"]
