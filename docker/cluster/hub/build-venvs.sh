#!/usr/bin/env bash
# The two Python environments a JupyterHub on Slurm needs on the compute nodes, built from the
# project's hash-locked requirements with a system-wide Python (every student must be able to
# run it: a venv made from a Python in someone's home, e.g. pyenv, fails with
# "execve(): Permission denied" in the student's job).
#
#   docker/cluster/hub/build-venvs.sh DIR [PYTHON]     # PYTHON defaults to /usr/bin/python3
#
#   DIR/spawner  the hub's lock (docker/hub/requirements.txt): jupyterhub and batchspawner. The
#                hub runs from it, and each student's job runs batchspawner-singleuser from it
#                (it tells the hub which port the server took).
#   DIR/lab      the lab image's lock (docker/requirements/cpu.txt), JupyterHub's single-user
#                side (docker/hub/singleuser.txt) and tensorweaver: the venv runtime of the
#                students' servers (TW_VENV). With the Apptainer runtime the SIF has these.
# Put DIR on a filesystem every node mounts (e.g. /apps/tensorweaver/hub). Each venv is
# rebuilt only when its locks change (their hash is recorded in it).
set -euo pipefail
cd "$(dirname "$0")/../../.."

dir=${1:?usage: build-venvs.sh DIR [PYTHON]}
python=${2:-/usr/bin/python3}
[[ -x $python ]] || { echo "build-venvs.sh: no Python at $python; give a system-wide one" >&2; exit 2; }

build() {   # NAME LOCK...: a venv with exactly these locks (and tensorweaver for lab)
    local name=$1 venv=$dir/$1 want
    shift
    want=$(cat "$@" pyproject.toml | sha256sum | cut -d' ' -f1)
    if [[ -f $venv/.lock-sha256 && $(cat "$venv/.lock-sha256") == "$want" ]]; then
        return 0
    fi
    echo "build-venvs.sh: creating $venv from $*"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    local reqs=() lock
    for lock; do reqs+=(-r "$lock"); done
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
        --no-deps "${reqs[@]}"
    # The engine itself, copied into the venv (not editable: the venv stands alone).
    [[ $name != lab ]] || "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-deps .
    "$venv/bin/python" -m pip check
    echo "$want" >"$venv/.lock-sha256"
    chmod -R a+rX "$venv"
}

mkdir -p "$dir"
build spawner docker/hub/requirements.txt
build lab docker/requirements/cpu.txt docker/hub/singleuser.txt
