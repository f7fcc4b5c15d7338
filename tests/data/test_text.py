"""Tests for jaxpretrain.data.text: corpora, byte-level BPE, token windows, bits per byte."""

import hashlib
import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxpretrain.data import BatchStream, corpus, text, tokenization
from jaxpretrain.errors import DataError

KJV_FIRST_VERSE = "In the beginning God created the heaven and the earth."
# Strings the pre-tokenizer splits in unusual ways: whitespace runs around newlines, tabs, CRs.
TRICKY = "a  \n  b\n\nc \nd\t\ne\r\nf\n \ng  h\n\n\n i\n<|endoftext|>\nj's\n1234\n"


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> symbol table: printable Latin-1 bytes stand for themselves; the other 68
    bytes (controls, space, soft hyphen, ...) take the code points 256, 257, ... in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _random_unicode(rng: np.random.Generator, n: int) -> str:
    """n random code points from ASCII, Latin-1, CJK, emoji and combining marks (no surrogates)."""
    ranges = [(0, 0x80), (0x80, 0x100), (0x4E00, 0x9FFF), (0x1F300, 0x1FAFF), (0x300, 0x36F)]
    picks = rng.integers(0, len(ranges), n)
    return "".join(chr(int(rng.integers(*ranges[k]))) for k in picks)


@pytest.fixture(scope="module")
def kjv():
    try:
        return corpus.kjv_text()
    except corpus.CorpusNotFoundError as e:
        pytest.fail(f"{e} (the tests need the King James Bible)")


@pytest.fixture(scope="module")
def kjv_head(kjv):
    return "".join(kjv.splitlines(keepends=True)[:2000])


@pytest.fixture(scope="module")
def tok(kjv_head):
    return tokenization.Tokenizer(tokenization.train_bpe(kjv_head, vocab_size=1000))


def test_kjv_text_is_plain_verses(kjv):
    lines = kjv.splitlines()
    assert len(lines) == 31102 and kjv.endswith("\n")
    assert lines[0] == KJV_FIRST_VERSE
    assert lines[-1] == "The grace of our Lord Jesus Christ be with you all. Amen."
    assert not any(re.match(r"\S*\d+:\d+ ", line) for line in lines)  # No "Ge1:1 " references.
    assert 780_000 < len(kjv.split()) < 800_000
    assert corpus.kjv_text() is kjv  # Cached.


def test_missing_bible_command_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # No `bible` on the PATH.
    caches = (corpus.kjv_text, corpus.kjv_verses)  # kjv_text reads the cached kjv_verses.
    for cache in caches:
        cache.cache_clear()
    try:
        with pytest.raises(corpus.CorpusNotFoundError, match="apt-get install bible-kjv"):
            corpus.kjv_text()
        with pytest.raises(FileNotFoundError, match="bible-kjv package"):
            corpus.corpus_text({"corpus": "kjv"})
    finally:
        for cache in caches:
            cache.cache_clear()


def test_bpe_learns_merges_within_vocab_size(tok, kjv_head):
    assert tok.vocab_size == 1000 and tok.eot_id == 0
    assert len(tok.encode(" the")) == 1 and len(tok.encode(" God")) == 1
    ids = tok.encode(kjv_head)
    assert ids.dtype == np.int32 and ids.ndim == 1
    assert ids.min() >= 0 and ids.max() < tok.vocab_size
    assert len(ids) < 0.4 * len(kjv_head.encode())  # Merges compress: ~2.5+ bytes a token.
    assert (
        tokenization.Tokenizer(tokenization.train_bpe("ab ab ab", vocab_size=1000)).vocab_size
        < 1000
    )
    with pytest.raises(ValueError, match="at least 257"):
        tokenization.train_bpe(kjv_head, vocab_size=200)


def test_round_trips_any_unicode_and_every_byte(tok):
    from tokenizers import pre_tokenizers

    assert set(pre_tokenizers.ByteLevel.alphabet()) <= set(tok.tokenizer.get_vocab())
    rng = np.random.default_rng(0)
    every_byte = bytes(range(256)).decode("latin-1")  # U+0000..U+00FF: 1- and 2-byte UTF-8.
    samples = [every_byte, TRICKY, "", " ", "\n", "🎉 héllo 世界\x00", KJV_FIRST_VERSE]
    samples += [_random_unicode(rng, 200) for _ in range(5)]
    for s in samples:
        ids = tok.encode(s)
        assert tok.decode(ids) == s
        assert tok.num_bytes(ids) == len(s.replace("<|endoftext|>", "").encode("utf-8"))
    eot = tok.encode("a<|endoftext|>b")
    assert tok.eot_id in eot and tok.num_bytes(eot) == 2  # The separator is no text.


def test_encode_in_pieces_matches_one_call(tok, kjv_head):
    for s in (TRICKY, kjv_head[:20000] + TRICKY * 3):
        np.testing.assert_array_equal(tok.encode(s), tok.tokenizer.encode(s).ids)


def test_bpe_training_is_deterministic_across_processes(tmp_path, kjv_head):
    """A fresh process trains the same tokenizer, and importing jaxpretrain.data stays light."""
    path = tmp_path / "head.txt"
    path.write_text(kjv_head, encoding="utf-8")
    code = (
        "import hashlib, sys; import jaxpretrain.data as d;"
        " assert 'tokenizers' not in sys.modules, 'jaxpretrain.data imported tokenizers';"
        f" t = d.train_bpe(open({str(path)!r}, encoding='utf-8').read(), vocab_size=1000);"
        " print(hashlib.sha256(t.to_str().encode()).hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    here = tokenization.train_bpe(kjv_head, vocab_size=1000).to_str()
    assert out.stdout.strip() == hashlib.sha256(here.encode()).hexdigest()


def test_decode_rejects_ids_outside_vocabulary(tok):
    with pytest.raises(ValueError, match=r"token id 1000 \(at position 1\).*\[0, 1000\)"):
        tok.decode([5, 1000, 3])
    with pytest.raises(ValueError, match="token id -1"):
        tok.decode(np.array([-1]))
    with pytest.raises(ValueError, match="shape"):
        tok.decode(np.zeros([2, 2], np.int32))


def test_save_load_round_trip(tok, tmp_path, kjv_head):
    file = tok.save(str(tmp_path))
    assert file == os.path.join(tmp_path, "tokenizer.json")
    for path in (str(tmp_path), file):
        again = tokenization.Tokenizer.load(path)
        assert (again.vocab_size, again.eot_id) == (tok.vocab_size, tok.eot_id)
        np.testing.assert_array_equal(again.encode(kjv_head[:5000]), tok.encode(kjv_head[:5000]))
    with pytest.raises(FileNotFoundError, match="Tokenizer.save"):
        tokenization.Tokenizer.load(str(tmp_path / "missing"))


def _write_gpt2_files(tmp_path, symbols):
    """A tiny GPT-2-format vocab.json/merges.txt: `symbols`, three merges, <|endoftext|> last."""
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he")]
    vocab = list(symbols) + ["".join(m) for m in merges] + ["<|endoftext|>"]
    vocab_path, merges_path = tmp_path / "vocab.json", tmp_path / "merges.txt"
    vocab_path.write_text(json.dumps({s: i for i, s in enumerate(vocab)}), encoding="utf-8")
    lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    merges_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(vocab_path), str(merges_path)


def test_gpt2_files(tmp_path):
    from tokenizers import pre_tokenizers

    b2u = _bytes_to_unicode()
    assert set(b2u.values()) == set(pre_tokenizers.ByteLevel.alphabet())
    gpt2 = tokenization.Tokenizer(
        tokenization.load_gpt2_tokenizer(*_write_gpt2_files(tmp_path, b2u.values()))
    )
    assert gpt2.vocab_size == 260 and gpt2.eot_id == 259
    ids = gpt2.encode(" the")
    np.testing.assert_array_equal(ids, [258])  # "Ġ t", then "h e", then "Ġt he".
    assert gpt2.tokenizer.encode("theé").tokens == ["t", "he", b2u[0xC3], b2u[0xA9]]
    assert [gpt2.tokenizer.id_to_token(int(i)) for i in gpt2.encode("\n")] == [b2u[ord("\n")]]
    for s in ("the theme\n", "é 世界 🎉 <|endoftext|>", TRICKY):
        assert gpt2.decode(gpt2.encode(s)) == s
    assert gpt2.encode("<|endoftext|>").tolist() == [259]


def test_gpt2_file_errors(tmp_path):
    vocab, merges = _write_gpt2_files(tmp_path, list(_bytes_to_unicode().values())[:200])
    with pytest.raises(ValueError, match="lacks 56 of the 256 byte-level symbols"):
        tokenization.load_gpt2_tokenizer(vocab, merges)
    with pytest.raises(corpus.CorpusNotFoundError, match="vocab.json.*openai-community/gpt2"):
        tokenization.load_gpt2_tokenizer(str(tmp_path / "nope.json"), merges)
    with pytest.raises(FileNotFoundError, match="merges.txt"):
        tokenization.load_gpt2_tokenizer(vocab, str(tmp_path / "nope.txt"))


def test_token_windows_shapes_contents_and_chain():
    tokens = np.arange(23, dtype=np.int64)
    src = text.TokenWindows(tokens, window=5)
    assert len(src) == 4  # (23 - 1) // 5
    for i in range(len(src)):
        item = src[i]["tokens"]
        assert item.shape == (6,) and item.dtype == np.int32
        np.testing.assert_array_equal(item, np.arange(i * 5, i * 5 + 6))
        if i + 1 < len(src):
            assert item[-1] == src[i + 1]["tokens"][0]
    np.testing.assert_array_equal(src[-1]["tokens"], src[3]["tokens"])
    with pytest.raises(IndexError):
        src[4]
    assert len(text.TokenWindows(np.arange(6), 5)) == 1
    with pytest.raises(ValueError, match="fewer than one window of 6"):
        text.TokenWindows(np.arange(5), 5)
    with pytest.raises(ValueError, match="shape"):
        text.TokenWindows(np.zeros([4, 4], np.int32), 2)


def test_token_windows_in_batch_stream(tok, kjv_head):
    src = text.TokenWindows(tok.encode(kjv_head), window=32)

    def stream(seed):
        return BatchStream(src, global_batch_size=8, seed=seed)

    a, b = stream(3).local_batch(7), stream(3).local_batch(7)
    assert a["tokens"].shape == (8, 33) and a["tokens"].dtype == np.int32
    np.testing.assert_array_equal(a["tokens"], b["tokens"])
    assert not np.array_equal(a["tokens"], stream(4).local_batch(7)["tokens"])
    starts = {src[i]["tokens"][0]: i for i in range(len(src))}
    assert all(row[0] in starts for row in a["tokens"])


def test_split_tokens_holds_out_a_contiguous_tail():
    tokens = np.arange(100)
    train, held = text.split_tokens(tokens, 0.1)
    np.testing.assert_array_equal(train, np.arange(90))
    np.testing.assert_array_equal(held, np.arange(90, 100))
    assert len(text.split_tokens(np.arange(10), 0.01)[1]) == 1
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        text.split_tokens(tokens, 1.0)
    with pytest.raises(ValueError, match="too few"):
        text.split_tokens(np.arange(1), 0.5)


def test_bits_per_byte_closed_forms():
    assert text.bits_per_byte(math.log(2), 10, 10) == pytest.approx(1.0)  # 1 bit a byte.
    assert text.bits_per_byte(math.log(256), 7, 7) == pytest.approx(8.0)  # Uniform bytes.
    # Four bytes a token: the same code length spread over four times the bytes.
    assert text.bits_per_byte(4 * math.log(2), 25, 100) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="num_bytes must be positive"):
        text.bits_per_byte(1.0, 1, 0)


def test_files_corpus(tmp_path):
    (tmp_path / "b.txt").write_text("second file", encoding="utf-8")
    (tmp_path / "a.txt").write_text("first file\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("third é\n", encoding="utf-8")
    assert corpus.corpus_text({"corpus": f"files:{tmp_path}/*.txt"}) == "first file\nsecond file\n"
    deep = corpus.corpus_text({"corpus": f"files:{tmp_path}/**/*.txt"})
    assert deep == "first file\nsecond file\nthird é\n"
    with pytest.raises(corpus.CorpusNotFoundError, match="no text files match"):
        corpus.corpus_text({"corpus": f"files:{tmp_path}/*.md"})
    with pytest.raises(corpus.CorpusNotFoundError, match="does not exist"):
        corpus.read_text_files([str(tmp_path / "a.txt"), str(tmp_path / "missing.txt")])
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="empty"):
        corpus.read_text_files([str(tmp_path / "empty.txt")])
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        corpus.read_text_files([str(tmp_path / "latin1.txt")])


def test_tfds_corpus_and_unknown_corpus():
    with tfds.testing.mock_data(num_examples=4):
        head = corpus.corpus_text({"corpus": "tfds:lm1b", "max_documents": 3})
        assert head.count("\n") == 3 and head.endswith("\n")
        full = corpus.corpus_text({"corpus": "tfds:lm1b", "tfds_split": "test"})
        assert full.count("\n") == 4
        with pytest.raises(DataError, match="text_feature"):
            corpus.corpus_text({"corpus": "tfds:lm1b", "text_feature": "body"})
    with pytest.raises(ValueError, match="'kjv', 'files:<glob>'.*'tfds:<name>'"):
        corpus.corpus_text({"corpus": "wikipedia"})
