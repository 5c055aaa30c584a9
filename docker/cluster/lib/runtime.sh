# ---- tensorweaver job runtime (inlined into every job by docker/cluster/render.py) ----------
# Where the lab runs is chosen by TW_RUNTIME:
#   apptainer  the GPU image as a SIF file (TW_IMAGE), the usual way on a cluster;
#   docker     a Docker image (TW_IMAGE) on the compute node's daemon;
#   venv       a Python venv (TW_VENV) with tensorweaver installed, the checkout at TW_REPO.
# Each names its paths as the lab sees them: TW_OUT (the job's output folder: /work in a
# container), TW_ROOT (the folder holding labs/) and TW_HOME (a writable, per-job home).
# On the host, TW_DEST is that output folder: the submit directory, or SUBMIT/STUDENT/ for
# a job array task of a roster (TW_ROSTER).

tw_fail() {
    echo "tensorweaver job: error: $*" >&2
    exit 2
}

tw_log() { echo "tensorweaver job: $*" >&2; }

# tw_setup: pick the student (array tasks), check the runtime, make the job's scratch folder
# (removed when the job ends) and print the allocation.
tw_setup() {
    TW_SUBMIT=${SLURM_SUBMIT_DIR:-$PWD}
    TW_DEST=$TW_SUBMIT
    TW_STUDENT=
    # An array task is named JOB_TASK (what squeue and sacct show); SLURM_JOB_ID is per task.
    TW_JOB_ID=${SLURM_JOB_ID:-local}
    [[ -z ${SLURM_ARRAY_TASK_ID:-} ]] || TW_JOB_ID=${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}
    TW_ENV_NAMES=()
    tw_student
    # Node-local scratch: the site's per-job folder when it has one, else TMPDIR or /tmp.
    local base=${TMPDIR:-/tmp}
    base=${SLURM_TMPDIR:-$base}
    TW_SCRATCH=$(mktemp -d "$base/tensorweaver-job-$TW_JOB_ID.XXXXXX")
    mkdir -p "$TW_SCRATCH/home" "$TW_SCRATCH/tmp"
    trap tw_cleanup EXIT
    trap 'exit 143' TERM      # scancel / time limit: still run tw_cleanup
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
            TW_OUT=$TW_DEST TW_ROOT=$TW_REPO TW_HOME=$TW_SCRATCH/home ;;
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
    tw_log "job $TW_JOB_ID on $(hostname): runtime $TW_RUNTIME," \
        "lab $TW_LAB, backend $TW_BACKEND${TW_STUDENT:+, student $TW_STUDENT}, outputs in $TW_DEST"
    tw_allocation
}

# tw_student: in a roster's job array, task K is the K-th student; from here on the task
# writes to SUBMIT/STUDENT/ (its log too: the Slurm log keeps only a pointer to it).
tw_student() {
    local count=0
    [[ -z ${TW_ROSTER+x} ]] || count=${#TW_ROSTER[@]}
    ((count)) || return 0
    [[ -n ${SLURM_ARRAY_TASK_ID:-} ]] || tw_fail "this job runs a lab for each of $count" \
        "students as a job array: submit it with sbatch (its #SBATCH --array line), or set" \
        "SLURM_ARRAY_TASK_ID=K to run the K-th student (from 0) by hand"
    ((SLURM_ARRAY_TASK_ID < count)) || tw_fail "array task $SLURM_ARRAY_TASK_ID: the roster" \
        "has $count students (tasks 0-$((count - 1)))"
    TW_STUDENT=${TW_ROSTER[$SLURM_ARRAY_TASK_ID]}
    TW_DEST=$TW_SUBMIT/$TW_STUDENT
    mkdir -p "$TW_DEST"
    local log=$TW_DEST/${SLURM_JOB_NAME:-tensorweaver}-$TW_JOB_ID.out
    tw_log "array task $SLURM_ARRAY_TASK_ID is student $TW_STUDENT: outputs and the rest of" \
        "this log in $log"
    exec >>"$log" 2>&1
    # The lab can read who it runs for (e.g. a per-student seed).
    tw_env TENSORWEAVER_STUDENT="$TW_STUDENT"
}

# tw_allocation: what Slurm gave this job, printed at its start.
tw_allocation() {
    local mem=unset gpus=none limit=
    if [[ -n ${SLURM_MEM_PER_NODE:-} ]]; then mem="${SLURM_MEM_PER_NODE} MB per node"
    elif [[ -n ${SLURM_MEM_PER_CPU:-} ]]; then mem="${SLURM_MEM_PER_CPU} MB per CPU"
    fi
    [[ -z ${SLURM_GPUS_ON_NODE:-} ]] || gpus="$SLURM_GPUS_ON_NODE on this node"
    [[ -z ${SLURM_JOB_GPUS:-} ]] || gpus+=" (ids $SLURM_JOB_GPUS)"
    [[ -z ${SLURM_JOB_ID:-} ]] || limit=$(timeout 10 squeue -h -j "$SLURM_JOB_ID" -o %l 2>/dev/null || true)
    tw_log "allocation: nodes ${SLURM_JOB_NODELIST:-$(hostname -s)} (${SLURM_JOB_NUM_NODES:-1})," \
        "tasks ${SLURM_NTASKS:-1}, CPUs per task ${SLURM_CPUS_PER_TASK:-unset}" \
        "(${SLURM_CPUS_ON_NODE:-?} on this node), memory $mem, GPUs $gpus," \
        "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-unset}, time limit ${limit:-unknown}," \
        "partition ${SLURM_JOB_PARTITION:-default}"
    if [[ -n ${TW_GPU:-} ]] && command -v nvidia-smi >/dev/null 2>&1; then
        nvidia-smi -L 2>&1 | sed 's/^/tensorweaver job:   /' >&2 || true
    fi
}

# tw_sysmem RANKS_PER_NODE: Legate's host memory per rank (MiB) in TW_SYSMEM_MIB. TW_SYSMEM
# when it is a number; else (auto) the rank's share of the job's memory on this node, less a
# quarter of it (at least 1 GiB) for Python, the kernel, CUDA and Legate's own bookkeeping,
# which live outside that pool. A job with no memory limit gets 4000.
tw_sysmem() {
    local ranks=${1:-1} node_mb share headroom
    if [[ $TW_SYSMEM != auto ]]; then
        [[ $TW_SYSMEM =~ ^[0-9]+$ ]] || tw_fail "TW_SYSMEM=$TW_SYSMEM: give MiB per rank" \
            "(e.g. 16000), or auto to size it from the job's memory"
        TW_SYSMEM_MIB=$TW_SYSMEM
        return
    fi
    if [[ ${SLURM_MEM_PER_NODE:-} =~ ^[1-9][0-9]*$ ]]; then
        node_mb=$SLURM_MEM_PER_NODE
    elif [[ ${SLURM_MEM_PER_CPU:-} =~ ^[1-9][0-9]*$ ]]; then
        local cpus=${SLURM_CPUS_PER_TASK:-1}
        cpus=${SLURM_CPUS_ON_NODE:-$cpus}
        node_mb=$((SLURM_MEM_PER_CPU * cpus))
    else
        TW_SYSMEM_MIB=4000
        tw_log "Legate --sysmem 4000 MiB per rank: the job has no memory limit" \
            "(no SLURM_MEM_PER_NODE or SLURM_MEM_PER_CPU); ask for --mem, or set TW_SYSMEM"
        return
    fi
    share=$((node_mb / ranks))
    headroom=$((share / 4 > 1024 ? share / 4 : 1024))
    TW_SYSMEM_MIB=$((share - headroom))
    ((TW_SYSMEM_MIB >= 256)) || tw_fail "the job has $node_mb MB per node for $ranks rank(s):" \
        "$share MB each leaves less than 256 MiB for Legate after $headroom MB of headroom;" \
        "ask for more memory (--mem) or set TW_SYSMEM=MiB"
    tw_log "Legate --sysmem $TW_SYSMEM_MIB MiB per rank: $share MB of the job's $node_mb MB" \
        "per node, less $headroom MB headroom"
}

tw_cleanup() {
    local rc=$?
    [[ $TW_RUNTIME != docker ]] || docker rm -f "tensorweaver-${SLURM_JOB_ID:-$$}" >/dev/null 2>&1
    rm -rf "$TW_SCRATCH"
    # What the job used, once it has left the queue (needs the site's accounting database).
    if [[ -n ${SLURM_JOB_ID:-} ]]; then
        tw_log "finished with exit code $rc. Its usage: sacct -j $TW_JOB_ID" \
            "--format=JobID,JobName%20,State,ExitCode,Elapsed,TotalCPU,MaxRSS,AllocTRES%60" \
            "(or seff $TW_JOB_ID, where installed)"
    fi
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
                --bind "$TW_DEST:/work" --home "$TW_SCRATCH/home:$TW_HOME" \
                --workdir "$TW_SCRATCH" --pwd "$TW_ROOT" "$TW_IMAGE" "$@" ;;
        docker)
            local args=(--rm --name "tensorweaver-${SLURM_JOB_ID:-$$}"
                        --user "$(id -u):$(id -g)" --group-add 100
                        -v "$TW_DEST:/work" -v "$TW_SCRATCH/home:$TW_HOME" -e HOME="$TW_HOME"
                        -w "$TW_ROOT") name
            for name in "${TW_ENV_NAMES[@]}"; do args+=(-e "$name"); done
            if [[ -n ${TW_GPU:-} ]]; then
                args+=(--gpus "${CUDA_VISIBLE_DEVICES:+\"device=$CUDA_VISIBLE_DEVICES\"}")
                [[ -n ${CUDA_VISIBLE_DEVICES:-} ]] || args[-1]=all
            fi
            docker run "${args[@]}" "$TW_IMAGE" "$@" ;;
        venv)
            # Scratch files go to the job's node-local folder, as /tmp does in the container
            # (one node only: other nodes' ranks do not have this folder).
            local tmp=${TMPDIR:-}
            ((${SLURM_JOB_NUM_NODES:-1} > 1)) || tmp=$TW_SCRATCH/tmp
            (cd "$TW_ROOT" && PATH="$TW_VENV/bin:$PATH" VIRTUAL_ENV="$TW_VENV" TMPDIR="$tmp" "$@") ;;
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
