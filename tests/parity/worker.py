"""Run parity cases on the backend this process was started with, and save the results.

    TENSORWEAVER_BACKEND=cupynumeric python tests/parity/worker.py OUT [CASE ...]

One process per backend, because Legate is configured once per process. Writes
``OUT.npz`` (one array per ``"<case>::<output>"``) and ``OUT.json``: the backend, the
versions, the Legate set-up, each case's error (a traceback) and which ``Function``
subclasses each case ran forward and backward (for the coverage test). A failing case
is recorded and the worker goes on with the next one. Which Functions, layers (per mode)
and optimizers each case ran is recorded too, for the coverage tests.
"""
from __future__ import annotations

import functools
import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tensorweaver as tw  # noqa: E402
from tensorweaver import _legate, backend  # noqa: E402
from tensorweaver.autograd.function import Function  # noqa: E402

#: Packages whose Functions, Modules and Optimizers the suite must cover, once they exist.
PACKAGES = ("tensorweaver", "tensorweaver.nn", "tensorweaver.nn.functional", "tensorweaver.optim")


def import_packages() -> list[str]:
    found = []
    for name in PACKAGES:
        try:
            importlib.import_module(name)
            found.append(name)
        except ModuleNotFoundError as exc:
            if not (name == exc.name or name.startswith(f"{exc.name}.")):
                raise                 # the package exists but is broken: say so
    return found


def subclasses(base) -> list[type]:
    """Every subclass of ``base`` defined inside tensorweaver, sorted by name."""
    seen, stack = set(), [base]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
    return sorted((c for c in seen if c.__module__.startswith("tensorweaver.")),
                  key=lambda c: (c.__module__, c.__qualname__))


def public_classes(package: str, base) -> list[type]:
    """The subclasses of ``base`` that ``package`` exports (what users can name)."""
    module = sys.modules.get(package)
    if module is None:
        return []
    return sorted({obj for name, obj in vars(module).items()
                   if not name.startswith("_") and isinstance(obj, type) and issubclass(obj, base)
                   and obj is not base}, key=lambda c: c.__name__)


def instrument(record: dict) -> dict:
    """Wrap methods so that each case notes what it ran.

    - every Function's ``forward``/``backward`` -> record["forward"], record["backward"];
    - every public ``nn.Module``'s ``forward``, with the module's mode -> record["layers"]
      (as "Name.train" / "Name.eval");
    - every public ``optim.Optimizer``'s ``step`` -> record["optimizers"].
    Returns what must be covered: {"functions": {name: differentiable}, "layers": [...],
    "optimizers": [...]}.
    """
    def wrap(cls, method, note):
        original = getattr(cls, method)

        @functools.wraps(original)
        def wrapper(self, *args, **kwargs):
            note(self)
            return original(self, *args, **kwargs)
        wrapper.parity_wrapped = True
        setattr(cls, method, wrapper)

    functions = {}
    for cls in subclasses(Function):
        functions[cls.__qualname__] = cls.differentiable
        for method in ("forward", "backward"):
            impl = getattr(cls, method, None)
            # Wrap where the method is defined, or inherited from a mixin that is not itself a
            # Function (the pointwise family); a subclass of a wrapped Function is covered
            # already. The note is the class that ran, not the class that defines the method.
            if impl is None or impl is getattr(Function, method) or (
                    method not in cls.__dict__ and getattr(impl, "parity_wrapped", False)):
                continue
            wrap(cls, method, lambda self, m=method: record[m].add(type(self).__qualname__))
    layers, optimizers = [], []
    if "tensorweaver.nn" in sys.modules:
        from tensorweaver.nn import Module
        for cls in public_classes("tensorweaver.nn", Module):
            defining = next((c for c in cls.__mro__ if "forward" in c.__dict__), Module)
            if defining is Module:
                continue            # containers without a forward (ModuleList, ModuleDict)
            layers.append(cls.__name__)
        for cls in {c for c in subclasses(Module) if "forward" in c.__dict__}:
            wrap(cls, "forward", lambda self: record["layers"].add(
                f"{type(self).__name__}.{'train' if self.training else 'eval'}"))
    if "tensorweaver.optim" in sys.modules:
        from tensorweaver.optim import Optimizer
        for cls in public_classes("tensorweaver.optim", Optimizer):
            optimizers.append(cls.__name__)
        for cls in {c for c in subclasses(Optimizer) if "step" in c.__dict__}:
            wrap(cls, "step", lambda self: record["optimizers"].add(type(self).__name__))
    return {"functions": functions, "layers": layers, "optimizers": optimizers}


def run(out: Path, names: list[str]) -> int:
    packages = import_packages()
    import parity_cases  # after tensorweaver: the cases use it
    record = {"forward": set(), "backward": set(), "layers": set(), "optimizers": set()}
    coverage = instrument(record)
    names = names or list(parity_cases.CASES)
    unknown = [n for n in names if n not in parity_cases.CASES]
    if unknown:
        raise SystemExit(f"unknown parity case(s): {', '.join(unknown)}")

    arrays, cases = {}, {}
    for name in names:
        case = parity_cases.CASES[name]
        for seen in record.values():
            seen.clear()
        tw.manual_seed(case.seed)
        t0 = time.perf_counter()
        entry = {"error": None}
        try:
            for key, value in case.fn(case.dtype).items():
                arrays[f"{name}::{key}"] = np.asarray(value)
        except Exception:  # noqa: BLE001  (recorded, reported by the test for this case)
            entry["error"] = traceback.format_exc()
        entry["seconds"] = time.perf_counter() - t0
        entry.update({key: sorted(seen) for key, seen in record.items()})
        cases[name] = entry

    np.savez(out.with_suffix(".npz"), **arrays)
    meta = {
        "backend": backend.name,
        "packages": packages,
        **coverage,
        "versions": {d: _version(d) for d in ("numpy", "nvidia-cupynumeric", "legate")},
        "legate": None if backend.is_numpy else {
            "mode": _legate.applied.mode, "reason": _legate.applied.reason,
            "LEGATE_CONFIG": os.environ.get("LEGATE_CONFIG", ""),
            "CUPYNUMERIC_FAST_MATH": os.environ.get("CUPYNUMERIC_FAST_MATH", "")},
        "cases": cases,
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    return 0


def _version(dist: str) -> str | None:
    import importlib.metadata
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    sys.exit(run(Path(sys.argv[1]), sys.argv[2:]))
