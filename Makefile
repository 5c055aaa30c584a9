# TensorWeaver Lab — the front door. `make` (or `make help`) lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Test selections (pytest markers), shared by the local and container targets.
FAST_MARKERS := not parity and not container and not cluster

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# ---------------------------------------------------------------- local (no Docker)
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,torch,onnx,lab]'
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Create the local venv with every extra

.PHONY: test-local
test-local: $(VENV)/.installed ## Run the test suite in a local venv (no Docker)
	$(PY) -m pytest -m "$(FAST_MARKERS)" $(PYTEST_ARGS)

.PHONY: bench
bench: $(VENV)/.installed ## Print the benchmark tables (engine vs NumPy vs PyTorch)
	$(PY) bench/mlp_step.py

.PHONY: clean
clean: ## Remove the venv and caches
	rm -rf $(VENV) .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# ---------------------------------------------------------------- containers (CPU and GPU images)

# ---------------------------------------------------------------- cuPyNumeric / Legate (no Docker)

# ---------------------------------------------------------------- cluster (Slurm, Apptainer)
