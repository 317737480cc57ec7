# One-command entry points. `make run` creates (or reuses) .venv with the pinned runtime
# requirements (requirements.txt); `make test` and `make lint` add the pinned development tools
# (requirements-dev.txt). Each set is reinstalled only when its file changes.
PYTHON_BOOTSTRAP ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
INSTALLED_DEV := $(VENV)/.installed-dev
CORES ?= all
SNAKEMAKE_ARGS ?=

.PHONY: run test report bench gpu-check lint format clean help

help:
	@echo "make run     set up .venv and run the default workflow (config.yaml)"
	@echo "make test    set up .venv and run the test suite"
	@echo "make report  build results/report.html from a finished run"
	@echo "make bench   print speed figures (training, sampling, W2) at the default sizes"
	@echo "make gpu-check  CUDA tests, cuda benchmark and a paper-shape run: results/gpu_check.md"
	@echo "make lint    snakemake --lint, snakefmt --check, ruff"

$(INSTALLED): requirements.txt
	@test -n "$(PYTHON_BOOTSTRAP)" || { echo "error: python3.11 not found on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(INSTALLED_DEV): requirements-dev.txt $(INSTALLED)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

run: $(INSTALLED)
	$(BIN)/snakemake --profile profiles/local --cores $(CORES) $(SNAKEMAKE_ARGS)

test: $(INSTALLED_DEV)
	$(BIN)/python -m pytest

report: $(INSTALLED)
	$(BIN)/snakemake --profile profiles/local --cores $(CORES) $(SNAKEMAKE_ARGS)
	$(BIN)/snakemake --report results/report.html $(SNAKEMAKE_ARGS)
	@echo "report: results/report.html"

bench: $(INSTALLED)
	$(BIN)/python tests/benchmark_speed.py

# Runs everywhere: without CUDA the CUDA parts are skipped and the record says so (docs/gpu.md).
gpu-check: $(INSTALLED_DEV)
	$(BIN)/python tests/gpu_check.py

lint: $(INSTALLED_DEV)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/ rules/
	$(BIN)/ruff check workflow_scripts tests

format: $(INSTALLED_DEV)
	$(BIN)/snakefmt Snakefile workflow/ rules/
	$(BIN)/ruff check --fix workflow_scripts tests

clean:
	rm -rf results/* .snakemake
