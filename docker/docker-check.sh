#!/usr/bin/env bash
# Checks run by the container make targets, so that a missing piece is named with its fix.
#
#   docker/docker-check.sh                  the Docker client is installed and the daemon answers
#   docker/docker-check.sh gpus IMAGE MODE  print the `docker run` flags for the GPUs, where MODE
#                                           is auto (GPUs if Docker has them, else Legate CPU
#                                           mode with a notice), all (GPUs or an error) or none
set -euo pipefail

DOCKER=${DOCKER:-docker}

die() { printf 'error: %s\n' "$@" >&2; exit 1; }

check_daemon() {
    command -v "$DOCKER" >/dev/null \
        || die "Docker is not installed ('$DOCKER' is not on PATH)." \
               "Install Docker Engine, or run the test suite without it: make test-local"
    local out
    if ! out=$("$DOCKER" info 2>&1 >/dev/null); then
        if grep -qi 'permission denied' <<<"$out"; then
            die "your user may not use the Docker daemon ($out)." \
                "Add yourself to the docker group (sudo usermod -aG docker \$USER, then log in again) or use sudo."
        fi
        die "the Docker daemon is not running or not reachable ($(tail -1 <<<"$out"))." \
            "Start it (sudo systemctl start docker, or open Docker Desktop) and try again."
    fi
}

# `--gpus all` needs the NVIDIA Container Toolkit and a GPU; a throwaway container tells
# whether both are there (it fails in about a second when they are not).
gpu_flags() {
    local image=$1 mode=$2 out
    case $mode in
        none)
            echo "notice: GPUS=none: cuPyNumeric runs in Legate CPU mode (CUDA driver stand-in)." >&2
            return 0 ;;
        auto|all) ;;
        *) die "GPUS=$mode is not one of auto, all, none." ;;
    esac
    if out=$("$DOCKER" run --rm --gpus all --entrypoint true "$image" 2>&1); then
        echo "--gpus all"
        return 0
    fi
    local why
    # The daemon's answer, e.g. 'could not select device driver "" with capabilities: [[gpu]]'.
    why=$(grep -m1 -i 'error' <<<"$out" || grep -m1 . <<<"$out" || true)
    why=${why#docker: }
    if [[ $mode == all ]]; then
        die "GPUS=all, but Docker cannot give this container a GPU: $why" \
            "Install the NVIDIA Container Toolkit and restart Docker (sudo nvidia-ctk runtime configure --runtime=docker)," \
            "check the driver with nvidia-smi, or run with GPUS=auto or GPUS=none for Legate CPU mode."
    fi
    {
        echo "notice: no GPU available to Docker ($why)."
        echo "notice: cuPyNumeric runs in Legate CPU mode on the CUDA driver stand-in:"
        echo "notice: same code paths and results, CPU speed. For GPUs, install the NVIDIA"
        echo "notice: Container Toolkit; GPUS=all makes this an error instead of a fallback."
    } >&2
}

case ${1:-daemon} in
    daemon) check_daemon ;;
    gpus) [[ $# -eq 3 ]] || die "usage: $0 gpus IMAGE auto|all|none"; gpu_flags "$2" "$3" ;;
    *) die "usage: $0 [gpus IMAGE auto|all|none]" ;;
esac
