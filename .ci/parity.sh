#!/usr/bin/env bash
# CI stage: the parity suite, cuPyNumeric (Legate) against NumPy, on a machine with no GPU.
#
# Runs on a clean clone and installs what it needs itself: a venv with nvidia-cupynumeric
# (.venv-gpu) and the CUDA driver stand-in (build/cuda-stand-in/libcuda.so.1), so that Legate
# runs in CPU mode. On a GPU host the real driver is found and the same suite runs on the GPU.
# Leaves the per-op error table in $PARITY_REPORT (default build/parity.md).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v "${CC:-cc}" >/dev/null && ! command -v gcc >/dev/null; then
    echo "parity: a C compiler is needed to build the CUDA driver stand-in" \
         "(Debian: apt-get install gcc libc6-dev)" >&2
    exit 1
fi

export PARITY_REPORT=${PARITY_REPORT:-build/parity.md}
make --no-print-directory venv-gpu
make --no-print-directory env-gpu-local           # the Legate mode and why, for the log
make --no-print-directory test-gpu-local PYTEST_ARGS="-q"

# The committed table (bench/PARITY.md) must list the same cases as the suite has now.
rows() { grep -o '^| `[^`]*` | [a-z0-9]* |' "$1" | sort; }
if ! diff <(rows bench/PARITY.md) <(rows "$PARITY_REPORT") >/dev/null; then
    echo "parity: bench/PARITY.md lists other cases than the suite has now;" \
         "regenerate it with 'make parity-table' and commit it:" >&2
    diff <(rows bench/PARITY.md) <(rows "$PARITY_REPORT") >&2 || true
    exit 1
fi
echo "parity: all cases agree; table in $PARITY_REPORT"
