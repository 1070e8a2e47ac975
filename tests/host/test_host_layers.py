"""Every host implementation reproduces its Keras layer exactly, option by option, on inputs
chosen to break a sloppy copy: out-of-vocabulary values, empty strings, mask tokens, unicode and
mixed case, values exactly on bin boundaries, negatives, NaN."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprep.config import HostKind
from edgeprep.host.steps import KINDS
from edgeprep.transforms import host_specs

VOCAB = ["cat", "dog", "Émile", "日本", "a b"]
STRINGS = np.array([["cat"], ["dog"], ["Émile"], ["émile"], [""], ["[UNK]"], ["日本"], ["zebra"], ["CAT"], ["a b"]])
INTS = np.array([[3], [7], [-1], [0], [42], [7], [-9], [100000], [1], [2]], dtype=np.int64)
TEXT = np.array([
    "The cat, the DOG!", "  ÉCOLE  über\tcat\ndog ", "", "a\u00a0b c\u3000d", "Hello—world... it's", "日本 語 cat", "x" * 3,
    "dog dog dog cat", "MiXeD CaSe tExT", "punct: !#$%&()*+,-./:;<=>?@[]^_`{|}~",
])


def _keras(layer, *inputs):
    import tensorflow as tf

    args = [tf.constant(x) for x in inputs]
    out = layer(args if len(args) > 1 else args[0])
    out = out.numpy() if hasattr(out, "numpy") else np.asarray(out)
    if out.dtype == object:
        out = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(out).astype(str)
    return out


def _same(layer, kind, config, *inputs):
    expected = _keras(layer, *inputs)
    got = KINDS[HostKind(kind)]([np.asarray(x) for x in inputs], config)
    assert got.dtype == expected.dtype or (got.dtype.kind == expected.dtype.kind == "U"), (got.dtype, expected.dtype)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    np.testing.assert_array_equal(got, expected)


LOOKUP_OPTIONS = [
    {}, {"num_oov_indices": 0}, {"num_oov_indices": 3}, {"mask_token": "[MASK]"}, {"mask_token": ""},
    {"output_mode": "one_hot"}, {"output_mode": "multi_hot"}, {"output_mode": "count"},
    {"output_mode": "tf_idf", "idf_weights": [0.5, 1.0, 1.5, 2.0, 2.5]},
    {"output_mode": "multi_hot", "max_tokens": 12, "pad_to_max_tokens": True},
    {"output_mode": "count", "mask_token": ""}, {"num_oov_indices": 2, "salt": 7},
]


@pytest.mark.parametrize("options", LOOKUP_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items() if k != "idf_weights") or "default")
def test_string_lookup(options):
    import keras

    layer = keras.layers.StringLookup(vocabulary=VOCAB, **options)
    x = STRINGS if options.get("num_oov_indices") != 0 else STRINGS[[0, 1, 2, 6, 9]]
    if options.get("mask_token") == "":
        x = np.where(x == "[UNK]", "", x)
    if options.get("output_mode") in ("multi_hot", "count", "tf_idf"):
        x = x.reshape(5, 2) if len(x) == 10 else x
    _same(layer, "index_lookup", host_specs.index_lookup(layer), x)


@pytest.mark.parametrize("options", [
    {}, {"num_oov_indices": 0}, {"num_oov_indices": 3}, {"num_oov_indices": 3, "oov_method": "farmhash"},
    {"num_oov_indices": 2, "oov_method": "farmhash", "salt": [3, 5]}, {"mask_token": 0}, {"output_mode": "one_hot"},
    {"output_mode": "count"}, {"output_mode": "tf_idf", "idf_weights": [1.0, 2.0, 3.0, 4.0]},
], ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items() if k != "idf_weights") or "default")
def test_integer_lookup(options):
    import keras

    vocab = [7, -9, 42, 100000]
    layer = keras.layers.IntegerLookup(vocabulary=vocab, **options)
    x = INTS if options.get("num_oov_indices") != 0 else np.array([[7], [-9], [42], [100000]], np.int64)
    _same(layer, "index_lookup", host_specs.index_lookup(layer), x)


@pytest.mark.parametrize("cls,vocab,x", [
    ("StringLookup", VOCAB, np.array([[0], [1], [2], [5], [6], [-1], [99]], np.int64)),
    ("IntegerLookup", [7, -9, 42], np.array([[0], [1], [2], [3], [4], [-3]], np.int64)),
])
@pytest.mark.parametrize("mask", [False, True])
def test_invert(cls, vocab, x, mask):
    import keras

    mask_token = ("[MASK]" if cls == "StringLookup" else 0) if mask else None
    layer = getattr(keras.layers, cls)(vocabulary=vocab, invert=True, mask_token=mask_token)
    _same(layer, "index_lookup", host_specs.index_lookup(layer), x)


@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
def test_discretization_on_boundaries_negatives_and_nan(mode):
    import keras

    boundaries = [-1.0, 0.0, 0.5, 2.0]
    layer = keras.layers.Discretization(bin_boundaries=boundaries, output_mode=mode)
    x = np.array([[-1.0], [-1.0000001], [0.0], [-0.0], [0.49999997], [0.5], [2.0], [1e30], [-1e30], [np.nan]], np.float32)
    if mode in ("multi_hot", "count"):
        x = x.reshape(5, 2)
    _same(layer, "discretization", host_specs.discretization(layer), x)


def test_discretization_adapted():
    import keras

    layer = keras.layers.Discretization(num_bins=5)
    layer.adapt(np.random.default_rng(0).normal(size=(200, 1)).astype("float32"))
    x = np.array(layer.bin_boundaries + [0.0, -5.0, 5.0], np.float32).reshape(-1, 1)
    _same(layer, "discretization", host_specs.discretization(layer), x)


@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count"])
def test_category_encoding(mode):
    import keras

    layer = keras.layers.CategoryEncoding(num_tokens=6, output_mode=mode)
    x = np.array([[0, 5], [3, 3], [1, 9], [2, 0]], np.int64) if mode != "one_hot" else np.array([[0], [5], [3], [9]], np.int64)
    _same(layer, "category_encoding", host_specs.category_encoding(layer), x)


def test_category_encoding_count_weights():
    import keras

    layer = keras.layers.CategoryEncoding(num_tokens=4, output_mode="count")
    x = np.array([[0, 3, 3], [1, 2, 1]], np.int64)
    w = np.array([[0.5, 1.5, 2.0], [1.0, 0.25, 3.0]], np.float32)
    expected = layer(x, count_weights=w).numpy()
    got = KINDS[HostKind.CATEGORY_ENCODING]([x, w], host_specs.category_encoding(layer))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("options", [
    {"num_bins": 16}, {"num_bins": 16, "mask_value": ""}, {"num_bins": 5, "salt": 1337}, {"num_bins": 5, "salt": [3, 99]},
    {"num_bins": 8, "output_mode": "one_hot"}, {"num_bins": 8, "output_mode": "multi_hot"}, {"num_bins": 8, "output_mode": "count"},
], ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_hashing_strings(options):
    import keras

    layer = keras.layers.Hashing(**options)
    x = STRINGS.reshape(5, 2) if options.get("output_mode") in ("multi_hot", "count") else STRINGS
    _same(layer, "hashing", host_specs.hashing(layer), x)


@pytest.mark.parametrize("options", [{"num_bins": 16}, {"num_bins": 16, "mask_value": 0}, {"num_bins": 7, "salt": 5}])
def test_hashing_integers_and_floats(options):
    import keras

    layer = keras.layers.Hashing(**options)
    _same(layer, "hashing", host_specs.hashing(layer), INTS)
    floats = np.array([[1.9], [-1.9], [0.0], [2.5]], np.float32)
    _same(layer, "hashing", host_specs.hashing(layer), floats)


@pytest.mark.parametrize("mode", ["int", "one_hot"])
def test_hashed_crossing(mode):
    import keras

    layer = keras.layers.HashedCrossing(num_bins=11, output_mode=mode)
    a = INTS
    b = STRINGS
    _same(layer, "hashed_crossing", host_specs.hashed_crossing(layer), a, b)
    _same(layer, "hashed_crossing", host_specs.hashed_crossing(layer), a, a * 3)


TEXT_OPTIONS = [
    {}, {"standardize": None}, {"standardize": "lower"}, {"standardize": "strip_punctuation"},
    {"split": "character"}, {"split": None, "standardize": "lower"}, {"ngrams": 2}, {"ngrams": (1, 3)},
    {"output_sequence_length": 4}, {"output_sequence_length": 40}, {"output_mode": "multi_hot"},
    {"output_mode": "count", "ngrams": 2}, {"output_mode": "tf_idf"}, {"output_mode": "multi_hot", "pad_to_max_tokens": True, "max_tokens": 60},
    {"split": None, "output_sequence_length": 3},
]


@pytest.mark.parametrize("options", TEXT_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_text_vectorization_adapted(options):
    import keras

    layer = keras.layers.TextVectorization(**options)
    layer.adapt(TEXT[:7])
    x = TEXT.reshape(-1, 1) if options.get("split", "whitespace") is None else TEXT
    _same(layer, "text_vectorization", host_specs.text_vectorization(layer), x)
