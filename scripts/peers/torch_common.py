"""What the eager-PyTorch peers of ``scripts/benchmark.py`` share: the device, threads, seed and
autocast set-up (``torch_setup``), AdamW with decay on matrices only (``adamw``), one optimizer
update (``update``) and the warmed-up step timer (``timer``). Optional: needs ``torch``.

The peers import it as ``peers.torch_common`` (scripts/ on sys.path, as in benchmark.py) or as
``torch_common`` (a peer run as ``python scripts/peers/<peer>.py``).
"""

from __future__ import annotations

import os
from typing import Any, Callable, NamedTuple

from jaxpretrain.train.timing import steps_timer


class TorchSetup(NamedTuple):
    """What ``torch_setup`` returns.

    Attributes:
        torch: the ``torch`` module.
        device: "cuda" if a GPU is visible, else "cpu".
        autocast: a context running its body in bf16 for dtype "bfloat16" (a no-op for fp32).
        sync: waits for queued GPU work (a no-op on CPU).
    """

    torch: Any
    device: str
    autocast: Any
    sync: Callable[[], None]


def torch_setup(dtype: str = "float32", *, seed: int = 0) -> TorchSetup:
    """Every CPU this process may run on (``torch.set_num_threads``), the seed, the device; on
    CUDA, fp32 matmuls in TF32 as JAX's default float32 precision on Ampere and later GPUs; a
    bf16 autocast for ``dtype`` "bfloat16" (bf16 activations and matmuls, fp32 parameters)."""
    import torch

    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"dtype must be 'float32' or 'bfloat16', got {dtype!r}.")
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32, as JAX's default on these GPUs.
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=dtype == "bfloat16")

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    return TorchSetup(torch, device, autocast, sync)


def adamw(torch, model, *, lr: float, betas: tuple[float, float], weight_decay: float):
    """``torch.optim.AdamW`` decaying only parameters of two or more dims (matrices, convolution
    kernels), as ``train.optim.decay_mask``: never biases or norm scales."""
    matrices = [p for p in model.parameters() if p.dim() > 1]
    others = [p for p in model.parameters() if p.dim() <= 1]
    return torch.optim.AdamW(
        [
            {"params": matrices, "weight_decay": weight_decay},
            {"params": others, "weight_decay": 0.0},
        ],
        lr=lr,
        betas=betas,
    )


def update(torch, model, optimizer, loss, *, clip_norm: float = 1.0) -> None:
    """Backpropagates ``loss``, clips the global gradient norm at ``clip_norm`` (0: no clipping)
    and steps ``optimizer``."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_norm > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()


def timer(setup: TorchSetup, step: Callable[[], object], *, items_per_step: int):
    """``train.timing.steps_timer`` with the device's sync: three warm-up steps now, then
    ``time_steps(n)`` returns items/s over n more."""
    return steps_timer(step, items_per_step=items_per_step, sync=setup.sync)
