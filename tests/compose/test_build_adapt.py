"""spec -> one-pass adapt -> layer states equal to Keras' own ``adapt`` of the same layers on the same data."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprep.compose.adapt import AdaptPlan, run_local
from edgeprep.compose.preprocessing import resolve
from edgeprep.compose.sources import open_source
from edgeprep.compose.spec import instantiate, parse_spec
from tabular import csv_file, data, write_csv, write_npz  # noqa: F401 (fixtures)


def layer(class_name, **config):
    return {"class_name": class_name, "config": config}


MIXED = {"inputs": {
    "amount": {"layers": [layer("Normalization")]},
    "income": {"layers": [layer("Discretization", num_bins=8, epsilon=0.01, output_mode="one_hot")]},
    "city": {"dtype": "string", "layers": [layer("StringLookup", mask_token="", output_mode="one_hot")]},
    "code": {"dtype": "int64", "layers": [layer("IntegerLookup", mask_token=0, output_mode="multi_hot")]},
    "review": {"dtype": "string", "shape": [], "layers": [layer("TextVectorization", output_mode="multi_hot")]},
}}
TF_IDF = {"inputs": {
    "city": {"dtype": "string", "layers": [layer("StringLookup", output_mode="tf_idf", num_oov_indices=2)]},
    "code": {"dtype": "int64", "layers": [layer("IntegerLookup", output_mode="tf_idf", max_tokens=4)]},
    "review": {"dtype": "string", "shape": [], "layers": [layer("TextVectorization", output_mode="tf_idf", ngrams=2, max_tokens=12, pad_to_max_tokens=True)]},
}}


def adapt(spec, source):
    """edgeprep's adapt: the resolved preprocessing with its layers adapted from ``source``."""
    pre = resolve(spec)
    plan = AdaptPlan(pre.targets())
    plan.apply(run_local(plan, open_source(source)))
    return pre


def keras_adapted(spec, data) -> dict:
    """Fresh layers of the same spec, adapted by Keras on the whole column (the reference)."""
    layers = instantiate(parse_spec(spec))
    for name, chain in layers.items():
        values = data[name] if spec["inputs"][name].get("shape") == [] else data[name].reshape(-1, 1)
        chain[-1].adapt(values)
    return {name: chain[-1] for name, chain in layers.items()}


def rank_error(values, boundaries, num_bins) -> float:
    ordered = np.sort(values.astype("float32"))
    ranks = np.searchsorted(ordered, np.asarray(boundaries, dtype="float32"), side="left") / ordered.size
    return float(np.abs(ranks - np.arange(1, num_bins) / num_bins).max())


def assert_same_state(ours, theirs, column):
    kind = type(ours).__name__
    if kind == "Normalization":
        np.testing.assert_allclose(np.asarray(ours.mean), np.asarray(theirs.mean), rtol=1e-5)
        np.testing.assert_allclose(np.asarray(ours.variance), np.asarray(theirs.variance), rtol=1e-5)
        return
    if kind == "Discretization":
        assert len(ours.bin_boundaries) == len(theirs.bin_boundaries) == ours.num_bins - 1
        assert rank_error(column, ours.bin_boundaries, ours.num_bins) <= ours.epsilon
        # Keras' own boundaries (one summary of the whole array) are within epsilon of ours in rank.
        ours_ranks = np.searchsorted(np.sort(column), ours.bin_boundaries) / column.size
        keras_ranks = np.searchsorted(np.sort(column), theirs.bin_boundaries) / column.size
        assert np.abs(ours_ranks - keras_ranks).max() <= ours.epsilon
        return
    assert [str(t) for t in ours.get_vocabulary()] == [str(t) for t in theirs.get_vocabulary()]
    sample = column[:200] if kind == "TextVectorization" else column[:200].reshape(-1, 1)
    np.testing.assert_array_equal(np.asarray(ours(sample)), np.asarray(theirs(sample)))  # idf weights included


@pytest.fixture(scope="module")
def reference(data):
    return keras_adapted(MIXED, data)


@pytest.mark.parametrize("form", ["csv", "npz", "memory"])
def test_states_equal_keras_adapt_for_all_five_kinds(form, data, reference, tmp_path):
    source = {"csv": lambda: write_csv(data, tmp_path / "d.csv"), "npz": lambda: write_npz(data, tmp_path / "d.npz"), "memory": lambda: data}[form]()
    pre = adapt(MIXED, source)
    assert sorted(type(t.layer).__name__ for t in pre.targets()) == []  # everything holds state now
    for name, chain in pre.chains.items():
        assert_same_state(chain.layers[-1], reference[name], data[name])


def test_vocabulary_order_and_special_tokens_are_keras_rules(data):
    pre = adapt(MIXED, data)
    city, code = pre.chains["city"].layers[0], pre.chains["code"].layers[0]
    # count descending, ties by token descending (rome > paris); "" (mask) and "[UNK]" (OOV) not learned
    # (in one_hot / multi_hot modes Keras' vocabulary starts at the OOV index: no mask entry)
    assert city.get_vocabulary() == ["[UNK]", "rome", "paris", "oslo", "lima", "kyiv"]
    # 7 and 3 tie; the mask 0 and IntegerLookup's OOV token -1 in the data are not learned
    assert [int(t) for t in code.get_vocabulary()] == [-1, 7, 3, 1, 42]


def test_tf_idf_vocabularies_and_weights_equal_keras(data, csv_file):
    pre = adapt(TF_IDF, csv_file)
    theirs = keras_adapted(TF_IDF, data)
    for name, chain in pre.chains.items():
        assert_same_state(chain.layers[-1], theirs[name], data[name])
    assert len(pre.chains["code"].layers[0].get_vocabulary()) == 4  # max_tokens truncation, as Keras


def test_text_file_and_glob_of_shards(data, tmp_path):
    text = tmp_path / "reviews.txt"
    text.write_text("\n".join(data["review"]) + "\n", encoding="utf-8")
    only_text = {"inputs": {"review": MIXED["inputs"]["review"]}}
    ours = adapt(only_text, text).chains["review"].layers[0]
    assert_same_state(ours, keras_adapted(only_text, data)["review"], data["review"])

    for index, rows in enumerate((slice(0, 1000), slice(1000, 2200), slice(2200, None))):
        write_csv(data, tmp_path / f"train-{index}.csv", rows)
    sharded = adapt(MIXED, str(tmp_path / "train-*.csv"))
    reference = keras_adapted(MIXED, data)
    for name, chain in sharded.chains.items():
        assert_same_state(chain.layers[-1], reference[name], data[name])


def test_a_stateful_layer_sees_the_stateless_layers_before_it(tmp_path):
    rng = np.random.default_rng(3)
    images = rng.uniform(0, 255, (500, 4, 4, 3)).astype("float32")
    spec = {"inputs": {"image": {"shape": [4, 4, 3], "layers": [
        layer("RandomFlip", mode="horizontal"), layer("Rescaling", scale=1 / 255), layer("Normalization", axis=-1),
    ]}}}
    pre = adapt(spec, write_npz({"image": images}, tmp_path / "images.npz"))
    ours = pre.chains["image"].layers[-1]
    import keras

    theirs = keras.layers.Normalization(axis=-1)
    theirs.adapt(images / 255.0)  # augmentation is inactive outside training; Rescaling applies
    assert np.asarray(ours.mean).shape == (1, 1, 1, 3)
    np.testing.assert_allclose(np.asarray(ours.mean), np.asarray(theirs.mean), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(ours.variance), np.asarray(theirs.variance), rtol=1e-5)


def test_discretization_rank_error_within_epsilon_on_a_long_stream():
    rng = np.random.default_rng(5)
    values = rng.lognormal(0, 1.5, 300_000).astype("float32")
    spec = {"inputs": {"x": {"layers": [layer("Discretization", num_bins=20, epsilon=0.01)]}}}
    from edgeprep.compose import sources

    original = sources.NPZ_ROWS
    sources.NPZ_ROWS = 1000  # 300 batches: many merges
    try:
        ours = adapt(spec, {"x": values}).chains["x"].layers[0]
    finally:
        sources.NPZ_ROWS = original
    assert rank_error(values, ours.bin_boundaries, 20) <= 0.01
