#!/usr/bin/env bash
# The committed parity table (bench/PARITY.md) must list the same cases as the suite has now.
# Usage: .ci/parity-rows.sh REPORT   (the table a full parity run just wrote)
set -euo pipefail
cd "$(dirname "$0")/.."
report=${1:?usage: .ci/parity-rows.sh REPORT}
[[ -s $report ]] || { echo "parity: no table at $report: did the full parity suite run?" >&2; exit 1; }
if grep -q '^\*\*Only [0-9]* of the' "$report"; then
    echo "parity: $report comes from a selection of cases, not the full suite" >&2
    exit 1
fi
rows() { grep -o '^| `[^`]*` | [a-z0-9]* |' "$1" | sort; }
if ! diff <(rows bench/PARITY.md) <(rows "$report") >/dev/null; then
    echo "parity: bench/PARITY.md lists other cases than the suite has now;" \
         "regenerate it with 'make parity-table' and commit it:" >&2
    diff <(rows bench/PARITY.md) <(rows "$report") >&2 || true
    exit 1
fi
echo "parity: every case agrees, and bench/PARITY.md lists the suite's cases ($report)"
