"""scripts/benchmark.py runs a registered entry and reports throughput and a plausible MFU (and,
with --profile, its step's XLA ops by phase and model part);
the GPT, BERT and ELMo FLOP counts match hand counts; the eager-PyTorch GPT, BERT and ELMo peers
train, the BERT one with the parameters of ours and of transformers' BertForPreTraining, the
ELMo one with ours plus nn.LSTM's second gate bias."""

import importlib.util
import json
import os
import sys

import pytest
from conftest import ROOT, run_script


def _script_module(relative: str):
    """A module under scripts/, loaded by path: scripts/ is not a package, and putting it on
    sys.path would let train.py, evaluate.py... shadow other modules for the whole session."""
    name = "scripts_" + relative.removesuffix(".py").replace("/", "_")
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "scripts", relative))
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# benchmark.py imports its sibling benchmark_runs.py, as running it from scripts/ allows.
sys.modules["benchmark_runs"] = _script_module("benchmark_runs.py")
benchmark = _script_module("benchmark.py")
# The peers import their shared helper as peers.torch_common, else (run from scripts/peers/) as
# torch_common.
sys.modules["torch_common"] = _script_module("peers/torch_common.py")
torch_gpt = _script_module("peers/torch_gpt.py")
torch_bert = _script_module("peers/torch_bert.py")
torch_elmo = _script_module("peers/torch_elmo.py")
torch_resnet = _script_module("peers/torch_resnet.py")


def test_benchmark_reports_throughput_and_mfu(tmp_path):
    out = tmp_path / "bench.json"
    command = [
        "benchmark.py",
        "--only=supervised_digits",
        "--repeats=3",
        "--steps=2",
        "--batch_size=16",
        f"--json={out}",
    ]
    result = run_script(command, timeout=300)
    assert "supervised_digits" in result.stdout and "ex/s (median of 3)" in result.stdout
    (entry,) = json.loads(out.read_text())
    assert entry["batch_size"] == 16 and len(entry["examples_per_sec_runs"]) == 3
    assert entry["examples_per_sec"] == sorted(entry["examples_per_sec_runs"])[1]
    # The digits ResNet's step: a few tens of MFLOP per image, counted by XLA, never zero.
    assert 1e5 < entry["step_gflops"] * 1e9 / 16 < 1e8
    assert 0 < entry["mfu"] < 1


def test_unknown_benchmark_is_an_error():
    result = run_script(["benchmark.py", "--only=nope"], check=False)
    assert result.returncode != 0 and "unknown benchmark" in result.stderr


def test_gpt_and_generation_benchmarks_report_tokens_model_mfu_memory_peer_and_cache(tmp_path):
    """The GPT train-step entries and the KV-cache generation entry, in one benchmark.py run:
    each run starts Python, JAX and PyTorch and measures the matmul peak, which costs more than
    the entries themselves. The generation entry reads neither --steps, --batch_size, --peers
    nor data.context (its model has model.max_length 512), and it runs as it did alone; its
    --new_tokens and --num_samples replace the entry's."""
    out = tmp_path / "bench.json"
    command = [
        "benchmark.py",
        "--only=gpt2_kjv,gpt2_peer_config,gpt2_kjv_generation",
        "--smoke",
        "--peers",
        "--repeats=3",
        "--steps=2",
        "--batch_size=2",
        "--set=data.context=16",  # Applies after each entry's own overrides.
        "--new_tokens=8",
        "--num_samples=3",
        "--peak_gflops=100",  # The measured peak is tested with supervised_digits above.
        "--profile",
        f"--json={out}",
    ]
    result = run_script(command, timeout=300)
    assert "jaxpretrain / torch = " in result.stdout
    kjv, peer_config, generation = json.loads(out.read_text())
    # Under pytest-xdist another worker shares the 2 CPUs, so the peak and a step rate may be
    # measured under different loads: MFU is bounded loosely here, the FLOP counts exactly below.
    for entry in (kjv, peer_config):
        assert entry["tokens_per_sec"] > 0 and 0 < entry["model_mfu"] < 3 and 0 < entry["mfu"] < 3
        assert entry["step_memory_mib"] > 0
    # gpt2_kjv:smoke is L 2, D 32, V 512 (T 16 by --set): N = 2(12·32² + 13·32) + 2·32 + 512·32.
    assert kjv["flop_params"] == 41_856
    assert kjv["model_flops_per_token"] == 6 * 41_856 + 12 * 2 * 16 * 32
    assert kjv["tokens_per_sec"] == kjv["examples_per_sec"] * 16
    # The overrides win over the smoke config: the peer's L 4, D 256, V 257 (T 16 by --set).
    assert peer_config["flop_params"] == 4 * (12 * 256**2 + 13 * 256) + 2 * 256 + 257 * 256
    # The peer's repeats alternate with ours: as many, and the ratio is of the two medians.
    assert len(peer_config["torch_examples_per_sec_runs"]) == 3
    assert peer_config["torch_tokens_per_sec"] > 0 and 0 < peer_config["torch_model_mfu"] < 3
    ratio = peer_config["examples_per_sec"] / peer_config["torch_examples_per_sec"]
    assert abs(peer_config["ours_over_torch"] - ratio) < 1e-9
    # --profile: the step's XLA ops by phase and part, the layers merged (train.op_profile).
    assert "XLA ops" in result.stdout and "ms/step  share" in result.stdout
    parts = {(p["phase"], p["part"], p["kind"]) for p in peer_config["profile"]}
    for phase in ("forward", "backward"):
        assert (phase, "GPT/TransformerStack_*/h_*/attn/query", "matmul") in parts
        assert (phase, "GPT/TransformerStack_*/h_*/mlp/fc", "matmul") in parts
    assert "profile" not in generation  # Train steps only.

    # Generation: sampling with and without the KV cache, the medians of 3 alternated repeats.
    assert "with the KV cache" in result.stdout
    assert generation["name"] == "gpt2_kjv_generation"
    assert generation["new_tokens"] == 8 and generation["num_samples"] == 3
    assert len(generation["generated_tokens_per_sec_runs"]) == 3
    runs = sorted(generation["generated_tokens_per_sec_runs"])
    assert generation["generated_tokens_per_sec"] == runs[1]
    ratio = generation["generated_tokens_per_sec"] / generation["generated_tokens_per_sec_no_cache"]
    assert generation["cache_speedup"] == ratio > 0


def test_a_peer_whose_packages_are_missing_is_skipped_and_said(monkeypatch, capsys):
    def resnet_peer(config):
        raise ModuleNotFoundError("No module named 'torchvision'")

    monkeypatch.setitem(benchmark.PEERS, "resnet", resnet_peer)
    entry = benchmark.BENCHMARKS["supervised_imagenet2012"]
    assert benchmark.make_peer("supervised_imagenet2012", entry, config=None) is None
    assert "peer skipped: No module named 'torchvision'" in capsys.readouterr().out
    assert (
        benchmark.make_peer("supervised_digits", benchmark.BENCHMARKS["supervised_digits"], None)
        is None
    )


def test_benchmark_rejects_a_set_key_the_config_lacks():
    result = run_script(
        ["benchmark.py", "--only=gpt2_kjv", "--smoke", "--set=model.widht=64", "--peak_gflops=100"],
        check=False,
    )
    assert result.returncode != 0 and "the config has no key 'widht'" in result.stderr


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_torch_gpt_peer_trains_a_tiny_gpt(dtype):
    trainer = torch_gpt.torch_gpt_trainer(
        num_layers=1, num_heads=2, width=32, context=16, vocab_size=256, batch_size=2, dtype=dtype
    )
    assert trainer.time_steps(2) > 0
    # L 1, D 32, V 256: 12·32² + 13·32 per block, 2·32 for ln_f, 256·32 for the tied head.
    assert trainer.flop_params == 12 * 32**2 + 13 * 32 + 2 * 32 + 256 * 32


def _bert_hand_count(*, layers: int, d: int, vocab: int) -> tuple[int, int, int]:
    """BertFlopParams by hand: (layers and embedding LN, masked-LM head, pooler and NSP head)."""
    layer = 4 * (d * d + d) + 2 * 2 * d + (d * 4 * d + 4 * d) + (4 * d * d + d)  # 12D² + 13D
    return layers * layer + 2 * d, (d * d + d) + 2 * d + vocab * d + vocab, (d * d + d) + 2 * d + 2


@pytest.mark.slow
def test_bert_benchmark_reports_tokens_model_mfu_memory_and_peer(tmp_path):
    out = tmp_path / "bench.json"
    command = [
        "benchmark.py",
        "--only=bert_peer_config",
        "--smoke",
        "--peers",
        "--repeats=2",
        "--steps=2",
        "--batch_size=2",
        "--set=data.max_length=16",  # Applies after the entry's own overrides.
        "--peak_gflops=100",  # Not measured (see the GPT test).
        f"--json={out}",
    ]
    result = run_script(command, timeout=300)
    assert "jaxpretrain / torch = " in result.stdout
    (entry,) = json.loads(out.read_text())
    # Loose MFU bounds, as for GPT above.
    assert entry["tokens_per_sec"] > 0 and 0 < entry["model_mfu"] < 3 and 0 < entry["mfu"] < 3
    assert entry["step_memory_mib"] > 0
    assert entry["tokens_per_sec"] == entry["examples_per_sec"] * 16  # B·T tokens.
    # The overrides win over the smoke config: L 4, D 256 (V 512, P 5 from bert_kjv:smoke, T 16
    # by --set); the masked-LM head runs at P of T positions, the pooler and NSP once.
    token, prediction, instance = _bert_hand_count(layers=4, d=256, vocab=512)
    assert entry["flop_params"] == token + prediction + instance
    per_instance = 6 * (token * 16 + prediction * 5 + instance) + 12 * 4 * 16 * 16 * 256
    assert entry["model_flops_per_token"] == pytest.approx(per_instance / 16)
    assert len(entry["torch_examples_per_sec_runs"]) == 2
    assert entry["torch_tokens_per_sec"] > 0 and 0 < entry["torch_model_mfu"] < 3
    ratio = entry["examples_per_sec"] / entry["torch_examples_per_sec"]
    assert abs(entry["ours_over_torch"] - ratio) < 1e-9


def test_torch_bert_peer_trains_a_tiny_bert_with_our_and_hf_parameter_counts():
    import jax

    from jaxpretrain import models
    from jaxpretrain.train.flops import bert_flop_params

    sizes = dict(num_layers=2, num_heads=2, width=32, vocab_size=101, max_length=64)
    trainer = torch_bert.torch_bert_trainer(**sizes, length=16, predictions=3, batch_size=2)
    assert trainer.time_steps(2) > 0
    assert trainer.flop_params == _bert_hand_count(layers=2, d=32, vocab=101)
    # The same split of the same parameters as our models.Bert of these sizes...
    ours = models.init_bert(models.bert("bert-test", **sizes), jax.random.PRNGKey(0))
    assert bert_flop_params(ours) == trainer.flop_params
    # ...and as many as transformers' BertForPreTraining, less its position and type tables.
    transformers = pytest.importorskip("transformers")
    hf = transformers.BertForPreTraining(
        transformers.BertConfig(
            vocab_size=101,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=128,
            max_position_embeddings=64,
            type_vocab_size=2,
        )
    )
    hf_total = sum(p.numel() for p in hf.parameters())  # The tied decoder counted once.
    assert hf_total - (64 + 2) * 32 == trainer.flop_params.total


def test_torch_bert_peer_batch_masks_15_percent_up_to_p():
    import torch

    batch = torch_bert.random_batch(torch, vocab_size=50, length=40, predictions=5, batch_size=3)
    tokens, types, valid, positions, ids, weights, labels = batch
    assert tokens.shape == types.shape == valid.shape == (3, 40) and bool(valid.all())
    assert weights.sum(1).tolist() == [5, 5, 5]  # round(0.15 · 40) = 6, capped at P = 5.
    rows = torch.arange(3)[:, None]
    assert bool((tokens[rows, positions] == torch_bert._MASK).all())
    assert bool((ids >= 5).all())  # The original (non-special) tokens are the targets.
    assert types[:, :20].sum() == 0 and bool(types[:, 20:].eq(1).all())
    assert set(labels.tolist()) <= {0, 1}


@pytest.mark.slow
def test_elmo_benchmark_reports_tokens_model_mfu_memory_and_peer(tmp_path):
    out = tmp_path / "bench.json"
    command = [
        "benchmark.py",
        "--only=elmo_kjv",
        "--smoke",
        "--peers",
        "--repeats=1",
        "--steps=1",
        "--batch_size=2",
        "--set=data.length=8",
        "--set=data.max_chars=5",
        "--peak_gflops=100",  # Not measured: the matmul peak would take most of the test's time.
        f"--json={out}",
    ]
    result = run_script(command, timeout=300)
    for text in ("tokens/s (B·T positions, padding included;", "model MFU", "step memory"):
        assert text in result.stdout, result.stdout
    assert "jaxpretrain / torch = " in result.stdout and "given matmul peak 100.0" in result.stdout
    (entry,) = json.loads(out.read_text())
    assert entry["tokens_per_sec"] == entry["examples_per_sec"] * 8  # B·T positions.
    assert 0 < entry["real_token_fraction"] <= 1 and entry["step_memory_mib"] > 0
    assert "mfu" not in entry  # XLA counts one step of each LSTM scan: no XLA-counted MFU.
    assert entry["peak_flops"] == 100e9
    # elmo_kjv:smoke: filters (1, 8), (2, 8), (3, 16), E 8, 1 highway layer, P 16, F 32, L 2;
    # C 5 by --set, V from the data.
    v = entry["vocab_size"]
    forward = (
        5 * (1 * 8 * 8 + 8) + 4 * (2 * 8 * 8 + 8) + 3 * (3 * 8 * 16 + 16)  # Convolutions.
        + 2 * (32 * 32 + 32) + (32 * 16 + 16)  # Highway (S 32) and projection.
        + 2 * 2 * (9 * 32 * 16 + 4 * 32)  # 2 directions x 2 LSTMP layers.
        + 2 * (16 * v + v)  # The shared softmax, both directions.
    )  # fmt: skip
    assert entry["model_flops_per_token"] == 6 * forward
    expected = entry["tokens_per_sec"] * 6 * forward / 100e9
    assert entry["model_mfu"] == pytest.approx(expected)
    assert len(entry["torch_examples_per_sec_runs"]) == 1 and entry["torch_tokens_per_sec"] > 0
    ratio = entry["examples_per_sec"] / entry["torch_examples_per_sec"]
    assert abs(entry["ours_over_torch"] - ratio) < 1e-9


def test_torch_elmo_peer_trains_a_tiny_elmo_with_our_parameters_and_lstm_biases():
    import jax
    import jax.numpy as jnp

    from jaxpretrain import models

    sizes = dict(
        filters=((1, 4), (2, 4)),
        char_features=4,
        highway_layers=1,
        projection=8,
        lstm_features=12,
        num_layers=2,
    )
    trainer = torch_elmo.torch_elmo_trainer(
        **sizes, vocab_size=50, length=6, max_chars=5, batch_size=2
    )
    assert trainer.time_steps(1) > 0
    model = models.ElmoLM(models.BiLM(**sizes), 50)
    ours = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.ones((1, 6, 5), jnp.int32))
    n = sum(x.size for x in jax.tree.leaves(ours["params"]))  # Shapes only: nothing compiled.
    # nn.LSTM has two gate biases (b_ih, b_hh): 4F more per layer and direction than ours.
    assert trainer.num_params == n + 2 * 2 * 4 * 12
    batch = torch_elmo.random_batch(vocab_size=50, length=6, max_chars=5, batch_size=2)
    assert batch["chars"].shape == (2, 6, 5) and bool((batch["chars"][..., 0] > 0).all())
    assert batch["ids"].max() < 50 and bool((batch["segments"] == 1).all())


def test_word_vector_benchmark_entry_is_registered_and_described():
    result = {
        "name": "cbow_kjv",
        "peak_rss_mib": 100.0,
        "ours_over_gensim": 0.5,
        **{
            f"{system}/{key}": value
            for system, rate in (("ours", 1e5), ("gensim", 2e5))
            for key, value in (
                ("words_per_sec", rate),
                ("wordsim353/spearman", 0.2),
                ("simlex999/spearman", 0.1),
            )
        },
    }
    text = benchmark._describe(result)
    assert "ours     0.100M words/s" in text and "ours / gensim = 0.50x" in text
    assert isinstance(benchmark.BENCHMARKS["cbow_kjv"], benchmark.WordVectorsEntry)


def test_torch_resnet_peer_trains_with_the_shared_setup(monkeypatch):
    """The ResNet peer builds torchvision's network with GroupNorm(32, C), in channels-last, and
    times SGD steps through peers.torch_common (here a stand-in torchvision: the PyPI wheel does
    not match the CPU build of torch the tests install)."""
    import types

    import torch

    built = {}

    def resnet18(*, num_classes, norm_layer):
        built.update(num_classes=num_classes, norm=norm_layer(64))
        return torch.nn.Sequential(
            torch.nn.Conv2d(3, 64, 3),
            built["norm"],
            torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(),
            torch.nn.Linear(64, num_classes),
        )

    fake = types.ModuleType("torchvision")
    fake.models = types.SimpleNamespace(resnet18=resnet18)
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    for dtype in ("float32", "bfloat16"):
        time_steps = torch_resnet.torch_resnet_trainer(
            "resnet18", batch_size=4, image_size=16, num_classes=10, dtype=dtype
        )
        assert time_steps(2) > 0
    assert built["num_classes"] == 10
    assert isinstance(built["norm"], torch.nn.GroupNorm) and built["norm"].num_groups == 32
