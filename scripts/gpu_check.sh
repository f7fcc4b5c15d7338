#!/usr/bin/env bash
# The GPU check, one run of under 10 minutes on one GPU (whichever session is lent a device):
#   here:    bash scripts/gpu_prepare.sh            # wheels + the KJV into .whl/ (needs PyPI)
#   device:  run(command="bash scripts/gpu_check.sh", carry=[".whl"], timeout_s=600)
# It prints the devices, trains a smoke config end to end and resumes it, then benchmarks the
# matmul-heavy entries against their PyTorch peers (medians of 5 alternated repeats; MFU
# against the measured bf16/fp32 matmul peak). Results: $OUT/bench.json and the logs in $OUT.
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
PY
# End to end: a smoke run, killed half-way by a lower total_steps, then resumed to the end.
timeout 120 python3 scripts/train.py --config=configs/gpt2_kjv.py:smoke --workdir=/tmp/gpu_run \
  --config.total_steps=10 2>&1 | tail -3 | tee "$OUT/train.log"
timeout 120 python3 scripts/train.py --config=configs/gpt2_kjv.py:smoke --workdir=/tmp/gpu_run \
  2>&1 | tail -3 | tee -a "$OUT/train.log"
timeout 420 python3 scripts/benchmark.py --peers --mock_data --repeats=5 --json="$OUT/bench.json" \
  --only=gpt2_124m,bert_peer_config,elmo_kjv,supervised_imagenet2012,supervised_imagenet2012_bf16,gpt2_kjv_generation \
  2>&1 | tee "$OUT/bench.log"
