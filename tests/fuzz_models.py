"""A hypothesis strategy that builds random small Keras models from the layers edgeprep supports:
a preprocessing head per input (affine preprocessing, augmentation, noise, nested in Sequential,
Functional or Pipeline containers; or a categorical head: lookups, hashing, bins, encodings) and a
conv / dense body, with one or two inputs.

Used by tests/test_fuzz.py (a bounded, derandomized run in CI) and scripts/fuzz.py (a sweep).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st


@dataclass(frozen=True)
class InputRecipe:
    kind: str  # "image" | "vector" | "sequence"
    shape: tuple[int, ...]
    head: tuple[tuple[str, tuple], ...]
    container: str  # "none" | "sequential" | "functional" | "pipeline"
    body: tuple[tuple[str, tuple], ...]
    dtype: str = "float32"


@dataclass(frozen=True)
class ModelRecipe:
    inputs: tuple[InputRecipe, ...]
    units: int
    seed: int


AUGMENT = {"image": ["RandomFlip", "RandomZoom", "RandomContrast", "RandomRotation"], "vector": [], "sequence": []}
NOISE = ["Dropout", "GaussianNoise", "GaussianDropout"]


@st.composite
def head_layer(draw, kind: str, channels: int):
    options = ["Rescaling", "Normalization"] + AUGMENT[kind] + NOISE
    name = draw(st.sampled_from(options))
    if name == "Rescaling":
        per_channel = draw(st.booleans()) and kind != "vector"
        scale = draw(st.lists(st.floats(0.001, 2.0), min_size=channels, max_size=channels)) if per_channel else draw(st.floats(0.001, 2.0))
        return name, (scale, draw(st.floats(-2.0, 2.0)))
    if name == "Normalization":
        mean = draw(st.lists(st.floats(-50, 50), min_size=channels, max_size=channels))
        variance = draw(st.lists(st.floats(0.01, 400), min_size=channels, max_size=channels))
        return name, (mean, variance, draw(st.booleans()) and False)
    return name, ()


@st.composite
def body_layer(draw, kind: str):
    if kind == "image":
        return "Conv2D", (draw(st.integers(2, 8)), draw(st.sampled_from([1, 3])), draw(st.sampled_from([1, 2])), draw(st.sampled_from(["valid", "same"])), draw(st.sampled_from([None, "relu"])))
    if kind == "sequence":
        return "Conv1D", (draw(st.integers(2, 8)), draw(st.sampled_from([1, 3])), 1, draw(st.sampled_from(["valid", "same"])), draw(st.sampled_from([None, "relu"])))
    return "Dense", (draw(st.integers(2, 12)), draw(st.sampled_from([None, "relu", "tanh"])))


CATEGORICAL = ("StringLookup", "IntegerLookup", "Hashing", "Discretization", "CategoryEncoding")
WORDS = ("red", "green", "blue", "Grün", "", "naïve", "x y")


@st.composite
def categorical_head(draw):
    """One categorical layer with its options: lookups (vocabulary, OOV, mask), hashing, bins, encodings."""
    name = draw(st.sampled_from(CATEGORICAL))
    mode = draw(st.sampled_from(["int", "one_hot", "multi_hot", "count"]))
    if name == "StringLookup":
        vocab = draw(st.lists(st.sampled_from(WORDS[:4] + ("naïve",)), min_size=1, max_size=4, unique=True))
        return name, (vocab, draw(st.integers(0, 2)), draw(st.sampled_from([None, "[MASK]"])), mode)
    if name == "IntegerLookup":
        vocab = draw(st.lists(st.integers(-5, 50), min_size=1, max_size=5, unique=True))
        return name, ([v for v in vocab if v != 0], draw(st.integers(0, 2)), draw(st.sampled_from([None, 0])), mode)
    if name == "Hashing":
        return name, (draw(st.integers(2, 9)), draw(st.sampled_from([None, 7])), draw(st.booleans()), mode)
    if name == "Discretization":
        bounds = sorted(set(draw(st.lists(st.floats(-10, 10, width=32), min_size=1, max_size=4))))
        return name, (bounds, mode)
    return name, (draw(st.integers(5, 12)), mode if mode != "int" else "one_hot")


@st.composite
def input_recipe(draw):
    kind = draw(st.sampled_from(["image", "vector", "sequence", "categorical"]))
    if kind == "categorical":
        head = draw(categorical_head())
        dtype = {"StringLookup": "string", "Hashing": draw(st.sampled_from(["string", "int64"])), "Discretization": "float32"}.get(head[0], "int64")
        return InputRecipe(kind, (1,), (head,), "none", (("Dense", (draw(st.integers(2, 6)), None)),), dtype)
    shape = {"image": (draw(st.integers(6, 12)), draw(st.integers(6, 12)), draw(st.sampled_from([1, 3]))), "vector": (draw(st.integers(1, 6)),), "sequence": (draw(st.integers(5, 12)), draw(st.integers(1, 4)))}[kind]
    head = tuple(draw(st.lists(head_layer(kind, shape[-1]), min_size=0, max_size=3)))
    containers = ["none", "sequential", "functional"] + (["pipeline"] if kind == "image" else [])
    body = tuple(draw(st.lists(body_layer(kind), min_size=1, max_size=2)))
    return InputRecipe(kind, shape, head, draw(st.sampled_from(containers)), body)


@st.composite
def model_recipes(draw):
    inputs = tuple(draw(st.lists(input_recipe(), min_size=1, max_size=2)))
    return ModelRecipe(inputs, draw(st.integers(1, 5)), draw(st.integers(0, 2**16)))


def _head_layers(keras, head):
    layers = []
    for name, args in head:
        if name == "Rescaling":
            layers.append(keras.layers.Rescaling(*args))
        elif name == "Normalization":
            mean, variance, invert = args
            layers.append(keras.layers.Normalization(axis=-1, mean=mean, variance=variance, invert=invert))
        elif name in ("Dropout", "GaussianDropout"):
            layers.append(getattr(keras.layers, name)(0.3))
        elif name == "GaussianNoise":
            layers.append(keras.layers.GaussianNoise(0.5))
        elif name in ("RandomZoom", "RandomRotation", "RandomContrast"):
            layers.append(getattr(keras.layers, name)(0.2))
        else:
            layers.append(getattr(keras.layers, name)())
    return layers


def build(recipe: ModelRecipe):
    """The Keras model a recipe describes (weights seeded by ``recipe.seed``)."""
    import keras

    keras.utils.set_random_seed(recipe.seed)
    inputs, features = {}, []
    for index, part in enumerate(recipe.inputs):
        name = f"in{index}"
        if part.kind == "categorical":
            inputs[name], feature = _categorical(keras, name, part)
            features.append(keras.layers.Dense(part.body[0][1][0])(feature))
            continue
        tensor = keras.Input(part.shape, name=name)
        inputs[name] = tensor
        layers = _head_layers(keras, part.head)
        x = tensor
        if layers and part.container == "sequential":
            x = keras.Sequential(layers, name=f"head{index}")(x)
        elif layers and part.container == "pipeline":
            x = keras.layers.Pipeline(layers, name=f"head{index}")(x)
        elif layers and part.container == "functional":
            inner_in = keras.Input(part.shape)
            y = inner_in
            for layer in layers:
                y = layer(y)
            x = keras.Model(inner_in, y, name=f"head{index}")(x)
        else:
            for layer in layers:
                x = layer(x)
        for name_, args in part.body:
            if name_ in ("Conv2D", "Conv1D"):
                filters, kernel, strides, padding, activation = args
                if min(x.shape[1:-1]) < kernel:  # too small for a valid window: keep the size instead
                    padding, strides = "same", 1
                layer = getattr(keras.layers, name_)
                x = layer(filters, kernel, strides=strides, padding=padding, activation=activation)(x)
            else:
                x = keras.layers.Dense(args[0], activation=args[1])(x)
        if part.kind == "image":
            x = keras.layers.GlobalAveragePooling2D()(x)
        elif part.kind == "sequence":
            x = keras.layers.Flatten()(x)
        features.append(x)
    merged = features[0] if len(features) == 1 else keras.layers.Concatenate()(features)
    output = keras.layers.Dense(recipe.units, name="out")(merged)
    return keras.Model(inputs, output, name="fuzzed")


def _categorical(keras, name: str, part: InputRecipe):
    """Input + categorical head (its encoded output as float features)."""
    (layer_name, args), = part.head
    tensor = keras.Input((1,), name=name, dtype=part.dtype)
    if layer_name in ("StringLookup", "IntegerLookup"):
        vocab, oov, mask, mode = args
        layer = getattr(keras.layers, layer_name)(vocabulary=vocab, num_oov_indices=oov, mask_token=mask, output_mode=mode)
    elif layer_name == "Hashing":
        bins, mask, salted, mode = args
        mask = None if mask is None else (str(mask) if part.dtype == "string" else mask)
        layer = keras.layers.Hashing(bins, mask_value=mask, salt=[1, 2] if salted else None, output_mode=mode)
    elif layer_name == "Discretization":
        bounds, mode = args
        layer = keras.layers.Discretization(bin_boundaries=bounds, output_mode=mode)
    else:
        tokens, mode = args
        layer = keras.layers.CategoryEncoding(num_tokens=tokens, output_mode=mode)
    x = layer(tensor)
    if x.dtype != "float32":
        x = keras.layers.Flatten()(keras.layers.Embedding(64, 3)(x)) if len(x.shape) == 2 and x.shape[-1] == 1 else keras.ops.cast(x, "float32")
    return tensor, keras.layers.Flatten()(x) if len(x.shape) > 2 else x


def describe(recipe: ModelRecipe) -> str:
    return repr(recipe)


__all__ = ["ModelRecipe", "build", "describe", "model_recipes", "np"]
