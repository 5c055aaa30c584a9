#!/usr/bin/env bash
# Build one image quietly: what `make build` and `make build-gpu` run.
#
#   docker/build-image.sh TAG DOCKERFILE [docker build arguments...]
#
# Prints one line: "TAG: up to date (N MB)" when nothing changed, or "TAG: built in S s (N MB)".
# The full build output goes to build/TAG.log (VERBOSE=1 shows it as it happens); on failure
# its last lines are shown, with a hint when the base image could not be pulled.
# Settings (environment): DOCKER, VERBOSE, BASE_IMAGE (for the hint), GOAL (the make target
# the user ran, named in the hint).
set -euo pipefail

DOCKER=${DOCKER:-docker}
VERBOSE=${VERBOSE:-0}
[[ $# -ge 2 ]] || { echo "usage: $0 TAG DOCKERFILE [docker build args...]" >&2; exit 2; }
tag=$1 dockerfile=$2
shift 2

mkdir -p build
log="build/$(tr ':/' '--' <<<"$tag").log"
image_id() { "$DOCKER" image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

before=$(image_id "$tag")
t0=$SECONDS
status=0
if [[ $VERBOSE == 1 ]]; then
    "$DOCKER" build "$@" -f "$dockerfile" -t "$tag" . 2>&1 | tee "$log" || status=$?
else
    "$DOCKER" build "$@" -f "$dockerfile" -t "$tag" . >"$log" 2>&1 || status=$?
fi

if [[ $status -ne 0 ]]; then
    [[ $VERBOSE == 1 ]] || tail -25 "$log" >&2
    echo "error: building $tag failed (full log: $log)." >&2
    base=${BASE_IMAGE:-python:3.11-slim-bookworm}
    if [[ $dockerfile == Dockerfile ]] && [[ -z $(image_id "$base") ]]; then
        sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo "
        {
            echo "hint: the base image $base could not be pulled (no registry reachable?)."
            echo "hint: build one from Debian packages, which later make commands then use:"
            echo "hint:     ${sudo}docker/base/build-base.sh"
            echo "hint: then run again: make ${GOAL:-build}"
        } >&2
    fi
    exit 1
fi

after=$(image_id "$tag")
size=$("$DOCKER" image inspect --format '{{.Size}}' "$tag" | awk '{printf "%d MB", $1 / 1e6}')
if [[ $before == "$after" ]]; then
    echo "$tag: up to date ($size)"
else
    echo "$tag: built in $((SECONDS - t0)) s ($size; log: $log)"
fi
