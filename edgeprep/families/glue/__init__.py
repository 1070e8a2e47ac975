"""Shape and dtype glue: Reshape, Flatten, Concatenate, casts, slices, expand / squeeze (issue 16, item 4).

These run on the device like any other layer. Only when one of them sits between raw inputs (or
host values) and a layer that must run on the host does `edgeprep.transforms.split` move it to
the host with that layer, as a ``glue`` host step: `spec` writes what it computes in portable form,
`edgeprep.runtime.host.glue` computes it with NumPy. The family names no classes of its own
(`edgeprep.families.for_class` never returns it): the glue classes stay kept layers everywhere else.
"""

from __future__ import annotations

from edgeprep.config import HostKind
from edgeprep.families.base import Family
from edgeprep.families.glue import host
from edgeprep.transforms.base import keras_class_name

# The Keras layer and op classes that are glue (Reshape and Concatenate: the layers and the ops).
GLUE_CLASSES = ("Reshape", "Flatten", "Concatenate", "Cast", "ExpandDims", "Squeeze", "GetItem")


def _key_part(part):
    if part is None:
        return "newaxis"
    if part is Ellipsis:
        return "ellipsis"
    if isinstance(part, slice):
        bounds = (part.start, part.stop, part.step)
        return {"slice": list(bounds)} if all(b is None or isinstance(b, int) for b in bounds) else None
    return int(part) if isinstance(part, int) and not isinstance(part, bool) else None


def spec(call) -> dict | None:
    """The portable config of a glue call (``op`` and its arguments, output ``dtype``), or None
    when ``call`` is no glue the host can reproduce (another class, a key holding tensors)."""
    name, layer = keras_class_name(call.layer), call.layer
    # Glue keeps its input's dtype (Keras' symbolic Concatenate of strings says float32); a cast sets its own.
    dtype = str(call.outputs[0].dtype if name == "Cast" else call.inputs[0].dtype)
    if name == "Reshape":  # the layer's target_shape leaves the batch out (and may hold a -1 itself)
        layer_shape = hasattr(layer, "target_shape")
        shape = layer.target_shape if layer_shape else layer.newshape
        return {"op": "reshape", "shape": [int(d) if d is not None else -1 for d in shape], "keep_batch": layer_shape, "dtype": dtype}
    if name == "Flatten":
        return {"op": "flatten", "channels_first": layer.data_format == "channels_first", "dtype": dtype}
    if name == "Concatenate":
        return {"op": "concatenate", "axis": int(layer.axis), "dtype": dtype}
    if name == "Cast":
        return {"op": "cast", "dtype": dtype}
    if name in ("ExpandDims", "Squeeze"):
        axis = layer.axis
        axis = list(axis) if isinstance(axis, (list, tuple)) else axis
        return {"op": "expand_dims" if name == "ExpandDims" else "squeeze", "axis": axis, "dtype": dtype}
    if name == "GetItem" and len(call.args) == 2:
        key = call.args[1] if isinstance(call.args[1], tuple) else (call.args[1],)
        parts = [_key_part(part) for part in key]
        return None if any(p is None for p in parts) else {"op": "slice", "key": parts, "dtype": dtype}
    return None


FAMILY = Family(name="glue", classes=(), host_kind=HostKind.GLUE, host=host.run)
