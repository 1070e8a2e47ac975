"""The audio family: parity samples give a dynamic time axis room for the frames (issue 19, item 3); MelSpectrogram
lowered for ONNX and every STFTSpectrogram mode exported to both targets (issue 16, item 5)."""

from __future__ import annotations

import numpy as np
import pytest

import edgeprep
from edgeprep.config import Target
from edgeprep.families import audio, for_class
from edgeprep.graph import flatten
from edgeprep.parity.samples import generate, input_hints
from edgeprep.runners import KerasRunner

TESTED_RULES = ("lower-mel-spectrogram",)


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


MEL_CONFIGS = {
    "speech": {"fft_length": 512, "sequence_stride": 160, "num_mel_bins": 40},
    "hamming-short-window-magnitude": {"fft_length": 400, "sequence_length": 300, "sequence_stride": 128, "window": "hamming",
                                       "mag_exp": 1.0, "power_to_db": False, "num_mel_bins": 24},
    "no-window-band-limited": {"fft_length": 256, "sequence_stride": 100, "window": None, "sampling_rate": 8000, "min_freq": 100.0,
                               "max_freq": 3000.0, "num_mel_bins": 20, "top_db": 40.0, "ref_power": 2.0, "min_power": 1e-6},
    "prime-fft": {"fft_length": 251, "sequence_stride": 64, "num_mel_bins": 16, "sampling_rate": 8000, "mag_exp": 3.0},
}


def _tone(batch: int, length: int) -> np.ndarray:
    t = np.arange(length) / 16000
    rng = np.random.default_rng(0)
    return (0.5 * np.sin(2 * np.pi * 440 * t)[None] + 0.01 * rng.standard_normal((batch, length))).astype(np.float32)


@pytest.mark.parametrize("name", [*MEL_CONFIGS, "keras-defaults"])
def test_lowered_mel_spectrogram_computes_what_keras_computes(name):
    import keras

    from edgeprep.families.audio import device

    layer = keras.layers.MelSpectrogram(**MEL_CONFIGS.get(name, {}))
    x = np.concatenate([_tone(2, 6000), np.random.default_rng(1).uniform(0, 4, (2, 6000)).astype(np.float32)])
    expected = np.asarray(layer(x))
    lowered = device.mel_class()(audio.spec(layer), (None, *expected.shape[1:]), "float32", **audio.mel_constants(layer))
    got = np.asarray(lowered(x))
    assert got.shape == expected.shape
    # float32 DFTs of different factorisations: a few 1e-6 of the output's scale (dB of a tone in noise included)
    assert np.abs(got - expected).max() <= 2e-5 * np.abs(expected).max()


def test_dft_factors_and_mel_reordering():
    from edgeprep.families.audio import device

    assert device.split(2048) == (32, 64) and device.split(400) == (20, 20) and device.split(251) == (1, 251)
    frame = np.random.default_rng(0).standard_normal(48)
    bases = device.dft_bases(48)
    n1, n2, k2 = bases["factors"]
    y = bases["stage1"].astype(np.float64) @ frame.reshape(n1, n2)
    yr, yi = y[:n1], y[n1:]
    z = np.concatenate([yr * bases["cos"] + yi * bases["sin"], yi * bases["cos"] - yr * bases["sin"]], axis=-1)
    x = z @ bases["stage2"]
    power = (x[:, :k2] ** 2 + x[:, k2:] ** 2).reshape(-1)
    identity = device.reordered_mel(np.eye(25, dtype=np.float32), 48, n1, k2)
    np.testing.assert_allclose(power @ identity, np.abs(np.fft.rfft(frame)) ** 2, rtol=1e-5)


def _mel_model(length, **options):
    import keras

    keras.utils.set_random_seed(0)
    audio_in = keras.Input((length,), name="audio")
    return keras.Model(audio_in, keras.layers.MelSpectrogram(name="mel", **options)(audio_in))


def _onnx_op_types(path) -> set[str]:
    import onnx

    return {node.op_type for node in onnx.load(str(path)).graph.node}


@pytest.mark.parametrize("name", list(MEL_CONFIGS))
def test_mel_spectrogram_exports_to_both_targets(name, tmp_path):
    result = edgeprep.export(_mel_model(4000, **MEL_CONFIGS[name]), tmp_path / "dist")
    assert result.passed and set(result.artifacts) == {Target.TFLITE, Target.ONNX}
    for report in result.reports.values():
        assert report.passed and report.max_rel <= 1e-5
    (lowered,) = [t for t in result.manifest.transforms if t.class_name == "MelSpectrogram" and t.target in ("onnx", None)]
    assert lowered.action == "lowered" and "MatMul stages" in lowered.detail
    ops = _onnx_op_types(result.artifacts[Target.ONNX])
    assert {"Gather", "MatMul"} <= ops and not any("FFT" in op or "DFT" in op for op in ops)
    n = MEL_CONFIGS[name]["fft_length"]
    tflite_ops = result.manifest.artifact("tflite").ops
    if n & (n - 1) == 0:  # TFLite keeps Keras' own layer (measured: closer); RFFT2D takes powers of two only
        assert "RFFT2D" in tflite_ops
    else:
        assert "RFFT2D" not in tflite_ops and "GATHER" in tflite_ops


def test_mel_spectrogram_with_a_dynamic_length_exports_and_runs_longer_audio(tmp_path):
    from edgeprep.runtime.directory import run

    result = edgeprep.export(_mel_model(None, fft_length=256, sequence_stride=64, num_mel_bins=16), tmp_path / "dist")
    assert result.passed and all(report.passed for report in result.reports.values())
    x = _tone(2, 3000)
    expected = np.asarray(_mel_model(None, fft_length=256, sequence_stride=64, num_mel_bins=16)(x))
    for target in (Target.TFLITE, Target.ONNX):
        got = run(tmp_path / "dist", target.value, {"audio": x})
        (value,) = got.values()
        assert value.shape == expected.shape == (2, 16, 3000 // 64 + 1)
        assert np.abs(value - expected).max() <= 2e-5 * np.abs(expected).max()


def test_default_export_of_a_small_audio_classifier_exits_0(tmp_path):
    import keras

    from helpers import cli_in_process

    keras.utils.set_random_seed(0)
    audio_in = keras.Input((8000,), name="audio")
    x = keras.layers.MelSpectrogram(fft_length=512, sequence_stride=256, num_mel_bins=32, sampling_rate=8000, name="mel")(audio_in)
    x = keras.layers.Reshape((32, 32, 1))(x)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(audio_in, keras.layers.Dense(4, name="logits")(x)).save(tmp_path / "audio.keras")
    result = cli_in_process("export", tmp_path / "audio.keras", "--out", tmp_path / "dist")  # suite time: no TensorFlow start-up
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "dist" / "model.tflite").exists() and (tmp_path / "dist" / "model.onnx").exists()


STFT_CASES = [{"mode": mode} for mode in ("log", "magnitude", "psd", "real", "imag", "angle", "stft")] + [
    {"mode": "log", "padding": "same", "frame_length": 200, "frame_step": 80, "fft_length": 256, "window": "hamming", "periodic": True},
    {"mode": "psd", "scaling": "spectrum", "expand_dims": True},
    {"mode": "magnitude", "scaling": None, "window": None, "padding": "same"},
]


@pytest.fixture(scope="module")
def stft_modes(tmp_path_factory):
    """Every `STFT_CASES` layer on one (1024, 2) input, output ``stft_<i>`` each: one export instead of one per
    case (suite time); each case's test reads its own output's comparison in every target's report."""
    import keras

    keras.utils.set_random_seed(0)
    audio_in = keras.Input((1024, 2), name="audio")
    outputs = {f"stft_{i}": keras.layers.STFTSpectrogram(**({"frame_length": 128} | options), name=f"stft_{i}")(audio_in)
               for i, options in enumerate(STFT_CASES)}
    return edgeprep.export(keras.Model(audio_in, outputs), tmp_path_factory.mktemp("stft-modes") / "dist")


@pytest.mark.parametrize("options", STFT_CASES, ids=lambda o: "-".join(f"{v}" for v in o.values()))
def test_every_stft_mode_exports_to_both_targets(options, stft_modes):
    result = stft_modes
    assert result.passed and set(result.artifacts) == {Target.TFLITE, Target.ONNX}
    name = f"stft_{STFT_CASES.index(options)}"
    for report in result.reports.values():
        (output,) = [o for o in report.outputs if o.name == name]
        assert output.passed and output.max_rel <= 1e-6, (report.target, name, output.message)


def _audio_classifier(fft_length: int = 512):
    import keras

    keras.utils.set_random_seed(0)
    audio_in = keras.Input((8000,), name="audio")
    x = keras.layers.MelSpectrogram(fft_length=fft_length, sequence_stride=256, num_mel_bins=32, sampling_rate=8000, name="mel")(audio_in)
    x = keras.layers.Reshape((32, 32, 1))(x)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(audio_in, keras.layers.Dense(4, name="logits")(x))


@pytest.fixture(scope="module")
def audio_classifier():
    return _audio_classifier()


QUANTIZED_ONNX = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "QLinearMatMul", "ConvInteger", "QLinearConv"}


def _onnx_front_end_ops(path) -> tuple[set[str], set[str]]:
    """Op types of the ancestors of the dB ``Log`` node, and of every other node."""
    import onnx

    nodes = onnx.load(str(path)).graph.node
    producer = {name: node for node in nodes for name in node.output}
    (log,) = [node for node in nodes if node.op_type == "Log"]
    front, pending = {}, [log]
    while pending:
        node = pending.pop()
        if id(node) not in front:
            front[id(node)] = node
            pending.extend(producer[name] for name in node.input if name in producer)
    return {n.op_type for n in front.values()}, {n.op_type for n in nodes if id(n) not in front}


def _tflite_output_types(path) -> dict[str, set[str]]:
    """Output element types of each op type of a TFLite artifact."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(path))
    tensors = {t["index"]: t["dtype"].__name__ for t in interpreter.get_tensor_details()}
    types: dict[str, set[str]] = {}
    for op in interpreter._get_ops_details():
        types.setdefault(op["op_name"], set()).update(tensors[i] for i in op["outputs"])
    return types


@pytest.mark.parametrize("mode", ["int8", "dynamic", "float16"])
def test_quantized_audio_classifier_keeps_the_front_end_float_and_passes(mode, audio_classifier, tmp_path):
    """Measured before the front end stayed float: int8 top-1 75% / SQNR 5.2 dB (ONNX), 5.4 dB (TFLite); dynamic
    ONNX 75% / 8.0 dB; the ONNX spectrogram itself at SQNR -4.3 dB (dynamic) and 5.4 dB (int8) against float."""
    from edgeprep.config import Quantization
    from edgeprep.parity.compare import default_tolerance

    result = edgeprep.export(audio_classifier, tmp_path / "dist", quantize=mode)
    assert result.passed and set(result.artifacts) == {Target.TFLITE, Target.ONNX}
    tolerance = default_tolerance(Quantization(mode))
    for report in result.reports.values():
        (output,) = report.outputs
        assert output.passed and output.top1 >= tolerance.min_top1 and output.sqnr_db >= tolerance.min_sqnr_db
    front, rest = _onnx_front_end_ops(result.artifacts[Target.ONNX])
    assert {"MatMul", "Gather"} <= front and not front & QUANTIZED_ONNX
    if mode != "float16":
        assert rest & QUANTIZED_ONNX  # the classifier after the front end is quantized
    if mode == "int8":
        types = _tflite_output_types(result.artifacts[Target.TFLITE])
        assert types["RFFT2D"] == {"complex64"} and types["LOG"] == {"float32"}  # Keras' own layer, float32
        assert types["CONV_2D"] == types["FULLY_CONNECTED"] == {"int8"}


def test_int8_tflite_keeps_the_lowered_front_end_float(tmp_path):
    result = edgeprep.export(_audio_classifier(fft_length=400), tmp_path / "dist", targets=["tflite"], quantize="int8")
    assert result.passed
    (output,) = result.reports[Target.TFLITE].outputs
    assert output.top1 >= 0.97 and output.sqnr_db >= 12.0
    types = _tflite_output_types(result.artifacts[Target.TFLITE])
    assert "RFFT2D" not in types and types["BATCH_MATMUL"] == types["LOG"] == {"float32"} and types["CONV_2D"] == {"int8"}


def test_dynamic_tflite_of_a_lowered_spectrogram_is_refused_naming_the_layer(tmp_path):
    """Measured before the refusal: spectrogram SQNR -4.8 dB, logits 11.9 dB, top-1 50% (parity failed)."""
    from edgeprep.errors import ConversionError

    with pytest.raises(ConversionError, match=r"^mel: TFLite dynamic range quantization .* use --quantize int8 or float16"):
        edgeprep.export(_audio_classifier(fft_length=400), tmp_path / "dist", targets=["tflite"], quantize="dynamic")
    assert not (tmp_path / "dist").exists()
def test_sample_length_fits_what_the_layers_after_the_front_end_need(tmp_path):
    """STFT -> Conv1D(kernel 20) over the frames (as in Keras' STFT audio example): 4 or 16 frames are too few
    for Keras itself, so the samples get the fewest tried that run (64 frames), and the export verifies."""
    import keras

    from edgeprep.parity.samples import FRAME_CHOICES

    keras.utils.set_random_seed(1)
    audio_in = keras.Input((None, 1), name="audio")
    x = keras.layers.STFTSpectrogram(frame_length=64, frame_step=32, name="stft")(audio_in)
    x = keras.layers.GlobalMaxPooling1D()(keras.layers.Conv1D(4, 20, name="conv")(x))
    model = keras.Model(audio_in, keras.layers.Dense(2, name="logits")(x))
    assert FRAME_CHOICES[:3] == (4, 16, 64)
    for too_few in (4, 16):
        with pytest.raises(Exception):
            model(np.zeros((1, 64 + (too_few - 1) * 32, 1), "float32"), training=False)
    hints = input_hints(flatten(model))
    assert hints["audio"].shape == (64 + 63 * 32, 1), hints["audio"]
    result = edgeprep.export(model, tmp_path / "dist")
    assert result.passed and set(result.artifacts) == {Target.TFLITE, Target.ONNX}
    assert result.manifest.samples.ranges["audio"].endswith(f"row shape ({64 + 63 * 32}, 1) for stft (STFTSpectrogram)")
