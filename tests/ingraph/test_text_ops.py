"""TextVectorization on UTF-8 bytes (`edgeprep.ingraph.text`): equal to Keras on a seeded fuzz corpus,
in Keras and in both converted artifacts (LiteRT and ONNX Runtime), builtin ops only."""

from __future__ import annotations

import os

import numpy as np
import pytest

from edgeprep.config import Target
from edgeprep.ingraph.text import UnsupportedText, encode_texts, text_vectorization

WORDS = ["the", "cat", "dog", "école", "ÉCOLE", "Über", "straße", "naïve", "café", "日本", "語", "données", "Ωmega",
         "ДОМ", "дом", "x", "antidisestablishmentarianism", "emoji😀", "e\u0301", "i'm", "well-known", "a.b.c", "C++"]
ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
SPLITTING = " \t\n\r\v\f"
# No NUL in the corpus (test_nul_inside_a_text has it): Keras' get_vocabulary() returns NumPy str, which
# drops a token's trailing NULs, so a vocabulary learned from "a\x00 b" cannot be read back exactly.
NOT_SPLITTING = "\u00a0\x1c\x1d\x1e\x1f\x85\u2028\u2029\u3000\u200b"
UNICODE = "ÉÀÖÑÆØÅéàöñæøåßΑΒΓαβγДЖЯдждяﬁİı日本語한국어" + "\u0301\u0308\u20dd" + "😀👍🏽👨‍👩‍👧🇫🇷"


def corpus(size: int = 10_000, seed: int = 16) -> list[str]:
    """Seeded texts: words with mixed case and punctuation, every kind of space, non-ASCII letters,
    emoji, combining marks, empty and whitespace-only texts, 5 kB texts and
    tokens longer than any vocabulary word."""
    rng = np.random.default_rng(seed)
    pools = [ASCII, PUNCTUATION, SPLITTING, NOT_SPLITTING, UNICODE]

    def piece() -> str:
        kind = rng.integers(0, 10)
        if kind < 5:
            word = WORDS[rng.integers(len(WORDS))]
            return word.upper() if rng.random() < 0.15 else word
        pool = pools[rng.integers(len(pools))]
        return "".join(pool[i] for i in rng.integers(0, len(pool), rng.integers(1, 5)))

    texts = ["", " ", "\t\n\r\v\f ", "\u00a0", PUNCTUATION, " . , ! ", "a" * 300, "long" * 1250,
             " ".join(WORDS) * 40] + [c for c in PUNCTUATION + SPLITTING]
    while len(texts) < size:
        n = int(rng.integers(0, 12))
        separators = rng.choice(list(" " * 6 + SPLITTING + "\u00a0"), n)
        text = "".join(piece() + sep for sep in separators)
        texts.append(text)
    return texts


CORPUS = corpus()
VOCAB_WORDS = sorted({w.lower() for w in WORDS} | {"école", "i'm", "abc", "日本", "c", "the cat", "cat dog", "😀"})
CONFIGS = {
    "adapted": dict(max_tokens=400),
    "lower_ngrams_seq": dict(standardize="lower", ngrams=(1, 2), output_sequence_length=12, vocabulary=VOCAB_WORDS),
    "strip_char_multi_hot": dict(standardize="strip_punctuation", split="character", output_mode="multi_hot", max_tokens=300, pad_to_max_tokens=True),
    "raw_tf_idf": dict(standardize=None, output_mode="tf_idf", max_tokens=500),
    "count_ngrams": dict(ngrams=3, output_mode="count", max_tokens=600),
    "whole_text": dict(split=None, max_tokens=200),
}
# The artifact test converts one model per target holding a lowered layer per config (the ONNX
# conversion of all six takes minutes): two configs in the default suite, all six with EDGEPREP_SLOW=1.
# The Keras-level test checks all six on the whole corpus in every run.
ARTIFACT_CONFIGS = tuple(CONFIGS) if os.environ.get("EDGEPREP_SLOW") == "1" else ("adapted", "strip_char_multi_hot")
BATCH = 500
BATCH_BYTES = 40_000


@pytest.fixture(scope="module")
def layers():
    """Keras layers adapted on the corpus (or given a vocabulary), by config name."""
    import keras

    out = {}
    for name, options in CONFIGS.items():
        layer = keras.layers.TextVectorization(**options)
        if "vocabulary" not in options:
            layer.adapt(np.array(CORPUS[::3] if options.get("split") is not None or "split" not in options else CORPUS[::40]))
        out[name] = layer
    return out


def batches(texts: list[str] | None = None) -> list[list[str]]:
    """The corpus (or ``texts``) sorted by byte length, in batches of at most `BATCH` texts and `BATCH_BYTES` padded
    bytes (as a client would send them); each batch has a token (a batch without any ends
    test_artifact_equals_text_vectorization)."""
    out: list[list[str]] = [[]]
    for text in sorted(CORPUS if texts is None else texts, key=lambda t: len(t.encode())):
        if len(out[-1]) >= BATCH or (len(out[-1]) + 1) * len(text.encode()) > BATCH_BYTES:
            out.append([])
        out[-1].append(text)
    return [batch + ["the cat"] for batch in out if batch]


def expected(layer, texts):
    return np.asarray(layer(np.array(texts, dtype=object).reshape(-1, 1)))


@pytest.fixture(scope="module")
def references(layers):
    """Keras' outputs for each batch of `batches`, by config name."""
    return [{name: expected(layer, texts) for name, layer in layers.items()} for texts in batches()]


def _model(layers, names):
    """One Keras model: bytes in, one lowered TextVectorization per config in ``names`` out."""
    import keras

    from edgeprep.families.text_vectorization import spec

    data = keras.Input((None,), dtype="uint8", name="text")
    return keras.Model(data, [text_vectorization(spec(layers[name]), name=name)(data) for name in names])


@pytest.fixture(scope="module")
def model(layers):
    return _model(layers, tuple(CONFIGS))


def test_corpus_has_what_the_issue_lists():
    text = "".join(CORPUS)
    assert len(CORPUS) >= 10_000
    assert all(c in text for c in PUNCTUATION + SPLITTING + NOT_SPLITTING + UNICODE)
    assert "" in CORPUS and " " in CORPUS and max(len(t.encode()) for t in CORPUS) >= 5000
    assert max(len(t) for t in " ".join(CORPUS).split()) > max(len(w.encode()) for w in VOCAB_WORDS)


def test_keras_layer_equals_text_vectorization(references, model):
    for texts, wanted in zip(batches(), references):
        got = model(encode_texts(texts))
        for name, value in zip(CONFIGS, got):
            want = wanted[name]
            value = np.asarray(value)
            assert value.dtype == want.dtype and value.shape == want.shape, name
            np.testing.assert_array_equal(value, want, err_msg=name)


@pytest.mark.parametrize("target", [Target.TFLITE, Target.ONNX], ids=lambda t: t.value)
def test_artifact_equals_text_vectorization(layers, references, target):
    from edgeprep.backend import backend
    from edgeprep.config import ExportConfig

    converter = backend(target)
    model = _model(layers, ARTIFACT_CONFIGS)
    artifact = converter.convert(model, converter.options(ExportConfig(), ("text",), ARTIFACT_CONFIGS, None))
    assert not artifact.runtime_requirements
    assert all("::" not in op or op.startswith("ai.onnx.ml::") for op in artifact.ops)
    runner = converter.runner(artifact.data)
    small = [CORPUS[:7], CORPUS[7:8]]  # mixed lengths in one batch; one 5 kB text alone
    for texts, wanted in zip(batches() + small, references + [None] * len(small)):
        got = runner.infer({"text": encode_texts(texts)})
        for name in ARTIFACT_CONFIGS:
            want = wanted[name] if wanted else expected(layers[name], texts)
            assert got[name].shape == want.shape, name
            np.testing.assert_array_equal(got[name], want, err_msg=name)
    empty = ["", " \t", "?!"]  # no token in the batch: int outputs are (3, 0)
    if target is Target.TFLITE:  # LiteRT cannot hand out a zero-size tensor (docs/UPSTREAM.md)
        with pytest.raises(ValueError, match="Invalid tensor size"):
            runner.infer({"text": encode_texts(empty)})
        return
    got = runner.infer({"text": encode_texts(empty)})
    for name in ARTIFACT_CONFIGS:
        np.testing.assert_array_equal(got[name], expected(layers[name], empty), err_msg=name)
        assert got[name].shape == expected(layers[name], empty).shape


def test_encode_texts_contract():
    data = encode_texts(["", "ab", "é\x00x"])
    assert data.dtype == np.uint8 and data.shape == (3, 4)
    assert data.tolist() == [[0, 0, 0, 0], [97, 98, 0, 0], [0xC3, 0xA9, 0, ord("x")]]
    with pytest.raises(ValueError, match="NUL"):
        encode_texts(["abc\x00"])


def _split_words(x):
    import tensorflow as tf

    return tf.strings.reduce_join(tf.strings.split(x), axis=-1, separator=" ")


@pytest.mark.parametrize("options, message", [
    (dict(standardize=_split_words), "standardize runs the op UnsortedSegmentJoin"),  # a callable is traced (tests/ingraph/test_standardize.py)
    (dict(split=lambda x: x), "custom callable"),
])
def test_unsupported_options_are_refused(options, message):
    import keras

    from edgeprep.families.text_vectorization import spec

    layer = keras.layers.TextVectorization(vocabulary=["a"], **options)
    with pytest.raises(UnsupportedText, match=message):
        text_vectorization(spec(layer))


def test_nul_inside_a_text():
    import keras

    from edgeprep.families.text_vectorization import spec

    texts = ["x\x00y cat", "\x00 x", "a\x00\x00b", "x\x00y\tX\x00Y"]
    layer = keras.layers.TextVectorization(vocabulary=["x\x00y", "cat", "a\x00\x00b", "x"])
    got = np.asarray(text_vectorization(spec(layer))(encode_texts(texts)))
    np.testing.assert_array_equal(got, expected(layer, texts))
    assert got.tolist() == [[2, 3], [1, 5], [4, 0], [2, 2]]


def test_traced_sequence_has_its_static_length(layers):
    """With output_sequence_length the traced output is ``(None, length)``, as Keras' layer is: a layer
    after it planned on that length (a GRU unrolled over its steps) traces on it."""
    import tensorflow as tf

    from edgeprep.families.text_vectorization import spec

    layer = text_vectorization(spec(layers["lower_ngrams_seq"]))
    traced = tf.function(layer).get_concrete_function(tf.TensorSpec((None, None), tf.uint8))
    assert traced.structured_outputs.shape.as_list() == [None, 12]
