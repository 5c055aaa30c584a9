#!/usr/bin/env bash
# Start JupyterLab in a container and print its URL: what `make lab` and `make lab-gpu` run.
#
#   docker/lab.sh start      start (or find) the lab, wait until it answers, print the URL;
#                            then follow its log until Ctrl-C, which stops it (DETACH=1: return)
#   docker/lab.sh stop       stop and remove the lab container
#
# Settings (environment; the Makefile passes them):
#   IMAGE          image to run                                  (tensorweaver-lab:cpu)
#   NAME           container name                                (tensorweaver-lab)
#   PORT           host port, published on 127.0.0.1 only       (8888)
#   LAB_DIR        host folder mounted as ~/work/labs: notebooks saved there survive the
#                  container                                     (labs)
#   NB_UID         uid the lab runs as, group 100; files written to LAB_DIR belong to it
#                                                                (your uid; 1000 for root)
#   JUPYTER_TOKEN  the access token                              (a new random one)
#   RUN_FLAGS      extra `docker run` flags, e.g. --gpus all
#   DETACH         1: return once the lab is ready
set -euo pipefail

DOCKER=${DOCKER:-docker}
IMAGE=${IMAGE:-tensorweaver-lab:cpu}
NAME=${NAME:-tensorweaver-lab}
PORT=${PORT:-8888}
LAB_DIR=${LAB_DIR:-labs}
RUN_FLAGS=${RUN_FLAGS:-}
DETACH=${DETACH:-0}
READY_TIMEOUT=${READY_TIMEOUT:-120}
if [[ -z ${NB_UID:-} ]]; then
    NB_UID=$(id -u)
    [[ $NB_UID -ne 0 ]] || NB_UID=1000   # Jupyter refuses to run as root; use jovyan
fi

die() { printf 'error: %s\n' "$@" >&2; exit 1; }

# HTTP status of GET $1 on the published port, with bash only (no curl needed on the host).
http_status() {
    local status
    exec 3<>"/dev/tcp/127.0.0.1/$PORT" 2>/dev/null || return 1
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\n\r\n' "$1" "$PORT" >&3
    read -r -t 5 _ status _ <&3 || status=""
    exec 3<&- 3>&-
    [[ -n $status ]] && echo "$status"
}

container_state() { "$DOCKER" container inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null || true; }

print_url() {
    echo "JupyterLab: http://127.0.0.1:$PORT/lab?token=$1"
    echo "  labs folder: $LAB_DIR (mounted at ~/work/labs; saved notebooks stay there)"
}

stop() {
    if [[ -n $(container_state) ]]; then
        "$DOCKER" stop --time 10 "$NAME" >/dev/null
        "$DOCKER" rm "$NAME" >/dev/null
        echo "stopped $NAME"
    else
        echo "$NAME is not running"
    fi
}

start() {
    case $(container_state) in
        running)
            # One lab per name: show the one already there instead of failing on the name.
            local token
            token=$("$DOCKER" container inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$NAME" \
                    | sed -n 's/^JUPYTER_TOKEN=//p')
            port=$("$DOCKER" port "$NAME" 8888/tcp | sed -n 's/^127\.0\.0\.1://p' | head -1)
            echo "$NAME is already running (make lab-stop stops it)."
            PORT=${port:-$PORT} print_url "$token"
            return 0 ;;
        "") ;;
        *) "$DOCKER" rm "$NAME" >/dev/null ;;   # a stopped leftover from an earlier run
    esac

    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then   # something already listens
        die "port $PORT on 127.0.0.1 is already in use (another lab or program)." \
            "Choose another one: make lab PORT=8889 (or stop the other program; make lab-stop stops the lab)."
    fi

    mkdir -p "$LAB_DIR"
    local lab_dir token
    lab_dir=$(cd "$LAB_DIR" && pwd)
    token=${JUPYTER_TOKEN:-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')}

    local t0 t1
    t0=$(date +%s%N)
    # shellcheck disable=SC2086  # RUN_FLAGS is a list of flags
    "$DOCKER" run --detach --name "$NAME" \
        --user "$NB_UID:100" \
        --publish "127.0.0.1:$PORT:8888" \
        --env JUPYTER_TOKEN="$token" \
        --volume "$lab_dir:/home/jovyan/work/labs" \
        $RUN_FLAGS "$IMAGE" >/dev/null

    until [[ $(http_status /api) == 200 ]]; do
        if [[ $(container_state) != running ]]; then
            "$DOCKER" logs "$NAME" >&2 || true
            die "the lab container stopped during start-up (its log is above)."
        fi
        if (( ($(date +%s%N) - t0) / 1000000000 >= READY_TIMEOUT )); then
            "$DOCKER" logs --tail 30 "$NAME" >&2 || true
            die "JupyterLab did not answer on port $PORT within $READY_TIMEOUT s (log above)."
        fi
        sleep 0.1
    done
    t1=$(date +%s%N)
    printf 'JupyterLab ready in %d.%02d s\n' $(((t1 - t0) / 1000000000)) $(((t1 - t0) / 10000000 % 100))
    print_url "$token"
    "$DOCKER" logs "$NAME" 2>&1 | grep '^tensorweaver: warning' >&2 || true

    if [[ $DETACH == 1 ]]; then
        echo "  running in the background: make lab-stop stops it"
        return 0
    fi
    echo "  Ctrl-C stops the lab"
    trap 'echo; stop' INT TERM
    "$DOCKER" logs --follow --since 0s "$NAME" || true
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    *) die "usage: $0 start|stop" ;;
esac
