"""keras-io's "text classification from scratch" standardize function, registered so a saved model can name it.

Exporting a model that uses it: ``edgeprep export ... --custom-objects standardization:custom_standardization``
(with this folder on PYTHONPATH), which imports this module and so registers the function.
"""

import re
import string

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="reviews")
def custom_standardization(input_data):
    """Lowercase (ASCII), drop the HTML line breaks, strip ASCII punctuation: verbatim from keras-io."""
    lowercase = tf.strings.lower(input_data)
    stripped_html = tf.strings.regex_replace(lowercase, "<br />", " ")
    return tf.strings.regex_replace(stripped_html, f"[{re.escape(string.punctuation)}]", "")
