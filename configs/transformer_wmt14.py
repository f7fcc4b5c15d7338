"""The Transformer base model on WMT 2014 English-German (Vaswani et al. 2017, Table 3 "base").

  tfds build wmt14_translate/de-en --file_format=array_record    # once; needs pip install .[data]
  python scripts/train.py --config=configs/transformer_wmt14.py --workdir=runs/wmt14
  python scripts/translate.py --workdir=runs/wmt14 --beam_size=4 --length_penalty=0.6

d_model 512, 6+6 layers, 8 heads, d_ff 2048, P_drop 0.1, label smoothing 0.1, one shared
byte-level BPE of 37,000 ids for both languages with tied embeddings and output projection;
Adam (β1 0.9, β2 0.98) with the inverse-square-root schedule of Eq. 3 and 4,000 warm-up steps;
100k steps; newstest2014 (the TFDS "test" split) for evaluation, beam 4 and α = 0.6 for BLEU.
Differences from the paper: batches are 512 pairs padded to 96 tokens a side (pairs longer are
cut) instead of ~25k tokens bucketed by length, Adam's ε is optax's 1e-8 (paper 1e-9), BLEU is
sacrebleu's detokenized score, and no checkpoint averaging. The paper reports 27.3 BLEU.
Expected: not measured here (no accelerator run yet); the smoke variant trains on
`tfds.testing.mock_data` in the tests.
"""

import ml_collections

from jaxpretrain.config import base_config, is_smoke, shrink_to_smoke


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "translation"
    c.data = ml_collections.ConfigDict(
        dict(
            name="translation",  # Padded sentence pairs (jaxpretrain.data.translation).
            pairs="tfds:wmt14_translate/de-en",  # A built TFDS translation set.
            source_language="en",  # Its feature translated from.
            target_language="de",  # Its feature translated to.
            train_split="train",  # 4.5M pairs.
            eval_split="test",  # newstest2014 (3,003 pairs), the paper's test set.
            data_dir="",  # TFDS data_dir; "" is TFDS's default.
            vocab_size=300 if smoke else 37000,  # V of the shared BPE (§5.1: about 37,000).
            shared_vocab=True,  # One BPE for both languages.
            tokenizer_examples=64 if smoke else 1_000_000,  # Pairs (evenly spaced) the BPE sees.
            max_source_length=32 if smoke else 96,  # S: source tokens with EOS.
            max_target_length=32 if smoke else 96,  # T: target tokens with EOS.
            truncate=True,  # Cut the few longer pairs instead of failing.
            workers=8,  # Threads reading and tokenizing each batch.
        )
    )
    c.model = ml_collections.ConfigDict(
        dict(
            variant="base",  # d_model 512, N = 6, h = 8, d_ff 2048 (Table 3).
            dropout_rate=0.1,  # P_drop (§5.4).
            share_embeddings=True,  # One table for the shared vocabulary (§3.4).
            tie_output=True,  # Output projection = embedding table transposed (§3.4).
            dtype="bfloat16",  # Compute dtype; params and softmax stay float32.
            attention="einsum",  # The equations; "cudnn": flash attention on NVIDIA GPUs (bf16).
        )
    )
    if smoke:
        c.model.update(width=32, num_layers=1, num_heads=2, hidden=64)
    c.label_smoothing = 0.1  # ε_ls (§5.4).
    c.eval_greedy = False  # Exact match means nothing here: BLEU comes from scripts/translate.py.
    c.total_steps = 100_000  # The base model's training length (§5.2).
    c.batch_size = 512  # Sentence pairs per step (see the docstring on batching).
    c.log_every = 100
    c.eval_every = 5000
    c.checkpoint_every = 5000
    c.init_subtree = ""  # A fine-tune inherits every parameter.
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 512**-0.5 * 4000**-0.5  # Eq. 3's peak: d_model^-½ · warmup^-½.
    c.optimizer.lr_scaling = "none"  # lr = base_lr whatever the batch size.
    c.optimizer.warmup_steps = 4000  # Linear warm-up (Eq. 3).
    c.optimizer.decay = "rsqrt"  # lr ∝ step^-½ after the warm-up (Eq. 3).
    c.optimizer.b1 = 0.9
    c.optimizer.b2 = 0.98  # §5.3.
    c.optimizer.weight_decay = 0.0
    if smoke:
        shrink_to_smoke(c)
    return c
