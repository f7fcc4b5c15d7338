"""Export word vectors in the word2vec / fastText text format (``.vec``).

The format (word2vec.c's ``-binary 0`` output, fastText's ``.vec``): a header line "V D", then one
line per word, "word x_1 ... x_D", space-separated. gensim reads it with
``KeyedVectors.load_word2vec_format(path, binary=False)``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from jaxpretrain.errors import InputError


def save_vec(path: str, words: Sequence[str], vectors: np.ndarray) -> str:
    """Writes `words` and their `vectors` (float [V, D]) to `path` in the text .vec format."""
    vectors = np.asarray(vectors, np.float32)
    if vectors.ndim != 2 or len(words) != len(vectors):
        raise InputError(
            f"save_vec needs one vector per word: {len(words)} words, vectors {vectors.shape}."
        )
    bad = [w for w in words if not w or any(c.isspace() for c in w)]
    if bad:
        raise InputError(f"words in a .vec file cannot be empty or hold whitespace: {bad[:5]}.")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{len(words)} {vectors.shape[1]}\n")
        for word, row in zip(words, vectors):
            f.write(word + " " + " ".join(f"{x:.6g}" for x in row) + "\n")
    return path
