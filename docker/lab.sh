#!/usr/bin/env bash
# Start JupyterLab in a container and print its URL: what `make lab` and `make lab-gpu` run.
#
#   docker/lab.sh start      start (or find) the lab, wait until it answers, print the URL;
#                            then follow its log until Ctrl-C, which stops it (DETACH=1: return)
#   docker/lab.sh stop       stop and remove the lab container
#   docker/lab.sh workspace  create or update the student workspace, start nothing
#
# Two kinds of lab:
#   student (default)  serves WORKSPACE: the released labs (exercises unsolved), copied in on
#                      first use and never overwritten (updated labs arrive beside the
#                      student's copy as NAME.updated.ipynb). labs/ is not mounted.
#   SOLUTIONS=1        for instructors: serves the repository, with LAB_DIR (the solved labs)
#                      mounted writable at ~/work/labs.
#
# Settings (environment; the Makefile passes them):
#   IMAGE          image to run                                  (tensorweaver-lab:cpu)
#   NAME           container name                                (tensorweaver-lab)
#   PORT           host port, published on 127.0.0.1 only       (8888)
#   WORKSPACE      host folder of the student's work, mounted at ~/workspace (workspace)
#   SOLUTIONS      1: the instructor's lab described above       (0)
#   LAB_DIR        the solved labs, mounted by SOLUTIONS=1       (labs)
#   NB_UID         uid the lab runs as, group 100; files it saves belong to it
#                                                                (your uid; 1000 for root)
#   JUPYTER_TOKEN  the access token; empty is refused            (a new random one)
#   CPUS           CPUs the lab may use (docker run --cpus; the BLAS threads follow)  (all)
#   RUN_FLAGS      extra `docker run` flags, e.g. --gpus all
#   DETACH         1: return once the lab is ready
set -euo pipefail

DOCKER=${DOCKER:-docker}
IMAGE=${IMAGE:-tensorweaver-lab:cpu}
NAME=${NAME:-tensorweaver-lab}
PORT=${PORT:-8888}
LAB_DIR=${LAB_DIR:-labs}
WORKSPACE=${WORKSPACE:-workspace}
SOLUTIONS=${SOLUTIONS:-0}
CPUS=${CPUS:-}
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
}

# What this start was asked for, one line; stored as a label on the container so that a
# second `make lab` can tell whether the running lab is the one asked for.
settings() {
    if [[ $SOLUTIONS == 1 ]]; then
        echo "SOLUTIONS=1 LAB_DIR=$1 PORT=$PORT IMAGE=$IMAGE"
    else
        echo "WORKSPACE=$1 PORT=$PORT IMAGE=$IMAGE"
    fi
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

# Started by root, the lab runs as NB_UID (1000): a workspace folder just created belongs
# to root, so it is given to the lab's uid, or nothing could be saved in it. (Only an empty
# folder owned by root: a workspace with work in it keeps its owner.)
own_workspace() {
    if [[ $(id -u) -eq 0 && $NB_UID -ne 0 && $(stat -c %u "$1") -eq 0 && -z $(ls -A "$1") ]]; then
        chown "$NB_UID:100" "$1"
    fi
}

# `make workspace`: create or update the workspace without starting a lab. The image's entry
# point does it, as it does at every lab start.
workspace() {
    mkdir -p "$WORKSPACE" 2>/dev/null || die "cannot create $WORKSPACE here; choose another folder (WORKSPACE=DIR)."
    local dir
    dir=$(cd "$WORKSPACE" && pwd)
    own_workspace "$dir"
    "$DOCKER" run --rm --user "$NB_UID:100" \
        --volume "$dir:/home/jovyan/workspace" \
        --env TENSORWEAVER_WORKSPACE=/home/jovyan/workspace \
        "$IMAGE" true
    echo "workspace: $dir"
}

start() {
    [[ $SOLUTIONS == 0 || $SOLUTIONS == 1 ]] || die "SOLUTIONS=$SOLUTIONS: use SOLUTIONS=1 (the solved labs, for instructors) or leave it out."
    if [[ -n ${JUPYTER_TOKEN+set} && -z ${JUPYTER_TOKEN//[[:space:]]/} ]]; then
        die "JUPYTER_TOKEN is set but empty, which would turn authentication off; it is refused." \
            "Leave it out (a random token is made) or give it a value: make lab JUPYTER_TOKEN=<secret>."
    fi
    local dir
    if [[ $SOLUTIONS == 1 ]]; then dir=$LAB_DIR; else dir=$WORKSPACE; fi
    mkdir -p "$dir" 2>/dev/null || die "cannot create $dir here; choose another folder."
    dir=$(cd "$dir" && pwd)

    case $(container_state) in
        running)
            # One lab per name: show the one already there instead of failing on the name,
            # or, if it was started with other settings, say so and how to restart.
            local token running wanted
            token=$("$DOCKER" container inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$NAME" \
                    | sed -n 's/^JUPYTER_TOKEN=//p')
            running=$("$DOCKER" container inspect --format '{{index .Config.Labels "tensorweaver.lab.settings"}}' "$NAME")
            port=$("$DOCKER" port "$NAME" 8888/tcp | sed -n 's/^127\.0\.0\.1://p' | head -1)
            wanted=$(settings "$dir")
            if [[ $running != "$wanted" ]]; then
                {
                    echo "error: a lab is already running ($NAME) with other settings:"
                    echo "  running:   ${running:-unknown}"
                    echo "  requested: $wanted"
                    echo "Stop it first (make lab-stop), then run make lab again with your settings."
                    echo "The running lab: http://127.0.0.1:${port:-?}/lab?token=$token"
                } >&2
                return 1
            fi
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

    local token mounts=()
    token=${JUPYTER_TOKEN:-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')}
    if [[ $SOLUTIONS == 1 ]]; then
        mounts=(--volume "$dir:/home/jovyan/work/labs")
    else
        own_workspace "$dir"
        mounts=(--volume "$dir:/home/jovyan/workspace"
                --env TENSORWEAVER_WORKSPACE=/home/jovyan/workspace
                --env TENSORWEAVER_LAB_ROOT=/home/jovyan/workspace)
    fi

    local t0 t1
    t0=$(date +%s%N)
    # shellcheck disable=SC2086  # RUN_FLAGS is a list of flags
    "$DOCKER" run --detach --name "$NAME" \
        --user "$NB_UID:100" \
        --publish "127.0.0.1:$PORT:8888" \
        --env JUPYTER_TOKEN="$token" \
        --label "tensorweaver.lab.settings=$(settings "$dir")" \
        "${mounts[@]}" ${CPUS:+--cpus "$CPUS"} \
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
    if [[ $SOLUTIONS == 1 ]]; then
        echo "  instructor lab: the solved labs in $dir (mounted at ~/work/labs)"
    else
        echo "  workspace: $dir (your copies of the labs; saved work stays there)"
    fi
    "$DOCKER" logs "$NAME" 2>&1 | grep '^tensorweaver: \(warning\|notice\)' >&2 || true

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
    workspace) workspace ;;
    *) die "usage: $0 start|stop|workspace" ;;
esac
