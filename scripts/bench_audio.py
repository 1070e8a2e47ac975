"""MelSpectrogram front ends compared (issue 16 item 5): how `edgeprep.families.audio` lowers it, by measurement.

    python scripts/bench_audio.py

For two configurations (Keras' defaults: fft_length 2048, stride 512, 128 mel bins; a speech front
end: fft_length 512, stride 160, 40 mel bins) on one second of 16 kHz audio (a 440 Hz tone in noise,
batch 1), it prints per variant: max |error| in dB against Keras, file size, op count, median latency
(1 thread, 200 runs):

- tflite RFFT2D: Keras' own layer converted as it is (TFLite has RFFT2D);
- tflite / onnx factored: edgeprep's lowering (`edgeprep.families.audio.device`);
- tflite / onnx direct: the same layer with a one-step DFT basis (``N1 = 1``);
- onnx STFT op: a hand-built ONNX graph around ``ai.onnx`` STFT (opset 17).

The numbers are recorded in docs/UPSTREAM.md ("Audio front ends").
"""

from __future__ import annotations

import numpy as np
from bench_hashing import median_seconds

SECOND = 16000


def _signal(batch: int = 1) -> np.ndarray:
    t = np.arange(SECOND) / SECOND
    rng = np.random.default_rng(0)
    return (0.5 * np.sin(2 * np.pi * 440 * t)[None] + 0.01 * rng.standard_normal((batch, SECOND))).astype(np.float32)


def _median_ms(run, runs: int = 200) -> float:
    return 1000 * median_seconds(run, runs)


def _runner(data: bytes, runner_type, x):
    """One variant through edgeprep's deploy runner (the same call path for every variant)."""
    runner = runner_type(data, threads=1)
    name = runner.inputs()[0].name
    return (lambda: next(iter(runner.infer({name: x}).values()))), len(data)


def _tflite(model, x):
    import tensorflow as tf

    from edgeprep.runtime.tflite import TFLiteRunner

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    data = converter.convert()
    run, size = _runner(data, TFLiteRunner, x)
    return run, size, sum(TFLiteRunner(data).ops().values())


def _onnx(model_proto, x):
    from edgeprep.runtime.onnx import ONNXRunner

    run, size = _runner(model_proto.SerializeToString(), ONNXRunner, x)
    return run, size, len(model_proto.graph.node)


def _onnx_of(model):
    import tensorflow as tf
    import tf2onnx

    spec = [tf.TensorSpec((None, SECOND), tf.float32, name="audio")]
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=17)
    return proto


def _stft_op_graph(layer, constants):
    """The ONNX STFT operator around Keras' mel matrix, window and dB scaling."""
    from onnx import TensorProto, helper, numpy_helper

    n, stride = layer.fft_length, layer.sequence_stride
    def const(name, value):
        return numpy_helper.from_array(np.asarray(value), name)
    window = constants["window"] if constants["window"] is not None else np.ones(n, np.float32)
    inits = [const("pads", np.array([0, n // 2, 0, n // 2], np.int64)), const("axis", np.array([-1], np.int64)),
             const("step", np.array(stride, np.int64)), const("window", window.astype(np.float32)),
             const("mel", constants["mel_matrix"].astype(np.float32)), const("min_power", np.float32(layer.min_power)),
             const("db", np.float32(10 / np.log(10))), const("ref", np.float32(constants["ref_db"])),
             const("top", np.float32(layer.top_db)), const("last", np.array([-1], np.int64))]
    nodes = [
        helper.make_node("Pad", ["audio", "pads"], ["padded"], mode="reflect"),
        helper.make_node("Unsqueeze", ["padded", "axis"], ["signal"]),
        helper.make_node("STFT", ["signal", "step", "window"], ["stft"], onesided=1),
        helper.make_node("Mul", ["stft", "stft"], ["squares"]),
        helper.make_node("ReduceSum", ["squares", "last"], ["power"], keepdims=0),
        helper.make_node("MatMul", ["power", "mel"], ["mel_power"]),
        helper.make_node("Max", ["mel_power", "min_power"], ["floored"]),
        helper.make_node("Log", ["floored"], ["log"]),
        helper.make_node("Mul", ["log", "db"], ["db_power"]),
        helper.make_node("Sub", ["db_power", "ref"], ["level"]),
        helper.make_node("ReduceMax", ["level"], ["peak"], keepdims=0),
        helper.make_node("Sub", ["peak", "top"], ["floor"]),
        helper.make_node("Max", ["level", "floor"], ["clipped"]),
        helper.make_node("Transpose", ["clipped"], ["mel_spectrogram"], perm=[0, 2, 1]),
    ]
    graph = helper.make_graph(nodes, "mel", [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [None, SECOND])],
                              [helper.make_tensor_value_info("mel_spectrogram", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def main() -> None:
    import keras

    from edgeprep.families import audio
    from edgeprep.families.audio import device

    x = _signal()
    for options in ({}, {"fft_length": 512, "sequence_stride": 160, "num_mel_bins": 40}):
        layer = keras.layers.MelSpectrogram(**options)
        reference = np.asarray(layer(x))
        constants = audio.mel_constants(layer)
        inputs = keras.Input((SECOND,), name="audio")
        variants = {"tflite RFFT2D": _tflite(keras.Model(inputs, layer(inputs)), x)}
        for label, factors in (("factored", None), ("direct", (1, layer.fft_length))):
            lowered = device.mel_class()(audio.spec(layer), (None, *reference.shape[1:]), "float32", factors=factors, **constants)
            model = keras.Model(inputs, lowered(inputs))
            variants[f"tflite {label}"] = _tflite(model, x)
            variants[f"onnx {label}"] = _onnx(_onnx_of(model), x)
        variants["onnx STFT op"] = _onnx(_stft_op_graph(layer, constants), x)
        print(f"\nMelSpectrogram({options or 'defaults'}), 1 s at 16 kHz, batch 1")
        print("| variant | max abs error vs Keras (dB) | size (KB) | ops | median ms |\n|---|---|---|---|---|")
        for name, (run, size, ops) in variants.items():
            error = float(np.abs(run() - reference).max())
            print(f"| {name} | {error:.2e} | {size / 1024:.0f} | {ops} | {_median_ms(run):.3f} |")


if __name__ == "__main__":
    main()
