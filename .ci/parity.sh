#!/usr/bin/env bash
# CI stage: the parity suite, cuPyNumeric (Legate) against NumPy, on a machine with no GPU.
#
# Runs on a clean clone and installs what it needs itself: a venv with nvidia-cupynumeric
# (.venv-gpu) and the CUDA driver stand-in (build/cuda-stand-in/libcuda.so.1), so that Legate
# runs in CPU mode. On a GPU host the real driver is found and the same suite runs on the GPU.
# Leaves the per-op error table in $PARITY_REPORT (default build/parity.md).
#
#   .ci/parity.sh           the full suite (about 1000 cases), then the table check
#   .ci/parity.sh --smoke   a selection of cases (the small MLP's 200 SGD steps, matmul,
#                           gradient accumulation, LSTM, in-place) and the backend checks:
#                           proves the no-Docker path (make test-gpu-local) in about a
#                           minute. CI uses this, because its containers stage runs the whole
#                           parity set in the GPU image (make test-gpu: every op case, every
#                           lab on both backends, the engine track's grading), beside the
#                           CPU image's checks, and checks the table there.
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
if [[ ${1:-} == --smoke ]]; then
    make --no-print-directory test-gpu-local \
        PYTEST_ARGS="-q -k 'test_backend_select or (test_case_agrees and (mlp_sgd or matmul or grad_accumulation or LSTM or inplace))'"
    echo "parity: the selected cases agree; table in $PARITY_REPORT"
else
    make --no-print-directory test-gpu-local PYTEST_ARGS="-q"
    bash .ci/parity-rows.sh "$PARITY_REPORT"
fi
