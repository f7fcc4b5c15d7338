"""Fine-tune the KJV BERT on a task built from text it never saw: one task layer on [CLS].

  python scripts/train.py --config=configs/bert_kjv.py --workdir=runs/bert_kjv
  python scripts/train.py --config=configs/finetune_bert_kjv.py:section --workdir=runs/ft_section
  python scripts/train.py --config=configs/finetune_bert_kjv.py:smoke,grammar --workdir=/tmp/ft
  # From-scratch baseline: --config.method=supervised --config.init_from=''
  # (scripts/compare.py runs both at several label budgets and prints the table)

The argument names the task (``data.text_tasks.KJV_TASKS``), built only from the chapters
configs/bert_kjv.py held out, split by chapter into train (60 chapters, 1,496 verses) and eval
(59 chapters):
- section: which of 6 parts of the Bible a verse comes from (accuracy);
- same_book: are two verses from the same book (a sentence pair; accuracy and F1);
- grammar: is the verse as written, or has it two words swapped (Matthews correlation).
The model is the pretraining encoder (``config.bert_kjv_model``) with dropout 0.1 and one dense
layer on the pooled [CLS] output (Devlin et al. 2019, Sec. 4), all trained for about 2 epochs
with AdamW; the vocabulary is the pretraining run's (``data.vocab``).
"""

import ml_collections

from jaxpretrain.config import base_config, bert_kjv_model, shrink_to_smoke, split_argument
from jaxpretrain.data.text_tasks import KJV_TASKS
from jaxpretrain.errors import ConfigError


def get_config(arg=None):
    smoke, task = split_argument(arg, default="section")
    if task not in KJV_TASKS:
        raise ConfigError(
            f"unknown KJV task {task!r}; the argument must be one of {sorted(KJV_TASKS)}"
        )
    spec = KJV_TASKS[task]
    c = base_config()
    c.method = "finetune"
    c.model = bert_kjv_model(smoke=smoke)  # Must match the pretraining model.
    c.data = ml_collections.ConfigDict(
        dict(
            name="kjv_task",  # Tasks from the held-out chapters (jaxpretrain.data.kjv_tasks).
            task=task,
            vocab="runs/bert_kjv",  # The pretraining workdir (its vocab.txt), or a vocab.txt.
            # T: [CLS] verse [SEP] (verse [SEP]), padded; 64 holds 98% of verses whole.
            max_length=c.model.max_length if spec.is_pair or smoke else 64,
            heldout_every=10,  # Must equal the pretraining config's.
            per_class=0,  # Training examples per class (a label budget); 0: all.
            seed=0,  # Draws the pairs, the corrupted verses and the budget's examples.
            num_classes=spec.num_classes,  # Outputs of the task layer.
            metrics=spec.metrics,  # Scores of the whole eval split (methods.scores).
        )
    )
    c.head_dropout = 0.1  # Dropout on the pooled [CLS] output before the task layer (BERT).
    c.init_from = "runs/bert_kjv"  # Pretraining workdir; "" with method=supervised: scratch.
    c.init_subtree = "backbone"  # The classifier's encoder takes the run's "encoder".
    c.total_steps = 100  # ~2 epochs of the 1,496 training verses at batch 32.
    c.batch_size = 32
    c.log_every = 25
    c.eval_every = 50
    c.checkpoint_every = 100
    c.optimizer.name = "adamw"
    # 5e-4, not BERT-base's 2e-5..5e-5: this 4-layer model at 1e-4 still underfits after 100
    # steps (train loss 1.46 on section, eval accuracy 0.33 pretrained and 0.32 from scratch);
    # at 5e-4 the pretrained encoder pulls ahead (0.48 against 0.38 after 200 steps).
    c.optimizer.base_lr = 5e-4
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_steps = 10  # 10% (run_classifier.py's warmup_proportion).
    c.optimizer.decay = "linear"
    c.optimizer.weight_decay = 0.01
    if smoke:
        shrink_to_smoke(c)
    return c
