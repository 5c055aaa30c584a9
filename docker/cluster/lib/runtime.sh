# ---- tensorweaver job runtime (inlined into every job by docker/cluster/render.py) ----------
# Where the lab runs is chosen by TW_RUNTIME:
#   apptainer  the GPU image as a SIF file (TW_IMAGE), the usual way on a cluster;
#   docker     a Docker image (TW_IMAGE) on the compute node's daemon;
#   venv       a Python venv (TW_VENV) with tensorweaver installed, the checkout at TW_REPO.
# Each names its paths as the lab sees them: TW_OUT (the submit directory: /work in a
# container), TW_ROOT (the folder holding labs/) and TW_HOME (a writable, per-job home).

tw_fail() {
    echo "tensorweaver job: error: $*" >&2
    exit 2
}

tw_log() { echo "tensorweaver job: $*" >&2; }

# tw_setup: check the runtime and make the job's scratch folder (removed when the job ends).
tw_setup() {
    TW_SUBMIT=${SLURM_SUBMIT_DIR:-$PWD}
    TW_SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/tensorweaver-job-${SLURM_JOB_ID:-local}.XXXXXX")
    mkdir -p "$TW_SCRATCH/home"
    trap tw_cleanup EXIT
    trap 'exit 143' TERM      # scancel / time limit: still run tw_cleanup
    TW_ENV_NAMES=()
    case $TW_RUNTIME in
        apptainer)
            command -v apptainer >/dev/null 2>&1 || tw_fail "apptainer is not installed on" \
                "$(hostname) (try \`module load apptainer\`), or run in a venv: TW_RUNTIME=venv sbatch ..."
            [[ -f $TW_IMAGE ]] || tw_fail "no Apptainer image at $TW_IMAGE; build it with" \
                "\`make sif\` on a machine with Docker and apptainer, copy it here and set TW_IMAGE"
            TW_OUT=/work TW_ROOT=/home/jovyan/work TW_HOME=/home/tw ;;
        docker)
            command -v docker >/dev/null 2>&1 || tw_fail "docker is not installed on $(hostname);" \
                "use TW_RUNTIME=apptainer or TW_RUNTIME=venv"
            docker image inspect "$TW_IMAGE" >/dev/null 2>&1 || tw_fail "Docker image $TW_IMAGE" \
                "is not on $(hostname); build it (make build / make build-gpu) or docker load it there"
            TW_OUT=/work TW_ROOT=/home/jovyan/work TW_HOME=/home/tw ;;
        venv)
            [[ -x $TW_VENV/bin/python ]] || tw_fail "no Python venv at $TW_VENV; create it with" \
                "\`make venv\` in $TW_REPO, or set TW_VENV"
            TW_OUT=$TW_SUBMIT TW_ROOT=$TW_REPO TW_HOME=$TW_SCRATCH/home ;;
        *) tw_fail "TW_RUNTIME=$TW_RUNTIME is not a runtime; use apptainer, docker or venv" ;;
    esac
    [[ -f $TW_ROOT/$TW_LAB || $TW_RUNTIME != venv ]] || tw_fail "no lab at $TW_ROOT/$TW_LAB"
    # The image is read-only and Apptainer ignores its USER: everything the lab, Jupyter and
    # matplotlib write goes to the per-job home or the submit directory.
    tw_env PYTHONDONTWRITEBYTECODE=1 \
        JUPYTER_RUNTIME_DIR="$TW_HOME/.jupyter-runtime" \
        MPLCONFIGDIR="$TW_HOME/.matplotlib"
    # --containall starts from a clean environment: pass on the GPUs Slurm gave this job.
    [[ -z ${CUDA_VISIBLE_DEVICES:-} ]] || tw_env CUDA_VISIBLE_DEVICES="$CUDA_VISIBLE_DEVICES"
    tw_log "job ${SLURM_JOB_ID:-local} on $(hostname): runtime $TW_RUNTIME," \
        "lab $TW_LAB, backend $TW_BACKEND, outputs in $TW_SUBMIT"
}

tw_cleanup() {
    local rc=$?
    [[ $TW_RUNTIME != docker ]] || docker rm -f "tensorweaver-${SLURM_JOB_ID:-$$}" >/dev/null 2>&1
    rm -rf "$TW_SCRATCH"
    exit "$rc"
}

# tw_env NAME=VALUE...: set variables for the lab's processes, whatever the runtime
# (Apptainer passes APPTAINERENV_NAME into a --containall container as NAME).
tw_env() {
    local kv
    for kv; do
        export "${kv?}" "APPTAINERENV_$kv"
        TW_ENV_NAMES+=("${kv%%=*}")
    done
}

# tw_exec CMD...: run CMD in the lab environment, in TW_ROOT.
tw_exec() {
    case $TW_RUNTIME in
        apptainer)
            # --containall: no host home, /tmp, PID/IPC namespace or environment leak in.
            apptainer exec ${TW_GPU:+--nv} --containall \
                --bind "$TW_SUBMIT:/work" --home "$TW_SCRATCH/home:$TW_HOME" \
                --workdir "$TW_SCRATCH" --pwd "$TW_ROOT" "$TW_IMAGE" "$@" ;;
        docker)
            local args=(--rm --name "tensorweaver-${SLURM_JOB_ID:-$$}"
                        --user "$(id -u):$(id -g)" --group-add 100
                        -v "$TW_SUBMIT:/work" -v "$TW_SCRATCH/home:$TW_HOME" -e HOME="$TW_HOME"
                        -w "$TW_ROOT") name
            for name in "${TW_ENV_NAMES[@]}"; do args+=(-e "$name"); done
            if [[ -n ${TW_GPU:-} ]]; then
                args+=(--gpus "${CUDA_VISIBLE_DEVICES:+\"device=$CUDA_VISIBLE_DEVICES\"}")
                [[ -n ${CUDA_VISIBLE_DEVICES:-} ]] || args[-1]=all
            fi
            docker run "${args[@]}" "$TW_IMAGE" "$@" ;;
        venv)
            (cd "$TW_ROOT" && PATH="$TW_VENV/bin:$PATH" VIRTUAL_ENV="$TW_VENV" "$@") ;;
    esac
}

# tw_outputs: the executed notebook and metrics paths, as the lab sees them.
tw_outputs() {
    local name
    name=$(basename "$TW_LAB" .ipynb)
    TW_NOTEBOOK_OUT=$TW_OUT/$name.executed.ipynb
    TW_METRICS_OUT=$TW_OUT/$name.metrics.json
}
# ---- end of tensorweaver job runtime ---------------------------------------------------------
