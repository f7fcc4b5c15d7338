"""The deterministic, resumable batch stream: batch `s` is a pure function of `(seed, s)`.

The training stream is an endless sequence of *global positions* 0, 1, 2, ...: grain's
`MapDataset.source(src).shuffle(seed).repeat()` maps position p to example
`perm_e(p mod N)` of a fresh permutation for each epoch e = p // N, by random access, and
`random_map(transform, seed=seed)` augments it with a generator seeded from `(seed, p)`. Global
batch s is positions `[s*B, (s+1)*B)`; process i of P reads positions
`s*B + i*(B/P) + j` for j < B/P. Nothing depends on what was read before, so

- resuming at step s needs no iterator state in the checkpoint, only s;
- the union of the P process slices is the single-process batch, element for element, whatever
  P is (a run can resume on a different number of hosts and see the same data);
- each process reads and decodes only its own examples.

`eval_batches` makes one ordered pass with a padded last batch and a mask, so every process runs
the same number of equally shaped eval steps.

Host-side numpy only; `jax.make_array_from_process_local_data` turns local batches into global
arrays elsewhere.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any, Callable, Iterator

import grain
import numpy as np

from jaxpretrain.errors import DataError

Transform = Callable[[dict, np.random.Generator], dict]


def _local_batch_size(global_batch_size: int, process_index: int, process_count: int) -> int:
    if global_batch_size < 1 or process_count < 1:
        raise DataError(
            f"global_batch_size ({global_batch_size}) and process_count "
            f"({process_count}) must be positive."
        )
    if global_batch_size % process_count:
        raise DataError(
            f"global_batch_size {global_batch_size} is not divisible by "
            f"process_count {process_count}; every process needs an equal share."
        )
    if not 0 <= process_index < process_count:
        raise DataError(f"process_index must be in [0, {process_count}), got {process_index}.")
    return global_batch_size // process_count


def _stack(examples: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """[dict of [...] arrays] * LB -> dict of [LB, ...] arrays."""
    return {k: np.stack([np.asarray(e[k]) for e in examples]) for k in examples[0]}


class BatchStream:
    """An endless, seeded, shuffled and augmented stream of batches with random access by step.

    Args:
        source: random-access source (`__len__`, `__getitem__(int) -> dict of arrays`).
        global_batch_size: B, examples per step over all processes.
        seed: in [0, 2**32); seeds the per-epoch shuffles and the transform's generators.
        transform: `transform(example, rng) -> example`, e.g. `images.make_image_transform(...)`;
            `rng` is a `np.random.Generator` seeded from `(seed, global position)`.
        shuffle: if False, epochs run through the source in order.
        process_index: this process's index i (`jax.process_index()`).
        process_count: P (`jax.process_count()`); must divide B.
        workers: threads that read and transform a batch's examples in parallel (0: the calling
            thread). Decoding and PIL resizing release the GIL, so threads help ImageNet-style
            inputs; the batch is the same for any number of workers.
    """

    def __init__(
        self,
        source,
        *,
        global_batch_size: int,
        seed: int,
        transform: Transform | None = None,
        shuffle: bool = True,
        process_index: int = 0,
        process_count: int = 1,
        workers: int = 0,
    ):
        self.local_batch_size = _local_batch_size(global_batch_size, process_index, process_count)
        if not 0 <= seed < 2**32:  # grain's shuffle and random_map need a uint32 seed.
            raise DataError(f"seed must be in [0, 2**32), got {seed}.")
        if len(source) == 0:
            raise DataError("BatchStream needs a non-empty source.")
        self.global_batch_size = global_batch_size
        self.process_index = process_index
        self.seed = seed
        ds = grain.MapDataset.source(source)
        if shuffle:
            ds = ds.shuffle(seed=seed)
        ds = ds.repeat()  # Epoch e reshuffles with a seed derived from (seed, e).
        if transform is not None:
            ds = ds.random_map(transform, seed=seed)
        self._ds = ds
        self._pool = concurrent.futures.ThreadPoolExecutor(workers) if workers > 0 else None

    def local_batch(self, step: int) -> dict[str, np.ndarray]:
        """This process's slice of global batch `step`: dict of [B/P, ...] arrays."""
        if step < 0:
            raise DataError(f"step must be non-negative, got {step}.")
        start = step * self.global_batch_size + self.process_index * self.local_batch_size
        positions = range(start, start + self.local_batch_size)
        # One index at a time: tfds' mocked sources break on grain's batched __getitems__.
        read = self._ds.__getitem__
        return _stack(list(self._pool.map(read, positions) if self._pool else map(read, positions)))

    def first_example(self) -> dict[str, np.ndarray]:
        """The first row of this process's slice of batch 0, as a batch of one: dict of [1, ...]
        arrays. Shapes and dtypes (model init, ahead-of-time compiles) without reading a batch."""
        return _stack([self._ds[self.process_index * self.local_batch_size]])


def eval_batches(
    source,
    *,
    global_batch_size: int,
    transform: Transform | None = None,
    process_index: int = 0,
    process_count: int = 1,
) -> Iterator[dict[str, np.ndarray]]:
    """One in-order pass over `source`, this process's slice of each global batch.

    The last global batch is padded to full size with copies of example 0, so every process yields
    ceil(N / B) batches of B/P examples. `transform` gets a generator seeded from (0, index).

    Returns:
        Iterator of dicts of [B/P, ...] arrays, plus "mask": bool [B/P], True for real examples.
    """
    local = _local_batch_size(global_batch_size, process_index, process_count)
    ds = grain.MapDataset.source(source)
    if transform is not None:
        ds = ds.random_map(transform, seed=0)
    n = len(source)

    def batches():
        for start in range(0, n, global_batch_size):
            positions = start + process_index * local + np.arange(local)
            mask = positions < n
            batch = _stack([ds[int(p) if p < n else 0] for p in positions])
            batch["mask"] = mask
            yield batch

    return batches()  # A plain generator function would delay the argument checks above.
