"""TextVectorization as a Keras layer of TensorFlow string ops (Select-TF ops: only with --allow-flex),
or, with no standardize/split, its inner lookup alone (`edgeprep.families.index_lookup.device`)."""

from __future__ import annotations

import functools

import numpy as np

from edgeprep.families.device import tf_ops
from edgeprep.families.index_lookup.device import lookup_class


@functools.cache
def text_class():
    """The ``Text`` layer class (imports TensorFlow)."""
    ops = tf_ops()
    tf = ops.tf
    Lookup = lookup_class()

    class Text(ops.Lowered):
        """TextVectorization from TensorFlow string ops (Select-TF ops: only with --allow-flex)."""

        def __init__(self, config, output_shape, output_dtype, **kwargs):
            super().__init__(config, output_shape, output_dtype, **kwargs)
            self._lookup = Lookup(config["lookup"], output_shape, output_dtype, indices_only=True, name=f"{self.name}_lookup")

        def call(self, inputs):
            from keras.src.utils.tf_utils import tf_encode_categorical_inputs

            from edgeprep.families.text_vectorization.host import StepKind, steps

            c, lookup = self.config, self.config["lookup"]
            x = tf.convert_to_tensor(inputs)
            for step in steps(c["standardize"]):  # built-in options and traced callables alike
                if step.kind is StepKind.LOWER:
                    x = tf.strings.lower(x)
                elif step.kind is StepKind.STRIP:
                    x = tf.strings.strip(x)
                else:
                    x = tf.strings.regex_replace(x, step.regex(), step.rewrite.decode().replace("\\", "\\\\"), replace_global=not step.first_only)
            if c["split"] is not None:
                if x.shape.rank > 1:
                    x = tf.squeeze(x, -1)
                x = tf.strings.split(x) if c["split"] == "whitespace" else tf.strings.unicode_split(x, "UTF-8")
                if c["ngrams"]:
                    x = tf.strings.ngrams(x, ngram_width=tuple(c["ngrams"]), separator=" ")
                ids = tf.ragged.map_flat_values(self._lookup, x)
            else:
                ids = self._lookup(x)
            mode = c["output_mode"]
            if mode == "int":
                if isinstance(ids, tf.RaggedTensor):
                    return ids.to_tensor(default_value=0, shape=[None, c["output_sequence_length"]])
                if c["output_sequence_length"] is None:
                    return ids
                ids = ids[..., : c["output_sequence_length"]]
                return tf.pad(ids, [[0, 0]] * (ids.shape.rank - 1) + [[0, c["output_sequence_length"] - tf.shape(ids)[-1]]])
            counts = tf_encode_categorical_inputs(ids, "count" if mode == "tf_idf" else mode, lookup["depth"], dtype="int64")
            if mode == "tf_idf":
                return tf.cast(counts, tf.float32) * tf.constant(np.asarray(lookup["idf_weights"], np.float32))
            return counts

    return Text


def text(config: dict, output, name: str):
    """TextVectorization in TensorFlow string ops (needs Select-TF ops on TFLite)."""
    return text_class()(config, tuple(output.shape), str(output.dtype), name=name)


@functools.cache
def utf8_text_class():
    """The ``Utf8TextVectorization`` layer class: `edgeprep.ingraph.text` on the artifact's bytes input."""
    import tensorflow as tf

    from edgeprep.families.utf8 import base_class

    class Utf8TextVectorization(base_class()):
        """TextVectorization of uint8 UTF-8 bytes ``(batch, N)`` or ``(batch, 1, N)``, builtin ops only."""

        def __init__(self, config, output_shape, output_dtype, inner, **kwargs):
            super().__init__(config, output_shape, output_dtype, **kwargs)
            self._inner = inner

        def call(self, x):
            if x.shape.rank == 3:  # a (batch, 1) string input (tflite-micro: no uint8 STRIDED_SLICE, a RESHAPE)
                x = tf.squeeze(x, 1) if self._inner.micro else x[:, 0, :]
            return self._inner(x)

    return Utf8TextVectorization


def utf8_text(call, config: dict, micro: bool = False):
    """The in-graph TextVectorization of ``call`` (raises `edgeprep.ingraph.text.UnsupportedText`);
    ``micro``: its tflite-micro form (`edgeprep.ingraph.tflm`: TFLM's kernels, int32 ids)."""
    import keras

    from edgeprep.ingraph.text import text_vectorization

    source = call.inputs[0]
    if len(source.shape) == 2 and source.shape[1] != 1:
        from edgeprep.ingraph.text import UnsupportedText

        raise UnsupportedText(f"a string input of shape {tuple(source.shape)} (one text per row expected)")
    inner = text_vectorization(config, text_rank=len(source.shape), name=f"{call.layer.name}_bytes", micro=micro)
    spec = inner.compute_output_spec(keras.KerasTensor((source.shape[0], None), dtype="uint8"))
    return utf8_text_class()(config, tuple(spec.shape), str(spec.dtype), inner, name=f"{call.layer.name}_in_graph")
