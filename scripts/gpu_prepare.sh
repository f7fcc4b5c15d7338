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
  gensim smart_open wrapt"  # gensim: the cbow peer and the word-similarity sets.
for name in $PACKAGES; do
  "$PIP" download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
    -d .whl "$name==$(version "$name")"
done
"$PIP" wheel --quiet --no-deps -w .whl "promise==$(version promise)"  # Published as source only.
(cd .whl/debs && apt-get download -qq bible-kjv bible-kjv-text)
du -sh .whl
