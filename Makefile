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

.PHONY: onnx-local
onnx-local: $(VENV)/.installed ## ONNX export suite: every op and layer round-tripped through ONNX Runtime
	$(PY) -m pytest -m onnx $(PYTEST_ARGS)

# The labs: notebooks generated from labs/src/*.py, run headless by tensorweaver.labs.
LABS_OUT    ?= out/labs
STUDENT_DIR ?= out/student

.PHONY: labs-build
labs-build: $(VENV)/.installed ## Regenerate labs/*.ipynb from their sources (labs/src/*.py)
	$(PY) -m tensorweaver.labs build labs/src --out labs

.PHONY: labs-local
labs-local: $(VENV)/.installed ## Run every lab headless on NumPy (notebooks + metrics JSON in out/labs/)
	@failed=""; for nb in labs/[0-9][0-9]_*.ipynb; do \
	    TENSORWEAVER_BACKEND=numpy $(PY) -m tensorweaver.labs run $$nb --backend numpy \
	        --output $(LABS_OUT)/$$(basename $$nb) || failed="$$failed $$(basename $$nb)"; \
	done; \
	if [ -n "$$failed" ]; then echo "labs that failed:$$failed" >&2; exit 1; fi

.PHONY: student
student: $(VENV)/.installed ## Write student copies of the labs (solutions stripped) to out/student/
	$(PY) -m tensorweaver.labs student labs --out $(STUDENT_DIR)

.PHONY: bench
bench: $(VENV)/.installed ## Print the benchmark tables (engine vs NumPy vs PyTorch; see bench/RESULTS.md)
	$(PY) bench/mlp_step.py
	$(PY) bench/cnn_step.py

.PHONY: clean
clean: ## Remove the venv and caches
	rm -rf $(VENV) .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# ---------------------------------------------------------------- containers (CPU and GPU images)
# Two images with the same engine, labs and tests: CPU (NumPy) and GPU (cuPyNumeric on
# Legate). Every target builds its image first: Docker's layer cache makes that a no-op
# when nothing changed, and a rebuild of the code layers only when the code did.
# docker/base/build-base.sh builds a BASE_IMAGE from Debian packages for hosts that cannot
# pull one (air-gapped, no registry).
DOCKER     ?= docker
IMAGE      ?= tensorweaver-lab
CPU_IMAGE  ?= $(IMAGE):cpu
GPU_IMAGE  ?= $(IMAGE):gpu
BASE_IMAGE ?= python:3.11-slim-bookworm
PORT       ?= 8888
LAB_DIR    ?= labs
GPUS       ?= auto
DETACH     ?= 0
# The lab's uid (group 100): yours, so that notebooks saved in LAB_DIR stay yours; jovyan's
# 1000 when you are root, since Jupyter refuses to run as root.
NB_UID     ?= $(shell u=$$(id -u); [ "$$u" -ne 0 ] && echo $$u || echo 1000)

# Image metadata: the commit and its date, for reproducible labels.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
IMAGE_REVISION = $(shell git rev-parse HEAD 2>/dev/null || echo unknown)$(if $(shell git status --porcelain 2>/dev/null | head -1),-dirty)
IMAGE_VERSION  = $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
# Proxy and PyPI-mirror settings reach `pip install` inside the build only when passed
# (HTTP_PROXY and the others are build arguments Docker predefines; the Dockerfiles declare
# PIP_INDEX_URL and PIP_TRUSTED_HOST). Given by name, their value comes from here.
PROXY_ARGS = $(foreach v,HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy PIP_INDEX_URL PIP_TRUSTED_HOST,$(if $($(v)),--build-arg $(v)))
BUILD_ARGS = --build-arg BASE_IMAGE=$(BASE_IMAGE) \
	--build-arg VERSION=$(IMAGE_VERSION) \
	--build-arg REVISION=$(IMAGE_REVISION) \
	--build-arg SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) \
	--build-arg CREATED=$(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ) \
	$(PROXY_ARGS)
# In a recipe: sets $$gpu_flags to `--gpus all`, or to nothing (Legate CPU mode, with a
# notice), or fails (GPUS=all without a usable GPU). Legate, and NCCL on GPUs, need more
# shared memory than Docker's default 64 MB.
GPU_FLAGS_SH = gpu_flags="--shm-size=1g $$(docker/docker-check.sh gpus $(GPU_IMAGE) $(GPUS))"

.PHONY: docker-check
docker-check:
	@docker/docker-check.sh

# A failed build whose base image is not here was most likely a failed pull: say what to do.
BASE_HINT = { $(DOCKER) image inspect $(BASE_IMAGE) >/dev/null 2>&1 || \
	echo "hint: the base image $(BASE_IMAGE) could not be used. Without a registry, build one from Debian packages: sudo docker/base/build-base.sh, then: make $@ BASE_IMAGE=local/bookworm-python:3.11" >&2; exit 1; }
IMAGE_SIZE = $(DOCKER) image inspect --format '{{.Size}}' $(1) | awk '{printf "$(1): %d MB\n", $$1/1e6}'

.PHONY: build
build: docker-check ## Build the CPU image (BASE_IMAGE= for another base)
	$(DOCKER) build $(BUILD_ARGS) -t $(CPU_IMAGE) . || $(BASE_HINT)
	@$(call IMAGE_SIZE,$(CPU_IMAGE))

.PHONY: build-gpu
build-gpu: docker-check ## Build the GPU image (cuPyNumeric; about 3.6 GB)
	$(DOCKER) build $(BUILD_ARGS) -f Dockerfile.gpu -t $(GPU_IMAGE) . || $(BASE_HINT)
	@$(call IMAGE_SIZE,$(GPU_IMAGE))

# `make shell`/`shell-gpu` mount the labs where `make lab` does (docker/lab.sh).
LAB_VOLUME = -v "$(abspath $(LAB_DIR)):/home/jovyan/work/labs"

LAB_ENV = PORT=$(PORT) LAB_DIR=$(LAB_DIR) NB_UID=$(NB_UID) DETACH=$(DETACH) DOCKER=$(DOCKER)

.PHONY: lab
lab: build ## JupyterLab on 127.0.0.1:PORT (PORT=8888 LAB_DIR=labs JUPYTER_TOKEN= DETACH=1)
	@$(LAB_ENV) IMAGE=$(CPU_IMAGE) NAME=tensorweaver-lab docker/lab.sh start

.PHONY: lab-gpu
lab-gpu: build-gpu ## JupyterLab on the GPU image (GPUS=auto|all|none; no GPU: Legate CPU mode)
	@$(GPU_FLAGS_SH) && $(LAB_ENV) IMAGE=$(GPU_IMAGE) NAME=tensorweaver-lab-gpu RUN_FLAGS="$$gpu_flags" docker/lab.sh start

.PHONY: lab-stop
lab-stop: docker-check ## Stop the labs started by make lab / make lab-gpu
	@NAME=tensorweaver-lab docker/lab.sh stop
	@NAME=tensorweaver-lab-gpu docker/lab.sh stop

.PHONY: test
test: build ## Run the test suite in the CPU container (PYTEST_ARGS= for more)
	$(DOCKER) run --rm $(CPU_IMAGE) pytest -m "$(FAST_MARKERS)" $(PYTEST_ARGS)

.PHONY: test-gpu
test-gpu: build-gpu ## Run the parity suite in the GPU container (GPUs, else Legate CPU mode)
	@$(GPU_FLAGS_SH) && set -x && $(DOCKER) run --rm $$gpu_flags $(GPU_IMAGE) pytest -m parity $(PYTEST_ARGS)

.PHONY: onnx
onnx: build ## Run the ONNX export / ONNX Runtime tests in the CPU container
	$(DOCKER) run --rm $(CPU_IMAGE) pytest -m onnx $(PYTEST_ARGS)

.PHONY: shell
shell: build ## A bash shell in the CPU container (LAB_DIR mounted)
	$(DOCKER) run --rm -it --user $(NB_UID):100 $(LAB_VOLUME) $(CPU_IMAGE) bash

.PHONY: shell-gpu
shell-gpu: build-gpu ## A bash shell in the GPU container (LAB_DIR mounted)
	@$(GPU_FLAGS_SH) && set -x && $(DOCKER) run --rm -it --user $(NB_UID):100 $(LAB_VOLUME) $$gpu_flags $(GPU_IMAGE) bash

# The locks pin every package with its hashes for the images' platform (Linux x86_64,
# Python 3.11), whatever machine runs `make lock`. The GPU lock is constrained to the CPU
# lock, so the images share their common packages (and that layer). LOCK_ARGS=--upgrade
# moves every pin to the newest allowed version; without it, existing pins are kept.
LOCK_VENV  ?= .venv-lock
UV_VERSION ?= 0.13.9
UV_COMPILE = UV_NATIVE_TLS=1 $(LOCK_VENV)/bin/uv pip compile --quiet --generate-hashes \
	--python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	--annotation-style line --custom-compile-command "make lock" $(LOCK_ARGS)

$(LOCK_VENV)/.installed:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install -q 'uv==$(UV_VERSION)'
	touch $@

.PHONY: lock
lock: $(LOCK_VENV)/.installed ## Regenerate the hash-locked docker/requirements/*.txt from *.in
	$(UV_COMPILE) -o docker/requirements/cpu.txt docker/requirements/cpu.in
	$(UV_COMPILE) -o docker/requirements/gpu.txt docker/requirements/gpu.in

.PHONY: clean-containers
clean-containers: ## Stop the labs, remove both images and the lock tool venv
	@if docker/docker-check.sh 2>/dev/null; then \
		NAME=tensorweaver-lab docker/lab.sh stop; NAME=tensorweaver-lab-gpu docker/lab.sh stop; \
		$(DOCKER) image rm $(CPU_IMAGE) $(GPU_IMAGE) 2>/dev/null || true; \
		$(DOCKER) image prune --force >/dev/null; \
	else echo "Docker is not available: no containers or images to remove"; fi
	rm -rf $(LOCK_VENV)

clean: clean-containers

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
	$(GPU_PY) -m pip install -q -e '.[dev,lab,gpu]' 'nvidia-cupynumeric==$(CUPYNUMERIC_VERSION)'
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
	$(GPU_ENV) PARITY_REPORT=bench/PARITY.md $(GPU_PY) -m pytest -q $(PYTEST_ARGS) tests/parity

.PHONY: env-gpu
env-gpu: venv-gpu ## Show the cuPyNumeric/Legate configuration this machine gets
	$(GPU_ENV) TENSORWEAVER_BACKEND=cupynumeric $(GPU_PY) -m tensorweaver.env

.PHONY: bench-backends
bench-backends: venv-gpu ## MLP step time on NumPy vs cuPyNumeric (on Legate CPU: overhead only)
	$(GPU_ENV) $(GPU_PY) bench/backends.py


# ---------------------------------------------------------------- cluster (Slurm, Apptainer)
# Labs as Slurm batch jobs (docker/cluster/): Legate is the distributed engine, the GPU image
# runs through Apptainer (`make sif`), or a venv (RUNTIME=venv). GPUS here means GPUs per
# node; its container default (auto) means "the template's default" (1 for gpu/multi).
SIF        ?= tensorweaver-gpu.sif
MODE       ?= gpu
LAB        ?= labs/00_environment.ipynb
NODES      ?=
RANKS_PER_NODE ?=
PARTITION  ?=
TIME       ?=
ACCOUNT    ?=
RUNTIME    ?= apptainer
JOB_DIR    ?= out/cluster
# More render.py options, e.g. CLUSTER_ARGS="--fbmem 70000 --quick --mem 64G".
CLUSTER_ARGS ?=
RENDER_ARGS = $(MODE) --lab $(LAB) --runtime $(RUNTIME) --out $(JOB_DIR) \
	$(if $(NODES),--nodes $(NODES)) $(if $(filter-out auto,$(GPUS)),--gpus $(GPUS)) \
	$(if $(RANKS_PER_NODE),--ranks-per-node $(RANKS_PER_NODE)) \
	$(if $(PARTITION),--partition $(PARTITION)) $(if $(TIME),--time $(TIME)) \
	$(if $(ACCOUNT),--account $(ACCOUNT)) \
	$(if $(filter apptainer,$(RUNTIME)),--image $(abspath $(SIF))) $(CLUSTER_ARGS)

.PHONY: apptainer-check
apptainer-check:
	@command -v apptainer >/dev/null 2>&1 || { echo "make sif: apptainer is not installed" \
	    "(it is not packaged in Debian 12; see https://apptainer.org/docs/admin/main/installation.html)." \
	    "Build the SIF on a machine that has both apptainer and Docker (many clusters' login" \
	    "nodes have apptainer: \`docker save $(GPU_IMAGE) -o tw.tar\`, copy it there, then" \
	    "\`apptainer build $(SIF) docker-archive:tw.tar\`)." >&2; exit 1; }

.PHONY: sif
sif: apptainer-check build-gpu ## Build tensorweaver-gpu.sif (SIF=) from the GPU image, for Apptainer
	apptainer build --force $(SIF) docker-daemon:$(GPU_IMAGE)
	@ls -l $(SIF)

.PHONY: cluster-render
cluster-render: ## Write a Slurm job for a lab to JOB_DIR without submitting it (same options)
	@$(PYTHON) docker/cluster/render.py $(RENDER_ARGS)

.PHONY: cluster-job
cluster-job: ## sbatch a lab: LAB= NODES= GPUS= MODE=gpu|cpu|multi|jupyter PARTITION= TIME=
	@$(PYTHON) docker/cluster/render.py $(RENDER_ARGS) --submit

.PHONY: test-cluster
test-cluster: ## The cluster tests on a one-node Slurm started on 127.0.0.1 (root: installs slurm-wlm)
	bash .ci/cluster.sh $(PYTEST_ARGS)
