"""keras-io ``examples/nlp/multi_label_classification.py``: arXiv subject tags from abstracts.

The example's ``model_for_inference``: ``keras.Sequential([text_vectorizer, shallow_mlp_model])``
with TextVectorization(ngrams=2, output_mode="tf_idf") adapted on the abstracts, then
Dense(512, relu), Dense(256, relu), Dense(labels, sigmoid) (widths divided by 8 here), on a batch
of scalar strings (input shape ``()``).
"""

from __future__ import annotations

import numpy as np

import words

VOCABULARY_SIZE, LABELS = 500, 20


def raw_inputs(n: int, rng) -> dict[str, np.ndarray]:
    return {"abstract": words.reviews(n, rng, 10, 60)}


def build():
    import keras
    from keras import layers

    keras.utils.set_random_seed(22)
    text_vectorizer = layers.TextVectorization(max_tokens=VOCABULARY_SIZE, ngrams=2, output_mode="tf_idf")
    text_vectorizer.adapt(words.reviews(400, np.random.default_rng(22), 10, 60))
    shallow_mlp_model = keras.Sequential([layers.Dense(64, activation="relu"), layers.Dense(32, activation="relu"), layers.Dense(LABELS, activation="sigmoid")])
    return keras.Sequential([keras.Input(shape=(), dtype="string", name="abstract"), text_vectorizer, shallow_mlp_model], name="multi_label_tf_idf")
