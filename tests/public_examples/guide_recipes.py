"""The recipes of Keras' preprocessing-layers guide (keras-io ``guides/preprocessing_layers.py``).

Each recipe is one variant, rebuilt on synthetic data of the recipe's own toy data:
``string_one_hot`` (StringLookup one-hot), ``integer_one_hot`` (IntegerLookup one-hot with a mask
value), ``hashing_trick`` (Hashing then CategoryEncoding multi-hot on integer ids), ``numeric_normalization``
(Normalization adapted on CIFAR-shaped images, then a Dense head), ``text_int_gru``
(TextVectorization int -> Embedding -> GRU), ``text_multi_hot`` and ``text_tf_idf``
(TextVectorization bigrams, multi-hot / tf-idf, then Dense).
"""

from __future__ import annotations

import numpy as np

CITIES = np.array(["a", "b", "c", "d", "e"])  # the guide's vocabulary
WORDS = np.array("the brown fox jumped over lazy dog and quick cat sat on mat".split())


def _sentences(n: int, rng) -> np.ndarray:
    rows = [" ".join(rng.choice(WORDS, int(rng.integers(1, 9)))).capitalize() + str(rng.choice([".", "!", ""])) for _ in range(n)]
    rows[0] = "The Brown Fox jumped over the lazy dog."  # the guide's own sentence
    return np.array(rows).reshape(n, 1)


def raw_inputs(n: int, rng, variant: str) -> dict[str, np.ndarray]:
    """Raw rows for ``variant``: strings with OOV values, integers with the mask and OOV, text, pixels."""
    if variant == "string_one_hot":
        return {"feature": rng.choice(np.append(CITIES, ["z", ""]), (n, 1))}
    if variant == "integer_one_hot":
        return {"feature": rng.choice(np.array([12, 36, 1138, 42, 0, 7, 99]), (n, 1)).astype("int64")}
    if variant == "hashing_trick":
        return {"feature": rng.integers(0, 100_000, (n, 1)).astype("int64")}
    if variant == "numeric_normalization":
        return {"image": rng.uniform(0.0, 255.0, (n, 32, 32, 3)).astype("float32")}
    return {"text": _sentences(n, rng)}


def build(variant: str):
    """The recipe's end-to-end model (preprocessing inside), adapted on synthetic data."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    if variant == "string_one_hot":
        lookup = layers.StringLookup(output_mode="one_hot")
        lookup.adapt(np.array([["a"], ["b"], ["c"], ["d"], ["d"], ["e"]]))
        inputs = keras.Input(shape=(1,), dtype="string", name="feature")
        outputs = layers.Dense(2)(lookup(inputs))
    elif variant == "integer_one_hot":
        lookup = layers.IntegerLookup(output_mode="one_hot", mask_token=0)
        lookup.adapt(np.array([[12], [36], [1138], [1138], [42]]))
        inputs = keras.Input(shape=(1,), dtype="int64", name="feature")
        outputs = layers.Dense(2)(lookup(inputs))
    elif variant == "hashing_trick":
        hasher = layers.Hashing(num_bins=64, salt=1337)
        encoder = layers.CategoryEncoding(num_tokens=64, output_mode="multi_hot")
        inputs = keras.Input(shape=(1,), dtype="int64", name="feature")
        outputs = layers.Dense(2)(encoder(hasher(inputs)))
    elif variant == "numeric_normalization":
        normalizer = layers.Normalization()
        normalizer.adapt(rng.uniform(0.0, 255.0, (64, 32, 32, 3)).astype("float32") * rng.uniform(0.5, 1.0, (1, 1, 1, 3)))
        inputs = keras.Input(shape=(32, 32, 3), name="image")
        x = layers.Flatten()(normalizer(inputs))
        outputs = layers.Dense(10, activation="softmax")(x)
    else:
        adapt = _sentences(64, rng)
        inputs = keras.Input(shape=(1,), dtype="string", name="text")
        if variant == "text_int_gru":
            vectorizer = layers.TextVectorization(output_mode="int")
            vectorizer.adapt(adapt)
            x = layers.Embedding(input_dim=vectorizer.vocabulary_size(), output_dim=16)(vectorizer(inputs))
            x = layers.GRU(8)(x)
        else:
            mode = {"text_multi_hot": "multi_hot", "text_tf_idf": "tf_idf"}[variant]
            vectorizer = layers.TextVectorization(output_mode=mode, ngrams=2)
            vectorizer.adapt(adapt)
            x = vectorizer(inputs)
        outputs = layers.Dense(1)(x)
    return keras.Model(inputs, outputs, name=f"guide_{variant}")
