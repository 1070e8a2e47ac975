"""Default verification depth (issue 19, item 6): at least 64 generated samples that hit every
vocabulary entry, OOV value, mask, bin boundary from both sides, NaN/Inf and crossing pair, counted
here from the samples the export actually compared (its golden inputs), not from the generator."""

from __future__ import annotations

import itertools

import numpy as np

import edgeprep


def layers_of(model, class_name: str) -> list:
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True) if type(layer).__name__ == class_name]


def test_feature_space_samples_hit_every_entry_boundary_side_nonfinite_value_and_crossing_pair(zoo_exports):
    exported = zoo_exports("feature_space_tabular")
    samples = exported.result.manifest.samples
    golden = dict(np.load(exported.out_dir / "golden" / "inputs.npz"))
    rows = len(golden["color"])
    assert samples.count == rows == sum(samples.batch_sizes) >= 64  # every compared sample is in the golden file

    (strings,), (integers,), (bins,) = (layers_of(exported.model, c) for c in ("StringLookup", "IntegerLookup", "Discretization"))
    colors, rooms = strings.get_vocabulary(include_special_tokens=False), integers.get_vocabulary(include_special_tokens=False)
    color, room, age = golden["color"].ravel().tolist(), golden["rooms"].ravel().tolist(), golden["age"].ravel()
    assert set(colors) <= set(color) and set(color) - set(colors)  # every entry, and OOV strings
    assert set(rooms) <= set(room) and set(room) - set(rooms)
    boundaries = np.asarray(bins.bin_boundaries, np.float32)
    for boundary in boundaries:  # on the boundary (goes up) and just below it (stays down)
        assert (age == boundary).any() and (age == np.nextafter(boundary, np.float32(-np.inf))).any(), boundary
    assert np.isnan(age).any() and (age == np.inf).any() and (age == -np.inf).any()  # NaN goes to the last bin
    hit = set(zip(color, room))
    assert all(pair in hit for pair in itertools.product(colors, rooms))  # every crossing pair of the cross
    assert samples.coverage["color x rooms"] == f"{len(colors) * len(rooms)}/{len(colors) * len(rooms)} crossing pairs"
    assert samples.coverage["age"].startswith(f"{3 * len(boundaries)}/{3 * len(boundaries)} vocabulary values, 3/3 edge values")
    assert exported.result.passed


def test_a_large_lookup_gets_more_samples_and_a_static_batch_as_many_batches(tmp_path):
    import keras

    words = [f"token{i:03d}" for i in range(150)]
    text = keras.Input((1,), dtype="string", name="word")
    code = keras.Input((1,), dtype="int64", name="code")
    x = keras.layers.Concatenate()([
        keras.layers.StringLookup(vocabulary=words, mask_token="", output_mode="one_hot", name="words")(text),
        keras.layers.IntegerLookup(vocabulary=[3, 5, 8, 13], output_mode="one_hot", name="codes")(code),
    ])
    model = keras.Model([text, code], keras.layers.Dense(2)(x))
    result = edgeprep.export(model, tmp_path / "dist", batch=4)
    samples = result.manifest.samples
    assert samples.count >= 151 + 13 and set(samples.batch_sizes) == {4} and len(samples.batch_sizes) == samples.count // 4
    golden = dict(np.load(tmp_path / "dist" / "golden" / "inputs.npz"))
    assert len(golden["word"]) == samples.count
    seen = set(golden["word"].ravel().tolist())
    assert set(words) | {""} <= seen and len(seen - set(words) - {""}) >= 8  # every entry, the mask, the OOV strings
    assert {3, 5, 8, 13, -1, 999999} <= set(golden["code"].ravel().tolist())
    assert samples.coverage["word"] == "151/151 vocabulary values, 13/13 edge values (OOV, NaN/Inf)"
    assert result.passed
