"""How ``scripts/benchmark.py`` times each kind of entry: a train step (``run_entry``, with its
eager-PyTorch peer from ``PEERS``), sampling with and without the KV cache (``run_generation``),
and whole word-vector runs against gensim and fastText (``run_word_vectors``). Each returns a
dict of medians and the runs behind them."""

from __future__ import annotations

import dataclasses
import resource
import statistics
import time
from typing import Callable

import jax
import numpy as np

from jaxpretrain import models, parallel
from jaxpretrain.evaluate import Sampler, generate
from jaxpretrain.methods import get_method
from jaxpretrain.train import op_profile
from jaxpretrain.train.experiment import build_experiment
from jaxpretrain.train.flops import (
    bert_flop_params,
    bert_flops_per_token,
    elmo_flops_per_token,
    gpt_flop_params,
    gpt_flops_per_token,
    peak_matmul_flops,
    step_flops,
    step_memory,
)


def tokens_per_example(config) -> int | None:
    """Tokens an example trains on, for tokens/s: a GPT window's ``data.context``, a BERT
    instance's ``data.max_length``, an ELMo row's ``data.length`` (T token positions, padding
    included: B·T a step); None otherwise."""
    if config.method == "bert":
        return config.data.max_length
    if config.method == "elmo":
        return config.data.length
    return config.data.get("context")


# What tokens/s counts, per method (printed with the figure).
TOKENS_COUNTED = {
    "gpt2": "B·T window tokens",
    "bert": "B·T positions, padding included",
    "elmo": "B·T positions, padding included",
}


def _model_flops(config, experiment, batch) -> dict:
    """The analytic model FLOPs of GPT and BERT steps: {flop_params, model_flops_per_token}, or
    {} for other methods."""
    if config.method == "gpt2":
        n = gpt_flop_params(experiment.state.params)
        per_token = gpt_flops_per_token(
            n,
            num_layers=experiment.model.num_layers,
            width=experiment.model.width,
            context=config.data.context,
        )
        return {"flop_params": n, "model_flops_per_token": per_token}
    if config.method == "bert":
        n = bert_flop_params(experiment.state.params)
        per_token = bert_flops_per_token(
            n,
            num_layers=experiment.model.num_layers,
            width=experiment.model.width,
            length=batch["tokens"].shape[1],  # T of the batch the step runs on.
            predictions=batch["masked_positions"].shape[1],  # P: the head runs on every slot.
        )
        return {
            "flop_params": n.total,
            "flop_params_by_use": n._asdict(),
            "model_flops_per_token": per_token,
        }
    if config.method == "elmo":
        chars = batch["chars"]  # [B, T, C]: C of the batch the step runs on.
        per_token = elmo_flops_per_token(
            config.model,
            experiment.model.vocab_size,
            chars.shape[2],
            sampled_softmax=config.get("sampled_softmax", 0),
        )
        return {"model_flops_per_token": per_token, "vocab_size": experiment.model.vocab_size}
    return {}


def run_entry(
    name: str,
    config,
    *,
    steps: int,
    repeats: int,
    with_mfu: bool,
    xla_flops: bool = True,
    peak_flops: float | None = None,
    peer=None,
    profile: bool = False,
    trace_dir: str | None = None,
) -> dict:
    """Times ``config``'s train step. ``peer(n)`` (optional) times n steps of the PyTorch peer and
    returns its examples/s; it runs after each of our repeats, so both see the same machine load.
    ``xla_flops`` False skips the XLA-counted ``mfu`` (a scanned step's count is wrong: XLA's cost
    analysis counts a while loop's body once), keeping the analytic ``model_mfu``. ``peak_flops``
    (per device) replaces the measured ``peak_matmul_flops`` of the config's dtype. ``profile``
    also traces ``steps`` steps and attributes their time to the model's parts
    (``train.op_profile``; the trace is kept in ``trace_dir`` if given)."""
    mesh = parallel.make_mesh()
    experiment = build_experiment(config, mesh)
    batch = experiment.global_batch(0)
    flops = step_flops(experiment, batch) if with_mfu and xla_flops else None
    # Compiling ahead of time for the memory analysis; the calls below reuse this compilation.
    compiled = experiment.train_step.lower(experiment.state, batch).compile()
    model_flops = _model_flops(config, experiment, batch)
    state = experiment.state
    for _ in range(2):  # Warm up.
        state, metrics = experiment.step(state, batch)
    jax.block_until_ready(metrics)
    rates, peer_rates = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            state, metrics = experiment.step(state, batch)
        jax.block_until_ready(metrics)
        rates.append(steps * config.batch_size / (time.perf_counter() - start))
        if peer is not None:
            peer_rates.append(peer(steps))
    parts = None
    if profile:

        def run_steps(count: int) -> None:
            nonlocal state
            for _ in range(count):
                state, metrics = experiment.step(state, batch)
            jax.block_until_ready(metrics)

        parts = op_profile.step_profile(run_steps, compiled.as_text(), steps, trace_dir)
    start = time.perf_counter()
    for step in range(steps):
        experiment.stream.local_batch(step)
    input_rate = steps * config.batch_size / jax.process_count() / (time.perf_counter() - start)
    median = statistics.median(rates)
    # Language models: tokens/s of the examples' windows (GPT) or instances (BERT).
    context = tokens_per_example(config)
    result = {
        "name": name,
        "device": jax.devices()[0].device_kind,
        "num_devices": mesh.size,
        "batch_size": config.batch_size,
        "examples_per_sec": median,
        "examples_per_sec_runs": rates,
        "input_examples_per_sec": input_rate,
        **({"tokens_per_sec": median * context} if context else {}),
        **({"tokens_counted": TOKENS_COUNTED[config.method]} if context else {}),
        **step_memory(compiled),
    }
    if parts is not None:
        result["profile"] = [dataclasses.asdict(part) for part in parts]
    if config.method == "elmo":  # Packing leaves some padding: the share of real tokens.
        result["real_token_fraction"] = float(np.mean(jax.device_get(batch["ids"]) >= 0))
    if with_mfu:
        dtype = config.model.get("dtype", "float32")
        peak = peak_flops or peak_matmul_flops(dtype)
        result.update(dtype=dtype, peak_flops=peak)
        if flops:
            # The unpartitioned step's FLOPs, shared by every device of the mesh.
            result.update(
                step_gflops=flops / 1e9,
                mfu=median / config.batch_size * flops / (peak * mesh.size),
            )
        if model_flops:
            per_token = model_flops["model_flops_per_token"]
            result.update(
                **model_flops,
                model_mfu=result["tokens_per_sec"] * per_token / (peak * mesh.size),
            )
    if peer_rates:
        peer_median = statistics.median(peer_rates)
        result.update(
            torch_examples_per_sec=peer_median,
            torch_examples_per_sec_runs=peer_rates,
            ours_over_torch=median / peer_median,
            **({"torch_tokens_per_sec": peer_median * context} if context else {}),
            # The peer is the same network: the same FLOPs per example.
            **{
                f"torch_{k}": result[k] / median * peer_median
                for k in ("mfu", "model_mfu")
                if k in result
            },
        )
    return result


def run_generation(
    name: str, config, *, prompt_tokens: int, num_samples: int, new_tokens: int, repeats: int
) -> dict:
    """Times ``evaluate.generate`` of ``config``'s (randomly initialised) GPT: ``num_samples``
    rows continue a ``prompt_tokens`` prompt by ``new_tokens`` top-k tokens, with the KV cache
    and without (rerunning the whole fixed-size buffer per token), the two alternated in each
    repeat; compilation is excluded."""
    model = get_method(config.method).make_model(config)
    params = models.init_gpt(model, jax.random.PRNGKey(config.seed))
    prompt = np.arange(prompt_tokens) % model.vocab_size
    tokens = num_samples * new_tokens

    def tokens_per_sec(use_cache: bool) -> float:
        start = time.perf_counter()
        generate(
            model,
            params,
            prompt,
            max_new_tokens=new_tokens,
            num_samples=num_samples,
            sampler=Sampler(top_k=40),
            use_cache=use_cache,
            chunk=new_tokens,  # One jitted call: no host check between chunks.
        )
        return tokens / (time.perf_counter() - start)

    rates = {True: [], False: []}
    for use_cache in rates:  # Compile both.
        tokens_per_sec(use_cache)
    for _ in range(repeats):
        for use_cache in rates:
            rates[use_cache].append(tokens_per_sec(use_cache))
    cached, uncached = (statistics.median(rates[c]) for c in (True, False))
    return {
        "name": name,
        "device": jax.devices()[0].device_kind,
        "num_samples": num_samples,
        "prompt_tokens": prompt_tokens,
        "new_tokens": new_tokens,
        "generated_tokens_per_sec": cached,
        "generated_tokens_per_sec_runs": rates[True],
        "generated_tokens_per_sec_no_cache": uncached,
        "generated_tokens_per_sec_no_cache_runs": rates[False],
        "cache_speedup": cached / uncached,
    }


def run_word_vectors(name: str, *, repeats: int, peers: bool) -> dict:
    """Medians of ``repeats`` runs per system (``peers.word_vectors.compare``), and the process's
    peak resident memory: the corpus is streamed, so it stays bounded."""
    from peers.word_vectors import compare

    systems = ("ours", "gensim", "fasttext") if peers else ("ours",)
    rows = compare(systems, repeats=repeats)
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    result = {"name": name, "device": jax.devices()[0].device_kind, "peak_rss_mib": peak_rss_mib}
    for system, row in rows.items():
        result.update({f"{system}/{key}": value for key, value in row.items()})
    for system in rows.keys() - {"ours"}:
        result[f"ours_over_{system}"] = (
            result["ours/words_per_sec"] / result[f"{system}/words_per_sec"]
        )
    return result


def _resnet_peer(config) -> Callable[[int], float]:
    """torchvision's ResNet (GroupNorm) in eager PyTorch on this entry's images: examples/s."""
    from peers.torch_resnet import torch_resnet_trainer

    return torch_resnet_trainer(
        config.model.variant,
        batch_size=config.batch_size,
        image_size=config.data.image_size,
        num_classes=config.data.num_classes,
        dtype=config.model.get("dtype", "float32"),
    )


def _gpt_peer(config) -> Callable[[int], float]:
    """The same GPT (L, H, D, V, T, B) in eager PyTorch: examples (windows of T tokens) per s."""
    from peers.torch_gpt import torch_gpt_trainer

    model = get_method(config.method).make_model(config)
    trainer = torch_gpt_trainer(
        num_layers=model.num_layers,
        num_heads=model.num_heads,
        width=model.width,
        context=config.data.context,
        vocab_size=model.vocab_size,
        batch_size=config.batch_size,
        dtype=config.model.get("dtype", "float32"),
    )
    return lambda steps: trainer.time_steps(steps) / config.data.context


def _bert_peer(config) -> Callable[[int], float]:
    """The same BERT pretraining (L, H, D, V, T, P, B, dropout) in eager PyTorch: examples
    (instances of T tokens) per s."""
    from peers.torch_bert import torch_bert_trainer

    model = get_method(config.method).make_model(config)  # V: config.model.vocab_size.
    length = config.data.max_length
    trainer = torch_bert_trainer(
        num_layers=model.num_layers,
        num_heads=model.num_heads,
        width=model.width,
        length=length,
        max_length=model.max_length,
        vocab_size=model.vocab_size,
        predictions=config.data.max_predictions,
        batch_size=config.batch_size,
        dropout=model.dropout_rate,
        dtype=config.model.get("dtype", "float32"),
    )
    return lambda steps: trainer.time_steps(steps) / length


def _elmo_peer(config) -> Callable[[int], float]:
    """The same ELMo LM (the model block's sizes, V of the data, T, C, B, dropout, optimizer) in
    eager PyTorch, on the first B rows of our training data: examples (rows of T token
    positions) per s."""
    from peers.torch_elmo import torch_elmo_trainer

    from jaxpretrain.data.sentences import sentence_sources

    sources = sentence_sources(config.data)
    rows = [sources.train[i % len(sources.train)] for i in range(config.batch_size)]
    batch = {key: np.stack([row[key] for row in rows]) for key in ("chars", "ids", "segments")}
    model, opt = config.model, config.optimizer
    length, max_chars = batch["chars"].shape[1:]
    trainer = torch_elmo_trainer(
        filters=[tuple(f) for f in model.filters],
        char_features=model.char_features,
        highway_layers=model.highway_layers,
        projection=model.projection,
        lstm_features=model.lstm_features,
        num_layers=model.num_layers,
        vocab_size=sources.tokenizer.vocab_size,
        length=length,
        max_chars=max_chars,
        batch_size=config.batch_size,
        dropout=model.get("dropout_rate", 0.0),
        lr=opt.base_lr,
        betas=(opt.b1, opt.b2),
        weight_decay=opt.weight_decay,
        clip_norm=opt.grad_clip_norm,
        batch=batch,
        dtype=model.get("dtype", "float32"),
    )
    return lambda steps: trainer.time_steps(steps) / length


PEERS = {"resnet": _resnet_peer, "gpt": _gpt_peer, "bert": _bert_peer, "elmo": _elmo_peer}
