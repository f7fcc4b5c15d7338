"""The PyTorch peer for the GPT benchmarks: a GPT-2-style language model in eager PyTorch.

The same network as ``models.GPT`` (Radford et al. 2019), written the way nanoGPT writes it:
learned positions, pre-LayerNorm blocks (ε = 1e-5), causal self-attention through
``torch.nn.functional.scaled_dot_product_attention(is_causal=True)`` (PyTorch's fused kernel, as
nanoGPT uses; on CPU its flash kernel skips the key blocks above the diagonal, so it does about
half of the T² attention work that our masked einsums do, while the FLOP count credits both with
the full 12·L·T·D), an MLP D -> 4D -> D with tanh-approximated GELU, a final LayerNorm and the
output head tied to the token embedding. Training matches ``configs/gpt2_kjv.py``: fp32
parameters, AdamW (β = (0.9, 0.95), weight decay 0.1 on matrices only), global-norm clipping at
1, next-token cross-entropy on one fixed batch of random tokens. Compute is fp32, or bf16 under
``torch.autocast`` as our ``model.dtype="bfloat16"`` (bf16 activations and matmuls, fp32
parameters and loss). On CUDA, fp32 matmuls use TF32 (``set_float32_matmul_precision("high")``),
as JAX's default float32 precision does on Ampere and later GPUs, so the two do the same
arithmetic. Optional: needs ``torch``.

  python scripts/peers/torch_gpt.py   # the issue's peer: L 4, H 4, D 256, T 256, B 16, V 256
"""

from __future__ import annotations

import statistics
from typing import Callable, NamedTuple

try:
    from peers.torch_common import adamw, timer, torch_setup, update
except ImportError:  # Run as scripts/peers/torch_gpt.py.
    from torch_common import adamw, timer, torch_setup, update


class TorchGPT(NamedTuple):
    """What ``torch_gpt_trainer`` returns.

    Attributes:
        time_steps: ``time_steps(n)`` runs n training steps and returns B·T trained tokens/s.
        flop_params: N of the 6N FLOP count: every parameter but the position table (the tied
            token embedding is counted once, as the output-head matmul).
    """

    time_steps: Callable[[int], float]
    flop_params: int


def _gpt(torch, *, vocab_size: int, context: int, width: int, num_layers: int, num_heads: int):
    """An untrained GPT: int64 tokens [B, T] -> logits float32 [B, T, V]."""
    nn, functional = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
            self.qkv = nn.Linear(width, 3 * width)
            self.out = nn.Linear(width, width)
            self.fc, self.proj = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

        def forward(self, x):
            b, t, d = x.shape
            qkv = self.qkv(self.ln_1(x)).view(b, t, 3, num_heads, d // num_heads)  # [B, T, 3, H, K]
            q, k, v = qkv.permute(2, 0, 3, 1, 4)  # Each [B, H, T, K].
            y = functional.scaled_dot_product_attention(q, k, v, is_causal=True)  # [B, H, T, K]
            x = x + self.out(y.transpose(1, 2).reshape(b, t, d))
            return x + self.proj(functional.gelu(self.fc(self.ln_2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(vocab_size, width)
            self.wpe = nn.Embedding(context, width)
            self.blocks = nn.ModuleList(Block() for _ in range(num_layers))
            self.ln_f = nn.LayerNorm(width)
            for name, p in self.named_parameters():  # GPT-2's init (see models.gpt).
                if name.endswith(("out.weight", "proj.weight")):  # Residual-stream writers.
                    nn.init.normal_(p, std=0.02 / (2 * num_layers) ** 0.5)
                elif p.dim() == 2:
                    nn.init.normal_(p, std=0.02)
                elif name.endswith("bias"):
                    nn.init.zeros_(p)

        def forward(self, tokens):
            x = self.wte(tokens) + self.wpe(torch.arange(tokens.shape[1], device=tokens.device))
            for block in self.blocks:
                x = block(x)
            return self.ln_f(x) @ self.wte.weight.T  # Tied head: [B, T, V].

    return GPT()


def torch_gpt_trainer(
    *,
    num_layers: int = 4,
    num_heads: int = 4,
    width: int = 256,
    context: int = 256,
    vocab_size: int = 256,
    batch_size: int = 16,
    dtype: str = "float32",
) -> TorchGPT:
    """A warmed-up eager AdamW training loop on one fixed batch of random tokens.

    Args are the GPT's L, H, D, T (= context), V and B, and the compute dtype ("float32" or
    "bfloat16", autocast). Three steps are run before returning. Uses every CPU this process may
    run on (``peers.torch_common.torch_setup``).
    """
    setup = torch_setup(dtype)
    torch, device = setup.torch, setup.device
    model = _gpt(
        torch,
        vocab_size=vocab_size,
        context=context,
        width=width,
        num_layers=num_layers,
        num_heads=num_heads,
    ).to(device)
    optimizer = adamw(torch, model, lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    tokens = torch.randint(0, vocab_size, (batch_size, context + 1), device=device)  # [B, T + 1]
    inputs, targets = tokens[:, :-1], tokens[:, 1:]

    def step():
        with setup.autocast:
            logits = model(inputs)  # [B, T, V]
        loss = torch.nn.functional.cross_entropy(
            logits.float().reshape(-1, vocab_size), targets.reshape(-1)
        )
        update(torch, model, optimizer, loss, clip_norm=1.0)

    flop_params = sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()
    return TorchGPT(timer(setup, step, items_per_step=batch_size * context), flop_params)


if __name__ == "__main__":
    trainer = torch_gpt_trainer()
    rate = statistics.median(trainer.time_steps(10) for _ in range(5))
    print(
        f"torch eager GPT: {rate:.0f} tokens/s (median of 5 x 10 steps); N {trainer.flop_params:,}"
    )
