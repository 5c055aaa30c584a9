"""Render a Slurm batch job that runs a TensorWeaver lab, and optionally submit it.

    python docker/cluster/render.py cpu --lab labs/00_environment.ipynb --quick
    python docker/cluster/render.py gpu --lab 04 --gpus 4 --partition gpu --time 01:00:00
    python docker/cluster/render.py gpu --lab 04 --gpus a100:2 --qos class --roster students.txt
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

With --roster FILE (one student name per line) the job is a Slurm job array with one task per
student (cpu and gpu modes): task K runs the lab for the K-th student and writes its notebook,
metrics and log to OUT/STUDENT/.
"""
from __future__ import annotations

import argparse
import os
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
_GPUS = re.compile(r"^(?:([A-Za-z0-9_.-]+):)?(\d+)$")       # N or TYPE:N (a100:2)
# Feature expressions: a100&ib, [rack1|rack2], a100*2 ... (sbatch parses them, not a shell).
_CONSTRAINT = re.compile(r"^[A-Za-z0-9_.,:+&|!*()\[\]-]+$")
# Students become folder names and Unix-like account names: no spaces, no slashes.
_STUDENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*$")


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


# =========================================================================== the roster
def read_roster(path: Path) -> list:
    """Student names from a roster file: one per line; blank lines and # comments skipped."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise RenderError(f"--roster {path}: cannot read it ({exc.strerror})") from None
    names, seen = [], {}
    for number, line in enumerate(text.splitlines(), 1):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        if not _STUDENT.match(name):
            raise RenderError(f"--roster {path}, line {number}: {name!r} is not a student name "
                              "(letters, digits and _ . @ - only, one name per line); it names "
                              "the student's output folder")
        if name in seen:
            raise RenderError(f"--roster {path}, line {number}: {name!r} is already on line "
                              f"{seen[name]}; each student gets one task and one folder")
        seen[name] = number
        names.append(name)
    if not names:
        raise RenderError(f"--roster {path} names no students (one name per line)")
    return names


def parse_gpus(value: str):
    """``--gpus N`` or ``--gpus TYPE:N``: (type or None, count)."""
    match = _GPUS.match(value.strip())
    if not match:
        raise RenderError(f"--gpus {value!r}: give a count (4) or a GPU type and a count "
                          "(a100:2), as Slurm's --gpus-per-node takes them")
    return match.group(1), int(match.group(2))


# =========================================================================== the settings
def job_values(args) -> dict:
    """Check the options and turn them into the templates' placeholder values."""
    mode = args.mode
    lab = resolve_lab(args.lab, args.repo)
    gpu_type, gpus = (parse_gpus(args.gpus) if args.gpus is not None
                      else (None, {"cpu": 0, "gpu": 1, "multi": 1, "jupyter": 0}[mode]))
    nodes = args.nodes if args.nodes is not None else (2 if mode == "multi" else 1)
    ranks = args.ranks_per_node
    cpus = args.cpus if args.cpus is not None else (2 if mode in ("cpu", "jupyter") else 8)
    backend = args.backend or ("numpy" if mode == "cpu" or (mode == "jupyter" and gpus == 0)
                               else "cupynumeric")
    time_limit = args.time or ("02:00:00" if mode == "jupyter" else "00:30:00")

    for flag, value, low in (("--nodes", nodes, 1), ("--gpus", gpus, 0),
                             ("--ranks-per-node", ranks, 1), ("--cpus", cpus, 1)):
        if value < low:
            raise RenderError(f"{flag} {value}: must be at least {low}")
    if args.sysmem is not None and args.sysmem < 64:
        raise RenderError(f"--sysmem {args.sysmem}: must be at least 64 (MiB per rank), or "
                          "leave it out to size Legate from the job's memory")
    if gpu_type and not gpus:
        raise RenderError(f"--gpus {args.gpus}: a GPU type needs a count of 1 or more")
    if args.gres and not gpus:
        raise RenderError("--gres asks for the GPUs as a generic resource: give --gpus too")
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
                        ("--job-name", args.job_name), ("--qos", args.qos),
                        ("--reservation", args.reservation)):
        if value and not _SLURM_NAME.match(value):
            raise RenderError(f"{flag} {value!r}: letters, digits and . , : + _ - only")
    if args.constraint and not _CONSTRAINT.match(args.constraint):
        raise RenderError(f"--constraint {args.constraint!r}: features joined with & | , and "
                          "[ ] ( ) * !, as sbatch takes them (e.g. 'a100&ib'); no spaces")
    roster = read_roster(args.roster) if args.roster else []
    if roster and mode not in ("cpu", "gpu"):
        raise RenderError(f"--roster runs one single-node task per student: use the cpu or gpu "
                          f"template, not {mode} (a class's JupyterLab servers come from the "
                          "hub: docker/cluster/hub/)")
    if args.max_running is not None and (not roster or args.max_running < 1):
        raise RenderError(f"--max-running {args.max_running}: limits how many students' tasks "
                          "run at once; it needs --roster and a count of 1 or more")

    stem = Path(lab).stem
    # The SIF: --image, else the site's shared, read-only copy named by TW_IMAGE (one file for
    # every job and array task: never copied per job), else the one `make sif` builds here.
    image = args.image or (DOCKER_IMAGES[backend] if args.runtime == "docker"
                           else os.environ.get("TW_IMAGE") or str(args.repo / "tensorweaver-gpu.sif"))
    venv = args.venv or str(args.repo / (".venv-gpu" if backend == "cupynumeric" else ".venv"))
    fbmem_flag = f" --fbmem {args.fbmem}" if args.fbmem is not None and gpus else ""
    quote = shlex.quote
    gpu_spec = f"{gpu_type}:{gpus}" if gpu_type else str(gpus)
    array = f"0-{len(roster) - 1}" if roster else ""
    if array and args.max_running:
        array += f"%{args.max_running}"
    return {
        "JOB_NAME": args.job_name or f"tw-{stem}-{mode}",
        # An array task's log is NAME-ARRAYJOB_TASK.out (the task moves the rest of it into
        # the student's folder).
        "OUTPUT": "%x-%A_%a.out" if roster else "%x-%j.out",
        "ARRAY": array,
        "ROSTER": " ".join(quote(name) for name in roster),
        "NODES": str(nodes),
        "RANKS_PER_NODE": str(ranks),
        "GPUS": str(gpus),
        # --gpus-per-node=[TYPE:]N needs select/cons_tres; --gres=gpu:[TYPE:]N also works on
        # cons_res sites. No GPU line at all without GPUs.
        "GPUS_SBATCH": gpu_spec if gpus and not args.gres else "",
        "GRES": f"gpu:{gpu_spec}" if gpus and args.gres else "",
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
        "QOS": args.qos or "",
        "RESERVATION": args.reservation or "",
        "CONSTRAINT": args.constraint or "",
        # auto: sized in the job from the memory Slurm gave it (runtime.sh, tw_sysmem).
        "SYSMEM": str(args.sysmem) if args.sysmem is not None else "auto",
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
    p.add_argument("--gpus", help="GPUs per node, N or TYPE:N (e.g. a100:2; default: 1 for "
                   "gpu/multi, 0 otherwise)")
    p.add_argument("--gres", action="store_true", help="ask for the GPUs as --gres=gpu:[TYPE:]N "
                   "instead of --gpus-per-node (sites on select/cons_res)")
    p.add_argument("--ranks-per-node", type=int, default=1, help="Legate ranks per node (multi)")
    p.add_argument("--cpus", type=int, help="CPU cores per task/rank (default 2 cpu/jupyter, 8 gpu/multi)")
    p.add_argument("--mem", help="memory per node, Slurm format (e.g. 32G; default: the partition's)")
    p.add_argument("--sysmem", type=int, help="Legate host memory per rank, MiB (default: "
                   "sized in the job from its memory, SLURM_MEM_PER_NODE or SLURM_MEM_PER_CPU, "
                   "less a quarter (at least 1 GiB) of headroom; 4000 when the job has no limit)")
    p.add_argument("--fbmem", type=int, help="Legate GPU memory per GPU, MiB (default: Legate's)")
    p.add_argument("--time", help="time limit (default 00:30:00, jupyter 02:00:00)")
    p.add_argument("--partition", help="Slurm partition (default: the cluster's)")
    p.add_argument("--account", help="Slurm account to charge")
    p.add_argument("--qos", help="Slurm quality of service")
    p.add_argument("--reservation", help="Slurm reservation (e.g. the class's)")
    p.add_argument("--constraint", help="node features, as sbatch takes them (e.g. 'a100&ib')")
    p.add_argument("--roster", type=Path, help="file of student names, one per line: one job "
                   "array task per student, outputs in OUT/STUDENT/ (cpu and gpu modes)")
    p.add_argument("--max-running", type=int, help="with --roster: at most this many students' "
                   "tasks at once (Slurm's --array=...%%K)")
    p.add_argument("--job-name", help="job name (default tw-LAB-MODE)")
    p.add_argument("--backend", help="numpy or cupynumeric (default: numpy for cpu, else cupynumeric)")
    p.add_argument("--quick", action="store_true", help="short training schedules (the labs' --quick)")
    p.add_argument("--runtime", default="apptainer", help="apptainer (default), docker or venv")
    p.add_argument("--image", help="SIF file (apptainer) or image name (docker); default "
                   "$TW_IMAGE (the site's shared copy), else tensorweaver-gpu.sif in the "
                   "checkout; tensorweaver-lab:cpu|gpu for docker")
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
        values = job_values(args)
        job = write_job(args.mode, values, args.out.resolve())
        if args.submit:
            job_id = submit(job)
            if values["ARRAY"]:
                students = len(values["ROSTER"].split())
                print(f"submitted job array {job_id} ({students} students): {job} (each "
                      f"student's notebook, metrics and log in {job.parent}/STUDENT/)")
            else:
                print(f"submitted job {job_id}: {job} (outputs and {job.stem}-{job_id}.out in {job.parent})")
        else:
            print(job)
    except RenderError as exc:
        print(f"render.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
