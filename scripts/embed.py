"""Embed sentences with a BERT: one vector per input line, saved as a .npy array [N, D].

  python scripts/embed.py --model=runs/bert_kjv --input=sentences.txt --output=embeddings.npy
  python scripts/embed.py --model=hf:/models/bert-base-uncased --input=sentences.txt \\
      --output=embeddings.npy --pooling=mean

--model is a bert training workdir (config.json, checkpoint, vocab.txt) or hf:<dir> (a Hugging
Face BERT folder). --pooling is "cls" (BERT's pooled [CLS] output) or "mean" (the mean of the
last layer over the sentence's tokens; ``evaluate.embeddings``). Empty lines are skipped; row i
of the output is the i-th non-empty line.
"""

import numpy as np
from absl import app, flags, logging

from jaxpretrain import cli
from jaxpretrain.data.corpus import read_sentences
from jaxpretrain.evaluate.embeddings import POOLINGS, embed_sentences, load_sentence_encoder

_MODEL = flags.DEFINE_string("model", None, "A bert training workdir, or hf:<dir>.")
_INPUT = flags.DEFINE_string("input", None, "UTF-8 text file, one sentence per line.")
_OUTPUT = flags.DEFINE_string("output", None, "Where to write the float32 [N, D] .npy array.")
_POOLING = flags.DEFINE_enum("pooling", "cls", POOLINGS, "cls: pooled [CLS]; mean: mean of tokens.")
_MAX_LENGTH = flags.DEFINE_integer(
    "max_length", 128, "Tokens per sentence, [CLS] and [SEP] included."
)
_BATCH = flags.DEFINE_integer("batch_size", 64, "Sentences per compiled call.")
flags.mark_flags_as_required(["model", "input", "output"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    sentences = read_sentences(_INPUT.value)
    encoder = load_sentence_encoder(_MODEL.value)
    vectors = embed_sentences(
        encoder,
        sentences,
        pooling=_POOLING.value,
        max_length=_MAX_LENGTH.value,
        batch_size=_BATCH.value,
    )
    np.save(_OUTPUT.value, vectors)
    print(f"wrote {_OUTPUT.value}: {vectors.shape[0]} sentences x {vectors.shape[1]} dims")


if __name__ == "__main__":
    cli.run(main)
