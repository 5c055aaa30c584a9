"""Configure Legate before its first import: GPU mode on a GPU host, CPU mode elsewhere.

Legate reads ``LEGATE_CONFIG`` once, when ``legate`` is first imported, so the choice is
made here, before ``backend.py`` imports ``cupynumeric``:

1. Probe the NVIDIA driver with ctypes: load ``libcuda.so.1`` exactly as the dynamic loader
   would for Legate, then ask ``cuInit`` and ``cuDeviceGetCount`` whether a GPU is usable.
2. ``decide()`` (a pure function of the probe, the environment and the machine's size) picks:

   - **GPU mode**: a real driver reports >= 1 device. Nothing is changed; Legate's own
     auto-configuration takes the GPUs.
   - **CPU mode**: no driver, or a driver with no usable GPU. ``LEGATE_AUTO_CONFIG=0`` and a
     small ``LEGATE_CONFIG`` (a few CPU cores, no GPU, no OpenMP, a bounded memory pool),
     because Legate's defaults would reserve the whole machine.
   - A ``LEGATE_CONFIG`` the user already set is always kept as is.

3. With no real ``libcuda.so.1`` at all, the PyPI ``legate`` wheel cannot even be imported
   (it links the driver library directly). The CUDA driver stand-in
   (``docker/cuda-stand-in/``) is then loaded first: once a library whose soname is
   ``libcuda.so.1`` is in the process, the dynamic loader satisfies Legate's dependency with
   it. It is loaded only when no real driver exists, so it never shadows one.

One line on stderr says which mode was chosen and why, and it is the only one: in CPU mode
Realm's GPU discovery, which would log its failure to find a GPU (two lines, on stdout), is
silenced with ``REALM_DEFAULT_ARGS=-level gpu=6`` (fatal messages only; the line says why
there is no GPU). In GPU mode nothing is silenced.
"""
from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

DRIVER_SONAME = "libcuda.so.1"
#: Exported only by the stand-in: tells it apart from a real driver.
STAND_IN_MARKER = "tensorweaver_cuda_stand_in"
STAND_IN_ENV = "TENSORWEAVER_CUDA_STAND_IN"
#: Where the GPU image installs the stand-in.
IMAGE_STAND_IN = Path("/opt/tensorweaver/cuda-stand-in") / DRIVER_SONAME
#: Where `make cuda-stand-in` builds it in a source checkout.
CHECKOUT_STAND_IN = Path(__file__).resolve().parent.parent / "build" / "cuda-stand-in" / DRIVER_SONAME

CUDA_ERROR_NO_DEVICE = 100
#: Realm's logger for GPU discovery, at "fatal only" (Realm's levels: 4 warning, 5 error, 6 fatal).
#: Realm reads extra command-line flags from REALM_DEFAULT_ARGS when Legate starts it.
QUIET_GPU_DISCOVERY = "-level gpu=6"


class LegateSetupError(RuntimeError):
    """Legate cannot be set up on this machine (e.g. no driver and no stand-in)."""


@dataclass(frozen=True)
class DriverProbe:
    """What loading ``libcuda.so.1`` found.

    ``loaded`` is False when no library of that name could be loaded. ``stand_in`` is True
    when the library loaded is tensorweaver's stand-in (e.g. it is on ``LD_LIBRARY_PATH``),
    which is not a driver. ``init_error`` is cuInit's result name when it failed.
    """
    loaded: bool
    path: str = ""
    stand_in: bool = False
    version: int = 0
    init_error: str = ""
    devices: int = 0
    detail: str = ""

    @property
    def usable_gpus(self) -> int:
        return self.devices if self.loaded and not self.stand_in and not self.init_error else 0


@dataclass(frozen=True)
class Plan:
    """The decision: the mode, why, the environment to set, whether to load the stand-in."""
    mode: str                      # "gpu", "cpu", or "preset" (legate was already imported)
    reason: str
    env: dict = field(default_factory=dict)
    needs_stand_in: bool = False
    user_config: bool = False      # LEGATE_CONFIG came from the user

    def line(self, config: str, stand_in_path: str = "") -> str:
        """The one line printed at start-up; ``config`` is the effective LEGATE_CONFIG."""
        if self.mode == "preset":
            return f"tensorweaver: {self.reason}"
        where = "GPU" if self.mode == "gpu" else "CPU"
        how = (f"LEGATE_CONFIG={config!r} (set by the user)" if self.user_config else
               f"LEGATE_CONFIG={config!r}" if config else "Legate auto-configuration")
        stand_in = f"; CUDA driver stand-in: {stand_in_path}" if stand_in_path else ""
        override = "" if self.user_config else "; set LEGATE_CONFIG to override"
        return f"tensorweaver: Legate {where} mode: {self.reason}; {how}{stand_in}{override}"


# --------------------------------------------------------------------------- the decision
def cpu_config(cores: int, memory_mb: int) -> str:
    """A small CPU-mode LEGATE_CONFIG for a machine with ``cores`` cores and ``memory_mb`` MiB.

    One core is left for Python and Legate's utility thread, at most 4 compute cores (the
    engine's arrays are small; more cores only add scheduling overhead), and a quarter of
    memory for Legate's pool, between 256 MiB and 4 GiB.
    """
    cpus = max(1, min(4, cores - 1))
    sysmem = max(256, min(4096, memory_mb // 4))
    return f"--cpus {cpus} --gpus 0 --omps 0 --utility 1 --sysmem {sysmem}"


def decide(probe: DriverProbe, environ, cores: int, memory_mb: int) -> Plan:
    """Choose GPU or CPU mode. Pure: no loading, no environment changes."""
    user_config = "LEGATE_CONFIG" in environ
    gpus = probe.usable_gpus
    if gpus >= 1:
        version = f" {probe.version // 1000}.{probe.version % 1000 // 10}" if probe.version else ""
        return Plan("gpu", f"NVIDIA driver{version} at {probe.path} reports {gpus} GPU(s)",
                    user_config=user_config)

    if not probe.loaded:
        reason = f"no NVIDIA driver ({probe.detail or DRIVER_SONAME + ' not found'})"
    elif probe.stand_in:
        reason = f"no NVIDIA driver ({probe.path} is the CUDA driver stand-in)"
    elif probe.init_error:
        reason = (f"NVIDIA driver at {probe.path} found but no usable GPU "
                  f"(cuInit: {probe.init_error})")
    else:
        reason = f"NVIDIA driver at {probe.path} found but it reports no GPU"
    env = {}
    if not user_config:
        env["LEGATE_CONFIG"] = cpu_config(cores, memory_mb)
    if "LEGATE_AUTO_CONFIG" not in environ:
        # Auto-configuration would reserve most cores and memory of the machine.
        env["LEGATE_AUTO_CONFIG"] = "0"
    realm_args = environ.get("REALM_DEFAULT_ARGS", "")
    if "-level" not in realm_args.split():
        # Realm's failed GPU discovery would print two lines to stdout (breaking
        # `env --json` and any program whose output is data); the line says it instead.
        # A `-level` the user chose is kept as it is (Realm takes the last one only).
        env["REALM_DEFAULT_ARGS"] = f"{realm_args} {QUIET_GPU_DISCOVERY}".strip()
    return Plan("cpu", reason, env, needs_stand_in=not probe.loaded, user_config=user_config)


# --------------------------------------------------------------------------- the machine
def _error_name(lib, code: int) -> str:
    name = ctypes.c_char_p()
    try:
        if lib.cuGetErrorName(code, ctypes.byref(name)) == 0 and name.value:
            return name.value.decode()
    except AttributeError:
        pass
    return f"CUDA error {code}"


def _loaded_path(soname: str) -> str:
    """The file a loaded library came from (the loader's search order decided)."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                if line.rstrip().endswith("/" + soname) or f"/{soname} " in line:
                    return line.split(None, 5)[-1].strip()
    except OSError:
        pass
    return soname


def probe_driver(name: str = DRIVER_SONAME) -> DriverProbe:
    """Load the CUDA driver the way Legate will and ask how many GPUs it sees.

    Loading it by soname uses the loader's normal search (LD_LIBRARY_PATH, the ldconfig
    cache, the default directories), the same one that resolves Legate's dependency.
    """
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        return DriverProbe(loaded=False, detail=str(exc))
    path = _loaded_path(DRIVER_SONAME) if name == DRIVER_SONAME else name
    if hasattr(lib, STAND_IN_MARKER):
        return DriverProbe(loaded=True, path=path, stand_in=True)
    version = ctypes.c_int(0)
    try:
        lib.cuDriverGetVersion(ctypes.byref(version))
        code = lib.cuInit(0)
        if code != 0:
            return DriverProbe(True, path, version=version.value, init_error=_error_name(lib, code))
        count = ctypes.c_int(0)
        code = lib.cuDeviceGetCount(ctypes.byref(count))
    except AttributeError as exc:  # not a CUDA driver at all
        return DriverProbe(True, path, init_error=f"not a CUDA driver ({exc})")
    if code != 0:
        return DriverProbe(True, path, version=version.value, init_error=_error_name(lib, code))
    return DriverProbe(True, path, version=version.value, devices=count.value)


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def machine_size() -> tuple[int, int]:
    """(usable cores, memory in MiB), honouring CPU affinity and container (cgroup) limits."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    quota = _read("/sys/fs/cgroup/cpu.max").split()          # cgroup v2: "max 100000" or "200000 100000"
    if len(quota) == 2 and quota[0].isdigit() and quota[1].isdigit() and int(quota[1]) > 0:
        cores = max(1, min(cores, -(-int(quota[0]) // int(quota[1]))))
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit in (_read("/sys/fs/cgroup/memory.max"),                     # cgroup v2
                  _read("/sys/fs/cgroup/memory/memory.limit_in_bytes")):  # cgroup v1
        if limit.isdigit():
            memory = min(memory, int(limit))
    return cores, memory // 2**20


def find_stand_in(environ) -> Path:
    """The stand-in to load: $TENSORWEAVER_CUDA_STAND_IN, the image's copy, or the checkout's."""
    if environ.get(STAND_IN_ENV):
        path = Path(environ[STAND_IN_ENV])
        if not path.is_file():
            raise LegateSetupError(
                f"{STAND_IN_ENV}={str(path)!r} does not exist. Build the CUDA driver stand-in with "
                "`make cuda-stand-in` (from docker/cuda-stand-in/libcuda_stand_in.c) and point "
                f"{STAND_IN_ENV} at the libcuda.so.1 it makes, or unset it.")
        return path
    for path in (IMAGE_STAND_IN, CHECKOUT_STAND_IN):
        if path.is_file():
            return path
    raise LegateSetupError(
        "No NVIDIA driver (libcuda.so.1) on this machine, and no CUDA driver stand-in to run "
        "Legate in CPU mode. Build it with `make cuda-stand-in` in the tensorweaver checkout "
        f"(it writes build/cuda-stand-in/{DRIVER_SONAME}), or compile "
        "docker/cuda-stand-in/libcuda_stand_in.c as its header says and set "
        f"{STAND_IN_ENV} to the file.")


def load_stand_in(path: Path) -> None:
    """Load the stand-in so that Legate's ``NEEDED libcuda.so.1`` resolves to it."""
    lib = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
    if not hasattr(lib, STAND_IN_MARKER):
        raise LegateSetupError(f"{path} is not the tensorweaver CUDA driver stand-in "
                               f"(no {STAND_IN_MARKER} symbol); rebuild it with `make cuda-stand-in`.")
    # The loader matches an already loaded library by its soname only; check that it took.
    try:
        answered = hasattr(ctypes.CDLL(DRIVER_SONAME), STAND_IN_MARKER)
    except OSError:
        answered = False
    if not answered:
        raise LegateSetupError(
            f"{path} was loaded but does not answer to the name {DRIVER_SONAME}: it was built "
            "without a soname. Rebuild it with `make cuda-stand-in` (gcc ... "
            f"-Wl,-soname,{DRIVER_SONAME}).")


# --------------------------------------------------------------------------- entry point
#: The plan applied in this process (for `python -m tensorweaver.env`), and the stand-in used.
applied: Plan | None = None
stand_in_path: str = ""


def configure(environ=None, stream=None) -> Plan:
    """Decide the mode, load the stand-in if needed, set the environment, print one line.

    Idempotent; must run before the first ``import legate`` (Legate's configuration is
    fixed from then on).
    """
    global applied, stand_in_path
    if applied is not None:
        return applied
    environ = os.environ if environ is None else environ
    if "legate" in sys.modules:
        # Too late to change anything; say so rather than pretend.
        applied = Plan("preset", "legate was imported before tensorweaver, so its configuration "
                       "is whatever LEGATE_CONFIG was then; import tensorweaver first to let it "
                       "choose GPU or CPU mode", user_config=True)
        print(applied.line(""), file=stream or sys.stderr, flush=True)
        return applied
    probe = probe_driver()
    plan = decide(probe, environ, *machine_size())
    if plan.needs_stand_in:
        path = find_stand_in(environ)
        load_stand_in(path)
        stand_in_path = str(path)
    elif probe.stand_in:
        stand_in_path = probe.path
    environ.update(plan.env)
    print(plan.line(environ.get("LEGATE_CONFIG", ""), stand_in_path), file=stream or sys.stderr, flush=True)
    applied = plan
    return plan


_json_stdout = None


def claim_stdout():
    """A file on the real stdout, for one program's data alone; fd 1 becomes stderr.

    Legate and Realm write to file descriptor 1 directly (when Legate starts, which is at
    ``import tensorweaver``, and at exit), bypassing ``sys.stdout``. For
    ``python -m tensorweaver.env --json`` they get stderr for the rest of the process, and the
    JSON object a private copy of the real stdout. ``backend.py`` calls this before Legate
    starts; idempotent.
    """
    global _json_stdout
    if _json_stdout is None:
        sys.stdout.flush()
        _json_stdout = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)
    return _json_stdout
