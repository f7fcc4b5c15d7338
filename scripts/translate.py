"""Translate with a trained translation run, or score its eval split with corpus BLEU.

  python scripts/translate.py --workdir=runs/reverse "a b c d e" "k j i"
  python scripts/translate.py --workdir=runs/wmt14 --beam_size=4 --length_penalty=0.6
  python scripts/translate.py --workdir=runs/wmt14 --max_examples=500 --output=hyps.txt

--workdir is a training workdir (config.json, latest checkpoint, tokenizer.json). With sentences
on the command line, prints one translation per line. Without, translates the config's eval
split (the same pairs training evaluated on, tokenized with the saved tokenizer) by beam search
and prints sacrebleu's corpus BLEU against the raw reference texts.
"""

import time

from absl import app, flags, logging

from jaxpretrain import cli
from jaxpretrain.data import build_source
from jaxpretrain.evaluate.bleu import bleu, load_translation_model, translate_texts

_WORKDIR = flags.DEFINE_string("workdir", None, "A translation training workdir.")
_BEAM = flags.DEFINE_integer("beam_size", 4, "Beam width k (1: greedy).")
_ALPHA = flags.DEFINE_float("length_penalty", 0.6, "α of the GNMT length penalty ((5+|y|)/6)^α.")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Sentences translated together.")
_MAX_EXAMPLES = flags.DEFINE_integer("max_examples", 0, "BLEU on the first N eval pairs (0: all).")
_OUTPUT = flags.DEFINE_string("output", "", "Also write the translations here, one a line.")
flags.mark_flag_as_required("workdir")


def main(argv):
    logging.set_verbosity(logging.WARNING)  # Orbax is chatty at INFO.
    if _BEAM.value < 1 or _BATCH.value < 1:
        raise app.UsageError("--beam_size and --batch_size must be positive")
    model, params, tokenizers, config = load_translation_model(_WORKDIR.value)
    options = dict(
        max_length=config.data.max_target_length,
        beam_size=_BEAM.value,
        alpha=_ALPHA.value,
        batch_size=_BATCH.value,
    )
    start = time.perf_counter()
    if len(argv) > 1:
        translations = translate_texts(
            model,
            params,
            tokenizers,
            argv[1:],
            max_source_length=config.data.max_source_length,
            **options,
        )
        print("\n".join(translations))
    else:
        score, translations = bleu(
            model,
            params,
            build_source(config.data, "eval"),
            max_examples=_MAX_EXAMPLES.value,
            **options,
        )
        seconds = time.perf_counter() - start
        print(
            f"BLEU {score:.2f} on {len(translations)} eval pairs (beam {_BEAM.value}, "
            f"length penalty {_ALPHA.value}; {seconds:.1f}s)"
        )
    if _OUTPUT.value:
        with open(_OUTPUT.value, "w", encoding="utf-8") as f:
            f.write("".join(t + "\n" for t in translations))


if __name__ == "__main__":
    cli.run(main)
