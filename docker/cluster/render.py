"""Render a Slurm batch job that runs a TensorWeaver lab, and optionally submit it.

    python docker/cluster/render.py cpu --lab labs/00_environment.ipynb --quick
    python docker/cluster/render.py gpu --lab 04 --gpus 4 --partition gpu --time 01:00:00
    python docker/cluster/render.py multi --lab 04 --nodes 2 --gpus 4 --ranks-per-node 1
    python docker/cluster/render.py jupyter --gpus 1 --time 04:00:00 --submit

Modes (templates in docker/cluster/templates/):
  cpu      one node, CPU cores only: NumPy, or cuPyNumeric in Legate CPU mode;
  gpu      one node, N GPUs, one Legate process;
  multi    N nodes x R ranks, one Legate program started by `legate --launcher srun|mpirun`;
  jupyter  JupyterLab on a compute node; the job's output prints the SSH tunnel command.

The job is written to OUT/JOB_NAME.sbatch (OUT defaults to out/cluster). It is
self-contained: copy it to a cluster and `sbatch` it from the folder that should receive the
executed notebook (LAB.executed.ipynb), the metrics JSON (LAB.metrics.json) and the log.
With --submit it is submitted from OUT and the job id is printed. Standard library only.
"""
from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TEMPLATES = {"cpu": "cpu.sbatch", "gpu": "gpu.sbatch", "multi": "multi-node.sbatch",
             "jupyter": "jupyter.sbatch"}
RUNTIMES = ("apptainer", "docker", "venv")
BACKENDS = ("numpy", "cupynumeric")
DOCKER_IMAGES = {"numpy": "tensorweaver-lab:cpu", "cupynumeric": "tensorweaver-lab:gpu"}

_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")
_INCLUDE = re.compile(r"^\{\{include ([\w./-]+)\}\}$")
_SLURM_NAME = re.compile(r"^[A-Za-z0-9_.,:+-]+$")        # partitions, accounts, job names
_SLURM_TIME = re.compile(r"^(\d+-)?\d+(:\d{2}){0,2}$")   # MM, HH:MM:SS, D-HH[:MM[:SS]]
_MEMORY = re.compile(r"^\d+[KMGT]?$")


class RenderError(ValueError):
    """Bad input for a job: the message names the option and how to fix it."""


# =========================================================================== the lab
def resolve_lab(lab: str, repo: Path = REPO) -> str:
    """``labs/NN_name.ipynb`` for a lab given as that path, ``NN_name[.ipynb]`` or ``NN``."""
    labs_dir = repo / "labs"
    available = sorted(p.name for p in labs_dir.glob("[0-9]*.ipynb"))
    name = Path(lab).name
    if not name.endswith(".ipynb"):
        name += ".ipynb"
    if name in available:
        return f"labs/{name}"
    matches = [n for n in available if n.split("_")[0] == Path(lab).name]
    if len(matches) == 1:
        return f"labs/{matches[0]}"
    listing = ", ".join(available) or f"none: {labs_dir} has no NN_name.ipynb notebooks"
    raise RenderError(f"--lab {lab!r} is not a lab; available: {listing}")


# =========================================================================== the settings
def job_values(args) -> dict:
    """Check the options and turn them into the templates' placeholder values."""
    mode = args.mode
    lab = resolve_lab(args.lab, args.repo)
    gpus = args.gpus if args.gpus is not None else {"cpu": 0, "gpu": 1, "multi": 1, "jupyter": 0}[mode]
    nodes = args.nodes if args.nodes is not None else (2 if mode == "multi" else 1)
    ranks = args.ranks_per_node
    cpus = args.cpus if args.cpus is not None else (2 if mode in ("cpu", "jupyter") else 8)
    backend = args.backend or ("numpy" if mode == "cpu" or (mode == "jupyter" and gpus == 0)
                               else "cupynumeric")
    time_limit = args.time or ("02:00:00" if mode == "jupyter" else "00:30:00")

    for flag, value, low in (("--nodes", nodes, 1), ("--gpus", gpus, 0),
                             ("--ranks-per-node", ranks, 1), ("--cpus", cpus, 1),
                             ("--sysmem", args.sysmem, 64)):
        if value < low:
            raise RenderError(f"{flag} {value}: must be at least {low}")
    if args.fbmem is not None and args.fbmem < 64:
        raise RenderError(f"--fbmem {args.fbmem}: must be at least 64 (MiB per GPU)")
    if mode == "cpu" and gpus:
        raise RenderError(f"--gpus {gpus} with the cpu template; use `gpu` (one node) or `multi`")
    if mode == "gpu" and gpus == 0:
        raise RenderError("the gpu template needs --gpus 1 or more; use `cpu` for a CPU-only job")
    if mode != "multi" and (nodes != 1 or ranks != 1):
        raise RenderError(f"the {mode} template runs one process on one node; for --nodes "
                          f"{nodes} --ranks-per-node {ranks} use the `multi` template")
    if mode == "multi" and gpus % ranks:
        raise RenderError(f"--gpus {gpus} per node cannot be split evenly over --ranks-per-node "
                          f"{ranks}; give each rank the same number of GPUs")
    if backend not in BACKENDS:
        raise RenderError(f"--backend {backend!r}: use numpy or cupynumeric")
    if mode in ("gpu", "multi") and backend != "cupynumeric":
        raise RenderError(f"the {mode} template runs cuPyNumeric on Legate; --backend numpy "
                          "uses no GPU and no Legate: use the `cpu` template")
    if args.runtime not in RUNTIMES:
        raise RenderError(f"--runtime {args.runtime!r}: use apptainer, docker or venv")
    if mode == "multi" and args.runtime == "docker":
        raise RenderError("the multi template runs with --runtime apptainer or venv: the "
                          "launcher must start the ranks, which a Docker daemon does not allow")
    if not _SLURM_TIME.match(time_limit):
        raise RenderError(f"--time {time_limit!r}: use Slurm's format, e.g. 30, 01:00:00 or 1-00:00:00")
    if args.mem and not _MEMORY.match(args.mem):
        raise RenderError(f"--mem {args.mem!r}: use Slurm's format, e.g. 16G or 16000 (MB)")
    for flag, value in (("--partition", args.partition), ("--account", args.account),
                        ("--job-name", args.job_name)):
        if value and not _SLURM_NAME.match(value):
            raise RenderError(f"{flag} {value!r}: letters, digits and . , : + _ - only")

    stem = Path(lab).stem
    image = args.image or (DOCKER_IMAGES[backend] if args.runtime == "docker"
                           else str(args.repo / "tensorweaver-gpu.sif"))
    venv = args.venv or str(args.repo / (".venv-gpu" if backend == "cupynumeric" else ".venv"))
    fbmem_flag = f" --fbmem {args.fbmem}" if args.fbmem is not None and gpus else ""
    quote = shlex.quote
    return {
        "JOB_NAME": args.job_name or f"tw-{stem}-{mode}",
        "NODES": str(nodes),
        "RANKS_PER_NODE": str(ranks),
        "GPUS": str(gpus),
        "GPUS_SBATCH": str(gpus) if gpus else "",       # no --gpus-per-node line without GPUs
        "GPUS_PER_RANK": str(gpus // ranks),
        "GPU_FLAG": "1" if gpus else "",
        "CPUS": str(cpus),
        # Legate's CPU processors per rank: one with GPUs (they do the work), else all but
        # one core of the rank (kept for Python and Legate's utility thread).
        "LEGATE_CPUS": "1" if gpus else str(max(1, cpus - 1)),
        "MEM": args.mem or "",
        "TIME": time_limit,
        "PARTITION": args.partition or "",
        "ACCOUNT": args.account or "",
        "SYSMEM": str(args.sysmem),
        "FBMEM_FLAG": fbmem_flag,
        # Shell words (quoted): used as `TW_X=${TW_X:-{{X}}}`.
        "LAB": quote(lab),
        "BACKEND": quote(backend),
        "QUICK": "1" if args.quick else "",
        "RUNTIME": quote(args.runtime),
        "IMAGE": quote(str(image)),
        "REPO": quote(str(args.repo)),
        "VENV": quote(str(venv)),
    }


# =========================================================================== the template
def render(mode: str, values: dict, templates: Path = HERE / "templates") -> str:
    """The job script: includes inlined, placeholders filled, empty #SBATCH lines dropped."""
    out = []
    for line in (templates / TEMPLATES[mode]).read_text().splitlines():
        include = _INCLUDE.match(line.strip())
        if include:
            out.append((HERE / include.group(1)).read_text().rstrip("\n"))
            continue
        names = _PLACEHOLDER.findall(line)
        unknown = [n for n in names if n not in values]
        if unknown:
            raise KeyError(f"{TEMPLATES[mode]}: no value for {{{{{unknown[0]}}}}}")
        if line.startswith("#SBATCH") and any(values[n] == "" for n in names):
            continue                                   # an option that was not asked for
        out.append(_PLACEHOLDER.sub(lambda m: values[m.group(1)], line))
    return "\n".join(out) + "\n"


def write_job(mode: str, values: dict, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{values['JOB_NAME']}.sbatch"
    path.write_text(render(mode, values))
    path.chmod(0o755)
    return path


def submit(job: Path) -> str:
    """``sbatch`` the job from its folder (the submit directory receives the outputs)."""
    if shutil.which("sbatch") is None:
        raise RenderError("sbatch is not on PATH: submit from a Slurm login node (or load its "
                          f"module), or copy {job} to one and run `sbatch {job.name}` there")
    done = subprocess.run(["sbatch", "--parsable", job.name], cwd=job.parent,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RenderError(f"sbatch {job.name} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip().split(";")[0]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="render.py", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Every option of the job can also be changed at submit "
                                "time through TW_* variables; see the job's header.")
    p.add_argument("mode", choices=sorted(TEMPLATES), help="which template")
    p.add_argument("--lab", default="labs/00_environment.ipynb",
                   help="labs/NN_name.ipynb, NN_name or NN (default: %(default)s)")
    p.add_argument("--nodes", type=int, help="nodes (multi; default 2, else 1)")
    p.add_argument("--gpus", type=int, help="GPUs per node (default: 1 for gpu/multi, 0 otherwise)")
    p.add_argument("--ranks-per-node", type=int, default=1, help="Legate ranks per node (multi)")
    p.add_argument("--cpus", type=int, help="CPU cores per task/rank (default 2 cpu/jupyter, 8 gpu/multi)")
    p.add_argument("--mem", help="memory per node, Slurm format (e.g. 32G; default: the partition's)")
    p.add_argument("--sysmem", type=int, default=4000, help="Legate host memory per rank, MiB")
    p.add_argument("--fbmem", type=int, help="Legate GPU memory per GPU, MiB (default: Legate's)")
    p.add_argument("--time", help="time limit (default 00:30:00, jupyter 02:00:00)")
    p.add_argument("--partition", help="Slurm partition (default: the cluster's)")
    p.add_argument("--account", help="Slurm account to charge")
    p.add_argument("--job-name", help="job name (default tw-LAB-MODE)")
    p.add_argument("--backend", help="numpy or cupynumeric (default: numpy for cpu, else cupynumeric)")
    p.add_argument("--quick", action="store_true", help="short training schedules (the labs' --quick)")
    p.add_argument("--runtime", default="apptainer", help="apptainer (default), docker or venv")
    p.add_argument("--image", help="SIF file (apptainer) or image name (docker); default "
                   "tensorweaver-gpu.sif in the checkout, or tensorweaver-lab:cpu|gpu")
    p.add_argument("--venv", help="venv for --runtime venv (default .venv, or .venv-gpu for cupynumeric)")
    p.add_argument("--repo", type=Path, default=REPO, help="the checkout (for --runtime venv)")
    p.add_argument("--out", type=Path, default=REPO / "out" / "cluster",
                   help="folder for the job script, and the submit directory (default out/cluster)")
    p.add_argument("--submit", action="store_true", help="sbatch the job from --out")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    args.repo = args.repo.resolve()
    try:
        job = write_job(args.mode, job_values(args), args.out.resolve())
        if args.submit:
            job_id = submit(job)
            print(f"submitted job {job_id}: {job} (outputs and {job.stem}-{job_id}.out in {job.parent})")
        else:
            print(job)
    except RenderError as exc:
        print(f"render.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
