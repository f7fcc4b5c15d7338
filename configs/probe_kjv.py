"""A small classifier on frozen word-level vectors of a KJV task: ELMo's (a learned scalar mix of
its layers, Peters et al. 2018, Eq. 1) or averaged CBOW vectors, the baseline beside it.

  python scripts/train.py --config=configs/elmo_kjv.py --workdir=runs/elmo_kjv
  python scripts/train.py --config=configs/probe_kjv.py:elmo,section --workdir=runs/probe_elmo
  python scripts/train.py --config=configs/cbow_kjv.py --workdir=runs/cbow_kjv
  python scripts/train.py --config=configs/probe_kjv.py:cbow,section --workdir=runs/probe_cbow
  python scripts/train.py --config=configs/probe_kjv.py:smoke,elmo,grammar --workdir=/tmp/probe
  # A randomly initialised biLM under the same probe: elmo,<task> with
  #   --config.method=supervised --config.init_from=''
  # (scripts/compare.py --embeddings runs the three arms, 3 seeds each, and prints the table)

The argument is "[smoke,]<encoder>,<task>": encoder "elmo" or "cbow", and a single-sentence task
of ``data.text_tasks.KJV_TASKS`` (section: which part of the Bible a verse is from; grammar: as
written, or two words swapped), built from the chapters ELMo's pretraining held out.
- elmo: ELMo_task = γ Σ_j softmax(s)_j h_j over the token layer and both LSTM layers of the
  frozen biLM of configs/elmo_kjv.py (``optimizer.freeze = "backbone/bilm"``), averaged over the
  verse's words; s, γ and the task layer learn.
- cbow: the mean of the verse's CBOW input vectors from configs/cbow_kjv.py (its 5,332-word
  vocabulary; unknown words are skipped), frozen; the task layer learns. (That run read the whole
  KJV, the task's verses included, unlabelled: an advantage the biLM does not have.)
Then one dense layer on the [B, D] features: a linear probe.
"""

import ml_collections

from jaxpretrain.config import base_config, elmo_kjv_model, shrink_to_smoke
from jaxpretrain.data.text_tasks import KJV_TASKS
from jaxpretrain.errors import ConfigError

ENCODERS = ("elmo", "cbow")
CBOW_VOCABULARY = 5332  # Words of configs/cbow_kjv.py's vocabulary (min_count 5).


def _argument(arg):
    parts = (arg or "elmo,section").split(",")
    smoke = parts[0] == "smoke"
    rest = parts[1:] if smoke else parts
    singles = sorted(n for n, t in KJV_TASKS.items() if not t.is_pair)
    if len(rest) != 2 or rest[0] not in ENCODERS or rest[1] not in singles:
        raise ConfigError(
            f"config argument {arg!r}: use '[smoke,]<encoder>,<task>' with encoder in {ENCODERS}"
            f" and a single-sentence task in {singles}, e.g. 'elmo,section'."
        )
    return smoke, rest[0], rest[1]


def _model(encoder: str, smoke: bool) -> ml_collections.ConfigDict:
    if encoder == "cbow":
        return ml_collections.ConfigDict(
            dict(
                backbone="word_mean",  # models.BACKBONES: the mean of CBOW input vectors.
                vocab_size=CBOW_VOCABULARY,  # Must match the cbow run's vocabulary.
                features=16 if smoke else 100,  # D, as configs/cbow_kjv.py.
            )
        )
    model = elmo_kjv_model(smoke=smoke)  # Must match the pretraining model.
    model.mix_layer_norm = False  # Normalise each layer before the mix (bilm-tf's do_layer_norm).
    return model


def get_config(arg=None):
    smoke, encoder, task = _argument(arg)
    spec = KJV_TASKS[task]
    c = base_config()
    c.method = "finetune"
    c.model = _model(encoder, smoke)
    c.data = ml_collections.ConfigDict(
        dict(
            name="kjv_task",  # Tasks from the held-out chapters (jaxpretrain.data.kjv_tasks).
            task=task,
            inputs="words",  # ELMo's characters (and CBOW ids with word_vocab), not WordPiece.
            word_vocab="runs/cbow_kjv" if encoder == "cbow" else "",  # Its vocab.txt: "words".
            max_length=104,  # T: <S> verse </S>; the longest held-out verse has 102 tokens.
            heldout_every=10,  # Must equal the pretraining config's.
            per_class=0,  # Training examples per class (a label budget); 0: all.
            seed=0,  # Draws the corrupted verses and the budget's examples.
            num_classes=spec.num_classes,  # Outputs of the task layer.
            metrics=spec.metrics,  # Scores of the whole eval split (methods.scores).
        )
    )
    if encoder == "elmo":
        c.init_from = "runs/elmo_kjv"  # The ELMo run; "" with method=supervised: a random biLM.
        c.init_subtree = "backbone/bilm"  # The encoder's biLM takes the run's "bilm".
        c.optimizer.freeze = "backbone/bilm"  # Frozen; the mix (backbone/mix) and head learn.
    else:
        c.init_from = "runs/cbow_kjv"  # The CBOW run; both its tables fill the backbone.
        c.init_subtree = "backbone/cbow"
        c.optimizer.freeze = "backbone"  # The vectors are frozen; the head learns.
    c.total_steps = 150  # ~3 epochs of the 1,496 training verses at batch 32.
    c.batch_size = 32
    c.log_every = 25
    c.eval_every = 75
    c.checkpoint_every = 150
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 3e-3  # Only the mix and the task layer learn: a probe's rate.
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_steps = 10
    c.optimizer.decay = "cosine"
    if smoke:
        shrink_to_smoke(c)
    return c
