#!/bin/bash
# Entry point of the TensorWeaver Lab images, run by tini (PID 1): size the BLAS thread pools
# to the container's CPUs, bring the student's workspace up to date, check what a student can
# fix, then run the command (by default `jupyter lab`).
set -euo pipefail

work=/home/jovyan/work
uid=$(id -u)

if [[ $uid -eq 0 ]]; then
    echo "tensorweaver: warning: running as root. The images are meant to run as jovyan" \
         "(uid 1000) or as your own uid (docker run --user \"\$(id -u):100\")." >&2
fi

# BLAS thread pools (OpenBLAS, MKL, OpenMP) start one thread per host core unless told; in a
# container limited to fewer CPUs (docker run --cpus, a CPU quota) the extra threads only
# compete for the quota (measured: 2 BLAS threads on a loaded 2-core host made an epoch 3x
# slower). Use the quota, rounded up, and never more than the CPUs this process may run on.
cpu_limit() {
    local cpus quota period
    cpus=$(nproc)
    if [[ -r /sys/fs/cgroup/cpu.max ]]; then                       # cgroup v2
        read -r quota period </sys/fs/cgroup/cpu.max
    elif [[ -r /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]]; then        # cgroup v1
        quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)
        period=$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)
    fi
    if [[ ${quota:-max} != max && ${quota:--1} -gt 0 && ${period:-0} -gt 0 ]]; then
        local q=$(((quota + period - 1) / period))
        ((q < cpus)) && cpus=$q
    fi
    echo $((cpus > 0 ? cpus : 1))
}
threads=$(cpu_limit)
for var in OMP_NUM_THREADS OPENBLAS_NUM_THREADS MKL_NUM_THREADS; do
    [[ -n ${!var:-} ]] || export "$var=$threads"
done

# The student's workspace: the released labs, copied on first use and never overwritten (a
# lab that changed upstream arrives beside the student's copy as NAME.updated.ipynb).
if [[ -n ${TENSORWEAVER_WORKSPACE:-} ]]; then
    if [[ -d $TENSORWEAVER_WORKSPACE && -w $TENSORWEAVER_WORKSPACE ]]; then
        # The standard-library script behind `python -m tensorweaver.labs workspace`, run
        # directly: no engine (or Legate) import at every start.
        python /opt/tensorweaver/workspace.py "$TENSORWEAVER_WORKSPACE" "${TENSORWEAVER_RELEASE:?}" \
            || echo "tensorweaver: warning: the workspace could not be brought up to date (above)." >&2
    fi
fi

# A bind-mounted folder that this uid cannot write to would lose every notebook save: the
# workspace for a student lab, else the labs (make lab SOLUTIONS=1) and the work dir.
if [[ -n ${TENSORWEAVER_WORKSPACE:-} ]]; then dirs=("$TENSORWEAVER_WORKSPACE"); else dirs=("$work" "$work/labs"); fi
for dir in "${dirs[@]}"; do
    if [[ -d $dir && ! -w $dir ]]; then
        owner=$(stat -c '%u' "$dir")
        fix="make the folder group-writable on the host (sudo chgrp -R 100 FOLDER && sudo chmod -R g+rwX FOLDER)"
        # NB_UID=<owner> is only a fix when the owner is not root (Jupyter refuses uid 0).
        [[ $owner -eq 0 ]] || fix="run as its owner (make lab NB_UID=$owner) or $fix"
        echo "tensorweaver: warning: $dir (owner uid $owner) is not writable by uid $uid," \
             "so notebooks cannot be saved there: $fix." >&2
    fi
done

exec "$@"
