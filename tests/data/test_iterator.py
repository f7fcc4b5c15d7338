"""Tests for jaxpretrain.data.iterator: batches are pure functions of (seed, step)."""

import numpy as np
import pytest

from jaxpretrain.data import ArraySource, BatchStream, eval_batches


def _source(n=12):
    return ArraySource({"index": np.arange(n), "x": np.arange(n, dtype=np.float32) * 10})


class _CountingSource:
    """Records which indices were read."""

    def __init__(self, n):
        self.n, self.reads = n, []

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.reads.append(int(i))
        return {"index": np.int64(i)}


def _noise(example, rng):
    """A random transform: tags the example with a draw from its generator."""
    return {**example, "noise": rng.integers(0, 2**31)}


def _equal(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_batch_is_pure_function_of_seed_and_step():
    stream = BatchStream(_source(), global_batch_size=4, seed=1, transform=_noise)
    b5 = stream.local_batch(5)
    assert b5["index"].shape == (4,) and b5["noise"].shape == (4,)
    np.testing.assert_array_equal(b5["x"], b5["index"] * 10)
    stream.local_batch(0)
    assert _equal(stream.local_batch(5), b5)
    # A fresh stream (a resumed run) continues the exact same batches.
    resumed = BatchStream(_source(), global_batch_size=4, seed=1, transform=_noise)
    assert _equal(resumed.local_batch(5), b5)
    assert not _equal(stream.local_batch(6), b5)
    other_seed = BatchStream(_source(), global_batch_size=4, seed=2, transform=_noise)
    assert not _equal(other_seed.local_batch(5), b5)


def test_worker_threads_give_the_same_batches():
    serial = BatchStream(_source(), global_batch_size=8, seed=3, transform=_noise)
    threaded = BatchStream(_source(), global_batch_size=8, seed=3, transform=_noise, workers=4)
    for step in range(4):
        assert _equal(threaded.local_batch(step), serial.local_batch(step))


def test_every_example_once_per_epoch_and_epochs_reshuffle():
    stream = BatchStream(_source(12), global_batch_size=4, seed=0)
    epochs = [
        np.concatenate([stream.local_batch(s)["index"] for s in range(3 * e, 3 * e + 3)])
        for e in range(3)
    ]
    for order in epochs:
        np.testing.assert_array_equal(np.sort(order), np.arange(12))
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    assert not np.array_equal(epochs[0], np.arange(12))
    # An epoch need not end on a batch boundary: 10 examples, batches of 4.
    odd = BatchStream(_source(10), global_batch_size=4, seed=0)
    first_20 = np.concatenate([odd.local_batch(s)["index"] for s in range(5)])
    np.testing.assert_array_equal(np.sort(first_20[:10]), np.arange(10))
    np.testing.assert_array_equal(np.sort(first_20[10:]), np.arange(10))


def test_no_shuffle_runs_in_order():
    stream = BatchStream(_source(6), global_batch_size=4, seed=0, shuffle=False)
    np.testing.assert_array_equal(stream.local_batch(1)["index"], [4, 5, 0, 1])


@pytest.mark.parametrize("process_count", [2, 3])
def test_process_slices_union_is_single_process_batch(process_count):
    single = BatchStream(_source(10), global_batch_size=6, seed=3, transform=_noise)
    procs = [
        BatchStream(
            _source(10),
            global_batch_size=6,
            seed=3,
            transform=_noise,
            process_index=i,
            process_count=process_count,
        )
        for i in range(process_count)
    ]
    for step in (0, 1, 7):
        parts = [p.local_batch(step) for p in procs]
        assert all(len(part["index"]) == 6 // process_count for part in parts)
        union = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
        assert _equal(union, single.local_batch(step))


def test_each_process_reads_only_its_own_examples():
    sources = [_CountingSource(16) for _ in range(2)]
    streams = [
        BatchStream(src, global_batch_size=8, seed=0, process_index=i, process_count=2)
        for i, src in enumerate(sources)
    ]
    batches = [s.local_batch(1)["index"] for s in streams]
    for src, batch in zip(sources, batches):
        assert sorted(src.reads) == sorted(batch.tolist())
    assert not set(sources[0].reads) & set(sources[1].reads)


def test_transform_randomness_deterministic_and_fresh_each_epoch():
    stream = BatchStream(_source(4), global_batch_size=4, seed=0, transform=_noise)
    e0, e1 = stream.local_batch(0), stream.local_batch(1)  # two epochs of the same 4 examples
    noise0 = dict(zip(e0["index"].tolist(), e0["noise"].tolist()))
    noise1 = dict(zip(e1["index"].tolist(), e1["noise"].tolist()))
    assert all(noise0[i] != noise1[i] for i in range(4))
    assert len(set(noise0.values())) == 4


def test_eval_batches_cover_once_with_padding():
    n, gb = 10, 4
    per_process = [
        list(
            eval_batches(
                _source(n), global_batch_size=gb, transform=_noise, process_index=i, process_count=2
            )
        )
        for i in range(2)
    ]
    assert [len(b) for b in per_process] == [3, 3]  # ceil(10 / 4) on every process
    seen = []
    for batches in per_process:
        for batch in batches:
            assert batch["index"].shape == (2,) and batch["mask"].dtype == bool
            seen += batch["index"][batch["mask"]].tolist()
            np.testing.assert_array_equal(batch["index"][~batch["mask"]], 0)  # pads: example 0
    assert sorted(seen) == list(range(n))
    assert sum(int(b["mask"].sum()) for bs in per_process for b in bs) == n
    single = list(eval_batches(_source(n), global_batch_size=gb))
    np.testing.assert_array_equal(single[0]["index"], [0, 1, 2, 3])
    np.testing.assert_array_equal(single[-1]["mask"], [True, True, False, False])


def test_invalid_arguments():
    with pytest.raises(ValueError, match="divisible by process_count 3"):
        BatchStream(_source(), global_batch_size=4, seed=0, process_count=3)
    with pytest.raises(ValueError, match="process_index"):
        BatchStream(_source(), global_batch_size=4, seed=0, process_index=2, process_count=2)
    with pytest.raises(ValueError, match="positive"):
        BatchStream(_source(), global_batch_size=0, seed=0)
    with pytest.raises(ValueError, match="seed"):
        BatchStream(_source(), global_batch_size=4, seed=-1)
    with pytest.raises(ValueError, match="step"):
        BatchStream(_source(), global_batch_size=4, seed=0).local_batch(-1)
    with pytest.raises(ValueError, match="divisible"):
        eval_batches(_source(), global_batch_size=5, process_count=2)  # raised before iterating
