"""keras-io ``examples/nlp/text_classification_from_scratch.py``: IMDB sentiment from raw strings.

TextVectorization with the example's ``custom_standardization`` (lowercase, ``<br />`` replaced by
a space, punctuation removed), ``max_tokens`` and ``output_sequence_length``; Embedding, Dropout,
two Conv1D(kernel 7, stride 3, relu), GlobalMaxPooling1D, Dense(relu), Dropout, Dense(1, sigmoid);
the exported model is the example's ``end_to_end_model`` (string in). Widths and lengths are
smaller than the example's (20000 tokens, 128 dims, 500 steps, 128 filters). As in any Keras
file with a custom function, loading it takes ``--custom-objects text_from_scratch:custom_standardization``
(the function is registered when this module is imported).
"""

from __future__ import annotations

import re
import string

import keras
import numpy as np

import words

MAX_FEATURES, EMBEDDING_DIM, SEQUENCE_LENGTH, FILTERS = 2000, 32, 100, 32


@keras.saving.register_keras_serializable(package="public_examples")
def custom_standardization(input_data):
    import tensorflow as tf

    lowercase = tf.strings.lower(input_data)
    stripped_html = tf.strings.regex_replace(lowercase, "<br />", " ")
    return tf.strings.regex_replace(stripped_html, f"[{re.escape(string.punctuation)}]", "")


def raw_inputs(n: int, rng) -> dict[str, np.ndarray]:
    return {"text": words.reviews(n, rng).reshape(n, 1)}


def build():
    from keras import layers

    keras.utils.set_random_seed(21)
    vectorize_layer = layers.TextVectorization(standardize=custom_standardization, max_tokens=MAX_FEATURES, output_mode="int", output_sequence_length=SEQUENCE_LENGTH)
    vectorize_layer.adapt(words.reviews(500, np.random.default_rng(21)))
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = layers.Embedding(MAX_FEATURES, EMBEDDING_DIM)(inputs)
    x = layers.Dropout(0.5)(x)
    x = layers.Conv1D(FILTERS, 7, padding="valid", activation="relu", strides=3)(x)
    x = layers.Conv1D(FILTERS, 7, padding="valid", activation="relu", strides=3)(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(FILTERS, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    predictions = layers.Dense(1, activation="sigmoid", name="predictions")(x)
    model = keras.Model(inputs, predictions)
    text = keras.Input(shape=(1,), dtype="string", name="text")
    return keras.Model(text, model(vectorize_layer(text)), name="text_from_scratch")
