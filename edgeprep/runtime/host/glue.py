"""Shape and dtype glue on the host: the Reshape, Flatten, Concatenate, cast, slice, expand / squeeze
between a raw input and a layer that runs on the host (issue 16, item 4).

Each step is one NumPy call computing what the Keras layer or op computes; its ``config["op"]``
says which (written by `edgeprep.families.glue.spec`):

    reshape      x.reshape(shape)                        (ops.reshape: newshape; the Reshape layer, keep_batch:
                                                          x.reshape(len(x), *target_shape))
    flatten      x.reshape(len(x), -1)                   (channels_first: channels moved last first, as Keras does)
    concatenate  np.concatenate(inputs, axis)
    cast         x, then the step's dtype                (HostStep.run casts every output to its dtype)
    expand_dims  np.expand_dims(x, axis)
    squeeze      np.squeeze(x, axis)
    slice        x[key]                                  (key: ints, slices, None and Ellipsis, as written)
"""

from __future__ import annotations

import numpy as np


def _key(parts: list) -> tuple:
    """The indexing key of a ``slice`` step from its JSON form."""
    out = []
    for part in parts:
        if part == "newaxis":
            out.append(None)
        elif part == "ellipsis":
            out.append(Ellipsis)
        elif isinstance(part, dict):
            out.append(slice(*part["slice"]))
        else:
            out.append(int(part))
    return tuple(out)


def run(values: list[np.ndarray], config: dict) -> np.ndarray:
    """The host step: apply ``config["op"]`` to the input value(s)."""
    op = config["op"]
    x = np.asarray(values[0])
    if op == "reshape":
        return x.reshape((len(x), *config["shape"]) if config.get("keep_batch") else config["shape"])
    if op == "flatten":
        if config.get("channels_first") and x.ndim > 2:
            x = np.moveaxis(x, 1, -1)
        return x.reshape(len(x), -1)
    if op == "concatenate":
        arrays = [np.asarray(v) for v in values]
        if any(a.dtype.kind in "USO" for a in arrays):
            arrays = [a.astype(str) for a in arrays]
        return np.concatenate(arrays, axis=config["axis"])
    if op == "cast":
        return x
    if op == "expand_dims":
        return np.expand_dims(x, config["axis"])
    if op == "squeeze":
        axis = config.get("axis")
        return np.squeeze(x, axis=tuple(axis) if isinstance(axis, list) else axis)
    if op == "slice":
        return x[_key(config["key"])]
    raise ValueError(f"unknown glue op {op!r}")
