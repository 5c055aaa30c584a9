#!/usr/bin/env bash
# CI stage "cluster": a real one-node Slurm on 127.0.0.1, then the `cluster` tests against it.
#
#   bash .ci/cluster.sh [pytest args...]      # as root (it may apt-get install)
#
# 1. Installs Debian's slurm-wlm and munge when they are missing (waiting for another apt's
#    dpkg lock), and builds the venvs the tests use: .venv, and .venv-gpu with the CUDA driver
#    stand-in for the Legate launcher tests (CLUSTER_LEGATE=0 skips those, and says so first),
#    and Node.js for the batchspawner hub test's proxy.
# 2. Starts munged, slurmctld and slurmd in the foreground (there is no systemd), each with its
#    state in a fresh temporary folder, listening on loopback only, on free ports, and records
#    their PIDs.
# 3. Runs `pytest -m cluster` in the project venv with SLURM_CONF pointing at that cluster.
# 4. On exit, failure included: cancels the cluster's jobs (batch jobs outlive slurmd), then
#    stops the daemons by PID and removes the folder (the logs are printed first on failure).
# Running it twice, or while another Slurm runs on the machine, is safe: each run has its own
# folder, ports, key and daemons, and stops only what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "cluster.sh: $*" >&2; }

# --------------------------------------------------------------------------- 1. packages
# The Legate launcher tests (a multi-rank template through `legate --launcher srun`) need the
# cuPyNumeric venv (make venv-gpu: nvidia-cupynumeric, about 3 GB, and a C compiler for the
# CUDA driver stand-in). CI builds it in its parity stage, so here it is already up to date.
legate=${CLUSTER_LEGATE:-1}
need=()
for tool in slurmctld slurmd sbatch munged; do
    command -v "$tool" >/dev/null 2>&1 || need=(slurm-wlm munge)
done
if [[ $legate == 1 ]] && ! command -v "${CC:-gcc}" >/dev/null 2>&1; then
    need+=(gcc libc6-dev)
fi
# The batchspawner hub test: the hub's proxy is configurable-http-proxy (npm ci).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    need+=(nodejs npm)
fi
if ((${#need[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        log "${need[*]} are not installed, and installing them needs root:"
        log "  sudo apt-get install --no-install-recommends ${need[*]}"
        exit 1
    fi
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Another apt (unattended upgrades, a second CI run) may hold the lock: wait for it.
    apt=(apt-get -o DPkg::Lock::Timeout=300 -qq)
    "${apt[@]}" update
    "${apt[@]}" install -y --no-install-recommends "${need[@]}" >/dev/null
fi

# The labs run in the project venv in CI (Apptainer is not packaged in Debian 12).
make --no-print-directory venv-test
# As root, the hub test (tests/cluster/test_hub_slurm.py) can add its throwaway Unix user:
# there it must run, not skip. It builds its venvs itself (build/hub-slurm, once per lock).
[[ $(id -u) -ne 0 ]] || export CLUSTER_HUB_REQUIRED=1
if [[ $legate == 1 ]]; then
    make --no-print-directory venv-gpu
    # The venv is there: its tests must run, not skip (tests/cluster/test_slurm_jobs.py).
    export CLUSTER_LEGATE_REQUIRED=1
else
    log "CLUSTER_LEGATE=$legate: the Legate launcher tests will be skipped (they need" \
        "${GPU_VENV:-.venv-gpu}, which this run does not build; CLUSTER_LEGATE=1 builds it)"
fi

# --------------------------------------------------------------------------- 2. daemons
state=$(mktemp -d "${TMPDIR:-/tmp}/tensorweaver-slurm.XXXXXX")
# Other users' jobs (the hub test's student) read slurm.conf and reach munge's socket in it;
# the munge key stays in its own mode-700 folder.
chmod 755 "$state"
pids=()

stop_cluster() {
    local rc=$? pid _
    set +e
    if [[ -f $state/slurm.conf ]]; then
        # Jobs outlive slurmd (slurmstepd detaches): cancel them while the controller is up.
        mapfile -t jobs < <(SLURM_CONF=$state/slurm.conf squeue -h -o %i 2>/dev/null)
        if ((${#jobs[@]})); then
            log "cancelling leftover jobs: ${jobs[*]}"
            SLURM_CONF=$state/slurm.conf scancel "${jobs[@]}"
            for _ in {1..20}; do
                [[ -z $(SLURM_CONF=$state/slurm.conf squeue -h -o %i 2>/dev/null) ]] && break
                sleep 0.5
            done
        fi
    fi
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do
        for _ in {1..20}; do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$pid" 2>/dev/null && { log "PID $pid ignored SIGTERM; SIGKILL"; kill -KILL "$pid"; }
    done
    if ((rc != 0)); then
        for f in "$state"/*.log; do
            [[ -f $f ]] && { echo "--- last lines of $(basename "$f")"; tail -n 25 "$f"; }
        done
    fi
    rm -rf "$state"
    log "daemons stopped (PIDs ${pids[*]:-none})"
    exit "$rc"
}
trap stop_cluster EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

user=$(id -un)
node=$(hostname -s)                        # slurmd dies if its node name is not its host's
cpus=$(nproc)
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
ctld_port=$(free_port)
slurmd_port=$(free_port)
while [[ $slurmd_port == "$ctld_port" ]]; do slurmd_port=$(free_port); done

# munge: its own key and socket, so a munged already running on the machine is left alone.
mkdir -m 700 "$state/munge"
mkdir -m 755 "$state/munge-run"
dd if=/dev/urandom of="$state/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$state/munge/munge.key"
munge_socket=$state/munge-run/munge.socket.2
munged -F --force --key-file="$state/munge/munge.key" --socket="$munge_socket" \
    --pid-file="$state/munged.pid" --log-file="$state/munged.log" \
    --seed-file="$state/munge/munged.seed" >"$state/munged.stderr.log" 2>&1 &
pids+=($!)

mkdir -p "$state/ctld" "$state/spool"
cat >"$state/slurm.conf" <<EOF
# A one-node cluster for the tests: loopback only, no accounting, no cgroups.
ClusterName=tensorweaver-ci
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$munge_socket
SlurmUser=$user
SlurmdUser=$user
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$state/jobcomp.txt
MpiDefault=none
ReturnToService=2
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$state/slurm.conf

for _ in {1..40}; do [[ -S $munge_socket ]] && break; sleep 0.25; done
[[ -S $munge_socket ]] || { log "munged did not start"; exit 1; }
# In the foreground the daemons also log to stderr: keep that out of the test output.
slurmctld -D -i -f "$SLURM_CONF" >"$state/slurmctld.stderr.log" 2>&1 &
pids+=($!)
for _ in {1..40}; do scontrol ping >/dev/null 2>&1 && break; sleep 0.25; done
slurmd -D -N "$node" -f "$SLURM_CONF" >"$state/slurmd.stderr.log" 2>&1 &
pids+=($!)
for _ in {1..60}; do
    [[ $(sinfo -h -n "$node" -o %t 2>/dev/null) == idle ]] && break
    sleep 0.5
done
sinfo -h -n "$node" -o %t | grep -qx idle || { log "node $node is not idle:"; sinfo -N -l; exit 1; }
log "one-node Slurm up: node $node ($cpus CPUs), slurmctld :$ctld_port, PIDs ${pids[*]}"

# --------------------------------------------------------------------------- 3. tests
status=0
.venv/bin/python -m pytest -m cluster tests/cluster "$@" || status=$?
exit "$status"
