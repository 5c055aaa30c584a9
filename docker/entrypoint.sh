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
        owner=$(stat -c '%u:%g' "$dir")
        echo "tensorweaver: warning: $dir (owner $owner) is not writable by uid $uid," \
             "so notebooks cannot be saved there. Run as the folder's owner" \
             "(make lab NB_UID=${owner%%:*}) or make it group-writable on the host" \
             "(chgrp 100 <folder> && chmod g+rwx <folder>)." >&2
    fi
done

exec "$@"
