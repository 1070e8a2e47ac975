"""TextVectorization: everything edgeprep does with it.

- plan rule: ``HostTextVectorization`` in `edgeprep.transforms.lower` today: standardize + split +
  ngrams have no builtin op, so the layer runs on the host and the device gets the token ids;
  with no standardize/split it is its inner lookup on the device
  (`edgeprep.families.index_lookup.device`); ``--allow-flex`` puts `device` (TensorFlow string ops) there;
- host step: `host` (byte-exact standardize, split, ngrams, then the inner lookup); both read `spec`;
- parity samples: sentences of vocabulary words in mixed case with punctuation, unicode words,
  tabs / newlines / non-breaking spaces, and empty strings;
- adapt, Keras 2 and saving: those of its inner lookup (`edgeprep.families.index_lookup`).
"""

from __future__ import annotations

from edgeprep.config import HostKind
from edgeprep.families import index_lookup
from edgeprep.families.base import Family
from edgeprep.families.text_vectorization import host
from edgeprep.parity.hints import VocabularyHint


def spec(layer) -> dict:
    """The portable config: the text options and the inner lookup's spec."""
    lookup = index_lookup.spec(layer._lookup_layer)
    return {
        "standardize": layer._standardize,
        "split": layer._split,
        "ngrams": list(layer._ngrams) if layer._ngrams else None,
        "output_mode": layer._output_mode,
        "output_sequence_length": layer._output_sequence_length,
        "lookup": lookup,
        "dtype": lookup["dtype"],
    }


def sample_hint(layer) -> VocabularyHint:
    """The first 500 vocabulary words, for sentences (`edgeprep.parity.samples.draw_vocabulary`)."""
    words = [w for w in layer.get_vocabulary(include_special_tokens=False) if isinstance(w, str)]
    return VocabularyHint(text_words=tuple(words[:500]), sources=(layer.name,))


FAMILY = Family(
    name="text_vectorization", classes=("TextVectorization",), host_kind=HostKind.TEXT_VECTORIZATION, host=host.run,
    spec=spec, sample_hint=sample_hint, analyzer=index_lookup.FAMILY.analyzer, input_dtype=lambda layer: "string",
    keras2_state=index_lookup.keras2_state, save_problem=index_lookup.save_problem,
)
