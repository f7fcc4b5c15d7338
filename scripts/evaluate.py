"""Evaluate the word vectors of a cbow training run; optionally export them as a .vec file.

  python scripts/evaluate.py --workdir=runs/cbow_kjv
  python scripts/evaluate.py --workdir=runs/cbow_kjv --neighbours=god,king,water --export=kjv.vec
  python scripts/evaluate.py --workdir=runs/fasttext_kjv --similarity=my_pairs.tsv

Prints Spearman ρ, the pairs used and the OOV ratio on WordSim-353 and SimLex-999 (gensim's copies,
`pip install jaxpretrain[words]`, unless --similarity names other files), 3CosAdd accuracy on
the Google analogies (--analogies), and the nearest neighbours of --neighbours. --json writes the
numbers to a file.
"""

import json
import os

from absl import app, flags, logging

from jaxpretrain import cli
from jaxpretrain.evaluate import analogies, gensim_data, load_word_vectors, word_similarity
from jaxpretrain.interop import save_vec

_WORKDIR = flags.DEFINE_string("workdir", None, "A cbow training workdir.")
_SIMILARITY = flags.DEFINE_list(
    "similarity", ["wordsim353", "simlex999"], "Similarity sets: gensim's names or file paths."
)
_ANALOGIES = flags.DEFINE_string(
    "analogies", "analogies", "Analogy file, gensim's 'analogies' (Google set), or '' to skip."
)
_NEIGHBOURS = flags.DEFINE_list("neighbours", [], "Words whose nearest neighbours to print.")
_K = flags.DEFINE_integer("k", 10, "Neighbours per word.")
_EXPORT = flags.DEFINE_string("export", "", "Also write the vectors to this .vec file.")
_JSON = flags.DEFINE_string("json", "", "Also write the results to this JSON file.")
flags.mark_flag_as_required("workdir")


def _path(name: str) -> str:
    return name if os.path.exists(name) else gensim_data(name)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    vectors = load_word_vectors(_WORKDIR.value).vectors
    print(f"{len(vectors.words)} words, {vectors.vectors.shape[1]} dimensions")
    results = {}
    for name in _SIMILARITY.value:
        r = results[name] = word_similarity(vectors, _path(name))
        print(
            f"{name}: Spearman {r['spearman']:.3f} on {int(r['pairs'])} pairs,"
            f" OOV ratio {r['oov_ratio']:.1%}, in-vocabulary pairs only"
            f" {r['spearman_in_vocabulary']:.3f}"
        )
    if _ANALOGIES.value:
        r = results["analogies"] = analogies(vectors, _path(_ANALOGIES.value))
        print(
            f"analogies (3CosAdd): accuracy {r['accuracy']:.3f} on {int(r['answered'])} questions"
            f" ({r['coverage']:.1%} covered)"
        )
    for word in _NEIGHBOURS.value:
        neighbours = results.setdefault("neighbours", {})[word] = vectors.nearest(word, _K.value)
        print(f"{word}: " + ", ".join(f"{w} {c:.2f}" for w, c in neighbours))
    if _EXPORT.value:
        print(f"wrote {save_vec(_EXPORT.value, vectors.words, vectors.vectors)}")
    if _JSON.value:
        with open(_JSON.value, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    cli.run(main)
