"""BERT pretraining instances, drawn on the fly: masked LM + next sentence prediction.

Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers for Language
Understanding", Sec. 3.1 and A.1-A.2, as google-research/bert's create_pretraining_data.py builds
them (create_instances_from_document, truncate_seq_pair, create_masked_lm_predictions), except
that nothing is materialised: `instance_transform` turns a chunk anchor of a
`bert_documents.ChunkSource` into one instance with the generator `BatchStream.random_map` gives
it, seeded from (seed, global position). Pairs and masks are therefore fresh every epoch (the
dupe_factor copies of the reference become epochs), batch s is a pure function of (seed, s), and
`eval_batches` (generator seeded from (0, index)) gives fixed eval instances.

For an anchor (document d, sentences first..last) and M = max_length - 3:
1. target length t = M, or uniform in [2, M] with probability `short_seq_prob`;
2. the chunk: the anchor's sentences from `first` up to the one that brings it to t tokens;
3. A = its first a_end sentences, a_end uniform in [1, len(chunk) - 1]; with probability 1/2
   (always for a one-sentence chunk) B is random: sentences of a uniformly drawn *other*
   document from a uniform start until B reaches t - |A| tokens (label next_sentence = 1);
   else B is the rest of the chunk, A's real continuation (label 0);
4. truncate_seq_pair: the longer of A and B loses a token, at its front or back 50/50, until
   |A| + |B| <= M;
5. tokens [CLS] A [SEP] B [SEP], token types 0 up to the first [SEP] and 1 after, [PAD] to T;
6. masked LM: k = min(P, max(1, round(n * mask_rate))) of the n real tokens (n counts [CLS] and
   [SEP]) are chosen among all but [CLS]/[SEP], in random order, by whole words (a "##" piece
   joins the word before it in its segment) with `whole_word`, a word skipped if it would pass
   k; each chosen token becomes [MASK] (80%), stays (10%) or becomes a uniform id in [0, V)
   (10%), decided per token.

Host-side numpy only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxpretrain.data.base import Dataset, field
from jaxpretrain.data.bert_documents import ChunkSource, check_max_length
from jaxpretrain.errors import DataError


def truncation_counts(len_a: int, len_b: int, max_num_tokens: int) -> tuple[int, int]:
    """How many tokens truncate_seq_pair removes from A and from B: it removes one from the
    longer (B on a tie) until len_a + len_b <= max_num_tokens; the counts in closed form."""
    excess = len_a + len_b - max_num_tokens
    if excess <= 0:
        return 0, 0
    if len_a > len_b:
        first = min(excess, len_a - len_b)
        rest = excess - first
        return first + rest // 2, (rest + 1) // 2
    first = min(excess, len_b - len_a)
    rest = excess - first
    return rest // 2, first + (rest + 1) // 2


def _check(max_predictions: int, mask_rate: float, short_seq_prob: float) -> None:
    if max_predictions < 1:
        raise DataError(
            f"data.max_predictions must be at least 1 (BERT uses 20), got {max_predictions}."
        )
    if not 0.0 < mask_rate < 1.0:
        raise DataError(f"data.mask_rate must be in (0, 1) (BERT uses 0.15), got {mask_rate}.")
    if not 0.0 <= short_seq_prob <= 1.0:
        raise DataError(
            f"data.short_seq_prob must be in [0, 1] (BERT uses 0.1), got {short_seq_prob}."
        )


def instance_options(data_config: Any) -> dict[str, Any]:
    """The `InstanceTransform` options a data config sets, checked: `max_predictions` (default
    20), `mask_rate` (0.15), `short_seq_prob` (0.1), `whole_word` (False).

    Raises:
        ValueError: max_predictions < 1, mask_rate not in (0, 1), short_seq_prob not in [0, 1].
    """
    options = dict(
        max_predictions=int(field(data_config, "max_predictions", 20)),
        mask_rate=float(field(data_config, "mask_rate", 0.15)),
        short_seq_prob=float(field(data_config, "short_seq_prob", 0.1)),
        whole_word=bool(field(data_config, "whole_word", False)),
    )
    _check(options["max_predictions"], options["mask_rate"], options["short_seq_prob"])
    return options


class InstanceTransform:
    """`(anchor, rng) -> instance`: one BERT pretraining instance from a chunk anchor.

    Args:
        source: the `ChunkSource` whose items it reads; B's other documents come from its corpus.
        max_predictions: P, the most masked positions per instance (default 20).
        mask_rate: the share of real tokens to predict (default 0.15), in (0, 1).
        short_seq_prob: the probability of a short target length (default 0.1).
        whole_word: choose whole words ("##" pieces with the piece before) to mask.

    The instance (T = source.max_length):
        tokens: int32 [T], [CLS] A [SEP] B [SEP] [PAD]..., after masking.
        token_types: int32 [T], 0 for [CLS] A [SEP], 1 for B [SEP], 0 at padding.
        valid: bool [T], False at [PAD].
        masked_positions: int32 [P], the masked positions, ascending, then 0s.
        masked_ids: int32 [P], the original ids there, then 0s.
        masked_weights: float32 [P], 1 for a real prediction, 0 for padding.
        next_sentence: int32 [], 1 if B is random, 0 if it is A's continuation.
    """

    def __init__(
        self,
        source: ChunkSource,
        *,
        max_predictions: int = 20,
        mask_rate: float = 0.15,
        short_seq_prob: float = 0.1,
        whole_word: bool = False,
    ):
        _check(max_predictions, mask_rate, short_seq_prob)
        corpus, tokenizer = source.corpus, source.tokenizer
        self.max_length = check_max_length(source.max_length)
        self.max_num_tokens = self.max_length - 3
        self.max_predictions = max_predictions
        self.mask_rate = mask_rate
        self.short_seq_prob = short_seq_prob
        self.whole_word = whole_word
        self._ids = corpus.ids
        self._starts = corpus.sentence_starts
        self._documents = corpus.document_starts
        self._vocab_size = tokenizer.vocab_size
        self._continues = tokenizer.continues_word
        self._pad, self._cls, self._sep, self._mask = (
            tokenizer.pad_id,
            tokenizer.cls_id,
            tokenizer.sep_id,
            tokenizer.mask_id,
        )

    def _sentences(self, first: int, stop: int, target: int) -> int:
        """How many sentences from `first` (at most `stop` - `first`) reach `target` tokens."""
        starts = self._starts
        reached = starts[first + 1 : stop + 1] - starts[first]  # Lengths so far.
        return min(int(np.searchsorted(reached, target)) + 1, stop - first)

    def _pair(self, example: dict, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
        """(A, B, next_sentence) before truncation."""
        document = int(example["document"])
        first, last = int(example["first_sentence"]), int(example["last_sentence"])
        target = self.max_num_tokens
        if rng.random() < self.short_seq_prob:
            target = int(rng.integers(2, self.max_num_tokens + 1))
        n = self._sentences(first, last + 1, target)
        a_end = 1 if n == 1 else int(rng.integers(1, n))
        starts, ids = self._starts, self._ids
        a = ids[starts[first] : starts[first + a_end]]
        if n > 1 and rng.random() >= 0.5:
            return a, ids[starts[first + a_end] : starts[first + n]], 0
        other = int(rng.integers(0, len(self._documents) - 2))  # Uniform over the other documents.
        other += other >= document
        lo, hi = int(self._documents[other]), int(self._documents[other + 1])
        start = int(rng.integers(lo, hi))
        count = self._sentences(start, hi, target - len(a))
        return a, ids[starts[start] : starts[start + count]], 1

    def _masked_positions(self, tokens: np.ndarray, len_a: int, len_b: int, rng) -> np.ndarray:
        """The positions to predict, ascending: int [k]."""
        candidates = np.r_[1 : 1 + len_a, 2 + len_a : 2 + len_a + len_b]
        count = len_a + len_b + 3
        k = min(self.max_predictions, max(1, round(count * self.mask_rate)), len(candidates))
        if not self.whole_word:
            return np.sort(candidates[rng.permutation(len(candidates))[:k]])
        word_start = ~self._continues[tokens[candidates]]
        word_start[[0, len_a]] = True  # A word never spans [SEP] (or starts before A's cut).
        starts = np.flatnonzero(word_start)
        sizes = np.diff(np.append(starts, len(candidates)))
        chosen, total = [], 0
        for w in rng.permutation(len(starts)):
            if total >= k:
                break
            if total + sizes[w] > k:
                continue
            chosen.append(candidates[starts[w] : starts[w] + sizes[w]])
            total += sizes[w]
        return np.sort(np.concatenate(chosen))

    def __call__(self, example: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
        a, b, random_next = self._pair(example, rng)
        cut_a, cut_b = truncation_counts(len(a), len(b), self.max_num_tokens)
        front_a, front_b = int(rng.binomial(cut_a, 0.5)), int(rng.binomial(cut_b, 0.5))
        a = a[front_a : len(a) - (cut_a - front_a)]
        b = b[front_b : len(b) - (cut_b - front_b)]
        la, lb, T = len(a), len(b), self.max_length
        count = la + lb + 3
        tokens = np.full(T, self._pad, np.int32)
        tokens[0], tokens[1 + la], tokens[count - 1] = self._cls, self._sep, self._sep
        tokens[1 : 1 + la], tokens[2 + la : 2 + la + lb] = a, b
        token_types = np.zeros(T, np.int32)
        token_types[2 + la : count] = 1
        positions = self._masked_positions(tokens, la, lb, rng)
        k, P = len(positions), self.max_predictions
        original = tokens[positions]
        action = rng.random(k)
        replaced = np.where(
            action < 0.8,
            self._mask,
            np.where(action < 0.9, original, rng.integers(0, self._vocab_size, k)),
        )
        tokens[positions] = replaced
        masked_positions = np.zeros(P, np.int32)
        masked_ids = np.zeros(P, np.int32)
        masked_weights = np.zeros(P, np.float32)
        masked_positions[:k], masked_ids[:k], masked_weights[:k] = positions, original, 1.0
        return {
            "tokens": tokens,
            "token_types": token_types,
            "valid": np.arange(T) < count,
            "masked_positions": masked_positions,
            "masked_ids": masked_ids,
            "masked_weights": masked_weights,
            "next_sentence": np.int32(random_next),
        }


def instance_transform(
    dataset_or_source: Any, data_config: Any, *, train: bool
) -> InstanceTransform:
    """The instance transform of a "bert_pretraining" data set (Devlin et al. 2019).

    Args:
        dataset_or_source: the `Dataset` (its train or eval source by `train`) or a `ChunkSource`.
        data_config: the data config: `instance_options` and `max_length` (default 128), which
            must be the one the source was cut for.
        train: pick the Dataset's train source (else its eval source). Both use the same
            transform: `eval_batches` seeds it per index, so eval instances are fixed.

    Returns:
        `InstanceTransform`: `(anchor, rng) -> instance` (see its docstring for the shapes).
    """
    source = dataset_or_source
    if isinstance(source, Dataset):
        source = source.train if train else source.eval
    if not isinstance(source, ChunkSource):
        raise DataError(
            f"BERT pretraining instances need a 'bert_pretraining' data set, got a"
            f" {type(source).__name__}: set data.name='bert_pretraining'."
        )
    max_length = int(field(data_config, "max_length", 128))
    if max_length != source.max_length:
        raise DataError(
            f"data.max_length={max_length} but the source was cut for {source.max_length}:"
            " build the data set from this same data config."
        )
    return InstanceTransform(source, **instance_options(data_config))
