"""The glue family: each host glue op computes what its Keras layer or op computes (the host split itself:
tests/transforms/test_split_glue.py)."""

from __future__ import annotations

import numpy as np

from edgeprep.families import glue
from edgeprep.runtime.host.glue import run as run_glue


def test_each_glue_op_equals_keras():
    import keras

    x = np.arange(24, dtype=np.int64).reshape(2, 3, 4)
    cases = [
        ({"op": "reshape", "shape": [12], "keep_batch": True}, [x], keras.layers.Reshape((12,))(x)),
        ({"op": "reshape", "shape": [-1, 2], "keep_batch": True}, [x], keras.layers.Reshape((-1, 2))(x)),
        ({"op": "reshape", "shape": [-1, 4]}, [x], keras.ops.reshape(x, (-1, 4))),
        ({"op": "flatten", "channels_first": False}, [x], keras.layers.Flatten()(x)),
        ({"op": "flatten", "channels_first": True}, [x], keras.layers.Flatten(data_format="channels_first")(x)),
        ({"op": "concatenate", "axis": 1}, [x, x], keras.layers.Concatenate(axis=1)([x, x])),
        ({"op": "expand_dims", "axis": -1}, [x], keras.ops.expand_dims(x, -1)),
        ({"op": "squeeze", "axis": 0}, [x[:1]], keras.ops.squeeze(x[:1], 0)),
        ({"op": "slice", "key": [{"slice": [None, None, None]}, 1, {"slice": [1, None, 2]}]}, [x], x[:, 1, 1::2]),
        ({"op": "slice", "key": ["ellipsis", "newaxis", 0]}, [x], x[..., None, 0]),
    ]
    for config, values, expected in cases:
        np.testing.assert_array_equal(run_glue(values, config), np.asarray(expected), err_msg=str(config))


def test_spec_reads_layers_and_ops_and_refuses_what_it_cannot_write():
    import keras

    from edgeprep.graph import flatten

    ids = keras.Input((3, 1), dtype="int32", name="ids")
    outputs = [keras.layers.Reshape((3,))(ids), keras.ops.reshape(ids, (-1, 3)), keras.ops.cast(ids, "int64"), ids[:, 0], keras.layers.Dense(1)(ids)]
    specs = {call.class_name + str(i): glue.spec(call) for i, call in enumerate(flatten(keras.Model(ids, outputs)).calls)}
    values = list(specs.values())
    assert {"op": "reshape", "shape": [3], "keep_batch": True, "dtype": "int32"} in values
    assert {"op": "reshape", "shape": [-1, 3], "keep_batch": False, "dtype": "int32"} in values
    assert {"op": "cast", "dtype": "int64"} in values
    assert {"op": "slice", "key": [{"slice": [None, None, None]}, 0], "dtype": "int32"} in values
    assert [v for k, v in specs.items() if k.startswith("Dense")] == [None]
