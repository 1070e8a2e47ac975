"""The audio family: parity samples give a dynamic time axis room for the layer's frames (issue 19, item 3)."""

from __future__ import annotations

import numpy as np
import pytest

import edgeprep
from edgeprep.config import Target
from edgeprep.families import audio, for_class
from edgeprep.graph import flatten
from edgeprep.parity.samples import generate, input_hints
from edgeprep.runners import KerasRunner


def _stft_model(data_format: str = "channels_last"):
    import keras

    keras.utils.set_random_seed(0)
    shape = (None, 1) if data_format == "channels_last" else (1, None)
    audio_in = keras.Input(shape, name="audio")
    x = keras.layers.Rescaling(1 / 4)(audio_in)
    x = keras.layers.STFTSpectrogram(frame_length=640, frame_step=160, fft_length=1024, data_format=data_format, name="stft")(x)
    x = keras.layers.GlobalAveragePooling1D(data_format=data_format)(x)
    return keras.Model(audio_in, keras.layers.Dense(3, name="logits")(x))


def test_shape_hints_of_both_layers():
    import keras

    assert for_class("STFTSpectrogram") is audio.FAMILY and for_class("MelSpectrogram") is audio.FAMILY
    stft = keras.layers.STFTSpectrogram(frame_length=640, frame_step=160)
    assert audio.shape_hint(stft, (None, 1)) == (640 + 3 * 160, 1)
    assert audio.shape_hint(stft, (16000, 1)) is None  # a static length is the model's own
    first = keras.layers.STFTSpectrogram(frame_length=256, data_format="channels_first")
    assert audio.shape_hint(first, (2, None)) == (2, 256 + 3 * 128)
    assert audio.shape_hint(keras.layers.MelSpectrogram(fft_length=512, sequence_stride=128), (None,)) == (512 + 3 * 128,)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_generated_samples_have_room_for_the_frames(data_format):
    model = _stft_model(data_format)
    hints = input_hints(flatten(model))
    assert hints["audio"].shape == ((1120, 1) if data_format == "channels_last" else (1, 1120))
    assert "row shape" in hints["audio"].reason and "stft (STFTSpectrogram)" in hints["audio"].reason
    if data_format == "channels_first":
        return  # TensorFlow's CPU Conv2D takes NHWC only: Keras itself cannot run this layout here
    for feed in generate(KerasRunner(model).inputs(), hints, (1, 3), seed=0):
        assert feed["audio"].shape[1:] == (1120, 1)
        assert np.all(np.isfinite(np.asarray(model(feed["audio"], training=False))))


def test_stft_with_a_dynamic_length_exports_and_verifies(tmp_path):
    result = edgeprep.export(_stft_model(), tmp_path / "dist")
    assert result.passed and set(result.artifacts) == {Target.TFLITE, Target.ONNX}
    assert result.manifest.samples.ranges["audio"].endswith("row shape (1120, 1) for stft (STFTSpectrogram)")
    for report in result.reports.values():
        assert report.passed
