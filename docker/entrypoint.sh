#!/bin/bash
# Entry point of the TensorWeaver Lab images, run by tini (PID 1): check what a student can
# fix, then run the command (by default `jupyter lab`).
set -euo pipefail

work=/home/jovyan/work
uid=$(id -u)

if [[ $uid -eq 0 ]]; then
    echo "tensorweaver: warning: running as root. The images are meant to run as jovyan" \
         "(uid 1000) or as your own uid (docker run --user \"\$(id -u):100\")." >&2
fi

# A bind-mounted folder that this uid cannot write to would lose every notebook save.
for dir in "$work" "$work/labs"; do
    if [[ -d $dir && ! -w $dir ]]; then
        owner=$(stat -c '%u' "$dir")
        fix="make the folder group-writable on the host (chgrp -R 100 FOLDER && chmod -R g+rwX FOLDER)"
        [[ $owner -eq 0 ]] || fix="run as its owner (make lab NB_UID=$owner) or $fix"
        echo "tensorweaver: warning: $dir (owner uid $owner) is not writable by uid $uid," \
             "so notebooks cannot be saved there: $fix." >&2
    fi
done

exec "$@"
