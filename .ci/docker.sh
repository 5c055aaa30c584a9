#!/usr/bin/env bash
# CI stage "containers": the images built from scratch and every suite run inside them.
#
#   .ci/docker.sh images   packages, daemon, the images (base, CPU, GPU, hub); leaves dockerd
#                          running for the checks (its PID in $STATE/dockerd.pid). .ci/run
#                          starts this in the background, beside the venv stages, because
#                          the builds mostly wait on the network and disk while the venv
#                          suite keeps one core busy.
#   .ci/docker.sh checks   every check below, then stops the dockerd that `images` started.
#   .ci/docker.sh          both, one after the other.
#
#   1. Install Debian's docker.io, debootstrap and chromium (if missing); start dockerd and
#      remember its PID, or reuse a daemon that is already running.
#   2. The README's Quick start, as written, on the local-base path (the only one CI can
#      reach): docker/base/build-base.sh (which remembers the base in local.mk), then
#      `make lab` (with DETACH=1 and a free PORT added so that it returns): healthy,
#      /api/status with the token -> 200 and without -> 403, lab 00 run through the
#      server's kernel; `make test` is among the checks below. `make lab` builds the CPU
#      image through the same Makefile rule as `make build` (in CI the images step has run
#      it already, so here it finds the layers cached).
#   3. make build-gpu, make test, make onnx, make test-gpu: the suites inside the containers
#      (test-gpu is CI's one full parity run: every op case, whose table must match
#      bench/PARITY.md, and every lab on both backends). It runs beside the checks of steps 2-4
#      (mostly one core each), its log printed at the end.
#   4. The container tests (pytest -m container, the real-browser test included) against
#      those images.
#   5. .ci/hub.sh: a class's JupyterHub on these images (tests/hub, bench/hub_load.py).
#   6. Stop the lab and the dockerd this script (or its `images` run) started, by PID, even
#      on failure.
#
# Idempotent: a second run reuses the installed packages and a running daemon, and rebuilds
# the images (the base is rebuilt every run, since the proxy's CA can differ per machine).
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=${TMPDIR:-/tmp}/tensorweaver-ci-docker
mkdir -p "$STATE"
DOCKERD_PID=""
MODE=${1:-all}
declare -a SUMMARY=()

declare -a FAILED=()

# A step the others need (packages, daemon, images): its failure ends the run.
stage() {
    local name=$1; shift
    echo "::: docker stage $name: $*"
    local t0=$SECONDS
    "$@"
    SUMMARY+=("$(printf '%-16s %5d s' "$name" $((SECONDS - t0)))")
    echo "::: docker stage $name done in $((SECONDS - t0)) s"
}

# A check independent of the others: it runs in a subshell (with `set -e` in force there),
# a failure is recorded and the next checks still run, so one log shows every result.
check() {
    local name=$1; shift
    echo "::: docker stage $name: $*"
    local t0=$SECONDS status=0
    ( "$@" ) & wait $! || status=$?
    local result="done"
    if [[ $status -ne 0 ]]; then result="FAILED (exit $status)"; FAILED+=("$name"); fi
    SUMMARY+=("$(printf '%-16s %5d s  %s' "$name" $((SECONDS - t0)) "$result")")
    echo "::: docker stage $name $result in $((SECONDS - t0)) s"
}

# A check that runs beside the next ones (check_bg NAME CMD..., later check_wait NAME): its
# output goes to build/ci-NAME.log and is printed when it is waited for.
declare -A BG_PID=() BG_T0=()
check_bg() {
    local name=$1; shift
    echo "::: docker stage $name (beside the next checks; log build/ci-$name.log): $*"
    ( "$@" ) >"build/ci-$name.log" 2>&1 &
    BG_PID[$name]=$! BG_T0[$name]=$SECONDS
}
check_wait() {
    local name=$1 status=0
    wait "${BG_PID[$name]}" || status=$?
    cat "build/ci-$name.log"
    local result="done"
    if [[ $status -ne 0 ]]; then result="FAILED (exit $status)"; FAILED+=("$name"); fi
    SUMMARY+=("$(printf '%-16s %5d s  %s' "$name" $((SECONDS - BG_T0[$name])) "$result (beside others)")")
    echo "::: docker stage $name $result in $((SECONDS - BG_T0[$name])) s"
    unset "BG_PID[$name]"
}

cleanup() {
    local status=$?
    set +e
    for pid in "${BG_PID[@]}"; do kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    if [[ $MODE == images && $status -eq 0 ]]; then
        exit 0          # the checks need the daemon; `checks` stops it
    fi
    if [[ -z $DOCKERD_PID && -s $STATE/dockerd.pid ]]; then
        # Started by this run's `images` step (a stale file from a crashed run may name
        # another process by now: only a dockerd is stopped).
        DOCKERD_PID=$(cat "$STATE/dockerd.pid")
        [[ $(cat "/proc/$DOCKERD_PID/comm" 2>/dev/null) == dockerd ]] || DOCKERD_PID=""
    fi
    if docker info >/dev/null 2>&1; then
        make --no-print-directory lab-stop >/dev/null 2>&1
        # Images retagged by this run leave their predecessors dangling: keep the disk flat.
        docker image prune --force >/dev/null 2>&1
    fi
    if [[ -n $DOCKERD_PID ]]; then
        echo "::: stopping dockerd (pid $DOCKERD_PID)"
        kill -TERM "$DOCKERD_PID" 2>/dev/null
        for _ in $(seq 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
        if kill -0 "$DOCKERD_PID" 2>/dev/null; then
            echo "::: dockerd did not stop in 30 s; killing it"
            kill -KILL "$DOCKERD_PID" 2>/dev/null
        fi
        rm -f "$STATE/dockerd.pid"
    fi
    [[ $status -eq 0 ]] || echo "::: containers stage FAILED (exit $status)" >&2
    exit "$status"
}
trap cleanup EXIT

install_packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v chromium >/dev/null || missing+=(chromium)        # the real-browser test
    if [[ ${#missing[@]} -eq 0 ]]; then
        echo "docker.io, debootstrap and chromium are installed"
        return
    fi
    [[ $(id -u) -eq 0 ]] || { echo "error: installing ${missing[*]} needs root" >&2; return 1; }
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
}

start_daemon() {
    if docker info >/dev/null 2>&1; then
        echo "reusing the Docker daemon that is already running"
        return
    fi
    local driver
    for driver in overlay2 vfs; do
        echo "starting dockerd (storage driver $driver), log: $STATE/dockerd.log"
        dockerd --storage-driver="$driver" >"$STATE/dockerd.log" 2>&1 &
        DOCKERD_PID=$!
        echo "$DOCKERD_PID" >"$STATE/dockerd.pid"
        for _ in $(seq 60); do
            docker info >/dev/null 2>&1 && { echo "dockerd ready (pid $DOCKERD_PID)"; return; }
            kill -0 "$DOCKERD_PID" 2>/dev/null || break
            sleep 0.5
        done
        echo "dockerd with $driver did not come up:" >&2
        tail -5 "$STATE/dockerd.log" >&2
        kill -TERM "$DOCKERD_PID" 2>/dev/null; wait "$DOCKERD_PID" 2>/dev/null || true
        DOCKERD_PID=""
    done
    echo "error: dockerd did not start (log: $STATE/dockerd.log)" >&2
    return 1
}


http_status() {   # URL [TOKEN]
    python3 - "$@" <<'EOF'
import sys, urllib.error, urllib.request
headers = {"Authorization": f"token {sys.argv[2]}"} if len(sys.argv) > 2 else {}
try:
    print(urllib.request.urlopen(urllib.request.Request(sys.argv[1], headers=headers), timeout=10).status)
except urllib.error.HTTPError as exc:
    print(exc.code)
EOF
}

# The Quick start's `make lab`, as a newcomer runs it after build-base.sh: no BASE_IMAGE, no
# token given (it is read from the printed URL); it builds the CPU image.
quickstart_lab() {
    local port token out t0 code
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    make --no-print-directory lab-stop >/dev/null
    t0=$SECONDS
    out=$(make --no-print-directory lab DETACH=1 PORT="$port") || { echo "$out"; return 1; }
    echo "$out"
    token=$(sed -n 's/.*lab?token=\([0-9a-f]*\).*/\1/p' <<<"$out" | head -1)
    [[ -n $token ]] || { echo "error: make lab printed no URL with a token" >&2; return 1; }
    until [[ $(docker inspect --format '{{.State.Health.Status}}' tensorweaver-lab) == healthy ]]; do
        (( SECONDS - t0 < 900 )) || { docker logs --tail 30 tensorweaver-lab; echo "error: lab not healthy" >&2; return 1; }
        sleep 1
    done
    echo "lab container healthy $((SECONDS - t0)) s after make lab started (image build included)"
    code=$(http_status "http://127.0.0.1:$port/api/status" "$token")
    echo "GET /api/status with the token: $code"
    [[ $code == 200 ]] || { echo "error: expected 200" >&2; return 1; }
    code=$(http_status "http://127.0.0.1:$port/api/status")
    echo "GET /api/status without a token: $code"
    [[ $code == 403 ]] || { echo "error: expected 403" >&2; return 1; }
    # The student's copy of lab 00 (in the workspace) runs until its exercise raises.
    if docker exec -i tensorweaver-lab python - 00_environment.ipynb <docker/run_in_running_server.py 2>"$STATE/lab00.err"; then
        echo "error: the student's lab 00 ran through: its exercise should be unsolved" >&2; return 1
    fi
    grep -q NotImplementedError "$STATE/lab00.err" || { cat "$STATE/lab00.err" >&2; return 1; }
    echo "workspace lab 00 stops at its exercise (NotImplementedError), as unsolved"
    make --no-print-directory lab-stop
}

container_tests() {
    make --no-print-directory venv-test
    .venv/bin/python -m pip install -q -e '.[browser]'      # Playwright; the browser is Debian's
    REQUIRE_BROWSER=1 .venv/bin/python -m pytest -m container $PYTEST_ARGS
}

# The whole parity set in the GPU image: every op case (its table comes back to
# build/parity-gpu/ and must list the cases bench/PARITY.md lists), every lab on cuPyNumeric
# against NumPy, and the engine track's grading. The venv stage before ran only a selection
# (.ci/parity.sh --smoke): since the op cases run in fresh Legate processes of 100 cases
# (tests/parity/conftest.py), the whole set fits beside the CPU image's checks here.
test_gpu() {
    rm -f build/parity-gpu/parity.md
    make --no-print-directory test-gpu PYTEST_ARGS="--durations=25"
    bash .ci/parity-rows.sh build/parity-gpu/parity.md
}

image_sizes() {
    docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' \
        | grep -E "^(tensorweaver-lab:|local/bookworm-python:)" | sed 's/^/  /'
}

images() {
    stage setup install_packages
    stage daemon start_daemon
    stage base-image docker/base/build-base.sh          # Quick start, command 1 (as written)
    stage build make --no-print-directory build
    stage build-gpu make --no-print-directory build-gpu
    stage build-hub make --no-print-directory hub-build
}

checks() {
    stage daemon start_daemon                           # reuses the images step's daemon
    mkdir -p build
    # The op parity suite is mostly one Legate process on one core (its NumPy side finishes
    # early), and so are most of the checks below: it runs beside them, on the other core.
    # The hub waits for it (ten servers starting at once need both cores).
    check_bg test-gpu test_gpu
    check quickstart-lab quickstart_lab                # Quick start, command 2
    check container-tests container_tests
    check test make --no-print-directory test           # Quick start, command 3
    check onnx make --no-print-directory onnx
    check_wait test-gpu
    check hub bash .ci/hub.sh                           # a class on JupyterHub (tests/hub, bench)
    echo "::: image sizes"
    image_sizes
}

PYTEST_ARGS=${PYTEST_ARGS:-}
case $MODE in
    images) images ;;
    checks) checks ;;
    all) images; checks ;;
    stop) exit 0 ;;         # the cleanup stops the lab and the daemon an `images` run started
    *) echo "usage: .ci/docker.sh [images|checks|stop]" >&2; exit 2 ;;
esac

echo "::: docker stage times ($MODE)"
printf '  %s\n' "${SUMMARY[@]}"
if [[ ${#FAILED[@]} -gt 0 ]]; then
    echo "::: failed: ${FAILED[*]}" >&2
    exit 1
fi
