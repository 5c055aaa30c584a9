"""JupyterHub for a class on a Slurm cluster: each student's server is a Slurm job (batchspawner).

    TW_HUB_STATE=/srv/tw-hub TW_HUB_HUB_IP=login1 TW_HUB_PARTITION=gpu TW_HUB_GPUS=1 \\
    TW_HUB_RUNTIME=apptainer TW_IMAGE=/apps/tensorweaver/tensorweaver-hub-gpu.sif \\
        /apps/tensorweaver/hub/spawner/bin/jupyterhub -f docker/cluster/hub/jupyterhub_config.py

The hub runs on a login (or service) node as root, from the spawner venv that
docker/cluster/hub/build-venvs.sh builds on a filesystem every node mounts. A student logs in
with their cluster account (PAM: hub users are Unix users), and the hub submits their server
as a job *as that user* (sudo, or runuser when the hub is root without sudo). The job runs
batchspawner-singleuser from the same venv, which reports the server's port to the hub, then
docker/cluster/hub/tw-singleuser, which starts `jupyterhub-singleuser` in the lab runtime:
the hub image's SIF (TW_HUB_RUNTIME=apptainer, TW_IMAGE) or the students' venv
(TW_HUB_RUNTIME=venv, TW_HUB_VENV). Settings, all TW_HUB_* environment variables:

  STATE           the hub's database, cookie secret and PID files            (required)
  IP, PORT        the public proxy's address                                 127.0.0.1:8000
  HUB_IP          the hub API's address, which the compute nodes must reach   127.0.0.1
  HUB_API_PORT    its port                                                   8081
  PROXY           configurable-http-proxy (npm ci of docker/hub/package-lock.json)
  RUNTIME         apptainer (TW_IMAGE) or venv (VENV)                        apptainer
  PARTITION, TIME, CPUS, MEM     the job: partition, time limit, cores, memory
                                 (the cluster's default, 02:00:00, 2, 8G)
  GPUS            GPUs per server, N or TYPE:N; 0 for CPU-only (Legate CPU mode)   0
  GRES            1: ask for the GPUs as --gres=gpu:... (select/cons_res sites)
  ACCOUNT, QOS, RESERVATION, CONSTRAINT   passed to sbatch
  ALLOWED_GROUPS  Unix groups whose members may log in (e.g. the class's group)
  ADMINS          the instructors (hub admins), comma-separated
  EXTRA_CONFIG    a site's own JupyterHub settings, loaded last
"""
import os
import re
import shutil
import sys
from pathlib import Path

import batchspawner  # noqa: F401 -- registers the hub API handler the jobs report their port to

c = get_config()  # noqa: F821 -- provided by JupyterHub when it loads this file
HERE = Path(__file__).resolve().parent


def setting(name, default=None):
    """TW_HUB_<name>; a missing required one is named with its fix."""
    value = os.environ.get(f"TW_HUB_{name}", default)
    if value is None:
        raise SystemExit(f"jupyterhub_config.py: TW_HUB_{name} is not set (see the settings at "
                         f"the top of {__file__})")
    return value


def slurm_word(name, value, pattern=r"^[A-Za-z0-9_.,:+-]*$"):
    if not re.match(pattern, value):
        raise SystemExit(f"jupyterhub_config.py: TW_HUB_{name}={value!r}: letters, digits and "
                         ". , : + _ - only")
    return value


state = Path(setting("STATE"))
state.mkdir(parents=True, exist_ok=True)
runtime = setting("RUNTIME", "apptainer")
if runtime not in ("apptainer", "venv"):
    raise SystemExit(f"jupyterhub_config.py: TW_HUB_RUNTIME={runtime}: use apptainer or venv")

# ------------------------------------------------------------------ network and state
c.JupyterHub.bind_url = f"http://{setting('IP', '127.0.0.1')}:{setting('PORT', '8000')}"
# The jobs call the hub API from the compute nodes: on a real cluster this is the hub host's
# address on the cluster network (127.0.0.1 only serves a one-node cluster).
c.JupyterHub.hub_bind_url = f"http://{setting('HUB_IP', '127.0.0.1')}:{setting('HUB_API_PORT', '8081')}"
c.JupyterHub.hub_connect_url = c.JupyterHub.hub_bind_url
proxy = setting("PROXY", "")
if proxy:
    c.ConfigurableHTTPProxy.command = [proxy]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{setting('PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
# A hub restart keeps the students' jobs running; the hub re-attaches to them.
c.JupyterHub.cleanup_servers = setting("CLEANUP_SERVERS", "0") == "1"

# ------------------------------------------------------------------ the students' jobs
c.JupyterHub.spawner_class = "batchspawner.SlurmSpawner"
spawner_venv = Path(sys.prefix)          # the venv the hub runs from: every node mounts it
c.SlurmSpawner.batchspawner_singleuser_cmd = str(spawner_venv / "bin" / "batchspawner-singleuser")
c.Spawner.cmd = [str(HERE / "tw-singleuser")]
# The job is submitted as the student (hub users are Unix users): sudo where the site
# configured it for the hub, else runuser when the hub runs as root.
sudo, runuser = shutil.which("sudo"), shutil.which("runuser")
c.SlurmSpawner.exec_prefix = setting(
    "EXEC_PREFIX", f"{sudo} -E -u {{username}}" if sudo else f"{runuser} -u {{username}} --")
c.SlurmSpawner.req_srun = ""             # the server is the batch step itself
c.SlurmSpawner.req_partition = slurm_word("PARTITION", setting("PARTITION", ""))
c.SlurmSpawner.req_runtime = slurm_word("TIME", setting("TIME", "02:00:00"), r"^[0-9:-]+$")
c.SlurmSpawner.req_nprocs = slurm_word("CPUS", setting("CPUS", "2"), r"^[0-9]+$")
c.SlurmSpawner.req_memory = slurm_word("MEM", setting("MEM", "8G"), r"^[0-9]+[KMGT]?$")
c.SlurmSpawner.req_reservation = slurm_word("RESERVATION", setting("RESERVATION", ""))
gpus = slurm_word("GPUS", setting("GPUS", "0"))
gpu_count = int(gpus.rsplit(":", 1)[-1] or 0) if re.match(r"^([\w.-]+:)?\d+$", gpus) else None
if gpu_count is None:
    raise SystemExit(f"jupyterhub_config.py: TW_HUB_GPUS={gpus}: give N or TYPE:N (a100:1)")
options = []
if gpu_count and setting("GRES", "0") == "1":
    options.append(f"--gres=gpu:{gpus}")
elif gpu_count:
    options.append(f"--gpus-per-node={gpus}")
for name, flag in (("ACCOUNT", "account"), ("QOS", "qos"), ("CONSTRAINT", "constraint")):
    value = slurm_word(name, setting(name, ""), r"^[A-Za-z0-9_.,:+&|!*()\[\]-]*$")
    if value:
        options.append(f"--{flag}={value}")
c.SlurmSpawner.req_options = "\n".join(f"#SBATCH {option}" for option in options)

# One #SBATCH line per option (batchspawner's own script puts all options on one line).
c.SlurmSpawner.batch_script = """#!/bin/bash
#SBATCH --output={{homedir}}/jupyterhub_slurmspawner_%j.log
#SBATCH --job-name=tw-hub-{{username}}
#SBATCH --chdir={{homedir}}
#SBATCH --export={{keepvars}}
#SBATCH --get-user-env=L
#SBATCH --nodes=1
#SBATCH --ntasks=1
{% if partition %}#SBATCH --partition={{partition}}
{% endif %}{% if runtime %}#SBATCH --time={{runtime}}
{% endif %}{% if memory %}#SBATCH --mem={{memory}}
{% endif %}{% if nprocs %}#SBATCH --cpus-per-task={{nprocs}}
{% endif %}{% if reservation %}#SBATCH --reservation={{reservation}}
{% endif %}{{options}}
set -euo pipefail
echo "tensorweaver hub job $SLURM_JOB_ID on $(hostname): runtime $TW_RUNTIME," \\
    "CPUs ${SLURM_CPUS_PER_TASK:-?}, memory ${SLURM_MEM_PER_NODE:-?} MB," \\
    "GPUs ${SLURM_GPUS_ON_NODE:-0}, CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-unset}"
{{prologue}}
trap 'echo "usage: sacct -j $SLURM_JOB_ID --format=JobID,State,Elapsed,MaxRSS,AllocTRES%60"' EXIT
{{cmd}}
{{epilogue}}
"""

# What the job's server gets (the job sees only the spawner's environment: --export).
legate = {}
if gpu_count == 0:
    # No GPU: cuPyNumeric runs in Legate CPU mode on the job's cores, with the job's memory
    # less a quarter (at least 1 GiB) for the server, the kernel and Python, as the batch
    # jobs size it (docker/cluster/lib/runtime.sh).
    mem = c.SlurmSpawner.req_memory
    mib = int(mem[:-1]) * {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 ** 2}[mem[-1]] \
        if mem[-1] in "KMGT" else int(mem)
    sysmem = max(256, int(mib - max(mib / 4, 1024)))
    legate = {"LEGATE_AUTO_CONFIG": "0",
              "LEGATE_CONFIG": f"--cpus {max(1, int(c.SlurmSpawner.req_nprocs) - 1)} --gpus 0 "
                               f"--omps 0 --utility 1 --sysmem {sysmem}"}
c.Spawner.environment = {
    "TW_RUNTIME": runtime,
    "TW_IMAGE": os.environ.get("TW_IMAGE", ""),
    "TW_VENV": setting("VENV", str(spawner_venv.parent / "lab")),
    # sbatch and squeue (run as the student) and the job's commands: the hub's own PATH,
    # where the site's Slurm and Apptainer are.
    "PATH": setting("JOB_PATH", os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")),
    **legate,
}
# A cluster whose slurm.conf is not in the default place names it with SLURM_CONF.
c.Spawner.env_keep = ["SLURM_CONF", "LANG", "LC_ALL"]
c.Spawner.default_url = "/lab"
# A job can wait in the queue: give it time to start before the hub gives up.
c.Spawner.start_timeout = int(setting("START_TIMEOUT", "300"))
c.Spawner.http_timeout = int(setting("START_TIMEOUT", "300"))

# ------------------------------------------------------------------ accounts
# PAM: students log in with their cluster account; only the class's Unix groups may.
c.JupyterHub.authenticator_class = "pam"
groups = {g.strip() for g in setting("ALLOWED_GROUPS", "").split(",") if g.strip()}
c.Authenticator.allowed_users = set()
c.LocalAuthenticator.allowed_groups = groups
c.Authenticator.admin_users = {a.strip() for a in setting("ADMINS", "").split(",") if a.strip()}

# ------------------------------------------------------------------ the site's own settings
extra = setting("EXTRA_CONFIG", "")
if extra:
    if not Path(extra).is_file():
        raise SystemExit(f"jupyterhub_config.py: TW_HUB_EXTRA_CONFIG={extra} is not a file")
    load_subconfig(extra)  # noqa: F821 -- provided by JupyterHub
