"""Every preprocessing layer class of Keras 3.15 has a rule, is kept as it is, or is refused
explicitly; kept classes really convert, and refused ones really stop the export."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprep.config import Action, ExportConfig, Target
from edgeprep.plan import make_plan
from edgeprep.families import ALL_RULES
from edgeprep.transforms.coverage import CONTAINERS, KEPT_AS_IS, UNSUPPORTED

TESTED_RULES = ("unsupported",)


def _preprocessing_classes() -> list[str]:
    import keras

    return sorted(
        name for name in dir(keras.layers)
        if isinstance(getattr(keras.layers, name), type) and getattr(keras.layers, name).__module__.startswith("keras.src.layers.preprocessing")
    )


def test_every_keras_preprocessing_class_has_a_rule_or_an_explicit_entry():
    ruled = {cls for rule in ALL_RULES for cls in rule.classes}
    classes = _preprocessing_classes()
    assert len(classes) >= 40, classes  # the enumeration itself works
    missing = [name for name in classes if name not in ruled and name not in KEPT_AS_IS and name not in UNSUPPORTED and name not in CONTAINERS]
    assert missing == [], f"no rule and no explicit entry in edgeprep/transforms/coverage.py for: {missing}"


def test_entries_name_real_keras_classes():
    classes = set(_preprocessing_classes())
    assert set(KEPT_AS_IS) | set(UNSUPPORTED) | set(CONTAINERS) <= classes


def test_unsupported_classes_stop_the_plan_with_their_reason():
    import keras

    name = "MaxNumBoundingBoxes"
    images, boxes, labels = keras.Input((8, 8, 3), name="images"), keras.Input((4, 4), name="boxes"), keras.Input((4,), name="labels")
    padded = keras.layers.MaxNumBoundingBoxes(max_number=2)({"images": images, "bounding_boxes": {"boxes": boxes, "labels": labels}})
    model = keras.Model([images, boxes, labels], padded["bounding_boxes"]["boxes"])
    for target in Target:
        plan = make_plan(model, target, ExportConfig())
        if target in UNSUPPORTED[name]:
            (step,) = plan.by_action(Action.UNSUPPORTED)
            assert step.class_name == name and UNSUPPORTED[name][target] in plan.problems[0]
        else:
            assert not plan.problems


@pytest.mark.parametrize("name", ["AutoContrast", "STFTSpectrogram", "ContrastLimitedAdaptiveHistogramEqualization"])
def test_kept_classes_convert_and_match(name, tmp_path):
    import keras

    import edgeprep

    make, shape = {
        "AutoContrast": (lambda: keras.layers.AutoContrast(), (8, 8, 3)),
        "STFTSpectrogram": (lambda: keras.layers.STFTSpectrogram(frame_length=64, frame_step=32, fft_length=64), (256, 1)),
        "ContrastLimitedAdaptiveHistogramEqualization": (lambda: keras.layers.ContrastLimitedAdaptiveHistogramEqualization(value_range=(0, 255), tile_grid_size=(2, 2)), (16, 16, 3)),
    }[name]
    inputs = keras.Input(shape, name="x")
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(make()(inputs))))
    result = edgeprep.export(model, tmp_path / "dist")
    assert result.passed and all(r.max_rel <= 1e-5 for r in result.reports.values())
    assert np.isfinite([r.max_rel for r in result.reports.values()]).all()
