# Two commands on a fresh machine: `make demo` and `make test` (each sets up .venv first).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install install-test system-deps demo test test-fast benchmark clean

# What the library and the demo need: `pip install -e .` (jax, flax, optax, orbax, ...).
$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

# The tests add pytest and the reference libraries: the CPU build of torch (a range could pull a
# multi-GB CUDA build) and transformers for the interop tests, gensim for the word-vector sets.
$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test,interop,words]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# Debian's bible-kjv gives the `bible` command, the offline King James Bible the text tests read.
system-deps:
	@command -v bible >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq bible-kjv; } || { echo "needs Debian's bible-kjv: sudo apt-get install bible-kjv"; exit 1; }

# Pretrain on digits 0-4, then fine-tune vs from-scratch on 5-9 at four budgets (~3 min on 2 cores).
demo: install
	$(BIN)/python scripts/compare.py --workdir=runs/compare

# The whole suite, slow end-to-end tests included (920 tests: about 15 min on a quiet 2-core machine
# with a cold compilation cache, 6 min 27 s with a warm one; the install adds about 1 min).
test: install-test system-deps
	$(BIN)/python -m pytest -n 2 -q

test-fast: install-test system-deps
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

benchmark: install
	$(BIN)/python scripts/benchmark.py

clean:
	rm -rf $(VENV) runs
