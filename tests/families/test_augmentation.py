"""The augmentation family: its strip and RandomCrop rules (the class list is pinned against Keras
itself, and each rule applies N times, leaves the right structure, and keeps outputs equal at two
batch sizes), and its Keras 2 translation (tf_keras layers whose Keras 3 class computes something
else at inference become what tf_keras computes; every other entry is left alone)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprep.config import Action, ExportConfig, Target
from edgeprep.families import augmentation
from edgeprep.families.augmentation import AUGMENTATION_CLASSES, REGULARIZATION_CLASSES
from edgeprep.graph import rebuild
from edgeprep.plan import make_plan

TESTED_RULES = ("strip-training-only", "replace-random-crop")

CONSTRUCTOR_ARGS = {
    "RandomRotation": (0.2,), "RandomZoom": (0.2,), "RandomTranslation": (0.2, 0.2), "RandomBrightness": (0.2,),
    "RandomContrast": (0.2,), "RandomHue": (0.2, (0, 255)), "RandomSaturation": (0.2,), "RandomSharpness": (0.2,),
    "RandomShear": (0.2,), "RandomPosterization": (1,), "RandomColorDegeneration": (0.2,), "GaussianNoise": (0.3,),
    "GaussianDropout": (0.3,), "AlphaDropout": (0.3,), "Dropout": (0.5,), "SpatialDropout1D": (0.5,),
    "SpatialDropout2D": (0.5,), "SpatialDropout3D": (0.5,),
}
SHAPES = {"SpatialDropout1D": (4, 16, 3), "SpatialDropout3D": (2, 4, 8, 8, 3)}


def _layer(name):
    import keras

    return getattr(keras.layers, name)(*CONSTRUCTOR_ARGS.get(name, ()))


@pytest.mark.parametrize("name", AUGMENTATION_CLASSES + REGULARIZATION_CLASSES)
def test_every_stripped_class_is_the_identity_at_inference_in_keras(name):
    x = np.random.default_rng(0).uniform(0, 255, SHAPES.get(name, (4, 32, 32, 3))).astype("float32")
    y = np.asarray(_layer(name)(x, training=False))
    assert y.shape == x.shape and np.array_equal(y, x), name


@pytest.mark.parametrize("name", ["Resizing", "CenterCrop", "AutoContrast", "Rescaling"])
def test_deterministic_image_layers_are_not_stripped(name):
    import keras

    args = {"Resizing": (16, 16), "CenterCrop": (16, 16), "Rescaling": (0.5,)}.get(name, ())
    inputs = keras.Input((32, 32, 3), name="image")
    model = keras.Model(inputs, getattr(keras.layers, name)(*args)(inputs))
    plan = make_plan(model, Target.ONNX, ExportConfig())
    assert [s.action for s in plan.steps] == [Action.KEPT]


def _stack(*layers, shape=(32, 32, 3), dtype="float32"):
    import keras

    inputs = keras.Input(shape, name="x", dtype=dtype)
    x = inputs
    for layer in layers:
        x = layer(x)
    x = keras.layers.Conv2D(4, 3)(x) if len(shape) == 3 else keras.layers.Dense(4)(x)
    return keras.Model(inputs, x)


def test_strip_rule_applies_n_times_and_keeps_outputs(target):
    import keras

    model = _stack(keras.layers.RandomFlip(), keras.layers.GaussianNoise(0.5), keras.layers.RandomZoom(0.3), keras.layers.Dropout(0.5))
    plan = make_plan(model, target, ExportConfig())
    stripped = plan.by_action(Action.STRIPPED)
    assert len(stripped) == 4 and {s.rule for s in stripped} == {"strip-training-only"}
    transformed = rebuild(plan.graph)
    kinds = {type(layer).__name__ for layer in transformed.layers}
    assert not kinds & (set(AUGMENTATION_CLASSES) | set(REGULARIZATION_CLASSES))
    for batch in (1, 4):
        x = np.random.default_rng(batch).uniform(0, 255, (batch, 32, 32, 3)).astype("float32")
        np.testing.assert_array_equal(np.asarray(transformed(x)), np.asarray(model(x, training=False)))


def test_strip_keeps_the_cast_of_an_integer_image():
    import keras

    model = _stack(keras.layers.RandomFlip(), shape=(16, 16, 3), dtype="uint8")
    plan = make_plan(model, Target.TFLITE, ExportConfig())
    (step,) = plan.by_action(Action.STRIPPED)
    assert "cast uint8 -> float32" in step.detail
    transformed = rebuild(plan.graph)
    x = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3)).astype("uint8")
    np.testing.assert_array_equal(np.asarray(transformed(x)), np.asarray(model(x, training=False)))


def test_random_crop_is_replaced_by_the_documented_centre_crop(target):
    """RandomCrop(h, w) at inference: largest centred window of aspect h:w, bilinear-resized to (h, w)."""
    import keras
    import tensorflow as tf

    inputs = keras.Input((30, 50, 3), name="x")
    model = keras.Model(inputs, keras.layers.RandomCrop(12, 16)(inputs))
    plan = make_plan(model, target, ExportConfig())
    (step,) = plan.by_action(Action.REPLACED)
    assert step.rule == "replace-random-crop" and step.class_name == "RandomCrop"
    transformed = rebuild(plan.graph)
    assert {type(layer).__name__ for layer in transformed.layers} == {"InputLayer", "Resizing"}
    for batch in (1, 3):
        x = np.random.default_rng(batch).uniform(0, 255, (batch, 30, 50, 3)).astype("float32")
        # 12:16 = 3:4 -> the largest such window in 30x50 is 30x40, centred at columns 5..45.
        expected = tf.image.resize(x[:, :, 5:45, :], (12, 16), method="bilinear").numpy()
        np.testing.assert_allclose(np.asarray(transformed(x)), expected, rtol=1e-6, atol=1e-4)


def test_random_height_and_width_become_identity():
    for cls in ("RandomHeight", "RandomWidth"):
        entry = {"class_name": cls, "config": {"name": "r", "dtype": "float32", "factor": 0.2}}
        note = augmentation.keras2_replace(entry)
        assert entry == {"class_name": "Identity", "config": {"name": "r", "dtype": "float32"}}
        assert note is not None and "translated to Identity" in note


def test_random_crop_becomes_its_inference_resize():
    entry = {"class_name": "RandomCrop", "config": {"name": "crop", "dtype": "float32", "height": 4, "width": 6, "seed": 1}}
    note = augmentation.keras2_replace(entry)
    assert entry["class_name"] == "Resizing"
    assert entry["config"] == {"name": "crop", "dtype": "float32", "height": 4, "width": 6, "interpolation": "bilinear", "crop_to_aspect_ratio": True}
    assert "smart_resize" in note


def test_other_layers_are_left_alone():
    entry = {"class_name": "RandomFlip", "config": {"name": "flip", "mode": "horizontal"}}
    assert augmentation.keras2_replace(entry) is None
    assert entry == {"class_name": "RandomFlip", "config": {"name": "flip", "mode": "horizontal"}}
