"""Flattening nested models and pipelines, and rebuilding an equal model from the flat graph."""

from __future__ import annotations

import numpy as np

from edgeprep.graph import flatten, rebuild
from zoo import pipeline_nested, tabular_numeric


def test_nested_functional_and_pipeline_are_inlined_with_paths():
    graph = flatten(pipeline_nested())
    calls = [(call.path.split("/")[0], call.class_name) for call in graph.calls]
    assert calls[:6] == [
        ("augment_pipeline", "RandomFlip"), ("augment_pipeline", "RandomContrast"), ("augment_pipeline", "RandomTranslation"),
        ("preprocess", "Resizing"), ("preprocess", "CenterCrop"), ("preprocess", "Rescaling"),
    ]
    assert graph.containers == (("augment_pipeline", "Pipeline"), ("preprocess", "Functional"))


def test_rebuild_equals_the_original_for_dict_io():
    model = tabular_numeric()
    rebuilt = rebuild(flatten(model))
    feed = {"age": np.array([[30.0], [60.0]], np.float32), "income": np.array([[4e4, 1e3, 5.0], [9e4, 3e3, 20.0]], np.float32)}
    want, got = model(feed, training=False), rebuilt(feed, training=False)
    assert set(got) == {"label", "value"}
    for key in want:
        np.testing.assert_array_equal(np.asarray(got[key]), np.asarray(want[key]))


def test_rebuild_with_static_batch():
    rebuilt = rebuild(flatten(tabular_numeric()), batch=4)
    assert [tuple(t.shape) for t in rebuilt.inputs] == [(4, 1), (4, 3)]
