"""StringLookup / IntegerLookup: the host step equals Keras option by option (out-of-vocabulary values,
empty strings, mask tokens, unicode and mixed case, negatives); parity samples cover the vocabulary
and its edge cases; token counts merge exactly."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from edgeprep.config import HostKind
from edgeprep.families import index_lookup
from edgeprep.families.index_lookup.analyzer import TokenCounts
from family_cases import INTS, STRINGS, same, samples, splits

VOCAB = ["cat", "dog", "Émile", "日本", "a b"]

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
    same(layer, HostKind.INDEX_LOOKUP, index_lookup.spec(layer), x)


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
    same(layer, HostKind.INDEX_LOOKUP, index_lookup.spec(layer), x)


@pytest.mark.parametrize("cls,vocab,x", [
    ("StringLookup", VOCAB, np.array([[0], [1], [2], [5], [6], [-1], [99]], np.int64)),
    ("IntegerLookup", [7, -9, 42], np.array([[0], [1], [2], [3], [4], [-3]], np.int64)),
])
@pytest.mark.parametrize("mask", [False, True])
def test_invert(cls, vocab, x, mask):
    import keras

    mask_token = ("[MASK]" if cls == "StringLookup" else 0) if mask else None
    layer = getattr(keras.layers, cls)(vocabulary=vocab, invert=True, mask_token=mask_token)
    same(layer, HostKind.INDEX_LOOKUP, index_lookup.spec(layer), x)


def test_samples_cover_vocabulary_oov_mask_empty_unicode_and_negatives():
    import keras

    word, code = keras.Input((1,), dtype="string", name="word"), keras.Input((1,), dtype="int64", name="code")
    outputs = {
        "w": keras.layers.StringLookup(vocabulary=["red", "blue"], mask_token="[M]")(word),
        "c": keras.layers.IntegerLookup(vocabulary=[5, 9])(code),
    }
    hints, feed = samples({"word": word, "code": code}, outputs)
    assert hints["word"].kind == "vocabulary" and "string_lookup" in hints["word"].reason
    words = set(feed["word"].ravel().tolist())
    assert {"red", "blue", "[M]", ""} <= words and any(ord(ch) > 127 for w in words for ch in w)
    codes = set(feed["code"].ravel().tolist())
    assert {5, 9} <= codes and any(c < 0 for c in codes) and any(c not in (5, 9) for c in codes)


def test_token_and_document_counts_of_any_split_equal_counter():
    rng = np.random.default_rng(1)
    tokens = rng.choice(["a", "b", "c", "d"], size=(1000, 3))
    counts = TokenCounts(documents=True)
    parts = []
    for s in splits(len(tokens), rng):
        rows = tokens[s]
        row_ids = np.repeat(np.arange(len(rows)), 3)
        parts.append(counts.add(counts.create(), rows.reshape(-1), row_ids, len(rows)))
    merged = counts.merge(parts)
    got = dict(zip(*merged.counts.export()))
    assert got == Counter(tokens.reshape(-1).tolist())
    documents = dict(zip(*merged.document_counts.export()))
    assert documents == Counter(t for row in tokens for t in set(row.tolist()))
    assert merged.documents == 1000


def test_integer_tokens_stay_integers():
    counts = TokenCounts()
    acc = counts.add(counts.create(), np.array([3, -1, 3, 7]), None, 4)
    tokens, values = acc.counts.export()
    assert tokens.dtype.kind == "i" and dict(zip(tokens.tolist(), values.tolist())) == {3: 2, -1: 1, 7: 1}


def test_save_problems_name_vocabularies_keras_cannot_reload():
    import keras

    assert "line break" in index_lookup.save_problem(keras.layers.StringLookup(vocabulary=["a", "x\ny"], name="s"))
    assert "empty string as its last token" in index_lookup.save_problem(keras.layers.StringLookup(vocabulary=["a", ""], name="s"))
    assert index_lookup.save_problem(keras.layers.StringLookup(vocabulary=["a", "b"])) is None
    assert index_lookup.save_problem(keras.layers.IntegerLookup(vocabulary=[1, 2])) is None


def test_build_checks_draw_from_the_same_hints():
    import keras

    from edgeprep.parity.samples import raw_samples

    word = keras.Input((1,), dtype="string", name="word")
    model = keras.Model(word, keras.layers.StringLookup(vocabulary=["red", "blue"])(word))
    feed = raw_samples(model, rows=16, seed=0)
    assert feed["word"].shape == (16, 1) and feed["word"].dtype.kind == "U"
    assert {"red", "blue"} <= set(feed["word"].ravel().tolist())


def test_integer_keys_beyond_float32_precision_look_up_exactly_on_both_targets(tmp_path):
    """Close int64 keys above 2**24 (tf2onnx compares int64 Less/Greater in float32: 13 of 18 ids
    were wrong on ONNX before the binary search used GreaterEqual)."""
    import keras

    import edgeprep

    keys = [2**40 + i for i in range(12)] + [2**53 + 1, 2**53 + 2, 2**60 + 3, 2**60 + 5]
    inputs = keras.Input((1,), dtype="int64", name="key")
    model = keras.Model(inputs, keras.layers.IntegerLookup(vocabulary=keys)(inputs))
    x = np.array([[k] for k in keys] + [[2**40 + 100], [2**60 + 4], [-(2**62)]], dtype=np.int64)
    np.savez(tmp_path / "keys.npz", key=x)
    result = edgeprep.export(model, tmp_path / "dist", data=str(tmp_path / "keys.npz"))
    assert result.passed, [report.summary() for report in result.reports.values()]
    expected = np.asarray(model(x))
    assert sorted(set(expected.reshape(-1).tolist())) == list(range(len(keys) + 1))  # every id and OOV hit
