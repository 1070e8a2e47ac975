"""Custom standardize callables (`edgeprep.ingraph.standardize`): traced into byte-level steps that equal
TensorFlow on a seeded fuzz corpus in NumPy (host), in Keras ops, in LiteRT and in ONNX Runtime; and the
callables that are not lowered, refused with the op and the layer named, at ``edgeprep export`` too."""

from __future__ import annotations

import os
import re
import string

import numpy as np
import pytest
from helpers import cli_in_process, error_lines
from test_text_ops import CORPUS, batches

from edgeprep.config import Target
from edgeprep.ingraph.text import UnsupportedText, encode_texts, text_vectorization
from edgeprep.runtime.host.text_vectorization import Step, StepKind, standardize

PUNCTUATION_CLASS = f"[{re.escape(string.punctuation)}]"


def keras_io(input_data):
    """keras-io's "text classification from scratch" custom_standardization, verbatim."""
    import tensorflow as tf

    lowercase = tf.strings.lower(input_data)
    stripped_html = tf.strings.regex_replace(lowercase, "<br />", " ")
    return tf.strings.regex_replace(stripped_html, PUNCTUATION_CLASS, "")


def escaped_literals(x):
    """Literals with regex metacharacters escaped; rewrites longer and shorter; a self-overlapping pattern."""
    import tensorflow as tf

    x = tf.strings.regex_replace(x, re.escape("C++"), "cplusplus")
    x = tf.strings.regex_replace(x, re.escape("a.b"), "")
    x = tf.strings.regex_replace(x, "aa", "a")
    return tf.strings.regex_replace(x, re.escape("<br />"), "\n", replace_global=False)


def class_runs(x):
    """Character classes with + and *, a Perl class, a first-only replacement."""
    import tensorflow as tf

    x = tf.strings.regex_replace(x, r"[\s\-_]+", " ")
    x = tf.strings.regex_replace(x, r"\d+", "#")
    x = tf.strings.regex_replace(x, "[!?]*", "")
    return tf.strings.regex_replace(x, "[a-cx-z]+", "<>", replace_global=False)


def self_overlapping(x):
    """Patterns with a border other than one repeated byte (`text_steps.leftmost_matches`)."""
    import tensorflow as tf

    return tf.strings.regex_replace(tf.strings.regex_replace(x, "aba", "<>"), "abcab", "+")


def strip_only(x):
    import tensorflow as tf

    return tf.identity(tf.strings.strip(x))


def lower_only(x):
    import tensorflow as tf

    return tf.strings.lower(x)


CALLABLES = {"keras_io": keras_io, "escaped_literals": escaped_literals, "class_runs": class_runs, "strip": strip_only, "lower": lower_only,
             "self_overlapping": self_overlapping}
# Converting the doubling jump tables of `self_overlapping` takes ~60 s (mostly tf2onnx): in the artifact
# test with EDGEPREP_SLOW=1 only; the Keras-ops test runs it on the whole corpus every time.
ARTIFACT_CALLABLES = tuple(CALLABLES) if os.environ.get("EDGEPREP_SLOW") == "1" else tuple(c for c in CALLABLES if c != "self_overlapping")
BR = ["<br />", "<BR />", "<br/>", "<br  />", "<br /", "br />", "<br /><br />", "<br /<br />>", "C++", "c++", "a.b", "a.ba.b",
      "aaa", "aaaa", "aaaaaaa", "x-_ y", "12-34", "!?!", "??", " \t", "\u00a0", "é", "ÉCOLE", "日本", "😀", "abcxyz",
      "ababab", "abcabcab", "cc"]


def br_corpus(size: int = 2_000, seed: int = 2) -> list[str]:
    """Texts built from "<br />" variants, self-overlapping runs, digits and punctuation."""
    rng = np.random.default_rng(seed)
    return ["".join(BR[i] for i in rng.integers(0, len(BR), rng.integers(0, 9))) for _ in range(size)]


TEXTS = CORPUS + br_corpus()


def tensorflow(fn, texts: list[str]) -> list[bytes]:
    import tensorflow as tf

    return list(fn(tf.constant(texts, tf.string)).numpy())


def traced(fn) -> tuple[Step, ...]:
    from edgeprep.ingraph.standardize import trace

    return trace(fn, "text_vectorization")


def test_keras_io_traces_to_three_steps():
    lower, br, punctuation = traced(keras_io)
    assert lower == Step(StepKind.LOWER)
    assert br == Step(StepKind.LITERAL, b"<br />", b" ")
    assert punctuation == Step(StepKind.CLASS, bytes(sorted(string.punctuation.encode())))
    assert traced(lambda x: x) == ()
    assert [s.kind for s in traced(strip_only)] == [StepKind.STRIP]
    assert traced(escaped_literals)[2] == Step(StepKind.LITERAL, b"aa", b"a")
    assert traced(class_runs)[2] == Step(StepKind.CLASS, b"!?", b"", runs=True)  # '*' with an empty rewrite is '+'


def _device(steps, texts: list[str]) -> list[bytes]:
    """The Keras-ops steps (`text_steps.standardize`) on ``texts``' bytes."""
    from edgeprep.ingraph import text_ops, text_steps

    data, lengths = text_steps.standardize(*text_ops.prepare(encode_texts(texts)), steps)
    data, lengths = np.asarray(data), np.asarray(lengths)
    return [bytes(data[i, : lengths[i]].astype(np.uint8)) for i in range(len(texts))]


@pytest.mark.parametrize("name", list(CALLABLES))
def test_steps_equal_tensorflow_on_the_corpus(name):
    """Host (NumPy), keras ops and the steps' own RE2 patterns (the --allow-flex path) all equal the callable."""
    import tensorflow as tf

    fn = CALLABLES[name]
    steps = traced(fn)
    want = tensorflow(fn, TEXTS)
    assert [standardize(t, [s.to_json() for s in steps]).encode() for t in TEXTS] == want
    regex = tf.constant(TEXTS)
    for step in steps:
        if step.kind in (StepKind.LITERAL, StepKind.CLASS):
            regex = tf.strings.regex_replace(regex, step.regex(), step.rewrite.decode(), replace_global=not step.first_only)
        else:
            regex = tf.strings.lower(regex) if step.kind is StepKind.LOWER else tf.strings.strip(regex)
    assert list(regex.numpy()) == want
    for texts in batches(TEXTS):
        assert _device(steps, texts) == tensorflow(fn, texts), name


@pytest.mark.parametrize("pattern, rewrite, text", [
    ("aa", "X", "aaaaa b aa"),  # RE2 takes the leftmost match, then searches after its end
    ("aba", "<>", "ababababa abab"),
    ("aabaa", "-", "aabaabaa aabaaabaa"),  # periods 3 and 4
    (r"\.\.\.", "…", "a.....b......c..d"),  # one byte repeated: `text_steps.repeated_byte_matches`
    (r"\s", "_", "".join(map(chr, range(1, 128)))),  # \s is [\t\n\f\r ]: no \v
    (r"[\x01-\x20]+", "", "\x01\x7f a\tb"),
    ("[]a]", "-", "a]b"),  # ']' first in a class is a member
    ("}", "-", "a{b}"),
    (r"\x41\x{42}", "ab", "ABAB"),
    ("x*", "", "xxaxé"),
])
def test_re2_semantics(pattern, rewrite, text):
    from edgeprep.ingraph.standardize import regex_step

    for replace_global in (True, False):
        if pattern.endswith("*") and not replace_global:
            continue
        step = regex_step(pattern.encode(), rewrite.encode(), replace_global)
        import tensorflow as tf

        want = tf.strings.regex_replace(text, pattern, rewrite, replace_global=replace_global).numpy()
        assert step.apply(text.encode()) == want
        assert _device((step,), [text]) == [want]


def test_strip_and_lower_bytes_match_tensorflow():
    import tensorflow as tf

    every = ["x" + chr(c) + "x" for c in range(1, 128)] + [chr(c) + "y" + chr(c) for c in range(1, 0x3000, 7)]
    assert [Step(StepKind.STRIP).apply(t.encode()) for t in every] == list(tf.strings.strip(every).numpy())
    assert [Step(StepKind.LOWER).apply(t.encode()) for t in every] == list(tf.strings.lower(every).numpy())


def _split(x):
    import tensorflow as tf

    return tf.strings.reduce_join(tf.strings.split(x), axis=-1, separator=" ")


def _alternation(x):
    import tensorflow as tf

    return tf.strings.regex_replace(x, "(a|b)c", "")


def _unicode_class(x):
    import tensorflow as tf

    return tf.strings.regex_replace(x, "[éè]", "e")


def _utf8_lower(x):
    import tensorflow as tf

    return tf.strings.lower(x, encoding="utf-8")


def _backreference(x):
    import tensorflow as tf

    return tf.strings.regex_replace(x, "[0-9]", r"<\0>")


REFUSED = {
    "_split": "standardize runs the op UnsortedSegmentJoin",
    "_alternation": "pattern '(a|b)c' and rewrite '': '(a|b)c' is not a literal or a character class",
    "_unicode_class": "non-ASCII members, which RE2 matches per code point",
    "_utf8_lower": "tf.strings.lower with encoding='utf-8'",
    "_backreference": "backslash group",
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_refusals_name_the_op_and_the_layer(name):
    with pytest.raises(UnsupportedText, match=re.escape(REFUSED[name])) as error:
        traced(globals()[name])
    assert str(error.value).startswith("text_vectorization: standardize")


@pytest.mark.parametrize("pattern", [".", "a|b", "^a", "a?", "[^a]", r"\b", "a{2}", "ab+", "é+", "[[:alpha:]]", "(?i)a"])
def test_patterns_outside_literals_and_ascii_classes_are_refused(pattern):
    from edgeprep.ingraph.standardize import PatternError, regex_step

    with pytest.raises(PatternError):
        regex_step(pattern.encode(), b"", True)


FUNCTIONS_MODULE = '''
import keras
import tensorflow as tf

@keras.saving.register_keras_serializable(package="acme")
def alternation(x):
    return tf.strings.regex_replace(tf.strings.lower(x), "(a|b)c", "")

@keras.saving.register_keras_serializable(package="acme")
def split_words(x):
    return tf.strings.reduce_join(tf.strings.split(x), axis=-1, separator=" ")

@keras.saving.register_keras_serializable(package="acme")
def unicode_class(x):
    return tf.strings.regex_replace(x, "[éè]", "e")
'''
CLI_REFUSALS = {  # function -> what the one error line says
    "alternation": ("reviews: standardize calls tf.strings.regex_replace", "'(a|b)c'", "not a literal or a character class"),
    "split_words": ("reviews: standardize runs the op UnsortedSegmentJoin",),
    "unicode_class": ("reviews: standardize calls tf.strings.regex_replace", "'[éè]'", "non-ASCII members"),
}


def test_export_refuses_an_unlowered_callable_in_one_line(tmp_path, monkeypatch):
    """The first callable through the CLI (one line, exit 2, nothing written); all of them through
    ``edgeprep.export``, whose error is the CLI's line (one TensorFlow start-up instead of four)."""
    import importlib

    import keras

    import edgeprep
    from edgeprep.errors import EdgeprepError

    (tmp_path / "acme_text.py").write_text(FUNCTIONS_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    acme_text = importlib.import_module("acme_text")
    models = {}
    for name in CLI_REFUSALS:
        i = keras.Input((1,), dtype="string", name="text")
        t = keras.layers.TextVectorization(standardize=getattr(acme_text, name), vocabulary=["a", "b"], name="reviews")
        models[name] = keras.Model(i, t(i))
    for name, words in CLI_REFUSALS.items():
        with pytest.raises(EdgeprepError) as caught:
            edgeprep.export(models[name], tmp_path / "out")
        assert caught.value.exit_code == 2 and all(word in str(caught.value) for word in words), str(caught.value)
        assert not (tmp_path / "out").exists()
    name, words = next(iter(CLI_REFUSALS.items()))
    models[name].save(tmp_path / f"{name}.keras")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    result = cli_in_process("export", tmp_path / f"{name}.keras", "--out", tmp_path / "out", "--custom-objects", f"acme_text:{name}", env=env)
    assert result.returncode == 2, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert all(word in lines[0] for word in words), lines[0]
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def keras_io_layer():
    import keras

    layer = keras.layers.TextVectorization(standardize=keras_io, max_tokens=3000, output_sequence_length=24)
    layer.adapt(np.array(TEXTS[::2]))
    return layer


class _Standardized:
    """A Keras layer that outputs the standardized bytes and lengths of each callable (built lazily)."""

    @staticmethod
    def model(layer):
        import keras

        from edgeprep.families.text_vectorization import spec
        from edgeprep.ingraph import text_ops, text_steps

        class Standardized(keras.layers.Layer):
            def __init__(self, steps, **kwargs):
                super().__init__(trainable=False, **kwargs)
                self.steps = steps

            def call(self, inputs):
                return text_steps.standardize(*text_ops.prepare(inputs), self.steps)

        data = keras.Input((None,), dtype="uint8", name="text")
        outputs = {"text_vectorization": text_vectorization(spec(layer), name="text_vectorization")(data)}
        for name in ARTIFACT_CALLABLES:
            outputs[f"{name}_bytes"], outputs[f"{name}_lengths"] = Standardized(traced(CALLABLES[name]), name=name)(data)
        return keras.Model(data, list(outputs.values())), tuple(outputs)


@pytest.mark.parametrize("target", [Target.TFLITE, pytest.param(Target.ONNX, marks=pytest.mark.slow)], ids=lambda t: t.value)  # ONNX in CI: examples/11
def test_artifact_equals_keras(keras_io_layer, target):
    """Each callable's bytes and keras-io's TextVectorization ids, in the converted artifact, equal TensorFlow / Keras."""
    from edgeprep.backend import backend
    from edgeprep.config import ExportConfig

    model, names = _Standardized.model(keras_io_layer)
    converter = backend(target)
    artifact = converter.convert(model, converter.options(ExportConfig(), ("text",), names, None))
    assert not artifact.runtime_requirements
    assert all("::" not in op or op.startswith("ai.onnx.ml::") for op in artifact.ops)
    runner = converter.runner(artifact.data)
    for texts in batches(TEXTS):
        got = runner.infer({"text": encode_texts(texts)})
        want = np.asarray(keras_io_layer(np.array(texts, dtype=object).reshape(-1, 1)))
        np.testing.assert_array_equal(got["text_vectorization"], want)
        for name in ARTIFACT_CALLABLES:
            data, lengths = got[f"{name}_bytes"], got[f"{name}_lengths"]
            assert [bytes(data[i, : lengths[i]].astype(np.uint8)) for i in range(len(texts))] == tensorflow(CALLABLES[name], texts), name


def test_host_step_of_a_traced_callable_equals_keras(keras_io_layer):
    """The host step (``--host-steps``) reads the traced steps from its JSON config."""
    import json

    from edgeprep.families.text_vectorization import host, spec

    config = json.loads(json.dumps(spec(keras_io_layer)))
    assert config["standardize"][1] == {"op": "literal", "pattern": "<br />", "rewrite": " ", "first_only": False}
    texts = TEXTS[:3000]
    want = np.asarray(keras_io_layer(np.array(texts, dtype=object).reshape(-1, 1)))
    np.testing.assert_array_equal(host.run([np.array(texts, dtype=object).reshape(-1, 1)], config), want)
