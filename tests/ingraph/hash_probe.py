"""A tiny Keras model over `edgeprep.ingraph`'s hashes, the seeded fuzz corpus, and TensorFlow's answers.

Shared by tests/ingraph/test_hashing_ops.py and scripts/bench_hashing.py. The model's inputs are the
text contract (UTF-8 ``text`` uint8 ``[batch, bytes]`` zero padded, ``length`` int32 ``[batch]``)
and an int64 ``number`` per row; its outputs are raw 64-bit hashes and buckets (`OUTPUTS`).
"""

from __future__ import annotations

import numpy as np

SALT_A = (0x0123456789ABCDEF, -0x0123456789ABCDF0)  # Keras' salt pair (TensorFlow takes int64s)
SALT_B = (7, 7)  # Hashing(salt=7)
FAST_BINS = (1, 7, 1000, 2**62 + 11, 2**63 - 25)
STRONG_BINS = (13, 2**40 + 5)
NUMBER_BINS = 1009
CROSS_BINS = 997
MASK_NUMBER = 42  # Hashing(mask_value=42) on the numbers
MASK_TEXT = "mask"  # Hashing(mask_value="mask") on the text
OUTPUTS = (
    "fingerprint", "siphash_a", *(f"fast_{n}" for n in FAST_BINS), "strong_a_13", "strong_a_big",
    "number_fingerprint", "number_fast", "number_strong", "number_masked", "text_masked",
    "cross_fingerprint", "cross_bins",
)


def build_model(bitwise=None):
    """The probe model: ``{text, length, number}`` -> the `OUTPUTS`, int64 ``[batch]`` each.

    Args:
        bitwise: an `edgeprep.ingraph.uint64.Bitwise`; PORTABLE when None.
    """
    import keras

    from edgeprep.ingraph import farmhash, hashing
    from edgeprep.ingraph.uint64 import Bitwise

    b = bitwise or Bitwise.PORTABLE

    class HashProbe(keras.layers.Layer):
        def call(self, text, length, number):
            fingerprint = hashing.text_hash(text, length, bitwise=b)
            siphash_a = hashing.text_hash(text, length, SALT_A, bitwise=b)
            digits, digit_count = hashing.integer_text(number)
            number_fingerprint = hashing.text_hash(digits, digit_count, bitwise=b)
            text_masked = hashing.equals_text(text, length, MASK_TEXT.encode())
            number_masked = keras.ops.equal(number, MASK_NUMBER)
            return (
                fingerprint, siphash_a,
                *(hashing.keras_bins(fingerprint, n, bitwise=b) for n in FAST_BINS),
                hashing.keras_bins(siphash_a, STRONG_BINS[0], bitwise=b),
                hashing.keras_bins(siphash_a, STRONG_BINS[1], bitwise=b),
                number_fingerprint,
                hashing.keras_bins(number_fingerprint, NUMBER_BINS, bitwise=b),
                hashing.hash_buckets(digits, digit_count, NUMBER_BINS, SALT_B, bitwise=b),
                hashing.keras_bins(number_fingerprint, NUMBER_BINS, masked=number_masked, bitwise=b),
                hashing.keras_bins(siphash_a, NUMBER_BINS, masked=text_masked, bitwise=b),
                farmhash.cross_fingerprint([fingerprint, number], bitwise=b),
                hashing.cross_buckets([fingerprint, number], CROSS_BINS, bitwise=b),
            )

        def compute_output_spec(self, text, length, number):
            return tuple(keras.KerasTensor((text.shape[0],), "int64") for _ in OUTPUTS)

    text = keras.Input((None,), dtype="uint8", name="text")
    length = keras.Input((), dtype="int32", name="length")
    number = keras.Input((), dtype="int64", name="number")
    outputs = HashProbe(name="hash_probe")(text, length, number)
    return keras.Model([text, length, number], dict(zip(OUTPUTS, outputs)), name="hash_probe")


def corpus(seed: int = 0, short: int = 9500, long: int = 560) -> tuple[list[bytes], list[bytes]]:
    """Seeded strings as UTF-8: (``short`` of 0-64 bytes, ``long`` of 65-5000 bytes).

    ASCII, Latin-1 and CJK letters, emoji and combining marks, empty strings, random bytes, the
    mask value; the long ones hit every 64-byte chunk boundary (64k - 1, 64k, 64k + 1) up to 5000.
    """
    rng = np.random.default_rng(seed)
    alphabets = [
        [chr(c) for c in range(32, 127)],
        [chr(c) for c in range(0xA0, 0x180)],
        [chr(c) for c in range(0x4E00, 0x4F00)],
        ["😀", "🎉", "👍🏽", "🇫🇷", "e\u0301", "\u200d", "ß", "İ", "\t", "\n", "\r"],
    ]

    def text(size: int) -> bytes:
        kind = rng.integers(0, 5)
        if kind == 4:  # raw bytes, not necessarily UTF-8: the hashes read bytes
            return bytes(rng.integers(0, 256, size, dtype=np.uint8))
        letters = alphabets[kind] if rng.random() < 0.7 else sum(alphabets, [])
        out = bytearray()
        while len(out) < size:
            out += letters[rng.integers(0, len(letters))].encode()
        return bytes(out[:size])  # cut at the byte: hashes read bytes, not characters

    shorts = [b"", MASK_TEXT.encode(), "mask ".encode(), "Mask".encode()] + [text(size) for size in range(65)] * 3
    while len(shorts) < short:
        shorts.append(text(int(rng.integers(0, 65))))
    edges = [64 * k + d for k in range(2, 79) for d in (-1, 0, 1) if 64 < 64 * k + d <= 5000] + [65, 5000]
    longs = [text(size) for size in edges]
    while len(longs) < long:
        longs.append(text(int(rng.integers(65, 5001))))
    return shorts[:short], longs[:long]


def numbers(count: int, seed: int = 1) -> np.ndarray:
    """Seeded int64 values: int64 min and max and their neighbours, 0, +-1, every power of ten and
    its neighbours, the mask value, then random values of every magnitude and sign."""
    rng = np.random.default_rng(seed)
    fixed = [-(2**63), -(2**63) + 1, 2**63 - 1, 2**63 - 2, 0, 1, -1, MASK_NUMBER, -MASK_NUMBER]
    for exponent in range(19):
        fixed += [10**exponent, 10**exponent - 1, -(10**exponent), -(10**exponent) + 1]
    values = np.array(fixed, np.int64)
    magnitudes = rng.integers(0, 63, count)
    drawn = rng.integers(0, 2**62, count, dtype=np.int64) >> (62 - np.minimum(magnitudes, 62))
    drawn = np.where(rng.random(count) < 0.5, -drawn, drawn)
    return np.concatenate([values, drawn])[:count]


def encode(strings: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """The text contract: zero-padded uint8 ``[batch, longest]`` and int32 lengths."""
    lengths = np.array([len(s) for s in strings], np.int32)
    data = np.zeros((len(strings), max(1, int(lengths.max(initial=0)))), np.uint8)
    for row, s in enumerate(strings):
        data[row, : len(s)] = np.frombuffer(s, np.uint8)
    return data, lengths


def tensorflow_answers(strings: list[bytes], values: np.ndarray) -> dict[str, np.ndarray]:
    """Every output of the probe model, computed by TensorFlow's own ops (the reference)."""
    import tensorflow as tf

    text = tf.constant(strings, tf.string)
    digits = tf.strings.as_string(tf.constant(values, tf.int64))

    def raw(fingerprints) -> np.ndarray:  # tf.fingerprint gives Fingerprint64's little-endian bytes
        return np.ascontiguousarray(fingerprints.numpy()).view("<u8")[:, 0].view(np.int64)

    def masked(hashed, mask) -> np.ndarray:
        return np.where(mask, 0, hashed.numpy() + 1)

    cross = tf.sparse.to_dense(tf.sparse.cross_hashed([text[:, None], tf.constant(values)[:, None]], CROSS_BINS)).numpy()[:, 0]
    answers = {
        "fingerprint": raw(tf.fingerprint(text, "farmhash64")),
        "siphash_a": np.array([_siphash(s, SALT_A) for s in strings], np.uint64).view(np.int64),
        **{f"fast_{n}": tf.strings.to_hash_bucket_fast(text, n).numpy() for n in FAST_BINS},
        "strong_a_13": tf.strings.to_hash_bucket_strong(text, STRONG_BINS[0], key=list(SALT_A)).numpy(),
        "strong_a_big": tf.strings.to_hash_bucket_strong(text, STRONG_BINS[1], key=list(SALT_A)).numpy(),
        "number_fingerprint": raw(tf.fingerprint(digits, "farmhash64")),
        "number_fast": tf.strings.to_hash_bucket_fast(digits, NUMBER_BINS).numpy(),
        "number_strong": tf.strings.to_hash_bucket_strong(digits, NUMBER_BINS, key=list(SALT_B)).numpy(),
        "number_masked": masked(tf.strings.to_hash_bucket_fast(digits, NUMBER_BINS - 1), values == MASK_NUMBER),
        "text_masked": masked(
            tf.strings.to_hash_bucket_strong(text, NUMBER_BINS - 1, key=list(SALT_A)), np.array([s == MASK_TEXT.encode() for s in strings])
        ),
        "cross_fingerprint": np.array([_cross(s, int(v)) for s, v in zip(strings, values)], np.uint64).view(np.int64),
        "cross_bins": cross,
    }
    return {name: np.asarray(value, np.int64) for name, value in answers.items()}


def _siphash(data: bytes, key: tuple[int, int]) -> int:
    """Raw SipHash-2-4 (TensorFlow exposes only its buckets): the host step's binding, checked
    against TensorFlow through the ``strong`` buckets above."""
    import siphash24

    raw = (key[0] % 2**64).to_bytes(8, "little") + (key[1] % 2**64).to_bytes(8, "little")
    return int.from_bytes(siphash24.siphash24(data, key=raw).digest(), "little")


def _cross(data: bytes, value: int) -> int:
    """The raw cross hash (TensorFlow exposes only its buckets), by the host step's FingerprintCat64."""
    import farmhash

    from edgeprep.runtime.host.hashed_crossing import CROSS_HASH_KEY, fingerprint_cat64

    return fingerprint_cat64(fingerprint_cat64(CROSS_HASH_KEY, farmhash.fingerprint64(data)), value % 2**64)
