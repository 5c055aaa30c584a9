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
# The parity suite on cuPyNumeric without Docker or a GPU: on a machine with no NVIDIA
# driver, Legate runs in CPU mode on the CUDA driver stand-in (docker/cuda-stand-in/).
GPU_VENV   ?= .venv-gpu
GPU_PY     := $(GPU_VENV)/bin/python
CUPYNUMERIC_VERSION ?= 26.6.1
STAND_IN   := build/cuda-stand-in/libcuda.so.1
CC         ?= gcc

# The soname is what lets the loader hand this file to legate as its `libcuda.so.1`.
$(STAND_IN): docker/cuda-stand-in/libcuda_stand_in.c
	@mkdir -p $(@D)
	$(CC) -shared -fPIC -O2 -Wall -Wl,-soname,libcuda.so.1 -o $@ $< -ldl

.PHONY: cuda-stand-in
cuda-stand-in: $(STAND_IN) ## Build the CUDA driver stand-in (Legate CPU mode on hosts with no GPU driver)

$(GPU_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(GPU_VENV)
	$(GPU_PY) -m pip install -q --upgrade pip
	$(GPU_PY) -m pip install -q -e '.[dev,gpu]' 'nvidia-cupynumeric==$(CUPYNUMERIC_VERSION)'
	touch $@

.PHONY: venv-gpu
venv-gpu: $(GPU_VENV)/.installed $(STAND_IN) ## Create .venv-gpu with nvidia-cupynumeric and the stand-in

# TENSORWEAVER_CUDA_STAND_IN is only used when no real driver is found (see tensorweaver/_legate.py).
GPU_ENV := TENSORWEAVER_CUDA_STAND_IN=$(abspath $(STAND_IN))

.PHONY: test-gpu-local
test-gpu-local: venv-gpu ## Parity suite, cuPyNumeric vs NumPy, without Docker (no GPU needed)
	$(GPU_ENV) $(GPU_PY) -m pytest -m parity $(PYTEST_ARGS)

.PHONY: parity-table
parity-table: venv-gpu ## Regenerate bench/PARITY.md (per-op max errors, cuPyNumeric vs NumPy)
	$(GPU_ENV) PARITY_REPORT=bench/PARITY.md $(GPU_PY) -m pytest -m parity -q $(PYTEST_ARGS)

.PHONY: env-gpu
env-gpu: venv-gpu ## Show the cuPyNumeric/Legate configuration this machine gets
	$(GPU_ENV) TENSORWEAVER_BACKEND=cupynumeric $(GPU_PY) -m tensorweaver.env

.PHONY: bench-backends
bench-backends: venv-gpu ## MLP step time on NumPy vs cuPyNumeric (on Legate CPU: overhead only)
	$(GPU_ENV) $(GPU_PY) bench/backends.py


# ---------------------------------------------------------------- cluster (Slurm, Apptainer)
