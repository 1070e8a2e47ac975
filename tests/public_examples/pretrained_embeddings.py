"""keras-io ``examples/nlp/pretrained_word_embeddings.py``: Newsgroup20 with frozen GloVe vectors.

TextVectorization(max_tokens, output_sequence_length=200) adapted on the texts; a frozen Embedding
whose matrix is built from "pretrained" vectors (here drawn at random: nothing is downloaded; rows
of words without a vector stay zero, as in the example); three Conv1D(kernel 5) with two
MaxPooling1D(5), GlobalMaxPooling1D, Dense(relu), Dropout, Dense(20, softmax). The exported model
is the example's ``end_to_end_model`` (string in). Smaller widths than the example's.
"""

from __future__ import annotations

import numpy as np

import words

MAX_TOKENS, SEQUENCE_LENGTH, EMBEDDING_DIM, FILTERS, CLASSES = 2000, 200, 50, 32, 20


def raw_inputs(n: int, rng) -> dict[str, np.ndarray]:
    return {"text": words.reviews(n, rng, 20, 250).reshape(n, 1)}


def build():
    import keras
    from keras import layers

    keras.utils.set_random_seed(23)
    rng = np.random.default_rng(23)
    vectorizer = layers.TextVectorization(max_tokens=MAX_TOKENS, output_sequence_length=SEQUENCE_LENGTH)
    vectorizer.adapt(words.reviews(300, rng, 20, 250))
    vocabulary = vectorizer.get_vocabulary()
    glove = {word: rng.normal(0.0, 0.4, EMBEDDING_DIM) for word in words.WORDS[::2]}
    num_tokens = len(vocabulary) + 2
    embedding_matrix = np.zeros((num_tokens, EMBEDDING_DIM))
    for i, word in enumerate(vocabulary):
        if word in glove:
            embedding_matrix[i] = glove[word]
    embedding_layer = layers.Embedding(num_tokens, EMBEDDING_DIM, trainable=False)
    embedding_layer.build((1,))
    embedding_layer.set_weights([embedding_matrix])
    int_sequences_input = keras.Input(shape=(None,), dtype="int64")
    x = embedding_layer(int_sequences_input)
    x = layers.Conv1D(FILTERS, 5, activation="relu")(x)
    x = layers.MaxPooling1D(5)(x)
    x = layers.Conv1D(FILTERS, 5, activation="relu")(x)
    x = layers.MaxPooling1D(5)(x)
    x = layers.Conv1D(FILTERS, 5, activation="relu")(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(FILTERS, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    preds = layers.Dense(CLASSES, activation="softmax")(x)
    model = keras.Model(int_sequences_input, preds)
    string_input = keras.Input(shape=(1,), dtype="string", name="text")
    return keras.Model(string_input, model(vectorizer(string_input)), name="pretrained_embeddings")
