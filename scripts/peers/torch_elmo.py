"""The PyTorch peer for the ELMo benchmark: ELMo pretraining (a character-aware bidirectional LSTM
language model) in eager PyTorch, with the sizes of a ``config.model`` block
(``configs/elmo_kjv.py``).

The network of ``models.ElmoLM`` written the usual PyTorch way:

- the character CNN: ``nn.Embedding(262, E)`` over each token's C characters, a ``nn.Conv1d``
  (VALID) per (width, count) filter, max over the characters then ReLU, concatenated (S = Σ F_w),
  highway layers (gate bias -2 at init, g ⊙ relu(x W_t + b_t) + (1 - g) ⊙ x) and a linear
  projection to P;
- per direction, ``num_layers`` ``nn.LSTM(P, F, num_layers=1, proj_size=P)`` (cuDNN/oneDNN's
  fused LSTM with a projection, Sak et al. 2014), dropout on each layer's input, a residual
  connection around every layer but the first; two separate stacks, the forward one reading the
  rows, the backward one reading them flipped (``torch.flip`` over time) and flipped back;
- the softmax ``nn.Linear(P, V)`` both directions share, applied at all T positions;
- the loss ½ (CE_fwd + CE_bwd), each the mean cross-entropy over the same positions as
  ``methods.elmo``: the pairs (t, t + 1) of one sentence (the forward LM at t predicts t + 1,
  the backward LM at t + 1 predicts t); AdamW (decay on matrices and kernels only) after
  clipping the global gradient norm, the settings of the config's optimizer block.

Differences from ours, none of which changes the shapes or the multiply-adds of a step:

- ``nn.LSTM`` has no cell or projection clipping (ours clips c and h at ±3, bilm-tf's) and
  has two gate biases (b_ih and b_hh, 4F more parameters per layer and direction than our
  one); the forget gate's +1 is its b_hh's initial value here, a constant inside our cell.
- No state resets: each row is read as one sequence, so with packed rows (several sentences a
  row, as ``data.sentences`` makes them) context crosses sentence boundaries and the backward
  stack reads a row's padding before its last sentence. Ours restarts both LSTMs at every
  sentence (``segments``); the loss positions are the same in both.
- Dropout masks and the initialisation are PyTorch's own.

Compute is fp32, or bf16 under ``torch.autocast`` for ``dtype="bfloat16"``; on CUDA fp32 matmuls
use TF32 as JAX's default (``peers.torch_common``). Optional: needs ``torch``.

  python scripts/peers/torch_elmo.py   # configs/elmo_kjv.py's sizes on random characters
"""

from __future__ import annotations

import statistics
from typing import Callable, NamedTuple, Sequence

import numpy as np

try:
    from peers.torch_common import adamw, timer, torch_setup, update
except ImportError:  # Run as scripts/peers/torch_elmo.py.
    from torch_common import adamw, timer, torch_setup, update

NUM_CHAR_IDS = 262  # data.characters: 256 bytes, the padding 0 and ELMo's specials.


class TorchElmo(NamedTuple):
    """What ``torch_elmo_trainer`` returns.

    Attributes:
        time_steps: ``time_steps(n)`` runs n training steps and returns B·T token positions/s.
        num_params: the network's parameter count (ours + 2·L·4F: ``nn.LSTM``'s second bias).
    """

    time_steps: Callable[[int], float]
    num_params: int


def _elmo(
    torch,
    *,
    filters: Sequence[tuple[int, int]],
    char_features: int,
    highway_layers: int,
    projection: int,
    lstm_features: int,
    num_layers: int,
    vocab_size: int,
    dropout: float,
):
    """An untrained ELMo LM: chars int64 [B, T, C] -> (forward, backward logits [B, T, V])."""
    nn, functional = torch.nn, torch.nn.functional
    width = sum(count for _, count in filters)  # S

    class CharEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.chars = nn.Embedding(NUM_CHAR_IDS, char_features)
            self.convs = nn.ModuleList(nn.Conv1d(char_features, count, w) for w, count in filters)
            self.gates = nn.ModuleList(nn.Linear(width, width) for _ in range(highway_layers))
            self.transforms = nn.ModuleList(nn.Linear(width, width) for _ in range(highway_layers))
            for gate in self.gates:
                nn.init.constant_(gate.bias, -2.0)
            self.projection = nn.Linear(width, projection)

        def forward(self, chars):
            b, t, c = chars.shape
            e = self.chars(chars.reshape(b * t, c)).transpose(1, 2)  # [N, E, C]
            x = torch.cat([functional.relu(conv(e).amax(dim=2)) for conv in self.convs], dim=1)
            for gate, transform in zip(self.gates, self.transforms):
                g = torch.sigmoid(gate(x))
                x = g * functional.relu(transform(x)) + (1 - g) * x
            return self.projection(x).reshape(b, t, projection)  # [B, T, P]

    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList(
                nn.LSTM(projection, lstm_features, num_layers=1, proj_size=projection,
                        batch_first=True)
                for _ in range(num_layers)
            )  # fmt: skip
            self.dropout = nn.Dropout(dropout)
            with torch.no_grad():
                for lstm in self.layers:  # Gates i, f, g, o: the forget gate starts at +1.
                    lstm.bias_ih_l0.zero_()
                    lstm.bias_hh_l0.zero_()
                    lstm.bias_hh_l0[lstm_features : 2 * lstm_features] = 1.0

        def forward(self, x):
            for k, lstm in enumerate(self.layers):
                h, _ = lstm(self.dropout(x))
                x = h if k == 0 else h + x
            return x

    class ElmoLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.tokens = CharEncoder()
            self.forward_stack, self.backward_stack = Stack(), Stack()
            self.softmax = nn.Linear(projection, vocab_size)

        def forward(self, chars):
            x = self.tokens(chars)
            forward = self.forward_stack(x)
            backward = torch.flip(self.backward_stack(torch.flip(x, [1])), [1])
            return self.softmax(forward), self.softmax(backward)

    return ElmoLM()


def random_batch(
    *, vocab_size: int, length: int, max_chars: int, batch_size: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """One sentence a row, of T tokens of random spellings (1 to C characters): ``data.sentences``'
    items {"chars" [B, T, C], "ids" [B, T], "segments" [B, T]} with random softmax ids."""
    rng = np.random.default_rng(seed)
    b, t, c = batch_size, length, max_chars
    chars = rng.integers(1, NUM_CHAR_IDS, (b, t, c), dtype=np.int32)
    chars[np.arange(c) >= rng.integers(1, c + 1, (b, t, 1))] = 0  # Each token's length.
    ids = rng.integers(0, vocab_size, (b, t), dtype=np.int32)
    return {"chars": chars, "ids": ids, "segments": np.ones((b, t), np.int32)}


def torch_elmo_trainer(
    *,
    filters: Sequence[tuple[int, int]] = ((1, 32), (2, 32), (3, 64), (4, 64), (5, 64)),
    char_features: int = 16,
    highway_layers: int = 1,
    projection: int = 128,
    lstm_features: int = 256,
    num_layers: int = 2,
    vocab_size: int = 8897,
    length: int = 128,
    max_chars: int = 50,
    batch_size: int = 32,
    dropout: float = 0.1,
    lr: float = 2e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    weight_decay: float = 0.0,
    clip_norm: float = 10.0,
    batch: dict[str, np.ndarray] | None = None,
    dtype: str = "float32",
) -> TorchElmo:
    """A warmed-up eager AdamW pretraining loop on one fixed batch.

    Args are the model block's fields (filters, E, highway layers, P, F, L, the dropout rate),
    V, T (= ``length``), C (= ``max_chars``), B, the optimizer's settings and the compute dtype
    ("float32" or "bfloat16", autocast). ``batch``: {"chars" [B, T, C], "ids" [B, T],
    "segments" [B, T]} as ``data.sentences`` serves them (ids -1 and segments 0 for padding);
    None draws ``random_batch``. Three steps are run before returning.
    """
    if batch is None:
        batch = random_batch(
            vocab_size=vocab_size, length=length, max_chars=max_chars, batch_size=batch_size
        )
    shape = (batch_size, length, max_chars)
    if batch["chars"].shape != shape:
        raise ValueError(f"batch chars have shape {batch['chars'].shape}, expected {shape}.")
    widest = max(w for w, _ in filters)
    if widest > max_chars:
        raise ValueError(f"a filter of width {widest} is wider than the {max_chars} characters.")
    setup = torch_setup(dtype)
    torch, device = setup.torch, setup.device
    model = _elmo(
        torch,
        filters=[tuple(f) for f in filters],
        char_features=char_features,
        highway_layers=highway_layers,
        projection=projection,
        lstm_features=lstm_features,
        num_layers=num_layers,
        vocab_size=vocab_size,
        dropout=dropout,
    ).to(device)
    model.train()
    optimizer = adamw(torch, model, lr=lr, betas=betas, weight_decay=weight_decay)
    chars = torch.as_tensor(np.asarray(batch["chars"]), dtype=torch.long, device=device)
    ids = torch.as_tensor(np.asarray(batch["ids"]), dtype=torch.long, device=device)
    segments = torch.as_tensor(np.asarray(batch["segments"]), dtype=torch.long, device=device)
    # methods.elmo's positions: t and t + 1 are tokens of one sentence.
    pairs = ((segments[:, :-1] == segments[:, 1:]) & (segments[:, 1:] > 0)).float()  # [B, T-1]
    count = pairs.sum().clamp(min=1.0)
    forward_targets, backward_targets = ids[:, 1:].clamp(min=0), ids[:, :-1].clamp(min=0)

    def cross_entropy(logits, targets):
        values = torch.nn.functional.cross_entropy(
            logits.float().reshape(-1, vocab_size), targets.reshape(-1), reduction="none"
        )
        return (values * pairs.reshape(-1)).sum() / count

    def step():
        with setup.autocast:
            forward, backward = model(chars)  # [B, T, V] each.
        loss = 0.5 * (
            cross_entropy(forward[:, :-1], forward_targets)
            + cross_entropy(backward[:, 1:], backward_targets)
        )
        update(torch, model, optimizer, loss, clip_norm=clip_norm)

    num_params = sum(p.numel() for p in model.parameters())
    return TorchElmo(timer(setup, step, items_per_step=batch_size * length), num_params)


if __name__ == "__main__":
    trainer = torch_elmo_trainer()
    rates = [trainer.time_steps(3) for _ in range(3)]
    print(
        f"torch eager ELMo: {statistics.median(rates):.0f} token positions/s (median of 3 x 3 "
        f"steps: {', '.join(f'{r:.0f}' for r in rates)}); {trainer.num_params:,} parameters"
    )
