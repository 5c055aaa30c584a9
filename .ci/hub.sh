#!/usr/bin/env bash
# CI stage "hub" (run by .ci/docker.sh once the images are built, while its Docker daemon
# runs): a class's JupyterHub end to end, then the load bench.
#
#   1. Node.js and npm from Debian if missing (the hub's proxy, configurable-http-proxy,
#      comes from docker/hub/package-lock.json through npm ci, in `make hub`).
#   2. pytest -m hub (tests/hub): `make hub` (hub image, hub venv from the hash-locked
#      docker/hub/requirements.txt, the hub on 127.0.0.1 and the class's own Docker
#      network), two students and an instructor log in, spawn, run cells, 403 across
#      students, the instructor's grading, a saved notebook across make hub-stop + make hub,
#      the idle culler. The tests stop their hub (make hub-stop: by its PID) and remove their
#      volumes, also on failure.
#   3. bench/hub_load.py: 10 students at once, each training a small MLP and saving a
#      notebook (spawn time median/max, memory per server; see bench/RESULTS.md).
# Time on a quiet 2-core machine: the tests 164 s, the bench 109 s, plus the hub image and the
# hub's venv on a clean machine (about 2 min). At load average 8-15 the tests took 11 min.
set -euo pipefail
cd "$(dirname "$0")/.."

docker info >/dev/null 2>&1 || { echo "error: .ci/hub.sh needs the Docker daemon that .ci/docker.sh starts" >&2; exit 1; }
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    [[ $(id -u) -eq 0 ]] || { echo "error: installing nodejs and npm needs root" >&2; exit 1; }
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends nodejs npm >/dev/null
fi
make --no-print-directory venv-test
t0=$SECONDS
.venv/bin/python -m pytest -m hub tests/hub -p no:cacheprovider -q -s ${PYTEST_ARGS:-}
echo "::: hub tests: $((SECONDS - t0)) s"
t0=$SECONDS
.venv/bin/python bench/hub_load.py --students 10
echo "::: hub load bench: $((SECONDS - t0)) s"
