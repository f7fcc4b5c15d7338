"""Fine-tune a BERT on a GLUE task from TFDS (Wang et al. 2019): one task layer on [CLS].

  python scripts/train.py --config=configs/finetune_bert_glue.py:cola --workdir=runs/glue_cola \\
      --config.init_from=hf:/models/bert-base-uncased --config.data.vocab=/models/bert-base-uncased
  python scripts/train.py --config=configs/finetune_bert_glue.py:smoke,sst2 --workdir=/tmp/glue

The argument names the task: cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte or wnli
(``data.text_tasks.GLUE_TASKS``; stsb is a regression). The data is TFDS ``glue/<task>``, built
beforehand (``tfds build glue/cola --file_format=array_record``, which needs the ``[data]``
extra); eval is the validation split (validation_matched for mnli). The weights are a Hugging
Face BERT folder (``hf:<dir>``, e.g. a download of google-bert/bert-base-uncased) or a
jaxpretrain BERT run whose model block matches ``config.model``; ``data.vocab`` must be that
model's vocab.txt (its folder). The recipe is the BERT paper's (Devlin et al. 2019, Sec. 4.1
and App. A.3): batch 32, 3 epochs, lr 2e-5 (try 3e-5, 4e-5, 5e-5 too), 10% warm-up then linear
decay, dropout 0.1; GLUE scores each task by its own metric (``methods.scores``).
"""

import math

import ml_collections

from jaxpretrain.config import base_config, shrink_to_smoke, split_argument
from jaxpretrain.data.text_tasks import GLUE_TASKS
from jaxpretrain.errors import ConfigError

# Training examples per task (TFDS glue 2.0.0), for the 3-epoch schedule.
TRAIN_EXAMPLES = dict(
    cola=8551, sst2=67349, mrpc=3668, qqp=363846, stsb=5749, mnli=392702, qnli=104743, rte=2490,
    wnli=635,
)  # fmt: skip


def get_config(arg=None):
    smoke, task = split_argument(arg, default="sst2")
    if task not in GLUE_TASKS:
        raise ConfigError(
            f"unknown GLUE task {task!r}; the argument must be one of {sorted(GLUE_TASKS)}"
        )
    spec = GLUE_TASKS[task]
    c = base_config()
    c.method = "finetune"
    c.model = ml_collections.ConfigDict(
        dict(
            backbone="bert",  # models.BACKBONES: BERT's encoder; the task layer reads [CLS].
            variant="bert-base",  # 12 layers, 768 wide; fields below replace the preset's.
            vocab_size=30522,  # bert-base-uncased's vocabulary.
            max_length=512,  # Its learned positions.
            dropout_rate=0.1,  # In training (BERT).
            dtype="float32",  # "bfloat16" on accelerators.
            attention="einsum",  # "cudnn": flash attention on NVIDIA GPUs (bf16).
        )
    )
    if smoke:  # A tiny BERT, for the smoke run on mock data.
        c.model.update(variant="bert-test", vocab_size=300, max_length=64)
    c.data = ml_collections.ConfigDict(
        dict(
            name="glue",  # TFDS glue/<task> (jaxpretrain.data.glue).
            task=task,
            vocab="/models/bert-base-uncased",  # The model's vocab.txt or its folder.
            max_length=32 if smoke else 128,  # T: [CLS] A [SEP] (B [SEP]), padded (run_classifier).
            data_dir="",  # TFDS data_dir; "" is TFDS's default.
            max_train_examples=0,  # A label budget: the first N of a seeded permutation; 0: all.
            seed=0,
            num_classes=spec.num_classes,  # Outputs of the task layer; 1: regression (stsb).
            metrics=spec.metrics,  # GLUE's scores of the task (methods.scores).
        )
    )
    c.head_dropout = 0.1  # Dropout on the pooled [CLS] output before the task layer.
    c.init_from = "hf:/models/bert-base-uncased"  # A Hugging Face BERT folder or a bert run.
    c.init_subtree = "backbone"
    c.batch_size = 32
    c.total_steps = math.ceil(3 * TRAIN_EXAMPLES[task] / c.batch_size)  # 3 epochs.
    c.log_every = 50
    c.eval_every = max(c.total_steps // 6, 1)
    c.checkpoint_every = c.eval_every
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 2e-5
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_steps = c.total_steps // 10  # 10% (run_classifier.py).
    c.optimizer.decay = "linear"
    c.optimizer.weight_decay = 0.01
    if smoke:
        shrink_to_smoke(c)
    return c
