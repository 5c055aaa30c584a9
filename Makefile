# TensorWeaver Lab — the front door. `make` (or `make help`) lists every target, by group.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# local.mk (git-ignored) holds this checkout's own settings: docker/base/build-base.sh writes
# `BASE_IMAGE ?= ...` there, so that every later target uses the base it built.
-include local.mk

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Test selections (pytest markers), shared by the local and container targets.
FAST_MARKERS := not parity and not container and not cluster and not hub

.PHONY: help
help: ## List the targets, by group
	@awk 'BEGIN {FS = ":.*## "} /^##@ / {printf "\n\033[1m%s\033[0m\n", substr($$0, 5)} \
	    /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "Settings: PORT=8888 WORKSPACE=workspace SOLUTIONS=1 JUPYTER_TOKEN= NB_UID= CPUS= DETACH=1"
	@echo "          BASE_IMAGE=$(BASE_IMAGE) GPUS=auto|all|none PYTEST_ARGS= VERBOSE=1 (see README.md)"

# ---------------------------------------------------------------- settings of the container targets
# Two images with the same engine, labs and tests: CPU (NumPy) and GPU (cuPyNumeric on
# Legate), the GPU image built FROM the CPU one. Every target builds its image first: Docker's
# layer cache makes that a no-op (one line of output) when nothing changed.
DOCKER     ?= docker
IMAGE      ?= tensorweaver-lab
CPU_IMAGE  ?= $(IMAGE):cpu
GPU_IMAGE  ?= $(IMAGE):gpu
BASE_IMAGE ?= python:3.11-slim-bookworm
PORT       ?= 8888
# The student's workspace (make lab, make workspace) and the solved labs (SOLUTIONS=1).
WORKSPACE  ?= workspace
SOLUTIONS  ?= 0
LAB_DIR    ?= labs
GPUS       ?= auto
DETACH     ?= 0
CPUS       ?=
VERBOSE    ?= 0
# Grading: the release (student versions) and autograde's input and output.
RELEASE_DIR ?= out/release
SUBMISSIONS ?=
GRADES_DIR  ?= out/grades
# The lab's uid (group 100): yours, so that what the lab saves stays yours; jovyan's 1000
# when you are root, since Jupyter refuses to run as root.
NB_UID     ?= $(shell u=$$(id -u); [ "$$u" -ne 0 ] && echo $$u || echo 1000)

# Image metadata: the commit and its date, for reproducible labels.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
IMAGE_REVISION = $(shell git rev-parse HEAD 2>/dev/null || echo unknown)$(if $(shell git status --porcelain 2>/dev/null | head -1),-dirty)
IMAGE_VERSION  = $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
# Proxy and PyPI-mirror settings reach `pip install` inside the build only when passed
# (HTTP_PROXY and the others are build arguments Docker predefines; the Dockerfiles declare
# PIP_INDEX_URL and PIP_TRUSTED_HOST). Given by name, their value comes from here.
PROXY_ARGS = $(foreach v,HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy PIP_INDEX_URL PIP_TRUSTED_HOST,$(if $($(v)),--build-arg $(v)))
LABEL_ARGS = --build-arg VERSION=$(IMAGE_VERSION) \
	--build-arg REVISION=$(IMAGE_REVISION) \
	--build-arg SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) \
	--build-arg CREATED=$(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ)
# docker/build-image.sh prints one line per image; its hint names the target you ran.
BUILD_IMAGE = DOCKER=$(DOCKER) VERBOSE=$(VERBOSE) BASE_IMAGE=$(BASE_IMAGE) \
	GOAL="$(or $(MAKECMDGOALS),build)" docker/build-image.sh
# In a recipe: sets $$gpu_flags to `--gpus all`, or to nothing (Legate CPU mode, with a
# notice), or fails (GPUS=all without a usable GPU). Legate, and NCCL on GPUs, need more
# shared memory than Docker's default 64 MB.
GPU_FLAGS_SH = gpu_flags="--shm-size=1g $$(docker/docker-check.sh gpus $(GPU_IMAGE) $(GPUS))"
LAB_ENV = PORT=$(PORT) WORKSPACE=$(WORKSPACE) SOLUTIONS=$(SOLUTIONS) LAB_DIR=$(LAB_DIR) \
	NB_UID=$(NB_UID) DETACH=$(DETACH) CPUS=$(CPUS) DOCKER=$(DOCKER)
# `make shell` mounts what `make lab` serves: the workspace, or the solved labs (SOLUTIONS=1).
SHELL_MOUNT = $(if $(filter 1,$(SOLUTIONS)),-v "$(abspath $(LAB_DIR)):/home/jovyan/work/labs",\
	-v "$(abspath $(WORKSPACE)):/home/jovyan/workspace" -e TENSORWEAVER_WORKSPACE=/home/jovyan/workspace)
# A folder the container (uid NB_UID) writes into: created, and given to that uid when root.
OUT_DIR_SH = mkdir -p "$(1)" && { [ "$$(id -u)" -ne 0 ] || chown "$(NB_UID):100" "$(1)"; }

.PHONY: docker-check
docker-check:
	@docker/docker-check.sh

.PHONY: build
build: docker-check
	@$(BUILD_IMAGE) $(CPU_IMAGE) Dockerfile --build-arg BASE_IMAGE=$(BASE_IMAGE) $(LABEL_ARGS) $(PROXY_ARGS)

.PHONY: build-gpu
build-gpu: build
	@$(BUILD_IMAGE) $(GPU_IMAGE) Dockerfile.gpu --build-arg CPU_IMAGE=$(CPU_IMAGE) $(LABEL_ARGS) $(PROXY_ARGS)

##@ Students (CPU image; Docker)
.PHONY: lab
lab: build ## JupyterLab on your workspace, at http://127.0.0.1:PORT (Ctrl-C stops it; DETACH=1)
	@$(LAB_ENV) IMAGE=$(CPU_IMAGE) NAME=tensorweaver-lab docker/lab.sh start

.PHONY: lab-stop
lab-stop: docker-check ## Stop the lab started by make lab / make lab-gpu
	@NAME=tensorweaver-lab docker/lab.sh stop
	@NAME=tensorweaver-lab-gpu docker/lab.sh stop

.PHONY: workspace
workspace: build ## Create or update the workspace (WORKSPACE=workspace) without starting the lab
	@$(LAB_ENV) IMAGE=$(CPU_IMAGE) docker/lab.sh workspace

.PHONY: shell
shell: build ## A bash shell in the CPU container, with the workspace mounted
	$(DOCKER) run --rm -it --user $(NB_UID):100 $(SHELL_MOUNT) $(CPU_IMAGE) bash

##@ Instructors (in the CPU image)
.PHONY: lab-solutions
lab-solutions: ## Same as make lab SOLUTIONS=1: the solved labs (labs/), mounted writable
	@$(MAKE) --no-print-directory lab SOLUTIONS=1

.PHONY: release
release: build ## Student versions of the labs (nbgrader generate_assignment) into RELEASE_DIR
	@$(call OUT_DIR_SH,$(RELEASE_DIR))
	$(DOCKER) run --rm --user $(NB_UID):100 -v "$(abspath $(RELEASE_DIR)):/home/jovyan/release" $(CPU_IMAGE) \
	    python -m tensorweaver.labs release labs --out /home/jovyan/release

.PHONY: autograde
autograde: build ## Grade SUBMISSIONS=DIR (one folder per student) with nbgrader: GRADES_DIR/grades.csv, checks.csv
	@[ -n "$(SUBMISSIONS)" ] || { echo "error: make autograde needs SUBMISSIONS=DIR: one folder per student holding NN_name.ipynb files (e.g. copies of their workspaces)" >&2; exit 2; }
	@[ -d "$(SUBMISSIONS)" ] || { echo "error: SUBMISSIONS=$(SUBMISSIONS) is not a folder" >&2; exit 2; }
	@$(call OUT_DIR_SH,$(GRADES_DIR))
	$(DOCKER) run --rm --user $(NB_UID):100 -v "$(abspath $(SUBMISSIONS)):/home/jovyan/submissions:ro" \
	    -v "$(abspath $(GRADES_DIR)):/home/jovyan/grades" $(CPU_IMAGE) \
	    python -m tensorweaver.labs autograde /home/jovyan/submissions --labs labs --out /home/jovyan/grades
	@echo "grades: $(GRADES_DIR)/grades.csv (per check, with the errors of failed ones: $(GRADES_DIR)/checks.csv)"

# The engine-track labs (10, 12) are graded on the students' engine modules, and their checks'
# hidden tests run parity cases on cuPyNumeric: the CPU image leaves them out (with a notice),
# the GPU image grades every lab (the notebooks run on NumPy, TENSORWEAVER_BACKEND=numpy; the parity cases' workers
# run both backends).
.PHONY: autograde-gpu
autograde-gpu: build-gpu ## Grade SUBMISSIONS=DIR in the GPU image: every lab, the engine track (labs 10, 12) included
	@[ -n "$(SUBMISSIONS)" ] || { echo "error: make autograde-gpu needs SUBMISSIONS=DIR: one folder per student holding NN_name.ipynb files and engine/ (e.g. copies of their workspaces)" >&2; exit 2; }
	@[ -d "$(SUBMISSIONS)" ] || { echo "error: SUBMISSIONS=$(SUBMISSIONS) is not a folder" >&2; exit 2; }
	@$(call OUT_DIR_SH,$(GRADES_DIR))
	@$(GPU_FLAGS_SH) && set -x && $(DOCKER) run --rm $$gpu_flags --user $(NB_UID):100 -e TENSORWEAVER_BACKEND=numpy \
	    -e TENSORWEAVER_TESTS=/home/jovyan/work/tests \
	    -v "$(abspath $(SUBMISSIONS)):/home/jovyan/submissions:ro" \
	    -v "$(abspath $(GRADES_DIR)):/home/jovyan/grades" $(GPU_IMAGE) \
	    python -m tensorweaver.labs autograde /home/jovyan/submissions --labs labs --out /home/jovyan/grades
	@echo "grades: $(GRADES_DIR)/grades.csv (per check, with the errors of failed ones: $(GRADES_DIR)/checks.csv)"

.PHONY: labs-build
labs-build: $(VENV)/.installed ## Regenerate labs/*.ipynb from their jupytext sources (labs/src/*.py)
	$(PY) -m tensorweaver.labs build labs/src --out labs

##@ GPU (cuPyNumeric image; with no GPU, Legate CPU mode)
.PHONY: lab-gpu
lab-gpu: build-gpu ## JupyterLab on the GPU image, same workspace (GPUS=auto|all|none)
	@$(GPU_FLAGS_SH) && $(LAB_ENV) IMAGE=$(GPU_IMAGE) NAME=tensorweaver-lab-gpu RUN_FLAGS="$$gpu_flags" docker/lab.sh start

.PHONY: test-gpu
test-gpu: build-gpu ## Run the parity suite in the GPU container (its table: build/parity-gpu/parity.md)
	@$(call OUT_DIR_SH,build/parity-gpu)
	@$(GPU_FLAGS_SH) && set -x && $(DOCKER) run --rm $$gpu_flags --user $(NB_UID):100 \
	    -v "$(abspath build/parity-gpu):/home/jovyan/parity" -e PARITY_REPORT=/home/jovyan/parity/parity.md \
	    $(GPU_IMAGE) pytest -m parity $(PYTEST_ARGS)

.PHONY: env-gpu
env-gpu: build-gpu ## The cuPyNumeric/Legate configuration the GPU container gets
	@$(GPU_FLAGS_SH) && $(DOCKER) run --rm $$gpu_flags $(GPU_IMAGE) python -m tensorweaver.env

.PHONY: shell-gpu
shell-gpu: build-gpu ## A bash shell in the GPU container, with the workspace mounted
	@$(GPU_FLAGS_SH) && set -x && $(DOCKER) run --rm -it --user $(NB_UID):100 $(SHELL_MOUNT) $$gpu_flags $(GPU_IMAGE) bash

##@ Developers: tests and images (Docker)
.PHONY: test
test: build ## Run the test suite in the CPU container (PYTEST_ARGS= for more)
	$(DOCKER) run --rm $(CPU_IMAGE) pytest -m "$(FAST_MARKERS)" $(PYTEST_ARGS)

.PHONY: onnx
onnx: build ## Run the ONNX export / ONNX Runtime tests in the CPU container
	$(DOCKER) run --rm $(CPU_IMAGE) pytest -m onnx $(PYTEST_ARGS)

.PHONY: images
images: build-gpu ## Build both images (BASE_IMAGE= for another base; VERBOSE=1 shows the build)

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
	$(UV_COMPILE) -o docker/hub/requirements.txt docker/hub/requirements.in
	cd docker/hub && ../../$(UV_COMPILE) -o singleuser.txt singleuser.in

.PHONY: clean-images
clean-images: ## Stop the labs and remove both images (about 4 GB; your workspace is kept)
	@if docker/docker-check.sh 2>/dev/null; then \
		NAME=tensorweaver-lab docker/lab.sh stop; NAME=tensorweaver-lab-gpu docker/lab.sh stop; \
		$(DOCKER) image rm $(CPU_IMAGE) $(GPU_IMAGE) 2>/dev/null || true; \
		$(DOCKER) image prune --force >/dev/null; \
	else echo "Docker is not available: no containers or images to remove"; fi

##@ Developers: without Docker (a local venv)
# `make venv` installs what the labs need (the lab extra); the test targets add the test
# extras (pytest, the PyTorch oracle, ONNX, nbgrader). PyPI's torch wheel pulls in CUDA
# libraries (several GB): PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu gets the
# CPU-only wheel where PyTorch's index is reachable (see README.md).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[lab]'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[lab,grading,dev,torch,onnx]'
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## A local venv with the engine and what the labs need (then: .venv/bin/jupyter lab)

.PHONY: venv-test
venv-test: $(VENV)/.installed-test ## The venv plus the test extras (pytest, torch, ONNX, nbgrader)

.PHONY: test-local
test-local: $(VENV)/.installed-test ## Run the test suite in the venv (adds the test extras)
	$(PY) -m pytest -m "$(FAST_MARKERS)" $(PYTEST_ARGS)

.PHONY: onnx-local
onnx-local: $(VENV)/.installed-test ## ONNX export suite in the venv: every op and layer through ONNX Runtime
	$(PY) -m pytest -m onnx $(PYTEST_ARGS)

# The labs headless (tensorweaver.labs run), on NumPy.
LABS_OUT    ?= out/labs

.PHONY: labs-local
labs-local: $(VENV)/.installed ## Run every lab headless on NumPy in the venv (notebooks + metrics in out/labs/)
	@failed=""; for nb in labs/[0-9][0-9]_*.ipynb; do \
	    TENSORWEAVER_BACKEND=numpy $(PY) -m tensorweaver.labs run $$nb --backend numpy \
	        --output $(LABS_OUT)/$$(basename $$nb) || failed="$$failed $$(basename $$nb)"; \
	done; \
	if [ -n "$$failed" ]; then echo "labs that failed:$$failed" >&2; exit 1; fi

.PHONY: bench
bench: $(VENV)/.installed-test ## Print the benchmark tables (engine vs NumPy vs PyTorch; see bench/RESULTS.md)
	$(PY) bench/mlp_step.py
	$(PY) bench/cnn_step.py

.PHONY: clean
clean: ## Remove the venvs, build outputs and caches (not the images: clean-images; never the workspace)
	rm -rf $(VENV) $(GPU_VENV) $(LOCK_VENV) .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -not -path './$(WORKSPACE)/*' -exec rm -rf {} +

##@ GPU without Docker (cuPyNumeric in .venv-gpu; Legate CPU mode when there is no GPU)
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
	$(GPU_PY) -m pip install -q -e '.[dev,lab,gpu,grading,onnx]' 'nvidia-cupynumeric==$(CUPYNUMERIC_VERSION)'
	touch $@

.PHONY: venv-gpu
venv-gpu: $(GPU_VENV)/.installed $(STAND_IN) ## Create .venv-gpu with nvidia-cupynumeric and the stand-in

# TENSORWEAVER_CUDA_STAND_IN is only used when no real driver is found (see tensorweaver/_legate.py).
GPU_ENV := TENSORWEAVER_CUDA_STAND_IN=$(abspath $(STAND_IN))

.PHONY: test-gpu-local
test-gpu-local: venv-gpu ## Parity suite, cuPyNumeric vs NumPy, in .venv-gpu (no Docker, no GPU needed)
	$(GPU_ENV) $(GPU_PY) -m pytest -m parity $(PYTEST_ARGS)

.PHONY: parity-table
parity-table: venv-gpu ## Regenerate bench/PARITY.md (per-op max errors, cuPyNumeric vs NumPy)
	$(GPU_ENV) PARITY_REPORT=bench/PARITY.md $(GPU_PY) -m pytest -q $(PYTEST_ARGS) tests/parity

.PHONY: env-gpu-local
env-gpu-local: venv-gpu ## The cuPyNumeric/Legate configuration this machine gets, from .venv-gpu
	$(GPU_ENV) TENSORWEAVER_BACKEND=cupynumeric $(GPU_PY) -m tensorweaver.env

.PHONY: bench-backends
bench-backends: venv-gpu ## MLP step time on NumPy vs cuPyNumeric (on Legate CPU: overhead only)
	$(GPU_ENV) $(GPU_PY) bench/backends.py


##@ A class on JupyterHub (Docker; see README.md)
# ---------------------------------------------------------------- JupyterHub + DockerSpawner
# The hub and its proxy run on this host (.venv-hub, from docker/hub/requirements.txt and
# package-lock.json); each student gets a container from the hub image, with a workspace volume.
HUB_IMAGE      ?= $(IMAGE)-hub:cpu
HUB_GPU_IMAGE  ?= $(IMAGE)-hub:gpu
HUB_GPU        ?= 0
HUB_IP         ?= 127.0.0.1
HUB_PORT       ?= 8000
HUB_STATE      ?= out/hub
HUB_ADMINS     ?= instructor
HUB_MEM        ?= 2G
HUB_CPUS       ?= 1
HUB_IDLE_TIMEOUT ?= 3600
HUB_CULL_EVERY ?= 300
HUB_START_TIMEOUT ?= 300
HUB_AUTH       ?= oauth
HUB_EXTRA_CONFIG ?=
# Grading: the labs collected (all, or HUB_LABS="00_environment 04_mlp") and their grades.
HUB_LABS       ?=
HUB_SUBMISSIONS ?= out/hub-submissions
HUB_ENV = DOCKER=$(DOCKER) HUB_IMAGE=$(HUB_IMAGE) HUB_IP=$(HUB_IP) HUB_PORT=$(HUB_PORT) \
	HUB_STATE=$(HUB_STATE) HUB_ADMINS=$(HUB_ADMINS) HUB_MEM=$(HUB_MEM) HUB_CPUS=$(HUB_CPUS) \
	HUB_IDLE_TIMEOUT=$(HUB_IDLE_TIMEOUT) HUB_CULL_EVERY=$(HUB_CULL_EVERY) HUB_AUTH=$(HUB_AUTH) \
	HUB_START_TIMEOUT=$(HUB_START_TIMEOUT) \
	HUB_EXTRA_CONFIG=$(HUB_EXTRA_CONFIG) PYTHON=$(PYTHON)
HUB_BUILD_ARGS = --build-arg VERSION=$(IMAGE_VERSION) --build-arg REVISION=$(IMAGE_REVISION) $(PROXY_ARGS)

.PHONY: hub-build
hub-build: build $(if $(filter 1,$(HUB_GPU)),build-gpu) ## The students' hub image(s), FROM the lab image(s) (HUB_GPU=1: the GPU one too)
	@$(BUILD_IMAGE) $(HUB_IMAGE) docker/hub/Dockerfile --build-arg LAB_IMAGE=$(CPU_IMAGE) $(HUB_BUILD_ARGS)
	@$(if $(filter 1,$(HUB_GPU)),$(BUILD_IMAGE) $(HUB_GPU_IMAGE) docker/hub/Dockerfile --build-arg LAB_IMAGE=$(GPU_IMAGE) $(HUB_BUILD_ARGS))

.PHONY: hub
hub: hub-build ## JupyterHub for a class at http://HUB_IP:HUB_PORT (127.0.0.1:8000), in the background
	@$(if $(filter 1,$(HUB_GPU)),$(GPU_FLAGS_SH) && gpus=$$([[ $$gpu_flags == *--gpus* ]] && echo all) &&) \
	    $(HUB_ENV) $(if $(filter 1,$(HUB_GPU)),HUB_GPU_IMAGE=$(HUB_GPU_IMAGE) HUB_GPUS=$$gpus) docker/hub/hub.sh start

.PHONY: hub-stop
hub-stop: docker-check ## Stop the hub and the students' servers (their workspace volumes are kept)
	@$(HUB_ENV) docker/hub/hub.sh stop

.PHONY: hub-collect
hub-collect: docker-check ## Copy the students' notebooks from their volumes into HUB_SUBMISSIONS (HUB_LABS= to choose)
	@$(HUB_ENV) docker/hub/hub.sh collect $(HUB_SUBMISSIONS) $(HUB_LABS)

# Graded in the students' image, against the solved labs it carries: the labs its release was
# made from (the lab image may have newer labs, whose checksums the students' copies fail).
.PHONY: hub-grade
hub-grade: hub-collect ## hub-collect, then autograde every student in the hub image: GRADES_DIR/grades.csv
	@$(call OUT_DIR_SH,$(GRADES_DIR))
	$(DOCKER) run --rm --user $(NB_UID):100 -e TENSORWEAVER_WORKSPACE= \
	    -v "$(abspath $(HUB_SUBMISSIONS)):/home/jovyan/submissions:ro" \
	    -v "$(abspath $(GRADES_DIR)):/home/jovyan/grades" $(HUB_IMAGE) \
	    python -m tensorweaver.labs autograde /home/jovyan/submissions --labs /home/jovyan/work/labs \
	        --out /home/jovyan/grades $(foreach lab,$(HUB_LABS),--lab $(lab))
	@echo "grades: $(GRADES_DIR)/grades.csv"

##@ Cluster (Slurm, Apptainer)
# ---------------------------------------------------------------- cluster (Slurm, Apptainer)
# Labs as Slurm batch jobs (docker/cluster/): Legate is the distributed engine, the GPU image
# runs through Apptainer (`make sif`), or a venv (RUNTIME=venv). GPUS here means GPUs per
# node; its container default (auto) means "the template's default" (1 for gpu/multi).
# The SIF every job uses: TW_IMAGE when set (a site's shared, read-only copy, e.g.
# /apps/tensorweaver/tensorweaver-gpu.sif), else one in the checkout.
SIF        ?= $(or $(TW_IMAGE),tensorweaver-gpu.sif)
MODE       ?= gpu
LAB        ?= labs/00_environment.ipynb
NODES      ?=
RANKS_PER_NODE ?=
PARTITION  ?=
TIME       ?=
ACCOUNT    ?=
RUNTIME    ?= apptainer
JOB_DIR    ?= out/cluster
# A file of student names, one per line: one job array task per student (JOB_DIR/NAME/).
ROSTER     ?=
# More render.py options, e.g. CLUSTER_ARGS="--fbmem 70000 --quick --mem 64G --qos class".
CLUSTER_ARGS ?=
RENDER_ARGS = $(MODE) --lab $(LAB) --runtime $(RUNTIME) --out $(JOB_DIR) \
	$(if $(NODES),--nodes $(NODES)) $(if $(filter-out auto,$(GPUS)),--gpus $(GPUS)) \
	$(if $(RANKS_PER_NODE),--ranks-per-node $(RANKS_PER_NODE)) \
	$(if $(PARTITION),--partition $(PARTITION)) $(if $(TIME),--time $(TIME)) \
	$(if $(ACCOUNT),--account $(ACCOUNT)) $(if $(ROSTER),--roster $(ROSTER)) \
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
cluster-job: ## sbatch a lab: LAB= NODES= GPUS=[TYPE:]N MODE=gpu|cpu|multi|jupyter PARTITION= TIME= ROSTER=
	@$(PYTHON) docker/cluster/render.py $(RENDER_ARGS) --submit

.PHONY: test-cluster
test-cluster: ## The cluster tests on a one-node Slurm started on 127.0.0.1 (root: installs slurm-wlm)
	bash .ci/cluster.sh $(PYTEST_ARGS)
