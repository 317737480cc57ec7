# One-command entry points. `make run` and `make test` create (or reuse) .venv from the pinned
# requirements; the venv is rebuilt only when requirements.txt changes.
PYTHON_BOOTSTRAP ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
CORES ?= all
SNAKEMAKE_ARGS ?=

.PHONY: run test report bench lint format clean help

help:
	@echo "make run     set up .venv and run the default workflow (config.yaml)"
	@echo "make test    set up .venv and run the test suite"
	@echo "make report  build results/report.html from a finished run"
	@echo "make bench   print speed figures (training, sampling, W2) at the default sizes"
	@echo "make lint    snakemake --lint, snakefmt --check, ruff"

$(INSTALLED): requirements.txt
	@test -n "$(PYTHON_BOOTSTRAP)" || { echo "error: python3.11 not found on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

run: $(INSTALLED)
	$(BIN)/snakemake --profile profiles/local --cores $(CORES) $(SNAKEMAKE_ARGS)

test: $(INSTALLED)
	$(BIN)/python -m pytest

report: $(INSTALLED)
	$(BIN)/snakemake --profile profiles/local --cores $(CORES) $(SNAKEMAKE_ARGS)
	$(BIN)/snakemake --report results/report.html $(SNAKEMAKE_ARGS)
	@echo "report: results/report.html"

bench: $(INSTALLED)
	$(BIN)/python tests/benchmark_speed.py

lint: $(INSTALLED)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules/
	$(BIN)/ruff check workflow_scripts tests

format: $(INSTALLED)
	$(BIN)/snakefmt Snakefile rules/
	$(BIN)/ruff check --fix workflow_scripts tests

clean:
	rm -rf results/* .snakemake
