"""The PyTorch peer for the BERT benchmarks: BERT pretraining (masked LM + next sentence) in eager
PyTorch.

The same network as ``models.Bert`` (Devlin et al. 2019), written the usual way (as Hugging
Face's ``BertForPreTraining`` computes it): word + learned position + token-type embeddings, then
LayerNorm (ε = 1e-12) and dropout; L post-LN encoder layers, each self-attention (a fused
query/key/value projection, ``torch.nn.functional.scaled_dot_product_attention`` with the
padding mask, the output projection) and an MLP D -> 4D -> D with the exact (erf) GELU, both
residual branches under dropout and followed by LayerNorm; the pooler tanh(W h[:, 0] + b); the
masked-LM head (dense, GELU, LayerNorm, then the decoder tied to the word embeddings plus a
bias over V) evaluated only at the P masked positions, gathered from the sequence output as
google-research/bert's ``gather_indexes`` does; the 2-way next-sentence head on the pooled
vector. Dropout is 0.1, on the embeddings and the residual branches (not on the attention
probabilities, which ``models.Bert`` has no dropout on either).

Training matches ``configs/bert_kjv.py``: fp32 parameters, AdamW (β = (0.9, 0.999), weight decay
0.01 on matrices only), global-norm clipping at 1; the loss is the weighted masked-LM
cross-entropy Σ w·CE / (Σ w + 1e-5) plus the mean next-sentence cross-entropy, on one fixed
batch of random tokens: every row [CLS] A [SEP] B [SEP] with two segments of T/2 tokens (all
real, but the padding mask is still applied), 15% of the tokens (at most P) replaced by [MASK]
and predicted, and random next-sentence labels. Compute is fp32, or bf16 under
``torch.autocast`` as our ``model.dtype="bfloat16"``; on CUDA, fp32 matmuls use TF32 as JAX's
default float32 precision does. Optional: needs ``torch``.

  python scripts/peers/torch_bert.py   # the issue's peer: L 4, H 4, D 256, T 256, B 16, V 8192
"""

from __future__ import annotations

import statistics
from typing import Callable, NamedTuple

from jaxpretrain.train.flops import BertFlopParams

try:
    from peers.torch_common import adamw, timer, torch_setup, update
except ImportError:  # Run as scripts/peers/torch_bert.py.
    from torch_common import adamw, timer, torch_setup, update

# Special ids of the random batch (any ids in [0, V) would do; these are BERT's WordPiece order).
_CLS, _SEP, _MASK = 2, 3, 4


class TorchBert(NamedTuple):
    """What ``torch_bert_trainer`` returns.

    Attributes:
        time_steps: ``time_steps(n)`` runs n training steps and returns B·T trained tokens/s.
        flop_params: the parameter counts of ``flops.bert_flops_per_token`` (every parameter but
            the position and token-type tables, grouped by how many positions they run on).
    """

    time_steps: Callable[[int], float]
    flop_params: BertFlopParams


def _bert(
    torch,
    *,
    vocab_size: int,
    max_length: int,
    width: int,
    num_layers: int,
    num_heads: int,
    dropout: float,
):
    """An untrained BERT for pretraining: (tokens, token_types int64 [B, T], valid bool [B, T],
    masked_positions int64 [B, P]) -> (masked-LM logits [B, P, V], next-sentence logits [B, 2])."""
    nn, functional = torch.nn, torch.nn.functional

    def layer_norm():
        return nn.LayerNorm(width, eps=1e-12)

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(width, 3 * width)
            self.out = nn.Linear(width, width)
            self.ln_1, self.ln_2 = layer_norm(), layer_norm()
            self.fc, self.proj = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)
            self.dropout = nn.Dropout(dropout)

        def forward(self, x, mask):
            b, t, d = x.shape
            qkv = self.qkv(x).view(b, t, 3, num_heads, d // num_heads)  # [B, T, 3, H, K]
            q, k, v = qkv.permute(2, 0, 3, 1, 4)  # Each [B, H, T, K].
            y = functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # [B, H, T, K]
            x = self.ln_1(x + self.dropout(self.out(y.transpose(1, 2).reshape(b, t, d))))
            return self.ln_2(x + self.dropout(self.proj(functional.gelu(self.fc(x)))))

    class Bert(nn.Module):
        def __init__(self):
            super().__init__()
            self.word = nn.Embedding(vocab_size, width)
            self.position = nn.Embedding(max_length, width)
            self.token_type = nn.Embedding(2, width)
            self.embeddings_ln = layer_norm()
            self.dropout = nn.Dropout(dropout)
            self.layers = nn.ModuleList(Layer() for _ in range(num_layers))
            self.pooler = nn.Linear(width, width)
            self.mlm_transform, self.mlm_ln = nn.Linear(width, width), layer_norm()
            self.mlm_bias = nn.Parameter(torch.zeros(vocab_size))
            self.nsp = nn.Linear(width, 2)
            for p in self.parameters():  # BERT's init: N(0, 0.02²) matrices, zero biases.
                if p.dim() == 2:
                    nn.init.normal_(p, std=0.02)

        def forward(self, tokens, token_types, valid, masked_positions):
            t = tokens.shape[1]
            x = self.word(tokens) + self.position(torch.arange(t, device=tokens.device))
            x = self.dropout(self.embeddings_ln(x + self.token_type(token_types)))  # [B, T, D]
            mask = valid[:, None, None, :]  # [B, 1, 1, T]: True where a key may be attended.
            for layer in self.layers:
                x = layer(x, mask)
            pooled = torch.tanh(self.pooler(x[:, 0]))  # [B, D]
            index = masked_positions[:, :, None].expand(-1, -1, x.shape[-1])  # [B, P, D]
            h = torch.gather(x, 1, index)  # [B, P, D]: only the predicted positions.
            z = self.mlm_ln(functional.gelu(self.mlm_transform(h)))
            return z @ self.word.weight.T + self.mlm_bias, self.nsp(pooled)  # [B, P, V], [B, 2]

    return Bert()


def random_batch(torch, *, vocab_size: int, length: int, predictions: int, batch_size: int):
    """A fixed pretraining batch of random tokens: [CLS] A [SEP] B [SEP] with T/2-token segments,
    15% of the non-special tokens (at most ``predictions`` = P) masked, random NSP labels. Returns
    (tokens, token_types, valid, masked_positions, masked_ids, masked_weights, next_sentence)."""
    b, t = batch_size, length
    tokens = torch.randint(5, vocab_size, (b, t))  # [B, T]
    tokens[:, 0] = _CLS
    tokens[:, t // 2 - 1] = tokens[:, t - 1] = _SEP
    token_types = (torch.arange(t) >= t // 2).long().expand(b, t)  # 0 for [CLS] A [SEP], 1 for B.
    valid = torch.ones(b, t, dtype=torch.bool)
    candidates = [i for i in range(1, t - 1) if i != t // 2 - 1]  # All but [CLS] and [SEP].
    count = min(predictions, max(1, round(0.15 * t)))
    masked_positions = torch.zeros(b, predictions, dtype=torch.long)
    masked_weights = torch.zeros(b, predictions)
    for row in range(b):
        chosen = torch.tensor(candidates)[torch.randperm(len(candidates))[:count]].sort().values
        masked_positions[row, :count] = chosen
        masked_weights[row, :count] = 1.0
    masked_ids = torch.gather(tokens, 1, masked_positions)  # [B, P]; padding slots read [CLS].
    inputs = tokens.scatter(1, masked_positions[:, :count], _MASK)  # [MASK] at the predicted.
    next_sentence = torch.randint(0, 2, (b,))
    return inputs, token_types, valid, masked_positions, masked_ids, masked_weights, next_sentence


def torch_bert_trainer(
    *,
    num_layers: int = 4,
    num_heads: int = 4,
    width: int = 256,
    length: int = 256,
    max_length: int | None = None,
    vocab_size: int = 8192,
    predictions: int = 20,
    batch_size: int = 16,
    dropout: float = 0.1,
    dtype: str = "float32",
) -> TorchBert:
    """A warmed-up eager AdamW pretraining loop on one fixed batch of random tokens.

    Args are BERT's L, H, D, T (= ``length``, tokens per instance), the number of learned
    positions (``max_length``, default T), V, P (= ``predictions``, masked positions per
    instance), B, the dropout rate and the compute dtype ("float32" or "bfloat16", autocast).
    Three steps are run before returning. Uses every CPU this process may run on
    (``peers.torch_common.torch_setup``).
    """
    max_length = max_length or length
    if length > max_length:
        raise ValueError(f"length {length} exceeds the {max_length} learned positions.")
    setup = torch_setup(dtype)
    torch, device = setup.torch, setup.device
    model = _bert(
        torch,
        vocab_size=vocab_size,
        max_length=max_length,
        width=width,
        num_layers=num_layers,
        num_heads=num_heads,
        dropout=dropout,
    ).to(device)
    model.train()
    optimizer = adamw(torch, model, lr=5e-4, betas=(0.9, 0.999), weight_decay=0.01)
    batch = random_batch(
        torch,
        vocab_size=vocab_size,
        length=length,
        predictions=predictions,
        batch_size=batch_size,
    )
    tokens, token_types, valid, positions, ids, weights, next_sentence = (
        x.to(device) for x in batch
    )

    def step():
        with setup.autocast:
            mlm_logits, nsp_logits = model(tokens, token_types, valid, positions)
        mlm = torch.nn.functional.cross_entropy(
            mlm_logits.float().reshape(-1, vocab_size), ids.reshape(-1), reduction="none"
        )
        weight = weights.reshape(-1)
        loss = (mlm * weight).sum() / (weight.sum() + 1e-5)
        loss = loss + torch.nn.functional.cross_entropy(nsp_logits.float(), next_sentence)
        update(torch, model, optimizer, loss, clip_norm=1.0)

    def count(*modules) -> int:
        return sum(p.numel() for m in modules for p in m.parameters())

    flop_params = BertFlopParams(
        # Per token: the embeddings' LayerNorm and the layers (the lookups are gathers).
        token=count(model.embeddings_ln, model.layers),
        # Per predicted position: the transform, its LayerNorm, the tied decoder and its bias.
        prediction=count(model.mlm_transform, model.mlm_ln) + model.word.weight.numel()
        + model.mlm_bias.numel(),
        # Per instance: the pooler and the next-sentence head read the [CLS] position only.
        instance=count(model.pooler, model.nsp),
    )  # fmt: skip
    return TorchBert(timer(setup, step, items_per_step=batch_size * length), flop_params)


if __name__ == "__main__":
    from jaxpretrain.train.flops import bert_flops_per_token, peak_matmul_flops

    config = dict(num_layers=4, width=256, length=256, predictions=20)
    trainer = torch_bert_trainer(num_heads=4, vocab_size=8192, batch_size=16, **config)
    rates = [trainer.time_steps(10) for _ in range(5)]
    rate = statistics.median(rates)
    per_token = bert_flops_per_token(trainer.flop_params, **config)
    peak = peak_matmul_flops("float32")  # JAX's fp32 matmul peak on the same CPUs.
    print(
        f"torch eager BERT: {rate:.0f} tokens/s (median of 5 x 10 steps: "
        f"{', '.join(f'{r:.0f}' for r in rates)}); N {trainer.flop_params.total:,}, "
        f"{per_token / 1e6:.2f} MFLOP/token, model MFU {100 * rate * per_token / peak:.1f}% of "
        f"{peak / 1e9:.1f} GFLOP/s"
    )
