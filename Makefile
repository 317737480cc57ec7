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

# Outputs a `make clean` keeps: the training data, trained models (and their checkpoints,
# classifiers, logs and benchmark records, without which Snakemake would retrain them).
KEPT_JOBS := prepare_data pretrain train train_classifier
KEPT_OUTPUTS := data models checkpoints classifiers

.PHONY: run test test-fast report bench gpu-check published lint format docs clean clean-all help

help:
	@echo "make run        set up .venv and run the workflow (default config: config.yaml)"
	@echo "make test       set up .venv and run the whole test suite (what CI runs)"
	@echo "make test-fast  the quick unit tests only: no workflow run, no test marked slow"
	@echo "                (docs/testing.md), for the loop while editing"
	@echo "make report     build results/report.html from the run that is there, starting no"
	@echo "                job (a partial run gives a partial report), and print the headline"
	@echo "make bench      reference vs fast paths (training, sampling, W2, evaluation), side by side"
	@echo "make gpu-check  CUDA tests, cuda benchmark and a paper-shape run: results/gpu_check.md"
	@echo "make published  the authors' released models and histograms, verified, into"
	@echo "                resources/published (PUBLISHED_SOURCE=folder: from a local copy)"
	@echo "make lint       snakemake --lint, snakefmt --check, ruff"
	@echo "make docs       regenerate docs/configuration.md from the config schema"
	@echo "make clean      remove samples, metrics, tables, figures, FID features, studies,"
	@echo "                the report and their logs; keep data, trained models, checkpoints"
	@echo "                and classifiers, so the next run re-samples but does not retrain"
	@echo "make clean-all  remove everything the workflow wrote (results/ and .snakemake/)"
	@echo ""
	@echo "Variables:"
	@echo "  CORES=N             cores Snakemake may use (default: all)"
	@echo "  SNAKEMAKE_ARGS=...  extra Snakemake arguments, passed to run and report"
	@echo ""
	@echo "A preset (presets/*.yaml) on top of config.yaml, for run and report alike:"
	@echo '  make run SNAKEMAKE_ARGS="--configfile .test/smoke.yaml"'
	@echo '  make report SNAKEMAKE_ARGS="--configfile .test/smoke.yaml"'

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

# Two xdist workers, each taking whole test files in conftest.py's order (the SLURM drills first:
# they wait on the scheduler while the other worker computes); --durations=15: every run (CI's
# included) ends with the 15 slowest tests (docs/testing.md).
test: $(INSTALLED_DEV)
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=15

# The markers are declared in pyproject.toml: `workflow` runs Snakemake on a preset, `slow` is a
# unit test of more than a few seconds.
test-fast: $(INSTALLED_DEV)
	$(BIN)/python -m pytest -m "not workflow and not slow"

report: $(INSTALLED)
	@test -d .snakemake/metadata || { echo "error: no run here to report on; run 'make run' first"; exit 1; }
	$(BIN)/snakemake --report results/report.html $(SNAKEMAKE_ARGS)
	@test -f results/tables/headline.rst && cat results/tables/headline.rst || \
		echo "note: the run has not finished (no results/tables/headline.rst): the report shows what is there"
	@echo "report: $(abspath results/report.html)"

bench: $(INSTALLED)
	$(BIN)/python benchmarks/speed.py

# Runs everywhere: without CUDA the CUDA parts are skipped and the record says so (docs/gpu.md).
gpu-check: $(INSTALLED_DEV)
	$(BIN)/python tools/gpu_check.py

# The authors' files for presets/published.yaml: cloned from their repository at the pinned
# commit, or copied from PUBLISHED_SOURCE (a download made elsewhere), verified file by file.
published: $(INSTALLED)
	PYTHONPATH=workflow_scripts $(BIN)/python -m odesdegap.published.fetch \
		$(if $(PUBLISHED_SOURCE),--source "$(PUBLISHED_SOURCE)")

lint: $(INSTALLED_DEV)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/ rules/
	$(BIN)/ruff check workflow_scripts tests benchmarks tools

docs: $(INSTALLED)
	cd workflow_scripts && ../$(BIN)/python -m odesdegap.config_reference > ../docs/configuration.md

format: $(INSTALLED_DEV)
	$(BIN)/snakefmt Snakefile workflow/ rules/
	$(BIN)/ruff check --fix workflow_scripts tests benchmarks tools

clean:
	rm -rf results/samples results/metrics results/floor results/tables results/figures \
		results/fid results/studies results/report.html
	for dir in results/logs results/benchmarks; do \
		test -d $$dir || continue; \
		find $$dir -mindepth 1 -maxdepth 1 $(foreach job,$(KEPT_JOBS),! -name $(job)) \
			-exec rm -rf {} +; \
	done
	@echo "kept: $(foreach d,$(KEPT_OUTPUTS),results/$(d)) and the logs and benchmarks of $(KEPT_JOBS)"

clean-all:
	@echo "removing every output of the workflow: results/* (but results/README.md) and .snakemake/"
	find results -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf .snakemake
