"""Throughput of every method's train step, and model-FLOP utilisation of the matmul-heavy ones.

  python scripts/benchmark.py                       # every registered entry
  python scripts/benchmark.py --only=supervised_digits --repeats=5 --steps=20
  python scripts/benchmark.py --only=supervised_imagenet2012 --mock_data   # no data set needed
  python scripts/benchmark.py --only=gpt2_kjv,gpt2_peer_config,gpt2_124m --peers --steps=5
  python scripts/benchmark.py --only=bert_kjv,bert_peer_config --peers --repeats=3 --steps=5
  python scripts/benchmark.py --only=elmo_kjv,elmo_kjv_sampled --peers --repeats=3 --steps=3
  python scripts/benchmark.py --only=gpt2_kjv_generation --repeats=3     # KV cache vs none
  python scripts/benchmark.py --only=cbow_kjv --peers --repeats=3        # vs gensim, fastText
  python scripts/benchmark.py --only=rda_digits,rda_conditional_digits --repeats=3  # RDA steps
  python scripts/benchmark.py --only=gpt2_124m --peers --set=model.dtype=bfloat16   # any key
  python scripts/benchmark.py --only=gpt2_peer_config --steps=3 --profile   # where the time goes

For each entry: build the experiment from its config exactly as training does, compile, warm up,
then time ``--steps`` steps ``--repeats`` times on one fixed batch already on the devices (so the
figure is the step, not the input pipeline, which is timed separately as ``input ex/s``). Reports
the median examples/s (and tokens/s for language models), MFU = (FLOPs of the compiled step, from
XLA's cost analysis) / step time / (peak FLOP/s of a large matmul in the same dtype, measured in
the same run), for GPT, BERT and ELMo entries also the analytic ``model_mfu``
(``gpt_flops_per_token``, ``bert_flops_per_token``, ``elmo_flops_per_token``; tokens = B·T
positions, padding included; ELMo reports only this one, as XLA counts a scanned LSTM's body
once), and the memory of one step (``step_memory``). ``--peers`` also times each entry's PyTorch peer, one of
its repeats after each of ours (so both see the same load), and prints ours / peer of the medians
(a peer whose torch or torchvision is missing is skipped, with a line saying so).
``--profile`` then traces ``--steps`` more steps and prints where their time went: the XLA ops'
time per forward/backward/update phase, model part (``h_*/attn/query``) and kind (matmul or
other), from ``train.op_profile``.
Generation entries (``GenerationEntry``) time sampling with and without the key/value cache;
``cbow_kjv`` times whole word-vector runs (and gensim's and fastText's with ``--peers``).
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import json
import os
from typing import Callable

import jax
from absl import app, flags
from benchmark_runs import PEERS, run_entry, run_generation, run_word_vectors

from jaxpretrain import cli
from jaxpretrain import config as config_lib
from jaxpretrain.train import op_profile
from jaxpretrain.train.flops import peak_matmul_flops


@dataclasses.dataclass(frozen=True)
class Entry:
    """One benchmark: a config file (and argument) with dotted-key overrides."""

    config: str
    arg: str | None = None
    overrides: tuple[tuple[str, object], ...] = ()
    mfu: bool = True  # Whether model-FLOP utilisation is meaningful (matmul/conv-heavy).
    # Whether XLA's count of the step is right (not for scans: it counts a loop's body once).
    xla_flops: bool = True
    torch_peer: str | None = None  # The peer in PEERS ("resnet", "gpt", "bert", "elmo").


@dataclasses.dataclass(frozen=True)
class GenerationEntry:
    """Sampling speed of a config's (randomly initialised) GPT, with and without the KV cache:
    ``num_samples`` rows continue a ``prompt_tokens`` prompt by ``new_tokens`` top-k tokens."""

    config: str
    arg: str | None = None
    overrides: tuple[tuple[str, object], ...] = ()
    prompt_tokens: int = 16
    new_tokens: int = 256
    num_samples: int = 4


@dataclasses.dataclass(frozen=True)
class WordVectorsEntry:
    """A whole word-vector training run (``scripts/peers/word_vectors.py``: configs/cbow_kjv.py,
    5 epochs of the KJV) in corpus words/s with its similarity scores; with ``--peers`` also
    gensim's and fastText's cbow at the same settings, runs alternated."""


BENCHMARKS = {
    "supervised_digits": Entry("configs/supervised_digits.py"),
    "hashtag_digits": Entry("configs/hashtag_digits.py"),
    "supervised_cifar10": Entry("configs/supervised_cifar10.py"),
    "supervised_imagenet2012": Entry("configs/supervised_imagenet2012.py", torch_peer="resnet"),
    "gpt2_kjv": Entry("configs/gpt2_kjv.py"),  # Examples are windows of data.context tokens.
    # GPT-2 124M's blocks (L 12, H 12, D 768: 85.0M non-embedding parameters) at a short context.
    # BPE on the KJV stops at 20,611 ids, so V is 16,384, not GPT-2's 50,257: N = 97.6M with the
    # tied head (GPT-2's is 123.7M) and 97.7M parameters in all, not 124.4M.
    "gpt2_124m": Entry(
        "configs/gpt2_kjv.py",
        overrides=(
            ("model.num_layers", 12),
            ("model.num_heads", 12),
            ("model.width", 768),
            ("data.vocab_size", 16384),
            ("data.context", 128),
            ("batch_size", 8),
        ),
        torch_peer="gpt",
    ),
    # The eager-PyTorch peer's config: L 4, H 4, D 256, T 256, B 16, AdamW, fp32, bytes.
    # A BPE of 257 ids learns no merge: the ids are the 256 bytes and <|endoftext|>, one more
    # W_e row than a pure byte vocabulary (D = 256 parameters; the peer uses the same 257).
    "gpt2_peer_config": Entry(
        "configs/gpt2_kjv.py",
        overrides=(
            ("model.num_layers", 4),
            ("model.num_heads", 4),
            ("model.width", 256),
            ("data.vocab_size", 257),
            ("data.context", 256),
            ("batch_size", 16),
        ),
        torch_peer="gpt",
    ),
    # BERT pretraining (masked LM + next sentence): L 4, H 4, D 256, V 8192, T 128, P 20, B 32.
    "bert_kjv": Entry("configs/bert_kjv.py"),
    # The eager-PyTorch peer's sizes (L 4, H 4, D 256, T 256, B 16) on bert_kjv's
    # WordPiece vocabulary (V 8192) and P 20; the peer trains the same network.
    # ELMo pretraining (char CNN, 2 x 2 LSTMP layers F 256 P 128, V 8,897, T 128, C 50, B 32):
    # tokens/s of the B·T positions (padding included; packing leaves ~15%), model MFU from
    # elmo_flops_per_token only (XLA's count of the step sees one step of each LSTM scan).
    # Against the peer with the full softmax (the peer has no sampled one): like for like.
    "elmo_kjv": Entry(
        "configs/elmo_kjv.py",
        overrides=(("sampled_softmax", 0),),
        xla_flops=False,
        torch_peer="elmo",
    ),
    # As configs/elmo_kjv.py trains: a sampled softmax of 512 candidates.
    "elmo_kjv_sampled": Entry("configs/elmo_kjv.py", xla_flops=False),
    "bert_peer_config": Entry(
        "configs/bert_kjv.py",
        overrides=(
            ("model.num_layers", 4),
            ("model.num_heads", 4),
            ("model.width", 256),
            ("model.max_length", 256),
            ("data.max_length", 256),
            ("batch_size", 16),
        ),
        torch_peer="bert",
    ),
    # The gpt2_kjv model with 512 learned positions, so 16 + 256 tokens fit.
    "gpt2_kjv_generation": GenerationEntry(
        "configs/gpt2_kjv.py", overrides=(("model.max_length", 512),)
    ),
    "cbow_kjv": WordVectorsEntry(),
    # Two players (discriminator, then generator) per step; images/s of the whole step.
    "inpainting_digits": Entry("configs/inpainting_digits.py"),
    "inpainting_imagenet": Entry("configs/inpainting_imagenet.py"),
    "colorization_photos": Entry("configs/colorization_photos.py"),
    "colorization_photos_classification": Entry(
        "configs/colorization_photos.py", overrides=(("colorization.loss", "classification"),)
    ),
    "colorization_imagenet": Entry("configs/colorization_imagenet.py"),
    # The noisy-channel RDA: two players (discriminator, then autoencoder) per step, 16x16
    # digits; images/s of the whole step. The conditional one adds the class prior and onehots.
    "rda_digits": Entry("configs/rda_digits.py"),
    "rda_conditional_digits": Entry("configs/rda_conditional_digits.py"),
    # CPC: sequences (conv + GRU on MNIST-1D; the recurrence is not matmul-bound, so no MFU)
    # and images (a ResNet per patch of a 7x7 grid; an example is an image, i.e. 49 patches).
    "cpc_mnist1d": Entry("configs/cpc_mnist1d.py", mfu=False),
    # Co-training on the same backbone: three players (marginal, conditional, encoder) per step.
    "cotraining_mnist1d": Entry("configs/cotraining_mnist1d.py", mfu=False),
    "cpc_digits": Entry("configs/cpc_digits.py"),
    "cpc_imagenet": Entry("configs/cpc_imagenet.py"),
    "supervised_imagenet2012_bf16": Entry(
        "configs/supervised_imagenet2012.py",
        overrides=(("model.dtype", "bfloat16"),),
        torch_peer="resnet",
    ),
}

_ONLY = flags.DEFINE_list("only", [], "Entries to run (default: all that have data here).")
_STEPS = flags.DEFINE_integer("steps", 20, "Steps per timed repeat.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed repeats; the median is reported.")
_BATCH = flags.DEFINE_integer("batch_size", 0, "Override the configs' global batch (0 keeps it).")
_MOCK = flags.DEFINE_bool("mock_data", False, "Serve TFDS data sets from tfds.testing.mock_data.")
_PEERS = flags.DEFINE_bool("peers", False, "Also time each entry's PyTorch peer, if it has one.")
_SMOKE = flags.DEFINE_bool("smoke", False, "Load each config with arg 'smoke' (overrides apply).")
_NEW_TOKENS = flags.DEFINE_integer("new_tokens", 0, "Generation: new tokens (0 keeps the entry's).")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 0, "Generation: rows (0 keeps the entry's).")
_PEAK = flags.DEFINE_float(
    "peak_gflops",
    0.0,
    "Per-device matmul peak (GFLOP/s) the MFUs divide by, e.g. a data sheet's, in every dtype; "
    "0 measures it (peak_matmul_flops, seconds per dtype).",
)
_JSON = flags.DEFINE_string(
    "json", "", "Also write the results to this JSON file (rewritten after every entry)."
)
_PROFILE = flags.DEFINE_bool(
    "profile",
    False,
    "Also trace --steps steps of each train-step entry and print where their time goes: the "
    "XLA ops' time per phase (forward, backward, update), model part and kind (matmul or "
    "other), from jax.profiler (train.op_profile).",
)
_TRACE_DIR = flags.DEFINE_string(
    "trace_dir", "", "With --profile, keep the traces here (TensorBoard's or Perfetto's viewer)."
)
_SET = flags.DEFINE_multi_string(
    "set",
    [],
    "key=value applied to every entry's config after its own overrides (repeatable), e.g. "
    "--set=model.dtype=bfloat16 --set=data.corpus=files:/data/kjv.txt; values are Python "
    "literals, else strings.",
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _set(config, dotted: str, value, *, must_exist: bool = False) -> None:
    """config.<dotted> = value; ``must_exist`` rejects a key the config does not have."""
    *parents, leaf = dotted.split(".")
    for key in parents:
        config = config[key]
    if must_exist and leaf not in config:
        raise app.UsageError(
            f"--set {dotted}: the config has no key {leaf!r}; known: {sorted(config)}"
        )
    config[leaf] = value


def _parse_set(assignment: str) -> tuple[str, object]:
    """("a.b", value) from "a.b=value"; the value is a Python literal if it parses as one."""
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise app.UsageError(f"--set needs key=value, got {assignment!r}")
    try:
        return key, ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return key, text


def _describe(result: dict) -> str:
    if "ours/words_per_sec" in result:
        systems = [k.split("/")[0] for k in result if k.endswith("/words_per_sec")]
        lines = [
            f"{result['name']:28s} {system:8s} {result[system + '/words_per_sec'] / 1e6:.3f}M "
            f"words/s  WordSim-353 ρ {result[system + '/wordsim353/spearman']:.3f}  "
            f"SimLex-999 ρ {result[system + '/simlex999/spearman']:.3f}"
            for system in systems
        ]
        ratios = [f"ours / {k[len('ours_over_') :]} = {v:.2f}x" for k, v in result.items()
                  if k.startswith("ours_over_")]  # fmt: skip
        lines.append(f"{'':28s} peak RSS {result['peak_rss_mib']:.0f} MiB  " + "  ".join(ratios))
        return "\n".join(lines)
    if "cache_speedup" in result:
        return (
            f"{result['name']:28s} {result['num_samples']} samples x {result['new_tokens']} new "
            f"tokens: {result['generated_tokens_per_sec']:.0f} tokens/s with the KV cache, "
            f"{result['generated_tokens_per_sec_no_cache']:.0f} without; cache "
            f"{result['cache_speedup']:.1f}x (medians of "
            f"{len(result['generated_tokens_per_sec_runs'])}, alternated)"
        )
    mfu = f"{100 * result['mfu']:5.1f}% of {result['dtype']}" if "mfu" in result else "n/a"
    line = (
        f"{result['name']:28s} batch {result['batch_size']:5d}  {result['examples_per_sec']:10.1f} ex/s "
        f"(median of {len(result['examples_per_sec_runs'])})  MFU {mfu}  "
        f"input {result['input_examples_per_sec']:9.1f} ex/s"
    )
    if "tokens_per_sec" in result:
        line += f"  {result['tokens_per_sec']:.0f} tokens/s"
        if "tokens_counted" in result:
            line += f" ({result['tokens_counted']}"
            if "real_token_fraction" in result:
                line += f"; {100 * result['real_token_fraction']:.0f}% real tokens"
            line += ")"
    if "model_mfu" in result:
        per_token = result["model_flops_per_token"] / 1e6
        n = f"N {result['flop_params'] / 1e6:.2f}M, " if "flop_params" in result else ""
        line += f"  model MFU {100 * result['model_mfu']:.1f}% ({n}{per_token:.1f} MFLOP/tok)"
    if "step_memory_mib" in result:
        line += f"  step memory {result['step_memory_mib']:.0f} MiB"
    if "device_peak_mib" in result:
        line += f" (device peak {result['device_peak_mib']:.0f} MiB)"
    if "torch_examples_per_sec" in result:
        line += (
            f"\n{result['name']:28s} torch eager peer {result['torch_examples_per_sec']:.1f} ex/s"
        )
        if "torch_tokens_per_sec" in result:
            line += f" = {result['torch_tokens_per_sec']:.0f} tokens/s"
        if "torch_model_mfu" in result:
            line += f", model MFU {100 * result['torch_model_mfu']:.1f}%"
        line += f"; jaxpretrain / torch = {result['ours_over_torch']:.2f}x (repeats alternated)"
    if "profile" in result:
        parts = [op_profile.PartTime(**part) for part in result["profile"]]
        wall_ms = 1e3 * result["batch_size"] / result["examples_per_sec"]
        line += "\n" + op_profile.format_profile(parts, wall_ms=wall_ms)
    return line


def make_peer(name: str, entry: Entry, config) -> Callable[[int], float] | None:
    """The entry's PyTorch peer (``PEERS``), or None when it has none or when its packages
    (torch, torchvision: optional extras) are missing here, which is printed: the other entries
    of a run still report."""
    if not entry.torch_peer:
        return None
    try:
        return PEERS[entry.torch_peer](config)
    except ImportError as error:
        print(f"{name:28s} peer skipped: {error}", flush=True)
        return None


def main(argv):
    del argv
    names = _ONLY.value or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        raise app.UsageError(f"unknown benchmark {unknown}; known: {sorted(BENCHMARKS)}")
    peak = _PEAK.value * 1e9 or None
    print(
        f"device: {jax.devices()[0].device_kind} x{jax.device_count()}; "
        + (
            f"given matmul peak {peak / 1e9:.1f} GFLOP/s per device"
            if peak
            else f"measured matmul peak {peak_matmul_flops('float32') / 1e9:.1f} GFLOP/s per "
            "device in float32"
        )
    )
    mock = contextlib.nullcontext()
    if _MOCK.value:
        import tensorflow_datasets as tfds

        mock = tfds.testing.mock_data(num_examples=256)
    results = []

    def record(result: dict) -> None:
        """Prints a result and rewrites --json with every result so far, so that a run killed
        part-way (a device check's time limit) keeps what it finished."""
        results.append(result)
        print(_describe(result), flush=True)
        if _JSON.value:
            with open(_JSON.value, "w") as f:
                json.dump(results, f, indent=2)

    with mock:
        for name in names:
            entry = BENCHMARKS[name]
            if isinstance(entry, WordVectorsEntry):
                record(run_word_vectors(name, repeats=_REPEATS.value, peers=_PEERS.value))
                continue
            arg = "smoke" if _SMOKE.value else entry.arg
            config = config_lib.load(os.path.join(ROOT, entry.config), arg)
            for key, value in entry.overrides:
                _set(config, key, value)
            for key, value in map(_parse_set, _SET.value):
                _set(config, key, value, must_exist=True)
            if isinstance(entry, GenerationEntry):
                record(
                    run_generation(
                        name,
                        config,
                        prompt_tokens=entry.prompt_tokens,
                        num_samples=_NUM_SAMPLES.value or entry.num_samples,
                        new_tokens=_NEW_TOKENS.value or entry.new_tokens,
                        repeats=_REPEATS.value,
                    )
                )
                continue
            if _BATCH.value:
                config.batch_size = _BATCH.value
            peer = make_peer(name, entry, config) if _PEERS.value else None
            try:
                result = run_entry(
                    name,
                    config,
                    steps=_STEPS.value,
                    repeats=_REPEATS.value,
                    with_mfu=entry.mfu,
                    xla_flops=entry.xla_flops,
                    peak_flops=peak,
                    peer=peer,
                    profile=_PROFILE.value,
                    trace_dir=os.path.join(_TRACE_DIR.value, name) if _TRACE_DIR.value else None,
                )
            except FileNotFoundError as error:  # A TFDS set that is not prepared here.
                print(f"{name:28s} skipped: {error}")
                continue
            record(result)


if __name__ == "__main__":
    cli.run(main)
