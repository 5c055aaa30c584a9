"""The one backend seam: the only module that imports the array library.

Every op computes on ``xp``, which is NumPy (CPU) or cuPyNumeric (Legate, GPU or
CPU). The choice is made once per process from ``TENSORWEAVER_BACKEND``, because
Legate reads its configuration once, at first import.

What the two libraries do differently is handled here, never in the ops:
scatter-add (cuPyNumeric has no ``ufunc.at``), special functions, host <-> device
copies and 0-d results.
"""
from __future__ import annotations

import os

import numpy as _host_np  # host-side arrays: random numbers, save/load, .numpy()

ENV_VAR = "TENSORWEAVER_BACKEND"
_ALIASES = {"numpy": "numpy", "np": "numpy", "cpu": "numpy",
            "cupynumeric": "cupynumeric", "cunumeric": "cupynumeric"}


class BackendError(RuntimeError):
    """The requested array backend is unknown or cannot be loaded."""


def _select(requested: str | None):
    raw = (requested or "numpy").strip()
    name = _ALIASES.get(raw.lower())
    if name is None:
        raise BackendError(
            f"{ENV_VAR}={raw!r} is not a known backend. "
            f"Use {ENV_VAR}=numpy (CPU, the default) or {ENV_VAR}=cupynumeric (GPU via Legate).")
    if name == "numpy":
        return name, _host_np
    import importlib.util
    from tensorweaver import _legate

    try:
        # Checked first (without importing it) so that a missing package is reported as
        # such, before any driver probing or Legate configuration.
        if importlib.util.find_spec("cupynumeric") is None:
            raise ImportError("No module named 'cupynumeric'")
        _legate.configure()          # must run before the first `import legate`
        import cupynumeric as module
    except ImportError as exc:
        raise BackendError(
            f"{ENV_VAR}=cupynumeric, but cuPyNumeric could not be imported ({exc}). "
            "Install it with `pip install nvidia-cupynumeric` (or `pip install tensorweaver[gpu]`), "
            "use the GPU image (`make shell-gpu`), or unset "
            f"{ENV_VAR} to use NumPy.") from exc
    except _legate.LegateSetupError as exc:
        raise BackendError(f"{ENV_VAR}=cupynumeric: {exc}") from exc
    return name, module


name, xp = _select(os.environ.get(ENV_VAR))
ndarray = xp.ndarray
is_numpy = xp is _host_np
#: The device string tensors report: NumPy runs on the host CPU; cuPyNumeric
#: places data wherever Legate runs (GPUs, or CPU cores in CPU mode).
device = "cpu" if is_numpy else "legate"


def to_host(a):
    """Return a NumPy array (a copy-free view on the NumPy backend)."""
    if is_numpy:
        return a
    return _host_np.asarray(a)


def from_host(a, dtype=None):
    """Move a host (NumPy) array or Python value onto the backend."""
    if dtype is not None:
        a = _host_np.asarray(a, dtype=dtype)
    return xp.asarray(a)


def as_array(value):
    """Wrap a backend result as an ndarray: reductions return 0-d scalars."""
    return value if type(value) is ndarray else xp.asarray(value)


def owner(a):
    """The array that owns ``a``'s memory; used to keep gradient buffers unshared."""
    base = getattr(a, "base", None)
    return a if base is None else base


def scatter_add(shape, index, values, dtype):
    """Return zeros(shape) with ``values`` added at ``index``, repeats accumulated.

    ``index`` is anything valid for ``__getitem__``. NumPy has ``add.at`` for this;
    cuPyNumeric has no ``ufunc.at``, so there the flat positions are computed and
    summed with ``bincount(weights=...)``.
    """
    out = xp.zeros(shape, dtype=dtype)
    if is_numpy:
        _host_np.add.at(out, index, values)
        return out
    positions = xp.arange(out.size).reshape(shape)[index]
    values = xp.broadcast_to(values, positions.shape)
    summed = xp.bincount(positions.reshape(-1), weights=values.reshape(-1).astype(xp.float64),
                         minlength=out.size)
    return summed.astype(dtype).reshape(shape)


def erf(x):
    """Elementwise error function (for exact GELU)."""
    if is_numpy:
        from scipy.special import erf as _erf  # imported lazily: only GELU needs it
        return _erf(x)
    special = getattr(xp, "special", None)
    if special is not None and hasattr(special, "erf"):
        return special.erf(x)
    return _erf_series(x)


def _erf_series(x):
    # erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)).
    # Every term is positive, so there is no cancellation; |x| >= 6 is +-1 to double
    # precision, and 130 terms converge for |x| < 6.
    a = xp.clip(xp.abs(x.astype(xp.float64)), 0.0, 6.0)
    term = a.copy()
    total = a.copy()
    a2 = 2.0 * a * a
    for n in range(1, 130):
        term = term * a2 / (2 * n + 1)
        total = total + term
    result = 2.0 / _host_np.sqrt(_host_np.pi) * xp.exp(-a * a) * total
    return (xp.sign(x) * xp.minimum(result, 1.0)).astype(x.dtype)


def host_numpy():
    """The host NumPy module, for host-only work (RNG, file formats)."""
    return _host_np
