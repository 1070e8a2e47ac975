"""Vocabulary-aware samples contain the inputs that break a sloppy lowering."""

from __future__ import annotations

import numpy as np

from edgeprep.graph import flatten
from edgeprep.parity.samples import generate, input_hints
from edgeprep.runners import KerasRunner


def _model():
    import keras

    word = keras.Input((1,), dtype="string", name="word")
    code = keras.Input((1,), dtype="int64", name="code")
    x = keras.Input((1,), name="x")
    text = keras.Input((1,), dtype="string", name="text")
    tv = keras.layers.TextVectorization(vocabulary=["the", "cat"], output_sequence_length=4)
    outputs = {
        "w": keras.layers.StringLookup(vocabulary=["red", "blue"], mask_token="[M]")(word),
        "c": keras.layers.IntegerLookup(vocabulary=[5, 9])(code),
        "d": keras.layers.Discretization(bin_boundaries=[0.0, 2.5])(x),
        "t": tv(text),
    }
    return keras.Model({"word": word, "code": code, "x": x, "text": text}, outputs)


def test_samples_cover_vocabulary_oov_mask_empty_unicode_boundaries_and_negatives():
    model = _model()
    hints = input_hints(flatten(model))
    assert hints["word"].kind == "vocabulary" and "string_lookup" in hints["word"].reason
    feed = generate(KerasRunner(model).inputs(), hints, (64,), seed=0)[0]
    words = set(feed["word"].ravel().tolist())
    assert {"red", "blue", "[M]", ""} <= words and any(ord(ch) > 127 for w in words for ch in w)
    codes = set(feed["code"].ravel().tolist())
    assert {5, 9} <= codes and any(c < 0 for c in codes) and any(c not in (5, 9) for c in codes)
    xs = feed["x"].ravel()
    assert {0.0, 2.5} <= set(xs.tolist()) and (xs < 0).any()
    assert np.nextafter(np.float32(2.5), np.float32(-np.inf)) in xs or np.nextafter(np.float32(2.5), np.float32(np.inf)) in xs
    texts = feed["text"].ravel().tolist()
    assert any(t.strip() == "" for t in texts) and any(t != t.lower() for t in texts) and any("\t" in t or "\n" in t for t in texts)
