"""Write ELMo's contextual vectors of a list of sentences to .npy.

  python scripts/elmo_vectors.py --workdir=runs/elmo_kjv --input=sentences.txt --output=elmo.npy
  python scripts/elmo_vectors.py --workdir=runs/probe_elmo --input=sentences.txt \\
      --output=elmo_mix.npy --vectors=mix

--workdir is an elmo training run, or a downstream run whose backbone is "elmo" (its learned
scalar mix; a plain elmo run mixes its layers equally). --vectors "layers" writes float32
[N, L + 1, T, 2P] (the token layer, then each LSTM layer; ``evaluate.contextual``), "mix"
writes [N, T, 2P]; T is the longest sentence's token count, and the tokens of row n (words and
punctuation, as ELMo read them) are line n of <output>.tokens.txt. Empty lines are skipped; row
n is the n-th non-empty line.
"""

import numpy as np
from absl import app, flags, logging

from jaxpretrain import cli
from jaxpretrain.data.corpus import read_sentences
from jaxpretrain.evaluate.contextual import OUTPUTS, contextual_vectors, load_contextual_encoder

_WORKDIR = flags.DEFINE_string("workdir", None, "An elmo run, or a run with backbone 'elmo'.")
_INPUT = flags.DEFINE_string("input", None, "UTF-8 text file, one sentence per line.")
_OUTPUT = flags.DEFINE_string("output", None, "Where to write the float32 .npy array.")
_VECTORS = flags.DEFINE_enum("vectors", "layers", OUTPUTS, "layers: all of them; mix: the mix.")
_BATCH = flags.DEFINE_integer("batch_size", 32, "Sentences per compiled call.")
flags.mark_flags_as_required(["workdir", "input", "output"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    sentences = read_sentences(_INPUT.value)
    encoder = load_contextual_encoder(_WORKDIR.value)
    vectors, tokens = contextual_vectors(
        encoder, sentences, output=_VECTORS.value, batch_size=_BATCH.value
    )
    np.save(_OUTPUT.value, vectors)
    tokens_path = _OUTPUT.value.removesuffix(".npy") + ".tokens.txt"
    with open(tokens_path, "w", encoding="utf-8") as f:
        f.writelines(" ".join(t) + "\n" for t in tokens)
    print(f"wrote {_OUTPUT.value}: float32 {list(vectors.shape)}, and {tokens_path}")


if __name__ == "__main__":
    cli.run(main)
