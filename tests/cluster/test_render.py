"""The job templates, without Slurm: what render.py writes, and what the jobs then run.

The rendered jobs are executed with bash against stand-in `srun`, `apptainer`, `legate` and
`python` commands that record their arguments and environment, so the launcher flags and
the Apptainer invocation are checked exactly as a cluster would receive them.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from slurmjobs import RENDER, REPO, render

pytestmark = pytest.mark.unit

sys.path.insert(0, str(RENDER.parent))
import render as renderer  # noqa: E402  (docker/cluster/render.py)


def sbatch_lines(job: Path) -> list:
    return [line.split(None, 1)[1] for line in job.read_text().splitlines()
            if line.startswith("#SBATCH")]


# --------------------------------------------------------------------------- rendering
@pytest.mark.parametrize("mode", sorted(renderer.TEMPLATES))
def test_every_template_renders_to_valid_bash(tmp_path, mode):
    job = render(mode, tmp_path)
    assert job.name == f"tw-00_environment-{mode}.sbatch" and os.access(job, os.X_OK)
    text = job.read_text()
    assert "{{" not in text and "}}" not in text.replace("${", "")
    subprocess.run(["bash", "-n", str(job)], check=True)
    assert text.startswith("#!/bin/bash\n")
    assert "--output=%x-%j.out" in sbatch_lines(job)


def test_cpu_template_asks_for_one_node_and_no_gpu(tmp_path):
    job = render("cpu", tmp_path, "--lab", "01", "--cpus", "4", "--time", "10:00")
    assert sbatch_lines(job) == ["--job-name=tw-01_tensors-cpu", "--output=%x-%j.out",
                                 "--nodes=1", "--ntasks=1", "--cpus-per-task=4", "--time=10:00"]
    assert "TW_LAB=${TW_LAB:-labs/01_tensors.ipynb}" in job.read_text()
    assert "TW_BACKEND=${TW_BACKEND:-numpy}" in job.read_text()


def test_gpu_template_asks_for_the_gpus_and_sizes_legate(tmp_path):
    job = render("gpu", tmp_path, "--gpus", "4", "--partition", "gpu", "--account", "proj",
                 "--mem", "64G", "--fbmem", "70000", "--sysmem", "8000")
    lines = sbatch_lines(job)
    assert "--gpus-per-node=4" in lines and "--partition=gpu" in lines
    assert "--account=proj" in lines and "--mem=64G" in lines and "--nodes=1" in lines
    assert not [line for line in lines if line.startswith("--gres")]
    assert "TW_SYSMEM=${TW_SYSMEM:-8000}" in job.read_text()
    (call,) = run_job(job, tmp_path, {"SLURM_MEM_PER_NODE": "65536"})
    assert call["env"]["APPTAINERENV_LEGATE_CONFIG"] == "--gpus 4 --cpus 1 --utility 2 --sysmem 8000 --fbmem 70000"


@pytest.mark.parametrize("gpus, gres, expected, count", [
    ("a100:2", False, "--gpus-per-node=a100:2", "2"),
    ("h100_80gb:8", False, "--gpus-per-node=h100_80gb:8", "8"),
    ("3", True, "--gres=gpu:3", "3"),
    ("a100:2", True, "--gres=gpu:a100:2", "2"),
])
def test_gpu_type_and_gres_reach_sbatch_and_legate_gets_the_count(tmp_path, gpus, gres, expected, count):
    job = render("gpu", tmp_path, "--gpus", gpus, *(["--gres"] if gres else []), "--sysmem", "1000")
    lines = sbatch_lines(job)
    assert expected in lines
    other = "--gpus-per-node" if gres else "--gres"
    assert not [line for line in lines if line.startswith(other)], lines
    (call,) = run_job(job, tmp_path, {})
    assert call["env"]["APPTAINERENV_LEGATE_CONFIG"].startswith(f"--gpus {count} --cpus 1 ")


def test_multi_template_splits_typed_gpus_over_the_ranks(tmp_path):
    job = render("multi", tmp_path, "--gpus", "a100:4", "--ranks-per-node", "2", "--gres")
    assert "--gres=gpu:a100:4" in sbatch_lines(job)
    assert "--gpus 2 --cpus 1" in job.read_text()


def test_site_options_pass_through_to_sbatch(tmp_path):
    for mode in sorted(renderer.TEMPLATES):
        job = render(mode, tmp_path, "--account", "cs101", "--qos", "class", "--reservation",
                     "lab_tue", "--constraint", "a100&ib|[rack1*2]", "--partition", "gpu")
        lines = sbatch_lines(job)
        for expected in ("--account=cs101", "--qos=class", "--reservation=lab_tue",
                         "--constraint=a100&ib|[rack1*2]", "--partition=gpu"):
            assert expected in lines, (mode, expected, lines)
    bare = sbatch_lines(render("cpu", tmp_path))
    assert not [line for line in bare if line.startswith(("--qos", "--reservation", "--constraint", "--array"))]


def test_multi_template_asks_for_nodes_and_ranks(tmp_path):
    job = render("multi", tmp_path, "--nodes", "4", "--gpus", "8", "--ranks-per-node", "2",
                 "--cpus", "16", "--time", "2:00:00")
    lines = sbatch_lines(job)
    for expected in ("--nodes=4", "--ntasks-per-node=2", "--gpus-per-node=8",
                     "--cpus-per-task=16", "--time=2:00:00"):
        assert expected in lines, (expected, lines)
    assert not [line for line in lines if line.startswith(("--partition", "--account", "--mem"))]


@pytest.mark.parametrize("options, message", [
    (["gpu", "--gpus", "0"], "needs --gpus 1 or more"),
    (["cpu", "--gpus", "2"], "use `gpu`"),
    (["cpu", "--nodes", "2"], "use the `multi` template"),
    (["multi", "--gpus", "3", "--ranks-per-node", "2"], "cannot be split evenly"),
    (["multi", "--runtime", "docker"], "apptainer or venv"),
    (["gpu", "--backend", "numpy"], "use the `cpu` template"),
    (["cpu", "--lab", "99"], "available: 00_environment.ipynb"),
    (["cpu", "--time", "1h"], "Slurm's format"),
    (["cpu", "--partition", "gpu;rm"], "letters, digits"),
    (["cpu", "--runtime", "podman"], "apptainer, docker or venv"),
    (["gpu", "--gpus", "a100"], "a GPU type and a count (a100:2)"),
    (["gpu", "--gpus", "a100:0"], "needs a count of 1 or more"),
    (["cpu", "--gres"], "give --gpus too"),
    (["cpu", "--qos", "high prio"], "letters, digits"),
    (["cpu", "--reservation", "r;x"], "letters, digits"),
    (["cpu", "--constraint", "a100 && ib"], "no spaces"),
    (["cpu", "--sysmem", "10"], "at least 64"),
    (["cpu", "--max-running", "2"], "needs --roster"),
])
def test_bad_options_are_refused_with_the_fix(tmp_path, options, message):
    done = subprocess.run([sys.executable, str(RENDER), *options, "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not list(tmp_path.glob("*.sbatch"))


def test_lab_can_be_named_by_number_name_or_path():
    for given in ("02", "02_autodiff", "02_autodiff.ipynb", "labs/02_autodiff.ipynb"):
        assert renderer.resolve_lab(given) == "labs/02_autodiff.ipynb"


def test_submit_without_sbatch_says_where_to_run(tmp_path):
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, str(RENDER), "cpu", "--out", str(tmp_path), "--submit"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 2
    assert "sbatch is not on PATH" in done.stderr and "login node" in done.stderr


# --------------------------------------------------------------------------- what jobs run
STUB = """#!/bin/bash
# Records how it was called ({name}), then plays its part.
python3 - "$@" <<'PY' >>"{log}"
import json, os, sys
print(json.dumps({{"cmd": "{name}", "argv": sys.argv[1:],
                  "env": {{k: v for k, v in os.environ.items() if k.startswith(("APPTAINERENV_", "LEGATE", "TENSORWEAVER", "JUPYTER", "SLURM_PROCID", "PYTHONPATH", "TMPDIR"))}}}}))
PY
{then}
"""


def stub(bin_dir: Path, name: str, log: Path, then: str = "") -> None:
    path = bin_dir / name
    path.write_text(STUB.format(name=name, log=log, then=then))
    path.chmod(0o755)


def run_job(job: Path, tmp_path: Path, env: dict) -> list:
    """Run a rendered job with bash as Slurm would on the batch node; the recorded calls."""
    calls, _ = execute_job(job, tmp_path, env)
    return calls


def execute_job(job: Path, tmp_path: Path, env: dict, ok: bool = True):
    """Run a rendered job against the stand-ins: (recorded calls, the finished process)."""
    log = tmp_path / "calls.jsonl"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    # srun and apptainer run the command they were given after their own flags; legate and
    # python (the venv's) only record.
    stub(bin_dir, "srun", log, then='while [[ $1 == --* ]]; do shift; done; exec "$@"')
    stub(bin_dir, "apptainer", log, then="exit 0")
    # squeue answers the job's time limit (tw_allocation asks it).
    (bin_dir / "squeue").write_text("#!/bin/sh\necho 1:00:00\n")
    (bin_dir / "squeue").chmod(0o755)
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    stub(venv / "bin", "legate", log)
    stub(venv / "bin", "python", log)
    submit_dir = tmp_path / "submit"
    submit_dir.mkdir(exist_ok=True)
    (tmp_path / "image.sif").write_text("")
    base = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path),
            "SLURM_SUBMIT_DIR": str(submit_dir), "SLURM_JOB_ID": "42", "TW_VENV": str(venv),
            "TW_IMAGE": str(tmp_path / "image.sif")}
    done = subprocess.run(["bash", str(job)], cwd=submit_dir, capture_output=True, text=True,
                          env={**base, **env}, timeout=60)
    if ok:
        assert done.returncode == 0, done.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return calls, done


def test_multi_job_runs_legate_with_the_srun_launcher(tmp_path):
    job = render("multi", tmp_path, "--nodes", "4", "--gpus", "8", "--ranks-per-node", "2",
                 "--fbmem", "70000", "--lab", "03", "--runtime", "venv")
    calls = run_job(job, tmp_path, {"SLURM_JOB_NUM_NODES": "4"})
    check, launch = calls
    assert check["cmd"] == "python" and check["argv"][1:] == ["--check-networking", "8"]
    assert launch["cmd"] == "legate"
    submit = tmp_path / "submit"
    assert launch["argv"] == [
        "--launcher", "srun",
        "--nodes", "4", "--ranks-per-node", "2", "--gpus", "4", "--cpus", "1", "--utility", "1",
        "--sysmem", "4000", "--fbmem", "70000", "--logdir", str(submit),
        f"{submit}/.tensorweaver/run_lab_ranks.py", "labs/03_linear_regression.ipynb",
        "--backend", "cupynumeric",
        "--output", f"{submit}/03_linear_regression.executed.ipynb",
        "--metrics", f"{submit}/03_linear_regression.metrics.json"]
    # The runner it starts is the one in the repo, written next to the outputs.
    written = (submit / ".tensorweaver" / "run_lab_ranks.py").read_text()
    assert written == (RENDER.parent / "run_lab_ranks.py").read_text()


def test_multi_job_can_use_mpirun_with_extra_flags(tmp_path):
    job = render("multi", tmp_path, "--nodes", "2", "--gpus", "0", "--cpus", "4",
                 "--runtime", "venv")
    calls = run_job(job, tmp_path, {"SLURM_JOB_NUM_NODES": "2", "TW_LAUNCHER": "mpirun",
                                    "TW_LAUNCHER_ARGS": "--mca btl tcp,self"})
    assert calls[-1]["argv"][:13] == [
        "--launcher", "mpirun", "--launcher-extra=--mca btl tcp,self",
        "--nodes", "2", "--ranks-per-node", "1", "--gpus", "0", "--cpus", "3", "--utility", "1"]


def test_multi_job_in_apptainer_starts_one_container_per_rank(tmp_path):
    job = render("multi", tmp_path, "--nodes", "2", "--gpus", "4", "--ranks-per-node", "4",
                 "--cpus", "8", "--lab", "01")
    # The step's PMIx folder (srun makes it in slurmd's spool) and a host PYTHONPATH, as a
    # rank would see them.
    pmix = tmp_path / "spool" / "pmix.42.0"
    pmix.mkdir(parents=True)
    calls = run_job(job, tmp_path, {"SLURM_JOB_NUM_NODES": "2", "SLURM_CPUS_PER_TASK": "8",
                                    "SLURM_MEM_PER_NODE": "256000", "PMIX_SERVER_TMPDIR": str(pmix),
                                    "PYTHONPATH": "/host/site-packages"})
    srun = next(c for c in calls if c["cmd"] == "srun")
    submit, image = tmp_path / "submit", tmp_path / "image.sif"
    assert srun["argv"][:6] == ["--nodes=2", "--ntasks-per-node=4", "--cpus-per-task=8", "bash",
                                f"{submit}/.tensorweaver/rank-exec.sh", "apptainer"]
    check, rank = [c for c in calls if c["cmd"] == "apptainer"]   # the networking check, the ranks
    assert check["argv"][-3:] == ["/work/.tensorweaver/run_lab_ranks.py", "--check-networking", "8"]
    container = rank["argv"]
    # No --contain/--containall: ranks keep the host's /dev (InfiniBand), /dev/shm, /tmp
    # and IPC namespace, which MPI/UCX ranks need.
    assert not [a for a in container if a.startswith("--contain")]
    assert container[:12] == ["exec", "--bind", str(pmix), "--nv", "--bind", f"{submit}:/work",
                              "--home", f"{submit}/.tensorweaver/home-42:/home/tw",
                              "--pwd", "/home/jovyan/work", str(image), "legate"]
    at = container.index("legate") + 1
    # 256000 MB per node over 4 ranks: 64000 each, less a quarter.
    assert container[at:at + 12] == ["--nodes", "2", "--ranks-per-node", "4", "--gpus", "1",
                                     "--cpus", "1", "--utility", "1", "--sysmem", "48000"]
    assert container[at + 12:at + 15] == ["--logdir", "/work", "/work/.tensorweaver/run_lab_ranks.py"]
    assert "--output" in container and "/work/01_tensors.executed.ipynb" in container
    assert "PYTHONPATH" not in rank["env"]         # the host's Python stays out of the image's


def test_cpu_job_in_apptainer_is_contained_with_a_writable_home(tmp_path):
    job = render("cpu", tmp_path, "--lab", "02", "--quick")
    (call,) = run_job(job, tmp_path, {})
    argv, env = call["argv"], call["env"]
    assert argv[:2] == ["exec", "--containall"]          # no --nv without GPUs
    assert argv[argv.index("--bind") + 1] == f"{tmp_path / 'submit'}:/work"
    home = argv[argv.index("--home") + 1]
    assert home.endswith(":/home/tw") and home.startswith(str(tmp_path / "tensorweaver-job-42."))
    assert argv[argv.index("--workdir") + 1] == home.split(":")[0].rsplit("/", 1)[0]
    assert argv[argv.index("--pwd") + 1] == "/home/jovyan/work"
    assert argv[argv.index(str(tmp_path / "image.sif")) + 1:] == [
        "python", "-m", "tensorweaver.labs", "run", "labs/02_autodiff.ipynb", "--backend",
        "numpy", "--quick", "--output", "/work/02_autodiff.executed.ipynb",
        "--metrics", "/work/02_autodiff.metrics.json"]
    # The image is read-only and --containall clears the environment: Apptainer passes these in.
    assert env["APPTAINERENV_JUPYTER_RUNTIME_DIR"] == "/home/tw/.jupyter-runtime"
    assert env["APPTAINERENV_TENSORWEAVER_BACKEND"] == "numpy"
    assert "APPTAINERENV_LEGATE_CONFIG" not in env
    # The job's scratch folder (the writable home) is gone when the job ends.
    assert not list(tmp_path.glob("tensorweaver-job-42.*"))


def test_gpu_job_in_apptainer_passes_the_gpus_slurm_gave_it(tmp_path):
    job = render("gpu", tmp_path, "--gpus", "2")
    (call,) = run_job(job, tmp_path, {"CUDA_VISIBLE_DEVICES": "2,3"})
    assert call["argv"][:3] == ["exec", "--nv", "--containall"]
    assert call["env"]["APPTAINERENV_CUDA_VISIBLE_DEVICES"] == "2,3"
    assert call["env"]["APPTAINERENV_LEGATE_CONFIG"] == "--gpus 2 --cpus 1 --utility 2 --sysmem 4000"
    # The kernel computes on cuPyNumeric; the runner that starts it must not start Legate too.
    assert call["argv"][call["argv"].index("--backend") + 1] == "cupynumeric"
    assert call["env"]["APPTAINERENV_TENSORWEAVER_BACKEND"] == "numpy"


def test_cpu_job_on_cupynumeric_sizes_legate_to_the_allocation(tmp_path):
    job = render("cpu", tmp_path, "--backend", "cupynumeric", "--cpus", "6", "--sysmem", "3000",
                 "--runtime", "venv")
    (call,) = run_job(job, tmp_path, {"SLURM_CPUS_PER_TASK": "6"})
    assert call["env"]["LEGATE_CONFIG"] == "--cpus 5 --gpus 0 --omps 0 --utility 1 --sysmem 3000"
    assert call["env"]["LEGATE_AUTO_CONFIG"] == "0"


def test_a_job_without_its_runtime_fails_with_the_fix(tmp_path):
    job = render("cpu", tmp_path)
    done = subprocess.run(["bash", str(job)], capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "TW_RUNTIME": "apptainer",
                               "TW_IMAGE": str(tmp_path / "missing.sif"), "HOME": str(tmp_path)})
    if re.search("apptainer is not installed", done.stderr):
        assert "TW_RUNTIME=venv" in done.stderr
    else:        # apptainer exists on this machine: the missing image is named instead
        assert "no Apptainer image at" in done.stderr and "make sif" in done.stderr
    assert done.returncode == 2


def test_make_sif_without_apptainer_says_how_to_get_it(tmp_path):
    done = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "sif"],
                          capture_output=True, text=True,
                          env={"PATH": str(tmp_path), "HOME": str(tmp_path)}, timeout=60,
                          executable="/usr/bin/make")
    assert done.returncode != 0
    assert "apptainer is not installed" in done.stderr, done.stderr


# --------------------------------------------------------------------------- Legate's memory
@pytest.mark.parametrize("slurm_env, expected", [
    ({"SLURM_MEM_PER_NODE": "16000"}, "12000"),               # a quarter kept back
    ({"SLURM_MEM_PER_NODE": "3000"}, "1976"),                 # at least 1 GiB kept back
    ({"SLURM_MEM_PER_CPU": "2000", "SLURM_CPUS_ON_NODE": "4"}, "6000"),
    ({"SLURM_MEM_PER_CPU": "1500", "SLURM_CPUS_PER_TASK": "6"}, "6750"),
    ({}, "4000"),                                              # no limit: Legate's old default
    ({"SLURM_MEM_PER_NODE": "64000", "TW_SYSMEM": "5000"}, "5000"),   # set at submit time
])
def test_legate_sysmem_is_sized_from_the_allocation(tmp_path, slurm_env, expected):
    job = render("cpu", tmp_path, "--backend", "cupynumeric", "--runtime", "venv")
    calls, done = execute_job(job, tmp_path, slurm_env)
    assert calls[0]["env"]["LEGATE_CONFIG"].endswith(f"--sysmem {expected}")
    assert f"Legate --sysmem {expected} MiB per rank" in done.stderr or "TW_SYSMEM" in slurm_env


def test_sysmem_given_when_rendering_wins_over_the_allocation(tmp_path):
    job = render("gpu", tmp_path, "--sysmem", "3000", "--runtime", "venv")
    (call,) = run_job(job, tmp_path, {"SLURM_MEM_PER_NODE": "500000"})
    assert call["env"]["LEGATE_CONFIG"] == "--gpus 1 --cpus 1 --utility 2 --sysmem 3000"


def test_too_little_memory_for_legate_fails_with_the_fix(tmp_path):
    job = render("multi", tmp_path, "--ranks-per-node", "2", "--gpus", "2", "--runtime", "venv")
    calls, done = execute_job(job, tmp_path, {"SLURM_MEM_PER_NODE": "2000"}, ok=False)
    assert done.returncode == 2 and not calls
    assert "1000 MB each leaves less than 256 MiB for Legate" in done.stderr
    assert "--mem" in done.stderr and "TW_SYSMEM" in done.stderr


# --------------------------------------------------------------------------- what a job prints
def test_job_prints_its_allocation_and_ends_with_the_sacct_command(tmp_path):
    job = render("gpu", tmp_path, "--gpus", "2", "--runtime", "venv")
    _, done = execute_job(job, tmp_path, {
        "SLURM_JOB_NODELIST": "gpu[01]", "SLURM_JOB_NUM_NODES": "1", "SLURM_NTASKS": "1",
        "SLURM_CPUS_PER_TASK": "8", "SLURM_CPUS_ON_NODE": "8", "SLURM_MEM_PER_NODE": "64000",
        "SLURM_GPUS_ON_NODE": "2", "SLURM_JOB_GPUS": "4,5", "CUDA_VISIBLE_DEVICES": "0,1",
        "SLURM_JOB_PARTITION": "gpu"})
    allocation = next(line for line in done.stderr.splitlines() if "allocation:" in line)
    for part in ("nodes gpu[01] (1)", "CPUs per task 8", "memory 64000 MB per node",
                 "GPUs 2 on this node (ids 4,5)", "CUDA_VISIBLE_DEVICES=0,1",
                 "time limit 1:00:00", "partition gpu"):
        assert part in allocation, (part, allocation)
    last = done.stderr.strip().splitlines()[-1]
    assert "finished with exit code 0" in last and "sacct -j 42 --format=" in last
    assert "MaxRSS" in last and "seff 42" in last


def test_scratch_is_on_slurm_tmpdir(tmp_path):
    slurm_tmp = tmp_path / "node-local"
    slurm_tmp.mkdir()
    job = render("cpu", tmp_path)
    (call,) = run_job(job, tmp_path, {"SLURM_TMPDIR": str(slurm_tmp)})
    home = call["argv"][call["argv"].index("--home") + 1]
    assert home.startswith(f"{slurm_tmp}/tensorweaver-job-42.")
    assert not list(slurm_tmp.iterdir())            # removed at the end


# --------------------------------------------------------------------------- a class's roster
def write_roster(tmp_path, text="# CS101, group A\nalice\nbob   # joined late\n\ncarol\n"):
    roster = tmp_path / "students.txt"
    roster.write_text(text)
    return roster


def test_roster_makes_one_array_task_per_student(tmp_path):
    job = render("gpu", tmp_path, "--roster", str(write_roster(tmp_path)), "--max-running", "2")
    lines = sbatch_lines(job)
    assert "--array=0-2%2" in lines and "--output=%x-%A_%a.out" in lines
    assert "TW_ROSTER=(alice bob carol)" in job.read_text()
    assert "--array=0-2" in sbatch_lines(render("cpu", tmp_path / "b", "--roster",
                                                str(write_roster(tmp_path))))


@pytest.mark.parametrize("runtime", ["apptainer", "venv"])
def test_array_task_writes_to_its_students_folder(tmp_path, runtime):
    job = render("cpu", tmp_path, "--roster", str(write_roster(tmp_path)), "--lab", "02",
                 "--runtime", runtime, "--job-name", "cs101")
    calls, done = execute_job(job, tmp_path, {"SLURM_ARRAY_JOB_ID": "77", "SLURM_ARRAY_TASK_ID": "1",
                                              "SLURM_JOB_NAME": "cs101"})
    (call,) = calls
    submit = tmp_path / "submit"
    out = "/work" if runtime == "apptainer" else str(submit / "bob")
    argv = call["argv"]
    assert argv[argv.index("--output") + 1] == f"{out}/02_autodiff.executed.ipynb"
    assert argv[argv.index("--metrics") + 1] == f"{out}/02_autodiff.metrics.json"
    if runtime == "apptainer":
        assert argv[argv.index("--bind") + 1] == f"{submit / 'bob'}:/work"
        assert call["env"]["APPTAINERENV_TENSORWEAVER_STUDENT"] == "bob"
    else:
        assert call["env"]["TENSORWEAVER_STUDENT"] == "bob"
        # Scratch of its own, on the node: the task's tmp folder, gone at the end.
        assert "/tensorweaver-job-77_1." in call["env"]["TMPDIR"]
    # The Slurm log points at the student's log, which has the rest.
    log = submit / "bob" / "cs101-77_1.out"
    assert f"array task 1 is student bob: outputs and the rest of this log in {log}" in done.stderr
    text = log.read_text()
    assert "student bob" in text and "allocation:" in text and "sacct -j 77_1" in text
    assert sorted(p.name for p in submit.iterdir()) == ["bob"]


def test_array_task_outside_the_roster_or_outside_an_array_fails_with_the_fix(tmp_path):
    job = render("cpu", tmp_path, "--roster", str(write_roster(tmp_path)))
    calls, done = execute_job(job, tmp_path, {"SLURM_ARRAY_JOB_ID": "7", "SLURM_ARRAY_TASK_ID": "3"},
                              ok=False)
    assert done.returncode == 2 and not calls
    assert "the roster has 3 students (tasks 0-2)" in done.stderr
    calls, done = execute_job(job, tmp_path, {}, ok=False)
    assert done.returncode == 2 and "SLURM_ARRAY_TASK_ID=K" in done.stderr


@pytest.mark.parametrize("text, mode, message", [
    ("alice\nbob\nalice\n", "cpu", "'alice' is already on line 1"),
    ("alice\nbob smith\n", "cpu", "line 2: 'bob smith' is not a student name"),
    ("../etc\n", "cpu", "is not a student name"),
    ("# nobody yet\n\n", "cpu", "names no students"),
    ("alice\n", "multi", "use the cpu or gpu template"),
    ("alice\n", "jupyter", "use the cpu or gpu template"),
])
def test_bad_rosters_are_refused_with_the_fix(tmp_path, text, mode, message):
    roster = write_roster(tmp_path, text)
    done = subprocess.run([sys.executable, str(RENDER), mode, "--roster", str(roster),
                           "--out", str(tmp_path / "jobs")], capture_output=True, text=True)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not (tmp_path / "jobs").exists() or not list((tmp_path / "jobs").glob("*.sbatch"))


def test_missing_roster_file_is_named(tmp_path):
    done = subprocess.run([sys.executable, str(RENDER), "cpu", "--roster", str(tmp_path / "no.txt"),
                           "--out", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and "no.txt: cannot read it" in done.stderr


def test_site_image_location_comes_from_tw_image(tmp_path):
    site = "/apps/tensorweaver/tensorweaver-gpu-26.06.sif"
    done = subprocess.run([sys.executable, str(RENDER), "gpu", "--out", str(tmp_path)],
                          capture_output=True, text=True, env={**os.environ, "TW_IMAGE": site})
    assert done.returncode == 0, done.stderr
    assert f"TW_IMAGE=${{TW_IMAGE:-{site}}}" in Path(done.stdout.strip()).read_text()
