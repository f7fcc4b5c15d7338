"""Word-vector data: vocabulary, subsampling, unigram^0.75 negatives, windows, subword bags."""

import numpy as np
import pytest

from jaxpretrain.data import BatchStream, build_source, data_tokenizer, load_dataset, word_data
from jaxpretrain.data.word_subwords import build_subwords, char_ngrams, fnv1a
from jaxpretrain.data.word_vectors import (
    Vocabulary,
    _blocks,
    cbow_sampling,
    keep_probabilities,
    negative_cdf,
    words_of,
)

TEXT = "The cat sat. The cat ran!\nA dog sat; the dog's bone.\n" * 3


def _files(tmp_path, text=TEXT, **fields):
    path = tmp_path / "corpus.txt"
    path.write_text(text)
    return dict(name="words", corpus=f"files:{path}", min_count=2, chunk=8, **fields)


def test_words_and_vocabulary():
    assert words_of("The LORD's house, and earth.") == ["the", "lord's", "house", "and", "earth"]
    vocab = Vocabulary.build(words_of(TEXT), min_count=6)
    assert vocab.words == ("the", "cat", "sat")  # by count, ties alphabetical; dog: 3
    np.testing.assert_array_equal(vocab.counts, [9, 6, 6])
    np.testing.assert_array_equal(vocab.encode(["sat", "dog", "the"]), [2, -1, 0])


def test_vocabulary_save_load(tmp_path):
    vocab = Vocabulary.build(words_of(TEXT), min_count=1)
    loaded = Vocabulary.load(vocab.save(str(tmp_path)))
    assert loaded.words == vocab.words and (loaded.counts == vocab.counts).all()
    (tmp_path / "bad.txt").write_text("word\n")
    with pytest.raises(ValueError, match="bad.txt:1: expected 'word count'"):
        Vocabulary.load(str(tmp_path / "bad.txt"))


def test_keep_probability_is_word2vec_formula():
    counts = np.array([1000, 10, 1])
    t = 1e-2
    f = counts / counts.sum()
    expected = np.minimum(1, np.sqrt(t / f) + t / f)
    np.testing.assert_allclose(keep_probabilities(counts, t), expected)
    assert keep_probabilities(counts, 0).tolist() == [1, 1, 1]


def test_negative_cdf_and_sampling_settings(tmp_path):
    counts = np.array([81, 16, 1])
    weights = counts**0.75
    np.testing.assert_allclose(negative_cdf(counts), np.cumsum(weights) / weights.sum())
    assert negative_cdf(counts)[-1] == 1.0
    config = _files(tmp_path, window=2, negatives=3, sample=1e-2, negatives_shared_by=4)
    sampling = cbow_sampling(config)
    counts = word_data(config).vocabulary.counts
    assert (sampling.window, sampling.negatives, sampling.shared_by) == (2, 3, 4)
    np.testing.assert_allclose(sampling.keep, keep_probabilities(counts, 1e-2), rtol=1e-6)
    np.testing.assert_allclose(sampling.cdf, negative_cdf(counts), rtol=1e-6)
    assert sampling.keep.dtype == sampling.cdf.dtype == np.float32


def test_streamed_corpus_gives_the_ids_of_the_whole_text(tmp_path):
    """The two streamed passes (counts, then ids) over blocks of lines, across two files, give
    the vocabulary and ids of the whole text at once."""
    (tmp_path / "b.txt").write_text("Dog sat. The end\n")
    (tmp_path / "a.txt").write_text(TEXT)
    config = dict(name="words", corpus=f"files:{tmp_path}/*.txt", min_count=2)
    data = word_data(config)
    words = words_of(TEXT + "Dog sat. The end\n")
    vocab = Vocabulary.build(words, min_count=2)
    assert data.vocabulary.words == vocab.words
    want = vocab.encode(words)
    np.testing.assert_array_equal(data.ids, want[want >= 0])
    assert data.ids.dtype == np.int32 and not data.ids.flags.writeable
    lines = TEXT.splitlines()
    blocks = list(_blocks(lines, size=10))
    assert len(blocks) > 1 and words_of("\n".join(blocks)) == words_of(TEXT)


def test_source_batches_are_a_pure_function_of_seed_and_step(tmp_path):
    config = _files(tmp_path, window=2, negatives=3)

    def stream(seed):
        return BatchStream(load_dataset(config).train, global_batch_size=2, seed=seed)

    a, b = stream(0).local_batch(3), stream(0).local_batch(3)
    np.testing.assert_array_equal(a["ids"], b["ids"])
    assert a["ids"].shape == (2, 8) and a["ids"].dtype == np.int32
    assert (stream(1).local_batch(3)["ids"] != a["ids"]).any()
    assert len(build_source(dict(config, eval_chunks=1), "eval")) == 1


def test_data_tokenizer_saves_the_vocabulary(tmp_path):
    config = _files(tmp_path)
    path = data_tokenizer(config).save(str(tmp_path))
    assert path == str(tmp_path / "vocab.txt")
    assert Vocabulary.load(str(tmp_path)).words == word_data(config).vocabulary.words
    assert load_dataset(config).tokenizer is word_data(config)  # Cached: one corpus pass.


def test_bag_budget_is_the_largest_chunk_of_bag_rows(tmp_path):
    config = _files(tmp_path, subwords="ngrams", minn=3, maxn=3, buckets=50)
    dataset = load_dataset(config)
    words = dataset.tokenizer
    sizes = (words.subwords.table >= 0).sum(1)  # [V] rows of each word's bag
    for chunk in (1, 3, 8, 1000):
        ids = words.ids
        expected = max(sizes[ids[i : i + chunk]].sum() for i in range(0, len(ids), chunk))
        assert words.bag_budget(chunk) == expected
    chunks = dataset.train  # chunk=8
    assert words.bag_budget(8) == max(
        sizes[chunks[i]["ids"][chunks[i]["ids"] >= 0]].sum() for i in range(len(chunks))
    )


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(min_count=100), "min_count=100 leaves no vocabulary"),
        (dict(window=0), "data.window must be a positive int"),
        (dict(negatives=0), "data.negatives must be a positive int"),
        (dict(negatives_shared_by=0), "negatives_shared_by must be a positive int"),
        (dict(negatives_shared_by=3), r"data.chunk \(8\) must be a multiple of"),
        (dict(sample=-1.0), "data.sample must be >= 0"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path, fields, message):
    config = _files(tmp_path, **{k: v for k, v in fields.items() if k != "min_count"})
    config.update({k: v for k, v in fields.items() if k == "min_count"})
    with pytest.raises(ValueError, match=message):
        cbow_sampling(config)


def test_empty_corpus_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="the corpus has no words"):
        build_source(_files(tmp_path, text=" ,.\n"), "train")


def test_fasttext_ngrams_and_hash():
    # Reference values of fastText's Dictionary::hash (FNV-1a, 32 bit) for ASCII strings.
    assert fnv1a("") == 2166136261
    assert fnv1a("a") == 0xE40C292C
    assert char_ngrams("cat", 3, 4) == ["<ca", "<cat", "cat", "cat>", "at>"]
    assert "<cat>" in char_ngrams("cat", 3, 6)


def test_subword_bags(tmp_path):
    vocab = Vocabulary.build(words_of(TEXT), min_count=2)
    grams = build_subwords(vocab, dict(subwords="ngrams", minn=3, maxn=3, buckets=50))
    assert grams.num_rows == len(vocab) + 50
    cat = grams.table[vocab.index["cat"]]
    assert cat[0] == vocab.index["cat"] and (cat[1:4] >= len(vocab)).all() and (cat[4:] == -1).all()
    assert len(grams.bag("cats")) == 4 and grams.bag("cats").min() >= len(vocab)  # OOV
    bpe = build_subwords(vocab, dict(subwords="bpe", bpe_vocab=270))
    dog = bpe.table[vocab.index["dog"]]
    assert dog[0] == vocab.index["dog"] and (dog[1:][dog[1:] >= 0] >= len(vocab)).all()
    assert bpe.num_rows == len(vocab) + 270
    plain = build_subwords(vocab, {})
    np.testing.assert_array_equal(plain.table[:, 0], np.arange(len(vocab)))
    with pytest.raises(ValueError, match="data.subwords must be"):
        build_subwords(vocab, dict(subwords="chars"))
