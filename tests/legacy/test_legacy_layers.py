"""Keras 2 models are more than preprocessing: common tf_keras layers whose configs Keras 3 does not
read as they are (``time_major``, ``groups``, one-element ``axis`` lists, wrapped layers, tensor
keyword arguments in calls) translate to the same function."""

from __future__ import annotations

import numpy as np
import pytest
from keras2_zoo import save

import edgeprep
from edgeprep.legacy import load_keras2_model
from edgeprep.runners import KerasRunner

RNG = np.random.default_rng(0)
SEQUENCES = RNG.normal(size=(3, 6, 8)).astype("float32")
IMAGES = RNG.uniform(size=(2, 16, 16, 3)).astype("float32")


def _perturb_batchnorm(model):
    import tf_keras

    for layer in model.layers:
        if isinstance(layer, tf_keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([gamma + RNG.normal(0, 0.3, gamma.shape), beta + RNG.normal(0, 0.3, beta.shape),
                               mean + RNG.normal(0, 0.3, mean.shape), variance + RNG.uniform(0.5, 1.5, variance.shape)])
    return model


def _models():
    """name -> (tf_keras model factory, feed)."""
    import tf_keras

    layers = tf_keras.layers

    def sequence(body):
        inputs = tf_keras.Input((6, 8), name="s")
        return tf_keras.Model(inputs, body(inputs))

    def image(body):
        inputs = tf_keras.Input((16, 16, 3), name="i")
        return _perturb_batchnorm(tf_keras.Model(inputs, body(inputs)))

    def masked_lstm():
        tokens = tf_keras.Input((5,), dtype="int32", name="t")
        return tf_keras.Model(tokens, layers.Dense(2)(layers.LSTM(3)(layers.Embedding(10, 4, mask_zero=True)(tokens))))

    return {
        "lstm": (lambda: sequence(lambda x: layers.Dense(2)(layers.LSTM(4)(x))), {"s": SEQUENCES}),
        "gru": (lambda: sequence(lambda x: layers.Dense(2)(layers.GRU(4)(x))), {"s": SEQUENCES}),
        "bidirectional": (lambda: sequence(lambda x: layers.Bidirectional(layers.LSTM(3))(x)), {"s": SEQUENCES}),
        "multi_head_attention": (lambda: sequence(lambda x: layers.MultiHeadAttention(2, 4)(x, x)), {"s": SEQUENCES}),
        "masked_lstm": (masked_lstm, {"t": np.array([[1, 2, 0, 0, 0], [3, 4, 5, 6, 7], [0, 0, 0, 0, 0]], "int32")}),
        "convolutions": (lambda: image(lambda x: layers.GlobalAveragePooling2D()(layers.LayerNormalization()(layers.DepthwiseConv2D(3)(
            layers.BatchNormalization()(layers.SeparableConv2D(8, 3)(layers.Conv2DTranspose(4, 3)(x))))))), {"i": IMAGES}),
        "spatial_dropout": (lambda: image(lambda x: layers.Softmax()(layers.SpatialDropout2D(0.3)(layers.PReLU()(x)))), {"i": IMAGES}),
    }


@pytest.mark.parametrize("name", sorted(_models()))
def test_common_tf_keras_layers_translate_to_the_same_function(name):
    make, feed = _models()[name]
    loaded = load_keras2_model(make())
    expected = loaded.original_runner().infer(feed)
    got = KerasRunner(loaded.model).infer(feed)
    assert list(got) == list(expected)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-6)


def test_keras2_applications_model_h5_exports(tmp_path):
    """A tf_keras.applications MobileNetV2 (random weights, perturbed BatchNorm) from .h5."""
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    model = _perturb_batchnorm(tf_keras.applications.MobileNetV2(input_shape=(32, 32, 3), weights=None, classes=5))
    result = edgeprep.export(save(model, tmp_path, "h5"), tmp_path / "dist")
    assert result.passed and all(r is not None and r.max_rel <= 1e-5 for r in result.transform_reports.values())
    assert result.manifest["source"]["kind"] == "keras2_h5"
