"""Backend choice and Legate set-up: the clean errors, GPU vs CPU mode, the driver stand-in.

Most of the logic is ``_legate.decide()``, a pure function tested directly. What depends on
the dynamic loader (which ``libcuda.so.1`` gets loaded) runs in subprocesses, because the
loader reads ``LD_LIBRARY_PATH`` once per process and a loaded library stays loaded. Fake
"real" drivers are compiled into temporary directories: one *with no GPU* (the stand-in's
source with its marker symbol renamed, so it looks like a genuine driver) and one that
reports two GPUs. The tests marked ``parity`` import cuPyNumeric (they need the parity venv).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

from tensorweaver import _legate, backend

REPO = Path(__file__).resolve().parent.parent
STAND_IN_SOURCE = REPO / "docker" / "cuda-stand-in" / "libcuda_stand_in.c"
NO_DRIVER = _legate.DriverProbe(loaded=False, detail="libcuda.so.1: cannot open shared object file")
GIB = 1024


# --------------------------------------------------------------------------- decide(): pure
@pytest.mark.unit
def test_no_driver_means_cpu_mode_with_small_config_and_the_stand_in():
    plan = _legate.decide(NO_DRIVER, {}, cores=2, memory_mb=24 * GIB)
    assert plan.mode == "cpu" and plan.needs_stand_in
    assert plan.env == {"LEGATE_CONFIG": "--cpus 1 --gpus 0 --omps 0 --utility 1 --sysmem 4096",
                        "LEGATE_AUTO_CONFIG": "0", "REALM_DEFAULT_ARGS": "-level gpu=6"}
    assert "no NVIDIA driver" in plan.reason and "cannot open" in plan.reason
    line = plan.line(plan.env["LEGATE_CONFIG"], "/x/libcuda.so.1")
    assert line.startswith("tensorweaver: Legate CPU mode: no NVIDIA driver")
    assert "--cpus 1" in line and "/x/libcuda.so.1" in line and "set LEGATE_CONFIG to override" in line
    assert "\n" not in line


@pytest.mark.unit
@pytest.mark.parametrize("cores,memory_mb,expected", [
    (1, 512, "--cpus 1 --gpus 0 --omps 0 --utility 1 --sysmem 256"),
    (2, 8 * GIB, "--cpus 1 --gpus 0 --omps 0 --utility 1 --sysmem 2048"),
    (8, 64 * GIB, "--cpus 4 --gpus 0 --omps 0 --utility 1 --sysmem 4096"),
    (128, 1024 * GIB, "--cpus 4 --gpus 0 --omps 0 --utility 1 --sysmem 4096"),
])
def test_cpu_config_respects_the_machine_and_stays_small(cores, memory_mb, expected):
    assert _legate.cpu_config(cores, memory_mb) == expected


@pytest.mark.unit
def test_driver_without_usable_gpu_means_cpu_mode_and_no_stand_in():
    probe = _legate.DriverProbe(True, "/usr/lib/libcuda.so.1", version=12040,
                                init_error="CUDA_ERROR_NO_DEVICE")
    plan = _legate.decide(probe, {}, cores=4, memory_mb=16 * GIB)
    assert plan.mode == "cpu" and not plan.needs_stand_in     # never shadow a real driver
    assert "found but no usable GPU (cuInit: CUDA_ERROR_NO_DEVICE)" in plan.reason
    assert plan.env["LEGATE_CONFIG"].startswith("--cpus 3 --gpus 0")


@pytest.mark.unit
def test_driver_reporting_zero_devices_means_cpu_mode():
    plan = _legate.decide(_legate.DriverProbe(True, "/d/libcuda.so.1", devices=0), {}, 2, 4 * GIB)
    assert plan.mode == "cpu" and not plan.needs_stand_in and "reports no GPU" in plan.reason


@pytest.mark.unit
def test_stand_in_already_on_the_library_path_is_not_a_driver():
    probe = _legate.DriverProbe(True, "/b/libcuda.so.1", stand_in=True)
    plan = _legate.decide(probe, {}, 2, 4 * GIB)
    assert plan.mode == "cpu" and not plan.needs_stand_in
    assert "is the CUDA driver stand-in" in plan.reason


@pytest.mark.unit
def test_gpus_mean_gpu_mode_and_legate_auto_configuration():
    probe = _legate.DriverProbe(True, "/usr/lib/libcuda.so.1", version=12040, devices=2)
    plan = _legate.decide(probe, {}, 16, 128 * GIB)
    assert plan.mode == "gpu" and plan.env == {} and not plan.needs_stand_in
    assert plan.reason == "NVIDIA driver 12.4 at /usr/lib/libcuda.so.1 reports 2 GPU(s)"
    assert "Legate GPU mode" in plan.line("") and "Legate auto-configuration" in plan.line("")


@pytest.mark.unit
@pytest.mark.parametrize("probe", [NO_DRIVER, _legate.DriverProbe(True, "/l/libcuda.so.1", devices=1)])
def test_user_legate_config_is_always_kept(probe):
    environ = {"LEGATE_CONFIG": "--cpus 7 --sysmem 100", "LEGATE_AUTO_CONFIG": "1"}
    plan = _legate.decide(probe, environ, 2, 4 * GIB)
    assert "LEGATE_CONFIG" not in plan.env and "LEGATE_AUTO_CONFIG" not in plan.env
    assert plan.user_config
    line = plan.line(environ["LEGATE_CONFIG"])
    assert "'--cpus 7 --sysmem 100' (set by the user)" in line and "to override" not in line


@pytest.mark.unit
@pytest.mark.parametrize("given,expected", [
    (None, "-level gpu=6"),
    ("-ll:force_kthreads", "-ll:force_kthreads -level gpu=6"),
    ("-level gpu=2,legate=1", None),           # the user's own levels win, untouched
])
def test_cpu_mode_silences_realms_gpu_discovery_unless_the_user_set_levels(given, expected):
    environ = {} if given is None else {"REALM_DEFAULT_ARGS": given}
    plan = _legate.decide(NO_DRIVER, environ, 2, 4 * GIB)
    assert plan.env.get("REALM_DEFAULT_ARGS") == expected
    gpu = _legate.decide(_legate.DriverProbe(True, "/l/libcuda.so.1", devices=1), {}, 2, 4 * GIB)
    assert "REALM_DEFAULT_ARGS" not in gpu.env          # GPU mode: Realm's messages stay


@pytest.mark.unit
def test_machine_size_honours_container_limits(monkeypatch):
    files = {"/sys/fs/cgroup/cpu.max": "150000 100000", "/sys/fs/cgroup/memory.max": str(3 * 2**30)}
    monkeypatch.setattr(_legate, "_read", lambda path: files.get(path, ""))
    monkeypatch.setattr(_legate.os, "sched_getaffinity", lambda pid: set(range(64)))
    assert _legate.machine_size() == (2, 3 * GIB)          # 1.5 CPUs of quota -> 2 cores
    files.update({"/sys/fs/cgroup/cpu.max": "max 100000", "/sys/fs/cgroup/memory.max": "max"})
    cores, memory_mb = _legate.machine_size()
    assert cores == 64 and memory_mb > 0


# --------------------------------------------------------------------------- finding the stand-in
@pytest.mark.unit
def test_stand_in_variable_pointing_nowhere_says_how_to_build_it(tmp_path):
    missing = tmp_path / "nope" / "libcuda.so.1"
    with pytest.raises(_legate.LegateSetupError, match="make cuda-stand-in") as err:
        _legate.find_stand_in({_legate.STAND_IN_ENV: str(missing)})
    assert str(missing) in str(err.value) and _legate.STAND_IN_ENV in str(err.value)


@pytest.mark.unit
def test_no_stand_in_anywhere_says_how_to_build_it(monkeypatch, tmp_path):
    monkeypatch.setattr(_legate, "IMAGE_STAND_IN", tmp_path / "a" / "libcuda.so.1")
    monkeypatch.setattr(_legate, "CHECKOUT_STAND_IN", tmp_path / "b" / "libcuda.so.1")
    with pytest.raises(_legate.LegateSetupError, match=r"No NVIDIA driver .* `make cuda-stand-in`"):
        _legate.find_stand_in({})


@pytest.mark.unit
def test_stand_in_search_order(monkeypatch, tmp_path):
    image, checkout, chosen = (tmp_path / d / "libcuda.so.1" for d in ("image", "checkout", "env"))
    for path in (image, checkout, chosen):
        path.parent.mkdir()
        path.write_bytes(b"")
    monkeypatch.setattr(_legate, "IMAGE_STAND_IN", image)
    monkeypatch.setattr(_legate, "CHECKOUT_STAND_IN", checkout)
    assert _legate.find_stand_in({_legate.STAND_IN_ENV: str(chosen)}) == chosen
    assert _legate.find_stand_in({}) == image
    image.unlink()
    assert _legate.find_stand_in({}) == checkout


# --------------------------------------------------------------------------- the seam, on NumPy
@pytest.mark.unit
def test_missing_backend_function_names_the_op_and_the_backend():
    fake = types.ModuleType("cupynumeric")
    fake.__version__ = "26.6.1"
    fake.exp = np.exp
    xp = backend._strict_namespace(fake)
    assert xp.exp is np.exp and not hasattr(xp, "lgamma")

    class Lgamma:
        def forward(self, a):
            return xp.lgamma(a)

    with pytest.raises(backend.MissingFunction) as err:
        Lgamma().forward(1.0)
    message = str(err.value)
    assert "cupynumeric 26.6.1 has no `lgamma`" in message
    assert "Lgamma.forward (test_backend_select.py:" in message
    assert "never falls back to NumPy" in message and "TENSORWEAVER_BACKEND" in message


STRIDED_INDICES = [
    (slice(None, None, 2),),
    (Ellipsis, slice(None, None, -1)),
    (0, slice(1, None, 2), None, slice(None, None, 3)),
    (np.array([0, 2]), slice(None, None, 2)),
    (slice(None, None, -2), np.array([1, 1, 3]), 2),
    (np.arange(12).reshape(3, 4) % 3 == 0, slice(None, None, 2)),
    (slice(3, 0, -1), Ellipsis, slice(4, None, -2)),
    (slice(5, 9, 2),),                                   # empty
]


@pytest.mark.unit
@pytest.mark.parametrize("index", STRIDED_INDICES, ids=range(len(STRIDED_INDICES)))
def test_strided_slices_become_takes(index):
    # The rewrite cuPyNumeric needs (its slices must have step 1), checked against NumPy.
    a = np.arange(60.0).reshape(3, 4, 5)
    takes, rest = backend._split_strided(a.shape, index)
    assert takes and not backend._has_strided_slice(rest)
    out = a
    for axis, positions in takes:
        out = np.take(out, positions, axis=axis)
    np.testing.assert_array_equal(out[rest], a[index])


# --------------------------------------------------------------------------- subprocesses
def run_python(code: str, env: dict | None = None, args=(), python=sys.executable):
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("TENSORWEAVER_BACKEND", "LEGATE_CONFIG", "LEGATE_AUTO_CONFIG",
                             "REALM_DEFAULT_ARGS", "LD_LIBRARY_PATH", _legate.STAND_IN_ENV)}
    full_env.update(env or {})
    return subprocess.run([python, *args, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=full_env, cwd=REPO, timeout=300)


@pytest.mark.unit
def test_unknown_backend_is_a_clean_error():
    proc = run_python("import tensorweaver", {"TENSORWEAVER_BACKEND": "tensorflow"})
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("tensorweaver.backend.BackendError: TENSORWEAVER_BACKEND='tensorflow' "
                           "is not a known backend."), proc.stderr
    assert "TENSORWEAVER_BACKEND=numpy" in last and "TENSORWEAVER_BACKEND=cupynumeric" in last


@pytest.mark.unit
@pytest.mark.parametrize("value", ["numpy", "NumPy", " cpu "])
def test_numpy_aliases(value):
    proc = run_python("from tensorweaver import backend; print(backend.name, backend.device)",
                      {"TENSORWEAVER_BACKEND": value})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["numpy", "cpu"]


@pytest.mark.unit
def test_missing_cupynumeric_is_a_clean_error(tmp_path):
    # A Python path with NumPy but without cuPyNumeric/Legate, whatever this venv holds.
    site = Path(np.__file__).resolve().parent.parent
    for entry in site.iterdir():
        if not entry.name.lower().startswith(("cupynumeric", "nvidia_cupynumeric", "legate")):
            (tmp_path / entry.name).symlink_to(entry)
    proc = run_python("import tensorweaver", {"TENSORWEAVER_BACKEND": "cunumeric",
                                              "PYTHONPATH": f"{REPO}{os.pathsep}{tmp_path}"},
                      args=("-S",))
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "TENSORWEAVER_BACKEND=cupynumeric, but cuPyNumeric could not be imported" in last, proc.stderr
    assert "pip install nvidia-cupynumeric" in last and "unset TENSORWEAVER_BACKEND" in last
    assert "Legate" not in proc.stderr.split("Traceback")[0]   # no driver probing happened first


# The fake drivers need a C compiler; the stand-in itself needs one too.
@pytest.fixture(scope="session")
def cc():
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler on PATH: needed to build the fake libcuda.so.1 drivers")
    return compiler


def build(cc, source: str, out: Path, soname=True, include=STAND_IN_SOURCE.parent) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.parent / "driver.c"
    src.write_text(source)
    flags = ["-Wl,-soname,libcuda.so.1"] if soname else []
    subprocess.run([cc, "-shared", "-fPIC", "-O2", *flags, f"-I{include}", "-o", str(out),
                    str(src), "-ldl"], check=True)
    return out


# A genuine-looking driver with no usable GPU: the stand-in's behaviour under another marker.
NO_GPU_DRIVER = """
#define tensorweaver_cuda_stand_in fake_real_driver_marker
#include "libcuda_stand_in.c"
"""

TWO_GPU_DRIVER = """
int fake_real_driver_marker(void) { return 1; }
int cuInit(unsigned int flags) { return 0; }
int cuDriverGetVersion(int *v) { *v = 12040; return 0; }
int cuDeviceGetCount(int *n) { *n = 2; return 0; }
int cuGetErrorName(int e, const char **s) { *s = "CUDA_ERROR_UNKNOWN"; return 0; }
"""


@pytest.fixture(scope="session")
def drivers(cc, tmp_path_factory):
    root = tmp_path_factory.mktemp("drivers")
    return types.SimpleNamespace(
        stand_in=build(cc, '#include "libcuda_stand_in.c"\n', root / "stand-in" / "libcuda.so.1"),
        no_soname=build(cc, '#include "libcuda_stand_in.c"\n', root / "no-soname" / "libcuda.so.1",
                        soname=False),
        no_gpu=build(cc, NO_GPU_DRIVER, root / "no-gpu" / "libcuda.so.1"),
        two_gpus=build(cc, TWO_GPU_DRIVER, root / "two-gpus" / "libcuda.so.1"),
    )


# Runs configure() the way backend.py does, without importing legate, and reports what
# happened: the plan, the line printed, which libcuda.so.1 the loader now hands out.
CONFIGURE_AND_REPORT = """
import ctypes, io, json, os
from tensorweaver import _legate
out = io.StringIO()
plan = _legate.configure(stream=out)
loaded = ctypes.CDLL("libcuda.so.1")
maps = open("/proc/self/maps").read()
print(json.dumps({
    "mode": plan.mode, "line": out.getvalue(), "stand_in_path": _legate.stand_in_path,
    "fake_driver_loaded": hasattr(loaded, "fake_real_driver_marker"),
    "stand_in_loaded": hasattr(loaded, "tensorweaver_cuda_stand_in"),
    "libcuda_files": sorted({l.split()[-1] for l in maps.splitlines() if l.endswith("libcuda.so.1")}),
    "LEGATE_CONFIG": os.environ.get("LEGATE_CONFIG"),
    "LEGATE_AUTO_CONFIG": os.environ.get("LEGATE_AUTO_CONFIG"),
}))
"""


def configure_in_subprocess(env):
    proc = run_python(CONFIGURE_AND_REPORT, env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.unit
def test_real_driver_with_gpus_is_used_and_never_shadowed(drivers):
    # The stand-in is offered too, and must be ignored.
    got = configure_in_subprocess({"LD_LIBRARY_PATH": str(drivers.two_gpus.parent),
                                   _legate.STAND_IN_ENV: str(drivers.stand_in)})
    assert got["mode"] == "gpu"
    assert got["fake_driver_loaded"] and not got["stand_in_loaded"]
    assert got["libcuda_files"] == [str(drivers.two_gpus)] and got["stand_in_path"] == ""
    assert got["LEGATE_CONFIG"] is None and got["LEGATE_AUTO_CONFIG"] is None
    assert got["line"].startswith(f"tensorweaver: Legate GPU mode: NVIDIA driver 12.4 at "
                                  f"{drivers.two_gpus} reports 2 GPU(s)")


@pytest.mark.unit
def test_driver_present_but_no_gpu_gives_cpu_mode_on_that_driver(drivers):
    got = configure_in_subprocess({"LD_LIBRARY_PATH": str(drivers.no_gpu.parent),
                                   _legate.STAND_IN_ENV: str(drivers.stand_in)})
    assert got["mode"] == "cpu"
    assert got["fake_driver_loaded"] and not got["stand_in_loaded"]
    assert got["libcuda_files"] == [str(drivers.no_gpu)]
    assert got["line"].startswith(f"tensorweaver: Legate CPU mode: NVIDIA driver at {drivers.no_gpu} "
                                  "found but no usable GPU (cuInit: CUDA_ERROR_NO_DEVICE)")
    assert got["LEGATE_AUTO_CONFIG"] == "0" and "--gpus 0" in got["LEGATE_CONFIG"]


@pytest.mark.unit
def test_no_driver_loads_the_stand_in_under_the_driver_name(drivers, tmp_path):
    empty = tmp_path / "no-driver-here"
    empty.mkdir()
    probe = run_python("from tensorweaver import _legate; print(_legate.probe_driver().loaded)")
    if probe.stdout.strip() != "False":
        pytest.skip("this machine has a libcuda.so.1 on its default library path")
    got = configure_in_subprocess({"LD_LIBRARY_PATH": str(empty),
                                   _legate.STAND_IN_ENV: str(drivers.stand_in)})
    assert got["mode"] == "cpu" and got["stand_in_loaded"] and not got["fake_driver_loaded"]
    assert got["libcuda_files"] == [str(drivers.stand_in)]
    assert got["stand_in_path"] == str(drivers.stand_in)
    assert "no NVIDIA driver" in got["line"] and f"CUDA driver stand-in: {drivers.stand_in}" in got["line"]


@pytest.mark.unit
def test_stand_in_on_the_library_path_is_recognised(drivers):
    got = configure_in_subprocess({"LD_LIBRARY_PATH": str(drivers.stand_in.parent)})
    assert got["mode"] == "cpu" and got["stand_in_loaded"]
    assert got["libcuda_files"] == [str(drivers.stand_in)]
    assert "is the CUDA driver stand-in" in got["line"]


@pytest.mark.unit
def test_stand_in_built_without_soname_is_a_clean_error(drivers):
    proc = run_python(f"""
        from pathlib import Path
        from tensorweaver import _legate
        _legate.load_stand_in(Path({str(drivers.no_soname)!r}))
    """)
    assert proc.returncode != 0
    assert "built without a soname" in proc.stderr and "-Wl,-soname,libcuda.so.1" in proc.stderr


@pytest.mark.unit
def test_legate_imported_first_is_reported_not_reconfigured():
    proc = run_python("""
        import io, sys, types
        sys.modules["legate"] = types.ModuleType("legate")
        from tensorweaver import _legate
        out = io.StringIO()
        print(_legate.configure(stream=out).mode, out.getvalue())
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("preset tensorweaver: legate was imported before tensorweaver")


# --------------------------------------------------------------------------- with cuPyNumeric
@pytest.mark.parity
def test_cupynumeric_on_a_driver_without_gpu_runs_in_cpu_mode(drivers):
    proc = run_python("""
        from tensorweaver import backend
        import legate.core as lc
        m = lc.get_machine()
        x = backend.xp.arange(6.0).reshape(2, 3)
        print(backend.name, m.count(lc.TaskTarget.GPU), m.count(lc.TaskTarget.CPU), float(x.sum()))
    """, {"TENSORWEAVER_BACKEND": "cupynumeric", "LD_LIBRARY_PATH": str(drivers.no_gpu.parent),
          _legate.STAND_IN_ENV: str(drivers.stand_in)})
    assert proc.returncode == 0, proc.stderr
    # Nothing but the program's output on stdout (Realm's failed GPU discovery is silenced),
    # and exactly one line on stderr: ours.
    assert proc.stdout.splitlines() == ["cupynumeric 0 1 15.0"], proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tensorweaver: Legate CPU mode: "), proc.stderr
    assert "found but no usable GPU (cuInit: CUDA_ERROR_NO_DEVICE)" in lines[0]


@pytest.mark.parity
def test_env_report_shows_the_mode_and_processors(drivers):
    proc = run_python("import runpy; runpy.run_module('tensorweaver.env', run_name='__main__')",
                      {"TENSORWEAVER_BACKEND": "cupynumeric", _legate.STAND_IN_ENV: str(drivers.stand_in),
                       "LEGATE_CONFIG": "--cpus 1 --gpus 0 --omps 0 --sysmem 512"})
    assert proc.returncode == 0, proc.stderr
    assert "legate mode" in proc.stdout and "CPU:" in proc.stdout
    assert "'--cpus 1 --gpus 0 --omps 0 --sysmem 512' (set by the user)" in proc.stdout
    assert "0 GPU, 0 OMP, 1 CPU; preferred target CPU" in proc.stdout


# --------------------------------------------------------------------------- python -m tensorweaver.env
def run_env_command(*args, env=None, python=sys.executable):
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("TENSORWEAVER_BACKEND", "LEGATE_CONFIG", "LEGATE_AUTO_CONFIG",
                             "REALM_DEFAULT_ARGS", "LD_LIBRARY_PATH", _legate.STAND_IN_ENV)}
    full_env.update(env or {})
    return subprocess.run([python, "-m", "tensorweaver.env", *args], capture_output=True, text=True,
                          env=full_env, cwd=REPO, timeout=300)


@pytest.mark.unit
@pytest.mark.parametrize("as_json", [False, True])
def test_env_reports_a_backend_that_fails_to_load_with_status_1(as_json):
    proc = run_env_command(*(["--json"] if as_json else []), env={"TENSORWEAVER_BACKEND": "tensorflow"})
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    if as_json:
        info = json.loads(proc.stdout)
    else:
        info = dict(line.split(None, 1) if "  " not in line else
                    [part.strip() for part in line.split("  ", 1)] for line in proc.stdout.splitlines())
    assert info["backend"].startswith("FAILED to load (TENSORWEAVER_BACKEND='tensorflow'")
    assert "is not a known backend" in info["backend error"]
    assert "TENSORWEAVER_BACKEND=numpy" in info["backend error"]     # the fix
    assert info["numpy"] and info["python"]                          # the rest is still reported


@pytest.mark.unit
def test_env_without_cupynumeric_names_the_install_from_this_checkout(tmp_path):
    # A Python path with NumPy but without cuPyNumeric/Legate, whatever this venv holds.
    site = Path(np.__file__).resolve().parent.parent
    for entry in site.iterdir():
        if not entry.name.lower().startswith(("cupynumeric", "nvidia_cupynumeric", "legate")):
            (tmp_path / entry.name).symlink_to(entry)
    full_env = {k: v for k, v in os.environ.items() if k not in ("LEGATE_CONFIG", "REALM_DEFAULT_ARGS")}
    full_env.update(TENSORWEAVER_BACKEND="cupynumeric", PYTHONPATH=f"{REPO}{os.pathsep}{tmp_path}")
    proc = subprocess.run([sys.executable, "-S", "-m", "tensorweaver.env", "--json"], capture_output=True,
                          text=True, env=full_env, cwd=REPO, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    error = json.loads(proc.stdout)["backend error"]
    assert "cuPyNumeric could not be imported" in error
    assert "pip install -e '.[gpu]'" in error and "tensorweaver[" not in error


@pytest.mark.unit
def test_no_install_hint_names_the_pypi_distribution_tensorweaver():
    # "tensorweaver" on PyPI is another project: hints must install this checkout
    # (pip install -e '.[extra]'), never that distribution name with an extra.
    import re
    pattern = re.compile(r"pip install\s+(?:-[-\w=]+\s+)*['\"]?tensorweaver\[")
    offenders = []
    for root in ("tensorweaver", "tests", "bench", "docker", "labs/src", ".ci"):
        for path in (REPO / root).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".sh", ".md", ".txt", ".in", ".cfg", ""):
                text = path.read_text(errors="replace")
                offenders += [f"{path.relative_to(REPO)}: {m.group(0)}" for m in pattern.finditer(text)]
    for name in ("README.md", "Makefile", "Dockerfile", "Dockerfile.gpu"):
        if not (REPO / name).is_file():      # the images carry the sources, not the Dockerfiles
            continue
        text = (REPO / name).read_text()
        offenders += [f"{name}: {m.group(0)}" for m in pattern.finditer(text)]
    assert not offenders, offenders


@pytest.mark.parity
@pytest.mark.parametrize("realm_args", [None, "-level gpu=2"])
def test_env_json_parses_on_cupynumeric_cpu_mode(drivers, realm_args):
    # With Realm's discovery messages silenced (the default), and with the user asking Realm
    # to print them: stdout holds the JSON object and nothing else either way.
    env = {"TENSORWEAVER_BACKEND": "cupynumeric", _legate.STAND_IN_ENV: str(drivers.stand_in)}
    if realm_args:
        env["REALM_DEFAULT_ARGS"] = realm_args
    proc = run_env_command("--json", env=env)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["backend"].startswith("cupynumeric") and info["legate mode"].startswith("CPU:")
    assert info["legate processors"].startswith("0 GPU, 0 OMP, 1 CPU")
    ours = [line for line in proc.stderr.splitlines() if line.startswith("tensorweaver:")]
    assert len(ours) == 1, proc.stderr
    if realm_args is None:
        assert proc.stderr.splitlines() == ours        # exactly one line at start-up
        assert "silenced" in info["REALM_DEFAULT_ARGS"]
    else:
        assert "{gpu}" in proc.stderr                  # the user's choice is honoured, on stderr


# --------------------------------------------------------------------------- input kinds
@pytest.mark.unit
def test_to_backend_copies_host_values_and_passes_backend_arrays_through():
    host = np.array([1, 2, 3])
    moved = backend.to_backend(host, copy=True)     # on NumPy a host array is a backend array
    host[0] = 99                                    # the user's array changes afterwards
    assert backend.to_host(moved).tolist() == [1, 2, 3]
    assert backend.to_host(backend.to_backend([[1.5], [2.5]])).shape == (2, 1)
    on_backend = backend.from_host(np.arange(3.0))
    assert backend.to_backend(on_backend) is on_backend
    with pytest.raises(TypeError, match="cannot turn a list into an array"):
        backend.to_backend([[1, 2], [3]])


@pytest.mark.unit
@pytest.mark.parametrize("make", [np.array, list, lambda v: backend.from_host(np.array(v))],
                         ids=["host", "list", "backend"])
def test_repeated_index_of_every_kind_accumulates(make):
    import tensorweaver as tw
    x = tw.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    x[make([2, 2, 2])].backward(tw.tensor([1.0, 10.0, 100.0]))
    assert x.grad.numpy().tolist() == [0.0, 0.0, 111.0, 0.0]


@pytest.mark.unit
def test_index_array_changed_after_forward_does_not_change_the_gradient():
    import tensorweaver as tw
    index = np.array([0, 0, 3])
    x = tw.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = x[index]
    index[:] = 1                                    # the saved index is a copy
    y.sum().backward()
    assert x.grad.numpy().tolist() == [2.0, 0.0, 0.0, 1.0]


@pytest.mark.unit
def test_float_index_array_is_a_clear_error():
    import tensorweaver as tw
    with pytest.raises(IndexError, match=r"index arrays used as indices must hold integers or bools, "
                                         r"got float64; convert them"):
        tw.ones(4)[np.array([0.0, 1.0])]
