"""Generated parity samples: when the Keras original cannot take them, the message says they are
edgeprep's own, not the user's data (issue 19, item 3)."""

from __future__ import annotations

import pytest

import edgeprep


def test_original_failing_on_generated_samples_does_not_blame_the_user(tmp_path):
    """A valid Conv1D with a 16-wide kernel over a dynamic axis: the generic 8 steps are too short."""
    import keras

    keras.utils.set_random_seed(1)
    series = keras.Input((None, 2), name="series")
    x = keras.layers.Conv1D(4, 16, name="wide")(series)
    model = keras.Model(series, keras.layers.Dense(1)(keras.layers.GlobalMaxPooling1D()(x)))
    with pytest.raises(edgeprep.ConversionError, match=r"^the Keras original fails on edgeprep's generated samples \(series \(1, 8, 2\); "
                       r".*\): edgeprep drew inputs this model cannot take; pass --data FILE with real inputs$") as caught:
        edgeprep.export(model, tmp_path / "dist", targets=["onnx"])
    assert "check the input data" not in str(caught.value)
    assert not (tmp_path / "dist").exists()
