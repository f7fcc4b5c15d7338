"""Translation data: TSV pairs and their errors, the reverse task, TFDS WMT on mock data, the
BOS/EOS/padding layout, tokenizers shared or separate, determinism."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxpretrain.data import (
    BatchStream,
    DatasetNotFoundError,
    build_source,
    data_tokenizer,
    translation,
    translation_pairs,
)
from jaxpretrain.data.corpus import CorpusNotFoundError
from jaxpretrain.data.translation import EOS_ID, TokenizerPair, translation_sources

WORDS = ["the", "house", "is", "small", "a", "cat", "sees", "dog", "big", "red"]
GERMAN = ["das", "haus", "ist", "klein", "ein", "katze", "sieht", "hund", "gross", "rot"]


@pytest.fixture
def tsv(tmp_path):
    """200 pairs of 2-6 words, word-for-word 'translations' into German."""
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(200):
        idx = rng.integers(0, len(WORDS), size=rng.integers(2, 7))
        lines.append(" ".join(WORDS[i] for i in idx) + "\t" + " ".join(GERMAN[i] for i in idx))
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n\n")  # A trailing blank line is skipped.
    return path, lines


def _config(pairs, **overrides):
    config = dict(
        name="translation",
        pairs=pairs,
        vocab_size=280,
        max_source_length=40,
        max_target_length=40,
        eval_fraction=0.1,
    )
    return {**config, **overrides}


def test_tsv_items_follow_the_bos_eos_layout(tsv):
    path, lines = tsv
    sources = translation_sources(_config(f"tsv:{path}"))
    assert (len(sources.train), len(sources.eval)) == (180, 20)  # The tail is held out.
    assert sources.eval.text(0) == tuple(lines[180].split("\t"))
    tokenizer = sources.tokenizers.target
    assert sources.tokenizers.source is tokenizer and tokenizer.vocab_size == 280
    item = sources.eval[0]
    assert item["source"].shape == (40,) and item["target"].shape == (41,)
    assert all(v.dtype == np.int32 for v in item.values())
    m, n = int(item["source_length"]), int(item["target_length"])
    source_text, target_text = sources.eval.text(0)
    assert tokenizer.decode(item["source"][: m - 1]) == source_text
    assert item["source"][m - 1] == EOS_ID and np.all(item["source"][m:] == EOS_ID)
    assert item["target"][0] == EOS_ID  # BOS
    assert tokenizer.decode(item["target"][1:n]) == target_text
    assert np.all(item["target"][n:] == EOS_ID)  # The EOS label, then padding.
    assert EOS_ID not in item["source"][: m - 1] and EOS_ID not in item["target"][1:n]


def test_separate_vocabularies_and_the_saved_pair(tsv, tmp_path):
    path, _ = tsv
    shared = translation_sources(_config(f"tsv:{path}")).tokenizers
    separate = translation_sources(_config(f"tsv:{path}", shared_vocab=False)).tokenizers
    assert separate.source is not separate.target
    # Each BPE saw one language: German words are whole tokens only on the target side.
    assert len(separate.target.encode("haus")) < len(separate.source.encode("haus"))
    for pair in (shared, separate):
        loaded = TokenizerPair.load(pair.save(str(tmp_path)))  # A directory: tokenizer.json.
        assert (loaded.source is loaded.target) == (pair.source is pair.target)
        text = "the big red dog"
        np.testing.assert_array_equal(loaded.source.encode(text), pair.source.encode(text))
    # A saved pair replaces training: the same ids.
    saved = shared.save(str(tmp_path / "shared.json"))
    again = translation_sources(_config(f"tsv:{path}", tokenizer=saved))
    assert again.tokenizers is not shared
    trained = translation_sources(_config(f"tsv:{path}"))
    np.testing.assert_array_equal(again.eval[3]["target"], trained.eval[3]["target"])


def test_eval_pairs_from_another_file(tsv, tmp_path):
    path, lines = tsv
    dev = tmp_path / "dev.tsv"
    dev.write_text("the cat\tdie katze\n")
    sources = translation_sources(_config(f"tsv:{path}", eval_pairs=f"tsv:{dev}"))
    assert len(sources.train) == 200 and sources.eval.text(0) == ("the cat", "die katze")


@pytest.mark.parametrize(
    "text, match",
    [
        ("a b\tc d\nno tab here\n", r"pairs.tsv:2: expected 'source<TAB>target', found no tab"),
        ("a\tb\tc\n", r"pairs.tsv:1: .* found 2 tabs"),
        ("a b\t \n", r"pairs.tsv:1: empty source or target"),
        ("\n\n", "holds no"),
    ],
)
def test_bad_tsv_lines_name_file_and_line(tmp_path, text, match):
    (tmp_path / "pairs.tsv").write_text(text)
    with pytest.raises(ValueError, match=match):
        translation_sources(_config(f"tsv:{tmp_path / 'pairs.tsv'}"))


def test_missing_tsv_and_unknown_pairs(tmp_path):
    with pytest.raises(CorpusNotFoundError, match="nope.tsv"):
        translation_sources(_config(f"tsv:{tmp_path / 'nope.tsv'}"))
    with pytest.raises(ValueError, match="Unknown data.pairs 'csv:x'"):
        translation_sources(_config("csv:x"))


def test_long_pairs_fail_naming_the_line_or_are_truncated(tmp_path):
    long_source = " ".join(["w"] * 50)
    lines = [f"{w} {w}\t{w}" for w in WORDS * 10] + [f"{long_source}\tshort"]
    (tmp_path / "pairs.tsv").write_text("\n".join(lines) + "\n")
    config = _config(f"tsv:{tmp_path / 'pairs.tsv'}", vocab_size=260, eval_fraction=0.5)
    with pytest.raises(ValueError, match=r"pairs.tsv:101: the pair has \d+ source .*truncate"):
        translation_sources(config)
    truncated = translation_sources({**config, "truncate": True}).eval
    item = truncated[len(truncated) - 1]
    assert int(item["source_length"]) == 40 and item["source"][-1] == EOS_ID  # EOS kept.


def test_reverse_task_is_reversal_disjoint_and_deterministic():
    config = dict(
        name="translation",
        pairs="reverse",
        vocab_size=6,
        min_symbols=2,
        max_symbols=6,
        train_size=500,
        eval_size=100,
        max_source_length=7,
        max_target_length=7,
    )
    sources = translation_sources(config)
    train = {sources.train.text(i) for i in range(500)}
    evaluation = {sources.eval.text(i) for i in range(100)}
    assert not train & evaluation, "an eval sequence was trained on"
    for source, target in evaluation:
        assert target.split() == source.split()[::-1] and set(source.split()) <= set("abcde")
        assert 2 <= len(source.split()) <= 6
    item = sources.eval[0]
    letters = sources.eval.text(0)[0].split()
    np.testing.assert_array_equal(
        item["source"][: len(letters)], [ord(c) - ord("a") + 1 for c in letters]
    )
    assert data_tokenizer(config) is sources.tokenizers  # One build, cached.
    assert build_source(config, "eval") is sources.eval
    # Another cache entry; the first sequences do not depend on how many are drawn.
    rebuilt = translation_sources({**config, "eval_size": 101, "train_size": 600})
    assert [rebuilt.eval.text(i) for i in range(100)] == [sources.eval.text(i) for i in range(100)]
    other = translation_sources({**config, "seed": 1})
    assert [other.eval.text(i) for i in range(100)] != [sources.eval.text(i) for i in range(100)]
    translation._cached.cache_clear()  # Built again from scratch: the same batches.
    again = translation_sources(config)
    assert again is not sources
    a = BatchStream(sources.train, global_batch_size=8, seed=3).local_batch(5)
    b = BatchStream(again.train, global_batch_size=8, seed=3).local_batch(5)
    assert set(a) == {"source", "source_length", "target", "target_length"}
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def _wmt_config(**overrides):
    config = dict(
        name="translation",
        pairs="tfds:wmt14_translate/de-en",
        source_language="en",
        target_language="de",
        vocab_size=270,
        tokenizer_examples=40,
        max_source_length=64,
        max_target_length=64,
    )
    return {**config, **overrides}


def test_wmt14_on_mock_data():
    config = _wmt_config(data_dir="mock-wmt-a")  # Its own cache entry: mocks differ per test.
    with tfds.testing.mock_data(num_examples=50):
        sources = translation_sources(config)
        records = tfds.data_source("wmt14_translate/de-en", split="test")
        assert len(sources.train) == len(sources.eval) == 50
        record = records[7]
        assert sources.eval.text(7) == (record["en"], record["de"])
        item = sources.eval[7]
        tokenizer = sources.tokenizers.target
        n = int(item["target_length"])
        assert tokenizer.decode(item["target"][1:n]) == record["de"]
        a = BatchStream(sources.train, global_batch_size=4, seed=0).local_batch(3)
        b = BatchStream(sources.train, global_batch_size=4, seed=0).local_batch(3)
        np.testing.assert_array_equal(a["target"], b["target"])
        with pytest.raises(ValueError, match=r"features \['de', 'en'\]"):
            translation_sources(_wmt_config(data_dir="mock-wmt-b", target_language="fr"))


def test_missing_wmt14_is_a_clear_error(tmp_path):
    config = _wmt_config(data_dir=str(tmp_path / "no_tfds_here"))
    with pytest.raises(DatasetNotFoundError, match="tfds build wmt14_translate/de-en"):
        translation_sources(config)


def test_words_outside_a_word_level_vocabulary_are_named():
    tokenizer = translation.reverse_tokenizer(3)  # a, b, c
    pairs = translation_pairs.ListPairs([("a b", "b a"), ("a z", "z a")], ["pair 1", "pair 2"])
    with pytest.raises(ValueError, match="pair 2: the source tokenizer cannot encode 'a z'"):
        translation.TranslationSource(
            pairs,
            TokenizerPair(tokenizer, tokenizer),
            max_source_length=4,
            max_target_length=4,
            truncate=False,
            eager=True,
        )
