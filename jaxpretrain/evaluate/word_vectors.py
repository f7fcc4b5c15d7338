"""Word-vector evaluation: similarity (Spearman ρ), 3CosAdd analogies, nearest neighbours.

- Word similarity: Spearman's ρ between human scores and cos(e′(a), e′(b)) over the pairs whose
  words both have a vector, on WordSim-353 (Finkelstein et al. 2002) and SimLex-999 (Hill et al.
  2015), with the OOV ratio (pairs with a word outside the vocabulary) as gensim reports it.
- Analogies (Mikolov et al. 2013a, the Google set): a : b :: c : ?, answered by 3CosAdd,
  argmax_{d ∉ {a, b, c}} cos(d, b − a + c) over unit vectors; accuracy over the questions whose
  four words are in the vocabulary, and the share of questions that are.
- The data sets are the copies that the `gensim` package ships in `gensim/test/test_data/`
  (`pip install jaxpretrain[words]`), or any file in the same format.

Out-of-vocabulary words get vectors from their subword bags when the model has subwords
(Bojanowski et al. 2017); words are lowercased, as the training vocabulary is.
"""

from __future__ import annotations

import importlib.util
import os
from typing import NamedTuple, Sequence

import numpy as np

from jaxpretrain.data.word_subwords import Subwords, build_subwords
from jaxpretrain.data.word_vectors import Vocabulary, words_of
from jaxpretrain.errors import InputError, NotFoundError
from jaxpretrain.train import checkpoint

GENSIM_FILES = {
    "wordsim353": "wordsim353.tsv",
    "simlex999": "simlex999.txt",
    "analogies": "questions-words.txt",
}


def gensim_data(name: str) -> str:
    """Path of one of the evaluation sets gensim ships: "wordsim353", "simlex999", "analogies"."""
    if name not in GENSIM_FILES:
        raise InputError(
            f"unknown evaluation set {name!r}; expected one of {sorted(GENSIM_FILES)}."
        )
    spec = importlib.util.find_spec("gensim")
    if spec is None or spec.origin is None:
        raise NotFoundError(
            f"the {name} evaluation set comes with gensim: `pip install jaxpretrain[words]`"
            " (or pass the file's path)."
        )
    return os.path.join(os.path.dirname(spec.origin), "test", "test_data", GENSIM_FILES[name])


class WordVectors:
    """Word vectors e′(w) of a vocabulary, with subword vectors for out-of-vocabulary words.

    Args:
      words: the vocabulary, V words.
      vectors: float [V, D], e′(w) of each word.
      subwords: optional `Subwords` and `rows` (float [R, D], the input table) for OOV words.
    """

    def __init__(
        self,
        words: Sequence[str],
        vectors: np.ndarray,
        subwords: Subwords | None = None,
        rows: np.ndarray | None = None,
    ):
        self.words = tuple(words)
        self.vectors = np.asarray(vectors, np.float32)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.subwords, self.rows = subwords, rows
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
        self.unit = self.vectors / np.maximum(norms, 1e-12)  # [V, D]

    @classmethod
    def from_params(cls, params, vocabulary: Vocabulary, subwords: Subwords) -> WordVectors:
        """From a cbow params tree {"context": [R, D], "target": [V, D]} and its bags."""
        rows = np.asarray(params["context"], np.float32)
        if subwords.kind == "none":
            return cls(vocabulary.words, rows[: len(vocabulary)])
        table = subwords.table
        present = table >= 0
        vectors = (rows[np.maximum(table, 0)] * present[..., None]).sum(1)
        vectors /= present.sum(1, keepdims=True)
        return cls(vocabulary.words, vectors, subwords, rows)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def vector(self, word: str) -> np.ndarray | None:
        """float [D] e′(word): its own for vocabulary words, else the mean of its subword rows;
        None if it has neither."""
        word = word.lower()
        if word in self.index:
            return self.vectors[self.index[word]]
        if self.subwords is None:
            return None
        bag = self.subwords.bag(word)
        return self.rows[bag].mean(0) if len(bag) else None

    def phrase(self, text: str) -> np.ndarray | None:
        """float [D] e(P) = (1/|P|) Σ_{w∈P} e′(w): the mean vector of the phrase's words (split as
        in training, `data.word_vectors.words_of`), skipping words with no vector; None if none
        has one."""
        vectors = [v for v in map(self.vector, words_of(text)) if v is not None]
        return np.mean(vectors, axis=0) if vectors else None

    def nearest(self, query: str | np.ndarray, k: int = 10) -> list[tuple[str, float]]:
        """The k vocabulary words of highest cosine with `query` (a word, itself excluded, or a
        vector [D]), as (word, cosine) pairs."""
        vector = self.vector(query) if isinstance(query, str) else np.asarray(query)
        if vector is None:
            raise KeyError(f"{query!r} has no vector (not in the vocabulary, no subwords).")
        cosines = self.unit @ (vector / max(np.linalg.norm(vector), 1e-12))
        if isinstance(query, str) and query.lower() in self.index:
            cosines[self.index[query.lower()]] = -np.inf
        top = np.argsort(-cosines)[:k]
        return [(self.words[i], float(cosines[i])) for i in top]


def read_similarity_pairs(path: str) -> list[tuple[str, str, float]]:
    """(word, word, human score) of each line "w1<TAB or space>w2<TAB or space>score"; lines
    starting with '#' are comments (gensim's format)."""
    pairs = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split()
            try:
                pairs.append((fields[0].lower(), fields[1].lower(), float(fields[2])))
            except (IndexError, ValueError):
                raise InputError(
                    f"{path}:{number}: a similarity file needs 'word word score' lines, got"
                    f" {line.strip()!r}."
                ) from None
    if not pairs:
        raise InputError(f"{path} holds no 'word word score' lines: not a similarity file.")
    return pairs


def _spearman(x, y) -> float:
    from scipy.stats import spearmanr  # pylint: disable=import-outside-toplevel

    return float(spearmanr(x, y).statistic)


def word_similarity(vectors: WordVectors, path: str) -> dict[str, float]:
    """Spearman ρ of cos(a, b) with the human scores of the pairs in `path`.

    Returns:
      {"spearman": ρ over the pairs whose words both have a vector (NaN if fewer than 2),
       "pairs": how many such pairs, "oov_ratio": share of all pairs with a word outside the
       vocabulary (with subwords, those pairs still count in ρ), "spearman_in_vocabulary": ρ
       over the pairs of vocabulary words alone (= "spearman" without subwords)}.
    """
    pairs = read_similarity_pairs(path)
    human, model, known = [], [], []
    for a, b, score in pairs:
        va, vb = vectors.vector(a), vectors.vector(b)
        if va is None or vb is None:
            continue
        human.append(score)
        model.append(va @ vb / max(np.linalg.norm(va) * np.linalg.norm(vb), 1e-12))
        known.append(a in vectors and b in vectors)
    rho = lambda h, m: _spearman(h, m) if len(h) > 1 else float("nan")  # noqa: E731
    oov = sum(not (a in vectors and b in vectors) for a, b, _ in pairs)
    return {
        "spearman": rho(human, model),
        "pairs": float(len(human)),
        "oov_ratio": oov / len(pairs),
        "spearman_in_vocabulary": rho(np.compress(known, human), np.compress(known, model)),
    }


def read_analogies(path: str) -> list[tuple[str, str, str, str]]:
    """The questions "a b c d" of a Google-format analogy file (": section" lines skipped)."""
    questions = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip() or line.startswith(":"):
                continue
            fields = line.lower().split()
            if len(fields) != 4:
                raise InputError(
                    f"{path}:{number}: an analogy file needs 'a b c d' lines (or ': section'),"
                    f" got {line.strip()!r}."
                )
            questions.append(tuple(fields))
    if not questions:
        raise InputError(f"{path} holds no 'a b c d' lines: not an analogy file.")
    return questions


def analogies(vectors: WordVectors, path: str, *, batch: int = 1024) -> dict[str, float]:
    """3CosAdd accuracy on the questions of `path` whose four words are in the vocabulary.

    Returns:
      {"accuracy": correct / answered (NaN if none), "answered": questions answered,
       "coverage": answered / all questions}.
    """
    questions = read_analogies(path)
    ids = np.array(
        [[vectors.index[w] for w in q] for q in questions if all(w in vectors for w in q)],
        np.int64,
    ).reshape(-1, 4)
    correct = 0
    for start in range(0, len(ids), batch):
        a, b, c, d = ids[start : start + batch].T
        query = vectors.unit[b] - vectors.unit[a] + vectors.unit[c]  # [Q, D]
        scores = query @ vectors.unit.T  # [Q, V]; the query's norm does not change the argmax.
        rows = np.arange(len(a))
        for excluded in (a, b, c):
            scores[rows, excluded] = -np.inf
        correct += int((scores.argmax(1) == d).sum())
    answered = len(ids)
    return {
        "accuracy": correct / answered if answered else float("nan"),
        "answered": float(answered),
        "coverage": answered / len(questions),
    }


class TrainedWords(NamedTuple):
    """What `load_word_vectors` returns: the vectors, the run's config (dict) and params."""

    vectors: WordVectors
    config: dict
    params: dict


def load_word_vectors(workdir: str) -> TrainedWords:
    """The word vectors of a cbow training workdir (config.json, vocab.txt, latest checkpoint)."""
    config, params = checkpoint.load_run(workdir, "cbow", use="word-vector evaluation")
    vocabulary = Vocabulary.load(workdir)
    subwords = build_subwords(vocabulary, config["data"])
    return TrainedWords(WordVectors.from_params(params, vocabulary, subwords), config, params)
