"""Word-vector peers: our cbow against gensim Word2Vec and fastText cbow on the KJV, same settings.

The issue's benchmark: vector size 100, window 5, 5 negatives, min_count 5, 5 epochs, on the
King James Bible tokenised by `data.word_vectors.words_of` (lowercase, `[\\w']+`) and cut into
sentences of 1,000 words for the peers. Each system is trained `repeats` times; reported per
system are the medians of

- words/s: corpus words × epochs / wall seconds of training (the peers' vocabulary scan and our
  compilation, data loading and checkpointing included; ours excludes nothing);
- Spearman ρ on WordSim-353 and SimLex-999 (gensim's copies) with the pairs used and the OOV
  ratio, and 3CosAdd accuracy on the Google analogies, all through `evaluate.word_vectors`.

gensim: `Word2Vec(sg=0, workers=N, sample=1e-3, alpha=0.025)` (its defaults but the issue's
settings). fastText: `train_unsupervised(model="cbow", thread=N)` with its defaults otherwise
(lr 0.05, t 1e-4, character 3..6-grams, 2M buckets). Optional: needs `gensim` and `fasttext`
(`pip install gensim fasttext-wheel`); a missing one is skipped.

  python scripts/peers/word_vectors.py               # all three, 1 repeat
  python scripts/peers/word_vectors.py --repeats=3 --only=ours,gensim
  python scripts/peers/word_vectors.py --only=ours_fasttext,fasttext   # both with n-grams

"ours" is `configs/cbow_kjv.py`, "ours_fasttext" `configs/fasttext_kjv.py` (character n-grams,
fastText's peer). ρ is printed over the pairs of vocabulary words, the pairs every system scores
(n-gram vectors of out-of-vocabulary words are in the JSON's "spearman").
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import tempfile
import time

from absl import flags

from jaxpretrain import cli
from jaxpretrain import config as config_lib
from jaxpretrain.data import kjv_text, words_of
from jaxpretrain.evaluate.word_vectors import (
    WordVectors,
    analogies,
    gensim_data,
    load_word_vectors,
    word_similarity,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SETTINGS = dict(vector_size=100, window=5, negative=5, min_count=5, epochs=5)
CPUS = len(os.sched_getaffinity(0))  # N: the peers' threads, every CPU this process may use.


def kjv_sentences(length: int = 1000) -> list[list[str]]:
    """The KJV's words in sentences of `length` words."""
    words = words_of(kjv_text())
    return [words[i : i + length] for i in range(0, len(words), length)]


def quality(vectors: WordVectors) -> dict[str, float]:
    """Spearman ρ / pairs / OOV ratio on both similarity sets and 3CosAdd accuracy, flat."""
    row = {}
    for name in ("wordsim353", "simlex999"):
        for key, value in word_similarity(vectors, gensim_data(name)).items():
            row[f"{name}/{key}"] = value
    row["analogy_accuracy"] = analogies(vectors, gensim_data("analogies"))["accuracy"]
    return row


def run_ours(config_name: str = "cbow_kjv", **overrides) -> dict[str, float]:
    """Trains `configs/<config_name>.py` through the one loop in a fresh workdir; words/s and
    quality."""
    from jaxpretrain.train import train  # pylint: disable=import-outside-toplevel

    config = config_lib.load(os.path.join(ROOT, "configs", f"{config_name}.py"))
    for key, value in overrides.items():
        config[key] = value
    words = len(words_of(kjv_text()))
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        train(config, workdir)
        seconds = time.perf_counter() - start
        vectors = load_word_vectors(workdir).vectors
    epochs = config.total_steps * config.batch_size * config.data.chunk / 776_505
    return {"seconds": seconds, "words_per_sec": words * epochs / seconds, **quality(vectors)}


def run_gensim(sentences, workers: int = CPUS) -> dict[str, float]:
    """gensim Word2Vec CBOW with the issue's settings."""
    from gensim.models import Word2Vec  # pylint: disable=import-outside-toplevel

    model = Word2Vec(sg=0, workers=workers, sample=1e-3, seed=0, **SETTINGS)
    start = time.perf_counter()
    model.build_vocab(sentences)
    effective, raw = model.train(
        sentences, total_examples=len(sentences), epochs=SETTINGS["epochs"]
    )
    seconds = time.perf_counter() - start
    vectors = WordVectors(model.wv.index_to_key, model.wv.vectors)
    return {
        "seconds": seconds,
        "words_per_sec": raw / seconds,
        "effective_words_per_sec": effective / seconds,
        **quality(vectors),
    }


def run_fasttext(sentences, threads: int = CPUS) -> dict[str, float]:
    """fastText cbow (with its character n-grams) with the issue's settings."""
    import fasttext  # pylint: disable=import-outside-toplevel

    with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
        f.writelines(" ".join(s) + "\n" for s in sentences)
        f.flush()
        start = time.perf_counter()
        model = fasttext.train_unsupervised(
            f.name,
            model="cbow",
            dim=SETTINGS["vector_size"],
            ws=SETTINGS["window"],
            neg=SETTINGS["negative"],
            minCount=SETTINGS["min_count"],
            epoch=SETTINGS["epochs"],
            thread=threads,
            verbose=0,
        )
        seconds = time.perf_counter() - start
    words = model.words
    vectors = WordVectors(words, [model.get_word_vector(w) for w in words])
    raw = sum(map(len, sentences)) * SETTINGS["epochs"]
    return {"seconds": seconds, "words_per_sec": raw / seconds, **quality(vectors)}


def compare(only=("ours", "gensim", "fasttext"), repeats: int = 1) -> dict[str, dict[str, float]]:
    """{system: median of each figure over `repeats` runs}, the systems alternating per repeat
    so that load changes on the machine hit all of them. Missing peers are left out."""
    sentences = kjv_sentences()
    runners = {
        "ours": run_ours,
        "ours_fasttext": lambda: run_ours("fasttext_kjv"),
        "gensim": lambda: run_gensim(sentences),
        "fasttext": lambda: run_fasttext(sentences),
    }
    unknown = set(only) - set(runners)
    if unknown:
        raise ValueError(f"unknown systems {sorted(unknown)}; choose from {sorted(runners)}")
    rows: dict[str, list[dict]] = {name: [] for name in only}
    for _ in range(repeats):
        for name in only:
            try:
                rows[name].append(runners[name]())
            except ImportError as error:
                print(f"skipping {name}: {error}", file=sys.stderr)
    return {
        name: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        for name, runs in rows.items()
        if runs
    }


def main(argv):
    del argv
    logging.getLogger("gensim").setLevel(logging.WARNING)  # Its per-epoch INFO lines.
    for name, row in compare(flags.FLAGS.only, flags.FLAGS.repeats).items():
        print(
            f"{name:9s} {row['words_per_sec'] / 1e6:.3f}M words/s ({row['seconds']:.1f} s)"
            f"  WordSim-353 ρ {row['wordsim353/spearman_in_vocabulary']:.3f}"
            f" (OOV {row['wordsim353/oov_ratio']:.0%})"
            f"  SimLex-999 ρ {row['simlex999/spearman_in_vocabulary']:.3f}"
            f" (OOV {row['simlex999/oov_ratio']:.0%})"
            f"  analogies {row['analogy_accuracy']:.3f}"
            + (
                f"  effective {row['effective_words_per_sec'] / 1e6:.3f}M/s"
                if "effective_words_per_sec" in row
                else ""
            )
        )


if __name__ == "__main__":  # Flags only when run: benchmark.py imports compare().
    flags.DEFINE_list("only", ["ours", "gensim", "fasttext"], "Systems to run.")
    flags.DEFINE_integer("repeats", 1, "Runs per system; medians are reported.")
    cli.run(main)
