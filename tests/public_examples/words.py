"""Synthetic English-like text for the rebuilt NLP examples: reviews with HTML breaks and punctuation."""

from __future__ import annotations

import numpy as np

WORDS = np.array(
    "the a movie film this was is great terrible plot actor acting story and but not very good bad i loved hated it "
    "of to in for with script scene ending music boring brilliant funny sad characters director watch again never "
    "neural network learning graph model data training vision language paper results method deep".split()
)


def reviews(n: int, rng, low: int = 3, high: int = 40) -> np.ndarray:
    """``n`` strings of ``low..high`` words with capitals, punctuation and ``<br />`` breaks (as in IMDB)."""
    rows = []
    for _ in range(n):
        words = list(rng.choice(WORDS, int(rng.integers(low, high))))
        if rng.random() < 0.5:
            words.insert(int(rng.integers(0, len(words))), "<br /><br />")
        text = " ".join(words).capitalize() + str(rng.choice([".", "!", "?!", ""]))
        rows.append(text.replace(" the", " The", 1) if rng.random() < 0.3 else text)
    return np.array(rows)
