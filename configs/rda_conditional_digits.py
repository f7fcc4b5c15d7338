"""The class-conditional noisy-channel RDA on digits: P_Φ(x, y, z) = Pop(x, y) P_Φ(z|y, x), rate
E KL(P_Φ(z|y, x), P_Φ(z|x)) against a learned Gaussian prior per digit x, decoder and
discriminator conditioned on x (TTIC 31230).

  python scripts/train.py --config=configs/rda_conditional_digits.py --workdir=runs/rda_cond
  python scripts/train.py --config=configs/rda_conditional_digits.py:smoke --workdir=/tmp/rda_cond

Everything else is configs/rda_digits.py's. The rate now counts only what the label does not
say: expected (README, "Rate-distortion autoencoder") a lower eval/rate than the unconditional
model at a similar eval/distortion; <workdir>/pictures/samples_*.png has one row per digit.
"""

import os

from jaxpretrain.config import load


def get_config(arg=None):
    here = os.path.dirname(os.path.abspath(__file__))
    c = load(os.path.join(here, "rda_digits.py"), arg)  # Checks the argument ("smoke" or none).
    c.rda.conditional = True  # Class prior P_Φ(z|x); decoder and D read onehot(x).
    return c
