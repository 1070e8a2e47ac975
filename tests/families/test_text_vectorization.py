"""TextVectorization: the host step equals Keras option by option on text chosen to break a sloppy copy
(unicode and non-ASCII whitespace, punctuation, empty strings); parity samples hold sentences with
mixed case, blanks and tabs / newlines."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprep.config import HostKind
from edgeprep.families import text_vectorization
from family_cases import same, samples

TEXT = np.array([
    "The cat, the DOG!", "  ÉCOLE  über\tcat\ndog ", "", "a\u00a0b c\u3000d", "Hello—world... it's", "日本 語 cat", "x" * 3,
    "dog dog dog cat", "MiXeD CaSe tExT", "punct: !#$%&()*+,-./:;<=>?@[]^_`{|}~",
])

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
    same(layer, HostKind.TEXT_VECTORIZATION, text_vectorization.spec(layer), x)


def test_samples_hold_blank_mixed_case_and_tab_or_newline_sentences():
    import keras

    text = keras.Input((1,), dtype="string", name="text")
    tv = keras.layers.TextVectorization(vocabulary=["the", "cat"], output_sequence_length=4)
    _, feed = samples({"text": text}, {"t": tv(text)})
    texts = feed["text"].ravel().tolist()
    assert any(t.strip() == "" for t in texts) and any(t != t.lower() for t in texts) and any("\t" in t or "\n" in t for t in texts)
