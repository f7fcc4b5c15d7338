"""Sample text from a trained gpt2 run or from Hugging Face GPT-2 weights.

  python scripts/sample.py --model=runs/gpt2_kjv --prompt="And God said" --num_samples=3
  python scripts/sample.py --model=runs/gpt2_kjv --prompt="And God said" --num_samples=10 \\
      --best_of --stop="\\n"                       # the best of 10 tries by mean log-prob
  python scripts/sample.py --model=runs/gpt2_kjv --prompt="And God said" \\
      --prompt="In the beginning" --num_samples=3   # several prompts decoded in one batch
  python scripts/sample.py --model=hf:/models/gpt2 --few_shot=pairs.tsv --query="la maison" \\
      --temperature=0                               # few-shot translation, greedy

--model is a training workdir (its config.json, latest checkpoint and tokenizer.json) or
hf:<dir> (config.json, model.safetensors, vocab.json, merges.txt). --few_shot reads
tab-separated (source, target) example pairs and builds the prompt "s1 = t1\\n…\\nquery ="; the
completion then stops at the end of the line. --prompt may be repeated: the prompts are decoded
together (left-padded) and each prompt's samples are printed in turn. Prints each sample with its
mean log-probability; --json also writes them to a file ({prompt, samples}, or {prompts: [...]}
of those for several prompts).
"""

import json
import time

from absl import app, flags, logging

from jaxpretrain import cli
from jaxpretrain.data.translation_pairs import read_tsv
from jaxpretrain.evaluate import best_of, complete, few_shot_prompt, load_language_model

_MODEL = flags.DEFINE_string("model", None, "A gpt2 training workdir, or hf:<dir>.")
_PROMPT = flags.DEFINE_multi_string(
    "prompt", [], "Text to continue (repeatable; none or '' samples unconditionally)."
)
_FEW_SHOT = flags.DEFINE_string("few_shot", "", "TSV file of (source, target) example pairs.")
_QUERY = flags.DEFINE_string("query", "", "With --few_shot: the source to complete.")
_MAX_NEW = flags.DEFINE_integer("max_new_tokens", 100, "Tokens to generate at most.")
_NUM = flags.DEFINE_integer("num_samples", 1, "Samples drawn together.")
_TEMPERATURE = flags.DEFINE_float("temperature", 1.0, "Softmax temperature; 0 is greedy.")
_TOP_K = flags.DEFINE_integer("top_k", 0, "Keep only the k most likely tokens (0: all).")
_TOP_P = flags.DEFINE_float("top_p", 1.0, "Nucleus sampling mass (1: all).")
_STOP = flags.DEFINE_multi_string("stop", [], "Stop strings (repeatable); '\\n' is a newline.")
_BEST_OF = flags.DEFINE_bool("best_of", False, "Print only the sample of best mean log-prob.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")
_NO_CACHE = flags.DEFINE_bool("no_cache", False, "Decode without the key/value cache (slow).")
_JSON = flags.DEFINE_string("json", "", "Also write the samples to this JSON file.")
flags.mark_flag_as_required("model")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    stops = [s.replace("\\n", "\n").replace("\\t", "\t") for s in _STOP.value]
    prompts = _PROMPT.value or [""]
    if _FEW_SHOT.value:
        if any(_PROMPT.value) or not _QUERY.value:
            raise app.UsageError("--few_shot needs --query and no --prompt")
        prompts = [few_shot_prompt(read_tsv(_FEW_SHOT.value).items, _QUERY.value)]
        stops = stops or ["\n"]
    model, params, tokenizer = load_language_model(_MODEL.value)
    start = time.perf_counter()
    samples = complete(
        model,
        params,
        tokenizer,
        prompts,
        max_new_tokens=_MAX_NEW.value,
        num_samples=_NUM.value,
        temperature=_TEMPERATURE.value,
        top_k=_TOP_K.value,
        top_p=_TOP_P.value,
        stop=stops,
        seed=_SEED.value,
        use_cache=not _NO_CACHE.value,
    )  # One list of samples per prompt.
    seconds = time.perf_counter() - start
    results = [_show(prompt, shown) for prompt, shown in zip(prompts, samples)]
    tokens = sum(len(s.tokens) for shown in samples for s in shown)
    print(f"{tokens} tokens in {seconds:.2f} s (compilation included)")
    if _JSON.value:
        with open(_JSON.value, "w") as f:
            json.dump(results[0] if len(results) == 1 else dict(prompts=results), f, indent=2)


def _show(prompt: str, samples: list) -> dict:
    """Prints the samples of one prompt (only the best with --best_of); returns them for --json."""
    shown = [best_of(samples)] if _BEST_OF.value else samples
    print(f"prompt: {prompt!r}")
    for i, sample in enumerate(shown):
        print(f"--- sample {i} (mean log-prob {sample.mean_log_prob:.3f}, stop {sample.stop!r})")
        print(prompt + sample.text)
    rows = [
        dict(text=s.text, mean_log_prob=s.mean_log_prob, stop=s.stop, tokens=len(s.tokens))
        for s in shown
    ]
    return dict(prompt=prompt, samples=rows)


if __name__ == "__main__":
    cli.run(main)
