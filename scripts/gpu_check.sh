#!/usr/bin/env bash
# The GPU check, one run of under 10 minutes on one GPU (whichever session is lent a device):
#   here:    bash scripts/gpu_prepare.sh            # wheels + the KJV into .whl/ (needs PyPI)
#   device:  run(command="bash scripts/gpu_check.sh", carry=[".whl"], timeout_s=600)
# It prints the devices and any module the runs need that is missing; then, the issue's GPU
# targets first: GPT-2 124M blocks at T 1024 in bf16 with cuDNN attention against the PyTorch
# peer (MFU against the measured bf16 matmul peak; medians of 5 alternated repeats) and where its
# time goes (benchmark.py --profile), the attention implementations against the einsum equations,
# KV-cache generation at 32 rows and cbow against gensim on every core; then a smoke run resumed
# end to end and the other matmul-heavy entries against their peers. Results:
# $OUT/bench_t1024.json and $OUT/bench.json, logs in $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="$PYTHONPATH:/tmp/site"
  for deb in .whl/debs/*.deb; do dpkg -x "$deb" /; done  # /usr/bin/bible and its data only.
fi
unset JAX_PLATFORMS
python3 - <<'PY' 2>&1 | tee "$OUT/devices.log"
import jax, flax, optax, orbax.checkpoint as ocp
print("jax", jax.__version__, "flax", flax.__version__, "optax", optax.__version__,
      "orbax", ocp.__version__)
print(jax.devices())
import importlib.util  # Every module setup.py's install_requires names, so a gap shows first.
modules = ("chex tensorflow_datasets grain ml_collections absl numpy sklearn scipy skimage PIL "
           "tqdm tensorboardX matplotlib tokenizers sacrebleu mnist1d gensim torch").split()
print("missing:", [m for m in modules if importlib.util.find_spec(m) is None] or "none")
PY
# The issue's GPU targets first (each step's JSON or log keeps what finished if time runs out).
# GPT-2 124M blocks at T 1024 in bf16 with cuDNN attention: MFU, and the PyTorch peer (SDPA).
timeout 150 python3 scripts/benchmark.py --only=gpt2_124m --peers --repeats=5 \
  --set=data.context=1024 --set=model.dtype=bfloat16 --set=model.attention=cudnn \
  --json="$OUT/bench_t1024.json" 2>&1 | tee "$OUT/bench_t1024.log"
# Where that step's time goes on the GPU: its XLA ops per phase and model part (--profile).
timeout 75 python3 scripts/benchmark.py --only=gpt2_124m --repeats=1 --steps=3 --profile \
  --set=data.context=1024 --set=model.dtype=bfloat16 --set=model.attention=cudnn \
  2>&1 | tee "$OUT/profile_t1024.log"
# The attention implementations (cuDNN and blocked included) against the einsum equations at an
# even length in bf16: loss and gradient norm, and their fwd + bwd times.
timeout 90 python3 scripts/attention_check.py --batch=4 --heads=12 --length=1024 \
  2>&1 | tee "$OUT/attention.log"
# KV-cache generation against no cache: 32 rows x 256 new tokens.
timeout 90 python3 scripts/benchmark.py --only=gpt2_kjv_generation --num_samples=32 --repeats=3 \
  2>&1 | tee "$OUT/generation.log"
# cbow on the GPU against gensim on all of the machine's cores, in one run (gensim from .whl/).
timeout 90 python3 scripts/peers/word_vectors.py --only=ours,gensim --repeats=3 \
  2>&1 | grep -v "^step" | tee "$OUT/word_vectors.log"
# End to end: the smoke run (6 steps) stopped half-way by a lower total_steps, then resumed.
timeout 60 python3 scripts/train.py --config=configs/gpt2_kjv.py:smoke --workdir=/tmp/gpu_run \
  --config.total_steps=3 2>&1 | tail -3 | tee "$OUT/train.log"
timeout 60 python3 scripts/train.py --config=configs/gpt2_kjv.py:smoke --workdir=/tmp/gpu_run \
  2>&1 | tail -3 | tee -a "$OUT/train.log"
# The other matmul-heavy entries against their peers, in the time that is left.
timeout 135 python3 scripts/benchmark.py --peers --mock_data --repeats=5 --json="$OUT/bench.json" \
  --only=bert_peer_config,elmo_kjv,supervised_imagenet2012,supervised_imagenet2012_bf16 \
  2>&1 | tee "$OUT/bench.log"
