"""Word-vector evaluation: Spearman ρ and OOV ratio, 3CosAdd analogies, neighbours, bad files."""

import numpy as np
import pytest

from jaxpretrain.data.word_subwords import build_subwords
from jaxpretrain.data.word_vectors import Vocabulary
from jaxpretrain.evaluate import WordVectors, analogies, gensim_data, word_similarity

# Unit vectors at angles 0°, 30°, 60°, 90° in a plane: cosines fall with the angle.
WORDS = ("a", "b", "c", "d")
VECTORS = np.array([[np.cos(t), np.sin(t)] for t in np.radians([0, 30, 60, 90])])


def test_spearman_and_oov_ratio(tmp_path):
    path = tmp_path / "pairs.tsv"
    # Human scores ordered like the cosines (a-b > a-c > a-d), one reversed pair, one OOV pair.
    path.write_text("# comment\nA\tb\t9\na\tc\t5\na\td\t1\nb\tc\t0.5\na\tzebra\t3\n")
    got = word_similarity(WordVectors(WORDS, VECTORS), str(path))
    cos = [VECTORS[0] @ VECTORS[1], VECTORS[0] @ VECTORS[2], VECTORS[0] @ VECTORS[3]]
    cos.append(VECTORS[1] @ VECTORS[2])  # = cos 30°, ties with a-b
    from scipy.stats import spearmanr

    np.testing.assert_allclose(got["spearman"], spearmanr([9, 5, 1, 0.5], cos).statistic)
    assert got["pairs"] == 4 and got["oov_ratio"] == pytest.approx(1 / 5)


def test_perfect_order_gives_rho_one(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text("a b 3\na c 2\na d 1\n")
    assert word_similarity(WordVectors(WORDS, VECTORS), str(path))["spearman"] == pytest.approx(1)


def test_analogies_3cosadd(tmp_path):
    # man:king :: woman:queen holds exactly (king - man + woman = queen); "apple" is a distractor.
    words = ("man", "woman", "king", "queen", "apple")
    vectors = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 1, 1], [0.2, 0.1, 0.9]])
    path = tmp_path / "questions.txt"
    path.write_text(": royal\nman king woman queen\nMan King Woman apple\nman king woman unknown\n")
    got = analogies(WordVectors(words, vectors), str(path))
    assert got == {"accuracy": 0.5, "answered": 2.0, "coverage": pytest.approx(2 / 3)}


def test_nearest_neighbours_exclude_the_query():
    vectors = WordVectors(WORDS, VECTORS)
    assert [w for w, _ in vectors.nearest("b", k=2)] in (["a", "c"], ["c", "a"])
    assert vectors.nearest(VECTORS[3], k=1)[0][0] == "d"
    with pytest.raises(KeyError, match="has no vector"):
        vectors.nearest("zebra")


def test_oov_words_get_subword_vectors():
    vocab = Vocabulary(["cat", "dog"], [5, 5])
    subwords = build_subwords(vocab, dict(subwords="ngrams", minn=3, maxn=3, buckets=7))
    rows = np.random.default_rng(0).normal(size=(subwords.num_rows, 4))
    vectors = WordVectors.from_params({"context": rows, "target": rows[:2]}, vocab, subwords)
    np.testing.assert_allclose(
        vectors.vector("cat"), rows[subwords.table[0][:4]].mean(0), rtol=1e-5
    )
    np.testing.assert_allclose(
        vectors.vector("cats"), rows[subwords.bag("cats")].mean(0), rtol=1e-5
    )
    assert WordVectors(vocab.words, rows[:2]).vector("cats") is None


@pytest.mark.parametrize(
    "text, function, message",
    [
        ("a b\n", word_similarity, "needs 'word word score' lines"),
        ("a b high\n", word_similarity, "needs 'word word score' lines"),
        ("# only a comment\n", word_similarity, "holds no 'word word score' lines"),
        ("a b c\n", analogies, "needs 'a b c d' lines"),
    ],
)
def test_files_in_the_wrong_format_are_one_line_errors(tmp_path, text, function, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        function(WordVectors(WORDS, VECTORS), str(path))


def test_gensim_sets_are_found():
    pytest.importorskip("gensim")
    vectors = WordVectors(WORDS, VECTORS)
    assert word_similarity(vectors, gensim_data("wordsim353"))["oov_ratio"] == 1.0
    assert analogies(vectors, gensim_data("analogies"))["coverage"] == 0.0
    with pytest.raises(ValueError, match="unknown evaluation set"):
        gensim_data("men3000")


def test_phrase_vector_is_the_mean_of_its_word_vectors():
    vectors = WordVectors(WORDS, VECTORS)
    want = (vectors.vector(WORDS[0]) + vectors.vector(WORDS[1])) / 2
    np.testing.assert_allclose(vectors.phrase(f"{WORDS[0]}, {WORDS[1].upper()} zzzunknown"), want)
    assert vectors.phrase("zzzunknown") is None
