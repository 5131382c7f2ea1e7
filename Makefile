# The two commands of the README, and a few helpers. Everything runs from a virtual
# environment in this checkout (.venv), made from pinned dependencies on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pvst-installed
CORES ?= 2

.PHONY: setup test demo lint format bench lock clean pull

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "pvst needs Python 3.11, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $(STAMP)

test: setup
	$(BIN)/ruff check pvst tests benchmarks
	$(BIN)/ruff format --check pvst tests benchmarks
	$(BIN)/python -m pytest -q

demo: setup
	$(BIN)/snakemake --workflow-profile workflow/profiles/workstation --cores $(CORES)

lint: setup
	$(BIN)/ruff check pvst tests benchmarks
	$(BIN)/ruff format --check pvst tests benchmarks

format: setup
	$(BIN)/ruff format pvst tests benchmarks
	$(BIN)/ruff check --fix pvst tests benchmarks

bench: setup
	$(BIN)/python benchmarks/bench.py --json results/bench.json

# The sections' typed records are generated from the schema; regenerate after changing it.
pvst/params.py: pvst/schemas/config.schema.yaml $(STAMP)
	$(BIN)/python -m pvst.pipeline.params_code

# dvc.yaml is generated from the configuration; regenerate it after changing config/config.yaml.
dvc.yaml: config/config.yaml $(STAMP)
	$(BIN)/python -m pvst dvc-yaml

# Fetch the tracked results from the DVC remote and tell Snakemake they are up to date.
pull: setup
	$(BIN)/dvc pull
	$(BIN)/snakemake --cores 1 --touch tracked

# Re-pin the whole environment after changing pyproject.toml.
lock:
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^pvst' > requirements.lock

clean:
	find results -mindepth 1 -not -name README.md -delete
	rm -rf .snakemake
