#!/usr/bin/env bash
# Run HERE, where PyPI and Debian are reachable, before scripts/gpu_check.sh: puts into .whl/
# (git-ignored) the wheels the GPU machine's image lacks (its python3 is 3.12 with jax, flax,
# optax, orbax and torch, but no tensorflow-datasets, grain or ml_collections) and Debian's
# bible-kjv (the offline KJV the text benchmarks read). About 10 MB; the device tool carries it.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=${PIP:-.venv/bin/pip}
rm -rf .whl && mkdir -p .whl/debs
# The versions this checkout's environment holds, so the device runs what the tests ran.
version() { "$PIP" show "$1" | sed -n 's/^Version: //p'; }
PACKAGES="tensorflow-datasets grain ml_collections simple_parsing docstring_parser dm-tree
  array_record tensorflow-metadata googleapis-common-protos immutabledict termcolor toml portpicker
  gensim smart_open wrapt
  tensorboardX tqdm tokenizers Pillow cloudpickle chex toolz six
  matplotlib contourpy cycler fonttools kiwisolver pyparsing python-dateutil packaging"
# gensim: the cbow peer and word-similarity sets. The rest: what gpu_check.sh's runs import beyond
# jax, flax, optax, orbax, numpy and scipy (rehearsed in a Python 3.12 venv holding only those).
for name in $PACKAGES; do
  "$PIP" download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
    -d .whl "$name==$(version "$name")"
done
"$PIP" wheel --quiet --no-deps -w .whl "promise==$(version promise)"  # Published as source only.
(cd .whl/debs && apt-get download -qq bible-kjv bible-kjv-text)
# gensim's wheel is 28 MB, 22 MB of it its own test data: keep only the evaluation sets we read,
# so that .whl and the tree stay under the device's 64 MiB.
"$(dirname "$PIP")/python" - <<'PY'
import glob, os, zipfile
from jaxpretrain.evaluate.word_vectors import GENSIM_FILES
(path,) = glob.glob(".whl/gensim-*.whl")
with zipfile.ZipFile(path) as old, zipfile.ZipFile(path + ".new", "w", zipfile.ZIP_DEFLATED) as new:
    for item in old.infolist():
        test_data = item.filename.startswith("gensim/test/test_data/")
        if not test_data or os.path.basename(item.filename) in GENSIM_FILES.values():
            new.writestr(item, old.read(item))
os.replace(path + ".new", path)
PY
du -sh .whl
