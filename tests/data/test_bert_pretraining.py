"""jaxpretrain.data.bert_documents and bert_pretraining: documents, chunk anchors, and BERT's
masked LM + next sentence instances drawn on the fly (Devlin et al. 2019)."""

import numpy as np
import pytest

from jaxpretrain.data import BatchStream, ChunkSource, load_dataset
from jaxpretrain.data import bert_documents as bd
from jaxpretrain.data.bert_pretraining import instance_transform, truncation_counts
from jaxpretrain.data.corpus import kjv_heldout, kjv_verses
from jaxpretrain.data.wordpiece import WordPieceTokenizer

WORDS = (
    "the lord said unto moses and aaron go forth into land of milk honey people shall eat bread"
    " in wilderness forty years river stone mountain darkness light heaven earth water fire"
).split()


def write_corpus(directory, num_documents=24, seed=0):
    """Files in google-research/bert's format: a sentence a line, blank lines between documents.
    Every sentence holds a unique marker word, so each one can be found again."""
    rng = np.random.default_rng(seed)
    files, count = [[], [], []], 0
    for d in range(num_documents):
        document = []
        for _ in range(rng.integers(4, 9)):
            words = list(rng.choice(WORDS, rng.integers(3, 8)))
            words.insert(int(rng.integers(0, len(words))), f"mark{count}x")
            document.append(" ".join(words) + ".")
            count += 1
        files[d * 3 // num_documents].append("\n".join(document))
    files[-1][-1] += "\nzyzzyva quokka only in eval."  # Text of the last (eval) document.
    for i, documents in enumerate(files):
        (directory / f"part{i}.txt").write_text("\n\n".join(documents) + "\n")
    return f"files:{directory}/*.txt"


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    corpus = write_corpus(tmp_path_factory.mktemp("bert_corpus"))
    return dict(name="bert_pretraining", corpus=corpus, vocab_size=150, eval_fraction=0.1)


@pytest.fixture(scope="module")
def dataset(config):
    return load_dataset(config)


def originals(instance):
    """The instance's tokens with the masked ids put back: int32 [T]."""
    tokens = instance["tokens"].copy()
    real = instance["masked_weights"] > 0
    tokens[instance["masked_positions"][real]] = instance["masked_ids"][real]
    return tokens


def segments(tokens, tokenizer):
    """(A, B) of [CLS] A [SEP] B [SEP] [PAD]...."""
    seps = np.flatnonzero(tokens == tokenizer.sep_id)
    return tokens[1 : seps[0]], tokens[seps[0] + 1 : seps[1]]


def find(needle, haystack):
    """Offsets where int sequence `needle` occurs in `haystack`."""
    if len(needle) > len(haystack):
        return np.zeros(0, int)
    windows = np.lib.stride_tricks.sliding_window_view(haystack, len(needle))
    return np.flatnonzero((windows == needle).all(1))


def document_ids(corpus, d):
    lo, hi = corpus.document_starts[d], corpus.document_starts[d + 1]
    return corpus.ids[corpus.sentence_starts[lo] : corpus.sentence_starts[hi]]


def draw(transform, source, n, seed=0):
    rng = np.random.default_rng(seed)
    return [transform(source[i % len(source)], rng) for i in range(n)]


def test_documents_tokenizer_and_chunks(dataset):
    train, evaluation, tokenizer = dataset.train, dataset.eval, dataset.tokenizer
    assert isinstance(tokenizer, WordPieceTokenizer) and tokenizer.vocab_size == 150
    # 24 documents: round(2.4) = 2 held out, the last ones.
    assert train.corpus.num_documents == 22 and evaluation.corpus.num_documents == 2
    # Sentences are numbered in reading order: eval holds the last ones.
    numbers = np.concatenate([train.corpus.sentence_numbers, evaluation.corpus.sentence_numbers])
    np.testing.assert_array_equal(numbers, np.arange(len(numbers)))
    # The tokenizer never saw the eval text: its letters z and q are unknown, [UNK].
    assert not any(set(t) & set("zq") for t in tokenizer.tokens if not t.startswith("["))
    assert tokenizer.unk_id in evaluation.corpus.ids and tokenizer.unk_id not in train.corpus.ids
    # Chunk anchors cover every sentence once, in order; each reaches max_num_tokens (125) or
    # ends its document.
    for source in (train, evaluation):
        corpus, anchors = source.corpus, source.anchors
        assert source[0].keys() == {"document", "first_sentence", "last_sentence"}
        np.testing.assert_array_equal(anchors[1:, 1], anchors[:-1, 2] + 1)
        assert anchors[0, 1] == 0 and anchors[-1, 2] == corpus.num_sentences - 1
        lengths = corpus.sentence_starts[anchors[:, 2] + 1] - corpus.sentence_starts[anchors[:, 1]]
        ends_document = np.isin(anchors[:, 2] + 1, corpus.document_starts)
        assert np.all((lengths >= 125) | ends_document)
        assert [corpus.document_of(s) for s in anchors[:, 1]] == list(anchors[:, 0])


def test_instance_shapes_and_layout(dataset, config):
    transform = instance_transform(dataset, config, train=True)
    tokenizer = dataset.tokenizer
    for instance in draw(transform, dataset.train, 300):
        assert {k: (v.dtype, v.shape) for k, v in instance.items()} == {
            "tokens": (np.int32, (128,)),
            "token_types": (np.int32, (128,)),
            "valid": (bool, (128,)),
            "masked_positions": (np.int32, (20,)),
            "masked_ids": (np.int32, (20,)),
            "masked_weights": (np.float32, (20,)),
            "next_sentence": (np.int32, ()),
        }
        # The layout, before the masking's random ids (any id in [0, V), [CLS] included).
        tokens, types, valid = originals(instance), instance["token_types"], instance["valid"]
        n = int(valid.sum())
        assert valid[:n].all() and not valid[n:].any(), "padding only after the real tokens"
        assert np.all(tokens[n:] == tokenizer.pad_id) and tokenizer.pad_id not in tokens[:n]
        assert tokens[0] == tokenizer.cls_id and tokenizer.cls_id not in tokens[1:n]
        seps = np.flatnonzero(tokens[:n] == tokenizer.sep_id)
        assert len(seps) == 2 and seps[1] == n - 1 and 1 < seps[0] < n - 2
        np.testing.assert_array_equal(types[: seps[0] + 1], 0)
        np.testing.assert_array_equal(types[seps[0] + 1 : n], 1)
        np.testing.assert_array_equal(types[n:], 0)
        real = instance["masked_weights"] > 0
        k = int(real.sum())
        assert real[:k].all() and not real[k:].any()
        assert k == min(20, max(1, round(n * 0.15)))
        positions = instance["masked_positions"][:k]
        assert np.all(np.diff(positions) > 0) and np.all(positions < n)
        assert not np.isin(positions, [0, *seps]).any()  # Never [CLS] or [SEP].


def test_next_sentence_half_random_and_label_0_is_the_real_continuation(dataset, config):
    # short_seq_prob 0: every chunk is a whole document (< 125 tokens) of >= 4 sentences, so B
    # is random with probability exactly 1/2, and nothing is truncated.
    transform = instance_transform(dataset, {**config, "short_seq_prob": 0.0}, train=True)
    corpus, tokenizer = dataset.train.corpus, dataset.tokenizer
    source = dataset.train
    rng = np.random.default_rng(1)
    labels = []
    for i in range(2000):
        anchor = source[i % len(source)]
        instance = transform(anchor, rng)
        labels.append(int(instance["next_sentence"]))
        if i >= 300:
            continue
        a, b = segments(originals(instance), tokenizer)
        d = int(anchor["document"])
        own = document_ids(corpus, d)
        if labels[-1] == 0:  # A then B, contiguous in the anchor's document, cut at a sentence.
            found = find(np.concatenate([a, b]), own)
            assert len(found) == 1
            start_of_b = corpus.sentence_starts[corpus.document_starts[d]] + found[0] + len(a)
            assert start_of_b in corpus.sentence_starts
        else:  # B comes from another document.
            assert len(find(a, own)) == 1 and len(find(b, own)) == 0
            others = [
                e for e in range(corpus.num_documents) if len(find(b, document_ids(corpus, e)))
            ]
            assert len(others) == 1 and others[0] != d
    assert 0.46 < np.mean(labels) < 0.54


def test_masked_fraction_and_80_10_10(dataset, config):
    transform = instance_transform(dataset, config, train=True)
    tokenizer = dataset.tokenizer
    counts, masked, kept, total = [], 0, 0, 0
    for instance in draw(transform, dataset.train, 2000, seed=2):
        real = instance["masked_weights"] > 0
        positions, ids = instance["masked_positions"][real], instance["masked_ids"][real]
        now = instance["tokens"][positions]
        masked += int(np.sum(now == tokenizer.mask_id))
        kept += int(np.sum(now == ids))
        total += len(positions)
        counts.append(len(positions) / instance["valid"].sum())
    assert 0.14 < np.mean(counts) < 0.16
    assert masked / total == pytest.approx(0.8, abs=0.02)
    assert kept / total == pytest.approx(0.1, abs=0.02)  # (+ 1/V random ids that hit it)
    assert (total - masked - kept) / total == pytest.approx(0.1, abs=0.02)


def test_prediction_cap_and_short_sequences(dataset, config):
    transform = instance_transform(dataset, {**config, "max_predictions": 5}, train=True)
    lengths = []
    for instance in draw(transform, dataset.train, 500, seed=3):
        n = int(instance["valid"].sum())
        lengths.append(n)
        assert instance["masked_weights"].sum() == min(5, max(1, round(n * 0.15)))
        assert instance["masked_positions"].shape == (5,)
    assert min(lengths) < 40  # Short targets (probability 0.1) give short instances.


def test_whole_word_masking_masks_whole_words(dataset, config):
    transform = instance_transform(dataset, {**config, "whole_word": True}, train=True)
    continues = dataset.tokenizer.continues_word
    multi_piece = 0
    for instance in draw(transform, dataset.train, 500, seed=4):
        tokens = originals(instance)
        n = int(instance["valid"].sum())
        special = (tokens == dataset.tokenizer.sep_id) | (np.arange(128) == 0)
        masked = set(instance["masked_positions"][instance["masked_weights"] > 0].tolist())
        assert len(masked) <= min(20, max(1, round(n * 0.15)))
        for p in masked:
            start = p
            while continues[tokens[start]] and not special[start - 1]:
                start -= 1
            end = p + 1
            while end < n and continues[tokens[end]] and not special[end]:
                end += 1
            assert set(range(start, end)) <= masked, "a word is masked whole"
            multi_piece += end - start > 1
    assert multi_piece > 100  # The test sees many words of several pieces.


def test_same_position_same_instance_and_fresh_masks_each_epoch(dataset, config):
    transform = instance_transform(dataset, config, train=True)

    def keep_anchor(example, rng):
        return {**transform(example, rng), "anchor": np.stack(list(example.values()))}

    epoch = len(dataset.train)  # One step is one epoch.

    def stream():
        return BatchStream(
            dataset.train, global_batch_size=epoch, seed=5, transform=keep_anchor, shuffle=True
        )

    first, again = stream().local_batch(3), stream().local_batch(3)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    later = stream().local_batch(4)  # The next epoch: every anchor again, drawn afresh.

    def by_anchor(batch):
        order = np.lexsort(batch["anchor"].T[::-1])
        return {k: v[order] for k, v in batch.items()}

    first, later = by_anchor(first), by_anchor(later)
    np.testing.assert_array_equal(first["anchor"], later["anchor"])
    same = np.all(first["masked_positions"] == later["masked_positions"], axis=1)
    assert same.mean() < 0.1


def test_eval_instances_are_fixed(dataset, config):
    from jaxpretrain.data import eval_batches

    transform = instance_transform(dataset, config, train=False)
    one = list(eval_batches(dataset.eval, global_batch_size=4, transform=transform))
    two = list(eval_batches(dataset.eval, global_batch_size=4, transform=transform))
    assert len(one) == -(-len(dataset.eval) // 4)
    for x, y in zip(one, two):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])


def test_truncation_counts_match_truncate_seq_pair():
    for len_a in range(1, 12):
        for len_b in range(1, 12):
            for max_num_tokens in range(2, 20):
                a, b = len_a, len_b
                while a + b > max_num_tokens:  # truncate_seq_pair's loop (B on a tie).
                    if a > b:
                        a -= 1
                    else:
                        b -= 1
                expected = (len_a - a, len_b - b)
                assert truncation_counts(len_a, len_b, max_num_tokens) == expected


def test_vocab_folder_instead_of_training(dataset, config, tmp_path):
    dataset.tokenizer.save(str(tmp_path / "bert"))
    loaded = load_dataset({**config, "vocab": str(tmp_path / "bert"), "max_length": 64})
    assert loaded.tokenizer is not dataset.tokenizer
    assert loaded.tokenizer.tokens == dataset.tokenizer.tokens
    np.testing.assert_array_equal(loaded.train.corpus.ids, dataset.train.corpus.ids)
    assert loaded.train[0]["document"] == 0 and loaded.train.max_length == 64
    instance = instance_transform(loaded, {**config, "max_length": 64}, train=True)(
        loaded.train[0], np.random.default_rng(0)
    )
    assert instance["tokens"].shape == (64,)
    with pytest.raises(ValueError, match="set data.vocab_size=150"):
        load_dataset({**config, "vocab": str(tmp_path / "bert"), "vocab_size": 99})
    lines = [t for t in dataset.tokenizer.tokens if t != "[MASK]"]
    (tmp_path / "vocab.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"lacks \[MASK\]"):
        load_dataset({**config, "vocab": str(tmp_path / "vocab.txt"), "max_length": 32})


def test_sentences_and_tfds_documents():
    text = "In the beginning. God said: let there be light! And there was?\nNo.Yes... 3.5 fine"
    assert bd.split_sentences(text) == [
        "In the beginning.",
        "God said: let there be light!",
        "And there was?",
        "No.Yes...",
        "3.5 fine",
    ]
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=20):
        raw = bd.raw_documents({"corpus": "tfds:lm1b", "eval_fraction": 0.1})
    assert len(raw.train) + len(raw.eval) == 20 and len(raw.eval) == 2


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"corpus": "wikipedia"}, "Unknown corpus 'wikipedia' for BERT"),
        ({"document": "verse"}, "Unknown data.document 'verse'"),
        ({"max_length": 7}, "max_length must be at least 8"),
        ({"max_predictions": 0}, "max_predictions must be at least 1"),
        ({"mask_rate": 0.0}, r"mask_rate must be in \(0, 1\)"),
        ({"mask_rate": 1.0}, r"mask_rate must be in \(0, 1\)"),
        ({"vocab_size": 5000}, "stopped at .* set data.vocab_size="),
    ],
)
def test_bad_fields_fail_clearly(config, fields, match):
    with pytest.raises(ValueError, match=match) as error:
        load_dataset({**config, **fields})
    assert "\n" not in str(error.value)


def test_too_few_documents_and_wrong_source(tmp_path, dataset, config):
    corpus = write_corpus(tmp_path, num_documents=3)
    with pytest.raises(ValueError, match="has 1 document.* at least 4 documents"):
        load_dataset({**config, "corpus": corpus})
    with pytest.raises(ValueError, match="data.name='bert_pretraining'"):
        instance_transform([{"tokens": np.zeros(3)}], config, train=True)
    with pytest.raises(ValueError, match="max_length=64 but the source was cut for 128"):
        instance_transform(dataset, {**config, "max_length": 64}, train=True)


@pytest.fixture(scope="module")
def kjv():
    """The real KJV, built once (WordPiece on the training chapters, tokenize, chunk)."""
    return load_dataset({"name": "bert_pretraining", "corpus": "kjv"})


def test_kjv_heldout_chapters_are_never_trained_on(kjv):
    verses = kjv_verses()
    train, evaluation = kjv.train.corpus, kjv.eval.corpus
    assert not any(kjv_heldout(verses[i], 10) for i in train.sentence_numbers)
    assert all(kjv_heldout(verses[i], 10) for i in evaluation.sentence_numbers)
    # Every verse is in one split, each document one chapter.
    assert train.num_sentences + evaluation.num_sentences == len(verses) == 31102
    assert train.num_documents == 1070 and evaluation.num_documents == 119
    for corpus in (train, evaluation):
        chapters = {
            (verses[i].book, verses[i].chapter)
            for i in corpus.sentence_numbers[corpus.document_starts[:-1]]
        }
        assert len(chapters) == corpus.num_documents
    # The sizes (reported): ~6.3k train chunks of 841k tokens, ~730 eval chunks of 97k tokens.
    assert 6000 < len(kjv.train) < 7000 and 800_000 < train.num_tokens < 900_000
    assert 600 < len(kjv.eval) < 850 and 80_000 < evaluation.num_tokens < 120_000
    assert isinstance(kjv.train, ChunkSource) and kjv.tokenizer.vocab_size == 8192
    transform = instance_transform(kjv, kjv.config, train=True)
    instance = transform(kjv.train[0], np.random.default_rng(0))
    assert kjv.tokenizer.decode(originals(instance)).startswith("[CLS] in the beginning god")


def test_kjv_book_documents_stop_at_heldout_chapters():
    raw = bd.raw_documents({"corpus": "kjv", "document": "book"})
    verses = kjv_verses()
    for documents, heldout in ((raw.train, False), (raw.eval, True)):
        for document in documents:
            numbers = [i for i, _ in document]
            assert numbers == list(range(numbers[0], numbers[-1] + 1))  # Consecutive verses.
            assert len({verses[i].book for i in numbers}) == 1
            assert {kjv_heldout(verses[i], 10) for i in numbers} == {heldout}
    assert len(raw.train) < 1070 and len(raw.eval) == 119
