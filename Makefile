# bpnb: two commands do everything.
#   make paper   run every stage of the paper (quick profile, synthetic data unless DATA=... is given)
#   make test    every check CI runs
# Both create or update the virtual environment .venv from requirements.txt on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.bpnb-installed
PROFILE ?= quick
DATA ?=
OUT ?=
# TensorFlow: errors only on the console (its INFO lines about CUDA and CPU features are noise here)
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: paper test lab bench venv chromium sync-check clean-runs help
help:
	@echo "make paper [PROFILE=quick|paper] [DATA=dir] [OUT=runs/id]   run the paper's stages"
	@echo "make test                                                    every check (CI runs this)"
	@echo "make lab                                                     JupyterLab on nbs/"
	@echo "make bench                                                   the benchmarks in benchmarks/"

$(STAMP): requirements.txt setup.py settings.ini
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $(STAMP)
venv: $(STAMP)

paper: $(STAMP)
	$(BIN)/bpnb paper --profile $(PROFILE) $(if $(DATA),--data $(DATA)) $(if $(OUT),--out $(OUT))

lab: $(STAMP)
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) nbs/   # root (containers) needs --allow-root

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Chromium renders the HTML report in a test (Debian package; needs root or sudo).
chromium:
	@command -v chromium >/dev/null || { SUDO=$$( [ $$(id -u) = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# nbdev_clean, nbdev_export and the README render must change nothing (see .ci/sync-check).
sync-check: $(STAMP)
	BIN=$(BIN) bash .ci/sync-check

# oneDNN's CPU kernels off for the tests: with them, 80_ppg_target's model.fit (3600-sample windows) dies in a native
# 'double free or corruption' on an AMD EPYC with AVX-512 BF16/VNNI (every time; never with them off)
test: export TF_ENABLE_ONEDNN_OPTS = 0
test: $(STAMP) chromium sync-check
	$(BIN)/nbdev_test --n_workers 2 --timing
	$(BIN)/python -m pytest tests/ -q -n 2 --dist loadfile --durations=15   # two workers, one file each at a time; the 15 slowest tests: make test must stay under 30 min

clean-runs:
	rm -rf runs/
