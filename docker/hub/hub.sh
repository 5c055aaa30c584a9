#!/usr/bin/env bash
# JupyterHub for a class on this host: what `make hub`, `make hub-stop` and `make hub-collect` run.
#
#   docker/hub/hub.sh start     create the hub's venv (hash-locked) and proxy (npm ci) if
#                               needed, start the hub in the background, wait until it answers
#   docker/hub/hub.sh stop      stop the hub (by its PID): the students' servers stop with it,
#                               their workspace volumes are kept
#   docker/hub/hub.sh collect OUT [LAB...]
#                               copy every student's (not the instructors') notebooks (all labs, or the LABs named,
#                               e.g. 00_environment) from their volumes into OUT/<student>/,
#                               the layout `make autograde SUBMISSIONS=OUT` reads
#
# Settings (environment; the Makefile passes them as HUB_*):
#   HUB_IP, HUB_PORT   the public address, 127.0.0.1:8000 (a class reaches it through the
#                      site's TLS reverse proxy; see README.md)
#   HUB_STATE          the hub's database, cookie secret, PIDs and log   (out/hub)
#   HUB_VENV           the hub's venv, from docker/hub/requirements.txt  (.venv-hub)
#   HUB_NETWORK        the class's Docker network                        (tensorweaver-hub)
#   HUB_IMAGE          the students' image                               (tensorweaver-lab-hub:cpu)
#   HUB_GPU_IMAGE      a second image offered on the spawn page (GPU); empty: CPU only
#   HUB_GPUS           all: give GPU servers the GPUs; empty: Legate CPU mode
#   HUB_ADMINS         the instructors, comma-separated                  (instructor)
#   HUB_AUTH           oauth: the site's OAuth provider (OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET,
#                      OAUTH2_AUTHORIZE_URL, OAUTH2_TOKEN_URL, OAUTH2_USERDATA_URL,
#                      OAUTH2_USERNAME_KEY in the environment); shared-password: tests only
#   HUB_ALLOWED_USERS, HUB_ALLOWED_GROUPS   who may log in (comma-separated); HUB_ALLOW_ALL=1:
#                      everyone the provider knows
#   HUB_MEM, HUB_CPUS  limits per student                                (2G, 1)
#   HUB_IDLE_TIMEOUT, HUB_CULL_EVERY   idle culling, in seconds          (3600, 300)
#   HUB_START_TIMEOUT  seconds a server may take to start                 (300)
#   HUB_EXTRA_CONFIG   a site's own JupyterHub settings, loaded last (e.g. OAuth)
#   HUB_VOLUME_PREFIX  prefix of the students' volumes and containers    (tensorweaver-hub-)
set -euo pipefail
cd "$(dirname "$0")/../.."

DOCKER=${DOCKER:-docker}
HUB_IP=${HUB_IP:-127.0.0.1}
HUB_PORT=${HUB_PORT:-8000}
HUB_STATE=${HUB_STATE:-out/hub}
HUB_VENV=${HUB_VENV:-.venv-hub}
HUB_NETWORK=${HUB_NETWORK:-tensorweaver-hub}
HUB_IMAGE=${HUB_IMAGE:-tensorweaver-lab-hub:cpu}
HUB_VOLUME_PREFIX=${HUB_VOLUME_PREFIX:-tensorweaver-hub-}
READY_TIMEOUT=${READY_TIMEOUT:-120}
PYTHON=${PYTHON:-python3}

die() { printf 'error: %s\n' "$@" >&2; exit 1; }

# The venv is rebuilt when the lock changes (its hash is recorded next to it).
hub_venv() {
    local lock=docker/hub/requirements.txt stamp="$HUB_VENV/.lock-sha256" want
    want=$(sha256sum "$lock" | cut -d' ' -f1)
    [[ -f $stamp && $(cat "$stamp") == "$want" ]] && return 0
    echo "hub: creating $HUB_VENV from $lock"
    rm -rf "$HUB_VENV"
    "$PYTHON" -m venv "$HUB_VENV"
    "$HUB_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --require-hashes --no-deps -r "$lock"
    "$HUB_VENV/bin/python" -m pip check >/dev/null
    echo "$want" >"$stamp"
}

# configurable-http-proxy from docker/hub/package-lock.json (npm ci: exactly the lock).
hub_proxy() {
    local dir="$HUB_VENV/proxy" stamp="$HUB_VENV/proxy/.lock-sha256" want
    command -v npm >/dev/null && command -v node >/dev/null \
        || die "the hub's proxy (configurable-http-proxy) needs Node.js and npm: sudo apt-get install nodejs npm"
    want=$(cat docker/hub/package.json docker/hub/package-lock.json | sha256sum | cut -d' ' -f1)
    [[ -f $stamp && $(cat "$stamp") == "$want" ]] && return 0
    echo "hub: installing configurable-http-proxy into $dir (npm ci)"
    rm -rf "$dir"
    mkdir -p "$dir"
    cp docker/hub/package.json docker/hub/package-lock.json "$dir/"
    # EBADENGINE: a dependency asks for a newer Node than configurable-http-proxy itself needs.
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
}

# The class's network, and its gateway: the address the containers reach the hub on.
hub_network() {
    "$DOCKER" network inspect "$HUB_NETWORK" >/dev/null 2>&1 \
        || "$DOCKER" network create --driver bridge --label tensorweaver.hub=1 "$HUB_NETWORK" >/dev/null
    "$DOCKER" network inspect "$HUB_NETWORK" --format '{{(index .IPAM.Config 0).Gateway}}'
}

hub_pid() {
    local pid
    pid=$(cat "$HUB_STATE/hub.pid" 2>/dev/null) || return 1
    kill -0 "$pid" 2>/dev/null && echo "$pid"
}

http_status() {   # URL -> HTTP status, or nothing when nothing answers
    "$PYTHON" - "$1" <<'EOF'
import sys, urllib.error, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=3).status)
except urllib.error.HTTPError as exc:
    print(exc.code)
except OSError:
    pass
EOF
}

start() {
    local url="http://$HUB_IP:$HUB_PORT" pid
    if pid=$(hub_pid); then
        echo "the hub is already running (pid $pid): $url/hub/ (make hub-stop stops it)"
        return 0
    fi
    "$DOCKER" image inspect "$HUB_IMAGE" >/dev/null 2>&1 \
        || die "the students' image $HUB_IMAGE is missing: build it with make hub-build"
    if [[ -n $(http_status "$url/") ]]; then
        die "something already answers on $url; choose another port: make hub HUB_PORT=8010"
    fi
    hub_venv
    hub_proxy
    local gateway
    gateway=$(hub_network)
    mkdir -p "$HUB_STATE"
    local state
    state=$(cd "$HUB_STATE" && pwd)

    # The hub runs in its own session (it outlives this script) with SIGINT at its default: a
    # background job started by a script inherits SIGINT ignored, and passes that on to the
    # idle culler, which then ignores the hub's SIGINT at shutdown (a 30 s wait).
    TW_HUB_STATE=$state TW_HUB_IP=$HUB_IP TW_HUB_PORT=$HUB_PORT TW_HUB_HUB_IP=$gateway \
    TW_HUB_PROXY_API_PORT=${HUB_PROXY_API_PORT:-$((HUB_PORT + 1))} \
    TW_HUB_HUB_API_PORT=${HUB_API_PORT:-8081} \
    TW_HUB_PROXY="$(pwd)/$HUB_VENV/proxy/node_modules/.bin/configurable-http-proxy" \
    TW_HUB_NETWORK=$HUB_NETWORK TW_HUB_IMAGE=$HUB_IMAGE TW_HUB_GPU_IMAGE=${HUB_GPU_IMAGE:-} \
    TW_HUB_GPUS=${HUB_GPUS:-} TW_HUB_ADMINS=${HUB_ADMINS:-instructor} \
    TW_HUB_MEM=${HUB_MEM:-2G} TW_HUB_CPUS=${HUB_CPUS:-1} \
    TW_HUB_IDLE_TIMEOUT=${HUB_IDLE_TIMEOUT:-3600} TW_HUB_CULL_EVERY=${HUB_CULL_EVERY:-300} \
    TW_HUB_START_TIMEOUT=${HUB_START_TIMEOUT:-300} \
    TW_HUB_EXTRA_CONFIG=${HUB_EXTRA_CONFIG:+$(realpath "$HUB_EXTRA_CONFIG")} \
    TW_HUB_VOLUME_PREFIX=$HUB_VOLUME_PREFIX TW_HUB_AUTH=${HUB_AUTH:-oauth} \
    TW_HUB_ALLOWED_USERS=${HUB_ALLOWED_USERS:-} TW_HUB_ALLOWED_GROUPS=${HUB_ALLOWED_GROUPS:-} \
    TW_HUB_ALLOW_ALL=${HUB_ALLOW_ALL:-0} \
    TW_HUB_SHARED_PASSWORD=${HUB_SHARED_PASSWORD:-} TW_HUB_ADMIN_PASSWORD=${HUB_ADMIN_PASSWORD:-} \
    "$HUB_VENV/bin/python" -c '
import os, signal, sys
os.setsid()
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$HUB_VENV/bin/jupyterhub" \
        -f docker/hub/jupyterhub_config.py >>"$state/hub.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$HUB_STATE/hub.pid"

    local t0=$SECONDS
    until [[ $(http_status "$url/hub/api/") == 200 ]]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -30 "$state/hub.log" >&2
            die "the hub stopped during start-up (log above; full log: $HUB_STATE/hub.log)"
        fi
        if (( SECONDS - t0 >= READY_TIMEOUT )); then
            tail -30 "$state/hub.log" >&2
            die "the hub did not answer on $url within $READY_TIMEOUT s (log: $HUB_STATE/hub.log)"
        fi
        sleep 0.5
    done
    echo "JupyterHub ready in $((SECONDS - t0)) s (pid $pid): $url/hub/"
    echo "  log in through the site's OAuth provider; instructors (hub admins): ${HUB_ADMINS:-instructor}"
    echo "  log: $HUB_STATE/hub.log; make hub-stop stops it (the students' volumes are kept)"
}

stop() {
    local pid
    if ! pid=$(hub_pid); then
        echo "the hub is not running"
    else
        # SIGTERM: the hub stops every student's server (containers removed), then its proxy.
        kill -TERM "$pid"
        local t0=$SECONDS
        while kill -0 "$pid" 2>/dev/null; do
            if (( SECONDS - t0 >= 60 )); then
                echo "warning: the hub (pid $pid) did not stop in 60 s; killing it" >&2
                kill -KILL "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.2
        done
        echo "stopped the hub (pid $pid) in $((SECONDS - t0)) s"
    fi
    rm -f "$HUB_STATE/hub.pid"
    # A hub that was killed leaves its proxy and the students' containers: stop them, by the
    # PID the hub recorded and by the class's container names.
    local proxy
    proxy=$(cat "$HUB_STATE/proxy.pid" 2>/dev/null || true)
    if [[ -n $proxy ]] && kill -0 "$proxy" 2>/dev/null \
        && grep -q configurable-http-proxy "/proc/$proxy/cmdline" 2>/dev/null; then
        kill -TERM "$proxy"
        echo "stopped the proxy left behind (pid $proxy)"
    fi
    rm -f "$HUB_STATE/proxy.pid"
    local left
    left=$("$DOCKER" ps -q --filter "name=^$HUB_VOLUME_PREFIX" 2>/dev/null || true)
    if [[ -n $left ]]; then
        # shellcheck disable=SC2086  # a list of ids
        "$DOCKER" stop $left >/dev/null
        echo "stopped $(wc -w <<<"$left") student server(s) left behind"
    fi
    local volumes
    volumes=$("$DOCKER" volume ls -q --filter "name=$HUB_VOLUME_PREFIX" 2>/dev/null | grep -c "^$HUB_VOLUME_PREFIX" || true)
    echo "the students' workspaces are kept: $volumes volume(s) named $HUB_VOLUME_PREFIX<student>"
}

# One throwaway container (the students' image, no entry point) mounts every student's volume
# read-only and copies out the lab notebooks; never the `.updated` copies or other files.
collect() {
    local out=${1:-}
    [[ -n $out ]] || die "usage: $0 collect OUT [LAB...] (LAB: e.g. 00_environment)"
    shift
    local volumes=() mounts=() name admins=",${HUB_ADMINS:-instructor},"
    while read -r name; do
        [[ $name == "$HUB_VOLUME_PREFIX"* ]] || continue
        [[ $admins != *",${name#"$HUB_VOLUME_PREFIX"},"* ]] || continue    # the instructors' own
        volumes+=("$name")
        mounts+=(--volume "$name:/in/${name#"$HUB_VOLUME_PREFIX"}:ro")
    done < <("$DOCKER" volume ls -q --filter "name=$HUB_VOLUME_PREFIX")
    [[ ${#volumes[@]} -gt 0 ]] || die "no student volumes ($HUB_VOLUME_PREFIX<student>) on this host"
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
    local pattern="[0-9][0-9]_*.ipynb"
    "$DOCKER" run --rm --user "$(id -u):$(id -g)" --network none --entrypoint /bin/bash \
        "${mounts[@]}" --volume "$out:/out" "$HUB_IMAGE" -c '
            shopt -s nullglob
            labs=("$@")
            # The engine track (the manifest'"'"'s assignments, labs 10 and 12) grades the
            # student'"'"'s engine modules too: their engine/ comes along when one of those is
            # collected (or every lab is).
            engine=$([[ ${#labs[@]} -eq 0 ]] && echo 1 || python -c "
import sys
from tensorweaver.labs.engine_manifest import ASSIGNMENTS
print(int(any(lab in ASSIGNMENTS for lab in sys.argv[1:])))" "${labs[@]}")
            for dir in /in/*; do
                student=${dir##*/}
                if [[ ${#labs[@]} -gt 0 ]]; then
                    files=(); for lab in "${labs[@]}"; do files+=("$dir/$lab.ipynb"); done
                else
                    files=("$dir"/'"$pattern"')
                fi
                n=0
                for f in "${files[@]}"; do
                    [[ -f $f && $f != *.updated*.ipynb ]] || continue
                    mkdir -p "/out/$student" && cp "$f" "/out/$student/" && n=$((n + 1))
                done
                if [[ $engine == 1 && -d $dir/engine && -d /out/$student ]]; then
                    cp -r "$dir/engine" "/out/$student/"
                fi
                echo "  $student: $n notebook(s)"
            done' collect "$@"
    echo "collected into $out (make autograde SUBMISSIONS=$out)"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    collect) shift; collect "$@" ;;
    *) die "usage: $0 start|stop|collect OUT [LAB...]" ;;
esac
