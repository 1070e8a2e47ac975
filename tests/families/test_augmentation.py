"""Augmentation: tf_keras layers whose Keras 3 class computes something else at inference are
translated to what tf_keras computes; every other entry is left alone."""

from __future__ import annotations

from edgeprep.families import augmentation


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
