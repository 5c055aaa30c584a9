"""The one backend seam: the only module that imports the array library.

Every op computes on ``xp``, which is NumPy (CPU) or cuPyNumeric (Legate, GPU or
CPU). The choice is made once per process from ``TENSORWEAVER_BACKEND``, because
Legate reads its configuration once, at first import.

What the two libraries do differently is handled here, never in the ops:
scatter-add (cuPyNumeric has no ``ufunc.at``), special functions, host <-> device
copies, 0-d results, non-unit-step slices (``getitem``/``setitem``) and memory
ownership (``owner``). A function cuPyNumeric lacks raises ``MissingFunction``
naming the op that asked for it: there is no silent NumPy fallback.

Rules for code that must run on both (the parity suite, tests/parity, checks them):

- ``a.reshape(...)`` may return a *copy* on cuPyNumeric (it does for contiguous arrays),
  so never write through a reshape expecting ``a`` to change; reshape the result back.
- Basic slices (step 1) are views on both; use ``getitem``/``setitem`` for other steps.
- ``a.transpose(axes)`` takes one tuple on cuPyNumeric, not NumPy's ``transpose(*axes)``.
"""
from __future__ import annotations

import functools
import os
import sys
import types

import numpy as _host_np  # host-side arrays: random numbers, save/load, .numpy()

ENV_VAR = "TENSORWEAVER_BACKEND"
_ALIASES = {"numpy": "numpy", "np": "numpy", "cpu": "numpy",
            "cupynumeric": "cupynumeric", "cunumeric": "cupynumeric"}


class BackendError(RuntimeError):
    """The requested array backend is unknown or cannot be loaded."""


class MissingFunction(AttributeError):
    """The backend has no such function (an AttributeError, so ``hasattr`` still works)."""


def _caller_op(depth: int = 2) -> str:
    """'Class.method (file:line)' of the code that asked ``xp`` for a missing name."""
    frame = sys._getframe(depth)
    code = frame.f_code
    where = f"{os.path.basename(code.co_filename)}:{frame.f_lineno}"
    return f"{getattr(code, 'co_qualname', code.co_name)} ({where})"


def _strict_namespace(module):
    """``module``'s namespace, whose missing attributes raise ``MissingFunction``.

    cuPyNumeric (since 26.06) has no NumPy fallback, and its bare ``AttributeError``
    names neither the op nor the backend. This copy of the module's namespace (the
    same function objects, so no per-call cost) explains both.
    """
    ns = types.ModuleType(module.__name__, module.__doc__)
    ns.__dict__.update(module.__dict__)
    upstream = module.__dict__.get("__getattr__")
    version = getattr(module, "__version__", "")

    def __getattr__(attr):
        if upstream is not None:
            try:
                return upstream(attr)
            except AttributeError:
                pass
        if attr.startswith("__"):   # protocol probes (copy, pickle, ...): plain AttributeError
            raise AttributeError(attr)
        raise MissingFunction(
            f"{module.__name__} {version} has no `{attr}`, needed by {_caller_op()}, on the "
            f"{module.__name__} backend ({ENV_VAR}={os.environ.get(ENV_VAR, '')}). tensorweaver "
            "never falls back to NumPy silently: add a helper for it to tensorweaver/backend.py, "
            f"or run with {ENV_VAR}=numpy.")

    ns.__getattr__ = __getattr__
    if hasattr(module, "where"):
        ns.where = _where_like_numpy(module)
        _reductions_like_numpy(module, ns)
    return ns


def _reductions_like_numpy(module, ns):
    """max/min/amax/amin/argmax/argmin that see NaN as NumPy (and torch) do.

    cuPyNumeric 26.06 skips NaN in these reductions: the max of ``[nan, 1]`` is 1, of an
    all-NaN row -3.4e38, and the argmax of that row an out-of-range index. NumPy propagates
    NaN: the extreme is NaN and its index the first NaN's. The engine promises NumPy's
    answers on every backend, so the result is patched where a NaN was seen; only floating
    inputs pay for the extra ``isnan`` pass. (Array *methods* such as ``a.max()`` are
    cuPyNumeric's own: the engine's reductions call these functions.)
    """
    isnan, any_, argmax = module.isnan, module.any, module.argmax
    where = ns.where            # keeps a float32 result float32 next to the Python nan

    def values(reduce):
        def reduce_like_numpy(a, axis=None, keepdims=False):
            out = reduce(a, axis=axis, keepdims=keepdims)
            if a.dtype.kind != "f":
                return out
            return where(any_(isnan(a), axis=axis, keepdims=keepdims), module.nan, out)
        return reduce_like_numpy

    def index(reduce):
        def arg_like_numpy(a, axis=None):
            out = reduce(a, axis=axis)
            if a.dtype.kind != "f":
                return out
            nan = isnan(a)
            return where(any_(nan, axis=axis), argmax(nan, axis=axis), out)
        return arg_like_numpy

    ns.max = ns.amax = values(module.max)
    ns.min = ns.amin = values(module.min)
    ns.argmax, ns.argmin = index(module.argmax), index(module.argmin)


def _where_like_numpy(module):
    """``where`` with NumPy 2's promotion of Python scalars.

    NumPy treats a Python number as "weak": ``where(c, float32_array, 1.0)`` stays
    float32. cuPyNumeric 26.06 promotes it to float64 instead, which would silently turn
    float32 models into float64 ones (masked_fill, pow's backward, ...). The other
    functions the engine calls with scalars agree with NumPy (the parity suite checks
    every output's dtype).
    """
    where, asarray = module.where, module.asarray

    def where_like_numpy(condition, x, y):
        if isinstance(x, (bool, int, float)) or isinstance(y, (bool, int, float)):
            dtype = _host_np.result_type(*(v if isinstance(v, (bool, int, float)) else v.dtype
                                           for v in (x, y)))
            x, y = asarray(x, dtype=dtype), asarray(y, dtype=dtype)
        return where(condition, x, y)
    return where_like_numpy


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
        import cupynumeric
        module = _strict_namespace(cupynumeric)
    except ImportError as exc:
        raise BackendError(
            f"{ENV_VAR}=cupynumeric, but cuPyNumeric could not be imported ({exc}). "
            "Install it with `pip install nvidia-cupynumeric`, or from the tensorweaver checkout "
            "with `pip install -e '.[gpu]'` (`make venv-gpu` makes a venv with it), "
            "use the GPU image (`make shell-gpu`), or unset "
            f"{ENV_VAR} to use NumPy.") from exc
    except _legate.LegateSetupError as exc:
        raise BackendError(f"{ENV_VAR}=cupynumeric: {exc}") from exc
    return name, module


def _env_command_args():
    """The arguments of ``python -m tensorweaver.env ARGS``, or None for any other program."""
    argv = list(getattr(sys, "orig_argv", ()))
    for i, arg in enumerate(argv[:-1]):
        if arg == "-m":
            return argv[i + 2:] if argv[i + 1] == "tensorweaver.env" else None
    return None


if "--json" in (_env_command_args() or ()):
    # `python -m tensorweaver.env --json`: stdout must hold the JSON object alone, and Legate
    # starts (and may print) right here, before the command's own code runs.
    from tensorweaver import _legate as _legate_setup
    _legate_setup.claim_stdout()

try:
    name, xp = _select(os.environ.get(ENV_VAR))
except Exception as _exc:
    # `python -m tensorweaver.env` imports this package before its own code can run, so a
    # backend that fails to load is reported from here: what failed and the fix, status 1.
    _args = _env_command_args()
    if _args is None:
        raise
    from tensorweaver import env as _env
    raise SystemExit(_env.main(_args, own_stdout=True, backend_error=_exc)) from None
ndarray = xp.ndarray
is_numpy = xp is _host_np
#: Products that accumulate into their output (``_blas.ShiftedProducts``: stride-1
#: convolutions without im2col) on the OpenBLAS that NumPy ships, or None: on cuPyNumeric,
#: or a NumPy built against another BLAS (the convolution then keeps its im2col path).
shifted_products = None
if is_numpy:
    from tensorweaver import _blas
    shifted_products = _blas.load()
#: The device string tensors report: NumPy runs on the host CPU; cuPyNumeric
#: places data wherever Legate runs (GPUs, or CPU cores in CPU mode).
device = "cpu" if is_numpy else "legate"


def to_host(a):
    """Return a NumPy array (a copy-free view on the NumPy backend)."""
    if is_numpy:
        return a
    return _host_np.asarray(a)


def from_host(a, dtype=None):
    """Move a host (NumPy) array or Python value onto the backend.

    The result may share memory with ``a`` (always on NumPy; on Legate CPU mode too, which
    attaches host memory instead of copying), like ``torch.from_numpy``. Pass a fresh array,
    or copy it first, when ``a`` will be changed afterwards.
    """
    if dtype is not None:
        a = _host_np.asarray(a, dtype=dtype)
    return xp.asarray(a)


def to_backend(value, dtype=None, copy: bool = False):
    """Any non-Tensor input -> a backend array: the one place user values are normalised.

    Ops take Tensors, backend arrays, host NumPy arrays (and NumPy scalars), lists and
    Python numbers wherever torch does. Every such value that must become an array goes
    through here, so no op can treat a host array differently from a backend one (on
    cuPyNumeric a host array is *not* a ``backend.ndarray``: an op that tested
    ``isinstance(v, backend.ndarray)`` on the raw value would take another code path).

    Backend arrays pass through unchanged (cast if ``dtype`` is given) unless ``copy``.
    Everything else is copied onto the backend. On NumPy a host array *is* a backend array:
    pass ``copy=True`` where an op keeps the value (an index saved for backward), so that a
    later change to the user's array reaches it on neither backend.
    """
    if isinstance(value, ndarray):
        if copy:
            return value.astype(value.dtype if dtype is None else dtype, copy=True)
        return value if dtype is None or value.dtype == dtype else value.astype(dtype)
    try:
        host = _host_np.array(value, dtype=dtype)    # a copy, always
    except (ValueError, TypeError) as exc:
        raise TypeError(f"cannot turn a {type(value).__name__} into an array: {exc}. Pass a "
                        "tensor, a NumPy array, a (nested) list of numbers or a number.") from exc
    if host.dtype == object:
        raise TypeError(f"cannot turn a {type(value).__name__} into an array: its items are "
                        "neither numbers nor equal-length lists of numbers")
    return xp.asarray(host)


def is_array(value) -> bool:
    """True for a backend array or a host NumPy array (not for lists or scalars)."""
    return isinstance(value, (ndarray, _host_np.ndarray))


def as_array(value):
    """Wrap a backend result as an ndarray: reductions return 0-d scalars."""
    return value if type(value) is ndarray else xp.asarray(value)


def ufunc_into(ufunc, target, value) -> None:
    """``target[...] = ufunc(target, value)`` in one pass where the backend allows it.

    NumPy's ufuncs write into ``out=`` and handle a ``value`` whose memory overlaps
    ``target``. cuPyNumeric documents no such promise, so there the result is computed,
    then written. A read-only ``target`` (an expanded view) raises NumPy's ValueError.
    """
    if is_numpy:
        ufunc(target, value, out=target)
    else:
        target[...] = ufunc(target, value)


_UNSIGNED = {xp.dtype(f"int{bits}"): xp.dtype(f"uint{bits}") for bits in (8, 16, 32, 64)}


def all_below(index, n) -> bool:
    """Whether every value of the integer array ``index`` lies in [0, n) (a non-empty one).

    NumPy reads a signed array as unsigned, where a negative value is at least 2**(bits-1),
    so one maximum checks both ends; cuPyNumeric (no dtype views) takes the min and the max.
    """
    unsigned = _UNSIGNED.get(index.dtype) if is_numpy else None
    if unsigned is not None:
        return int(xp.maximum.reduce(index.view(unsigned))) < n
    return int(index.min()) >= 0 and int(index.max()) < n


def is_column_major(a) -> bool:
    """A 2-D array laid out column by column (the transposed view of a row-major one, ``W.T``).
    cuPyNumeric arrays have no layout a product could follow: always False there."""
    if not is_numpy:
        return False
    flags = a.flags
    return flags.f_contiguous and not flags.c_contiguous


#: cuPyNumeric does not track views (its ``.base`` raises NotImplementedError), so no
#: array can be told apart from a view of another: all of them answer this one owner.
#: The engine then copies a gradient rather than risk two buffers sharing memory.
_UNKNOWN_OWNER = object()


def owner(a):
    """The object that owns ``a``'s memory; used to keep gradient buffers unshared.

    Arrays sharing memory have the same owner. On cuPyNumeric every array has the same
    (unknown) owner: conservative, it costs a copy where NumPy can prove none is needed.
    """
    base = a.base
    return a if base is None else base


def _owner_unknown(a):
    """``owner`` on cuPyNumeric, which does not track views: one owner for every array."""
    return _UNKNOWN_OWNER


if not is_numpy:
    # Chosen once here rather than tested per call: the backward walk asks for the owner
    # of every gradient it routes.
    owner = _owner_unknown  # noqa: F811


# --------------------------------------------------------------------------- indexing
# cuPyNumeric documents slices with a step other than 1 (``x[::2]``, ``x[::-1]``) as
# unsupported: they raise NotImplementedError. On that backend such slices are turned
# into ``take`` with explicit positions (a copy, not a view; the engine never writes
# into a view of a tracked tensor, so nothing observable changes).

def _index_parts(index):
    return index if isinstance(index, tuple) else (index,)


def _has_strided_slice(index) -> bool:
    return any(type(p) is slice and p.step not in (None, 1) for p in _index_parts(index))


def _axes_used(part) -> int:
    if part is None or part is Ellipsis:
        return 0
    if isinstance(part, (ndarray, _host_np.ndarray)) and part.dtype == bool:
        return part.ndim
    return 1


@functools.lru_cache(maxsize=512)
def _positions(start: int, stop: int, step: int):
    """arange(start, stop, step) on the backend, cached: moving a host array into Legate
    costs about a millisecond, and a convolution asks for the same few ranges every step."""
    return xp.asarray(_host_np.arange(start, stop, step, dtype=_host_np.int64))


def _split_strided(shape, index):
    """([(axis, positions)], rest): strided slices as take positions, the index without them."""
    parts = list(_index_parts(index))
    explicit = sum(_axes_used(p) for p in parts)
    takes, axis = [], 0
    for k, part in enumerate(parts):
        if part is Ellipsis:
            axis += len(shape) - explicit
        elif type(part) is slice and part.step not in (None, 1):
            takes.append((axis, _positions(*part.indices(shape[axis]))))
            parts[k] = slice(None)
            axis += 1
        else:
            axis += _axes_used(part)
    return takes, tuple(parts)


def getitem(a, index):
    """``a[index]``; on cuPyNumeric, non-unit-step slices go through ``take``."""
    if is_numpy or not _has_strided_slice(index):
        return a[index]
    takes, rest = _split_strided(a.shape, index)
    for axis, positions in takes:
        # The positions come from slice.indices(), so they are in range: mode="clip" skips
        # cuPyNumeric's bounds check, which waits for the data (a pipeline stall per call).
        a = xp.take(a, positions, axis=axis, mode="clip")
    return a[rest]


def setitem(a, index, value) -> None:
    """``a[index] = value`` in place; on cuPyNumeric, strided slices go through ``put``.

    A host array or list ``value`` is moved onto the backend first (``to_backend``).
    """
    if isinstance(value, (list, tuple, _host_np.ndarray)) and not isinstance(value, ndarray):
        value = to_backend(value)
    if is_numpy or not _has_strided_slice(index):
        a[index] = value
        return
    positions = getitem(xp.arange(a.size).reshape(a.shape), index)
    value = xp.broadcast_to(xp.asarray(value, dtype=a.dtype), positions.shape)
    xp.put(a, positions.reshape(-1), value.reshape(-1), mode="clip")   # distinct, in range


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
    positions = getitem(xp.arange(out.size).reshape(shape), index)
    values = xp.broadcast_to(values, positions.shape)
    summed = xp.bincount(positions.reshape(-1), weights=values.reshape(-1).astype(xp.float64),
                         minlength=out.size)
    return summed.astype(dtype).reshape(shape)


def erf(x):
    """Elementwise error function (for exact GELU)."""
    if is_numpy:
        from scipy.special import erf as _erf  # imported lazily: only GELU needs it
        return _erf(x)
    return _erf_few_tasks(x)


# cuPyNumeric has no erf. Each array operation is one Legate task (one kernel launch on
# a GPU), so erf is built from a handful of whole-array operations rather than a loop:
#   |x| < 0.5:  the Maclaurin series  erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)),
#               as a powers-matrix @ coefficients;
#   otherwise:  erfc(z) = exp(h(u) - z^2) / (z + K) with u = (z - K) / (z + K) in [-1, 1),
#               where h(u) = log(erfcx(z) (z + K)) is smooth and slowly varying, so a short
#               Chebyshev series fits it (fitted once, on the host, from Python's math.erfc).
#               T_k(u) = cos(k arccos u) turns the series into one broadcast cos and one matmul.
# The number of terms follows the dtype. Measured against scipy.special.erf: float64
# (24 Chebyshev + 14 series terms) about 5e-16 absolute; float32 and narrower (11 + 7)
# about 5e-9, below float32 resolution. Temporaries hold (terms + 1) float64 per element.
_ERF_K = 2.0
_ERF_TERMS = {8: (24, 14), 4: (11, 7)}   # itemsize -> (Chebyshev degree, series terms)


def _erfcx_host(z: float) -> float:
    """erfc(z) * exp(z^2) on the host, for the Chebyshev fit."""
    import math
    if z < 25.0:
        return math.erfc(z) * math.exp(z * z)
    # Asymptotic series; at z >= 25 eight terms reach double precision.
    total, term, w = 1.0, 1.0, 1.0 / (2 * z * z)
    for n in range(1, 9):
        term *= -(2 * n - 1) * w
        total += term
    return total / (z * math.sqrt(math.pi))


_erf_tables_cache = {}


def _erf_tables(degree: int, terms: int):
    """(series powers, series coefficients, Chebyshev orders, Chebyshev coefficients)."""
    if (degree, terms) not in _erf_tables_cache:
        import math
        from numpy.polynomial import chebyshev

        def h(u):
            z = _ERF_K * (1 + u) / (1 - _host_np.minimum(u, 1 - 1e-15))
            return _host_np.array([math.log(_erfcx_host(v) * (v + _ERF_K)) for v in z])

        n = _host_np.arange(terms, dtype=_host_np.float64)
        series = [2 / math.sqrt(math.pi) * (-1) ** k / (math.factorial(k) * (2 * k + 1))
                  for k in range(terms)]
        orders = _host_np.arange(degree + 1, dtype=_host_np.float64)
        _erf_tables_cache[degree, terms] = tuple(
            xp.asarray(t) for t in (n, _host_np.array(series), orders,
                                    chebyshev.chebinterpolate(h, degree)))
    return _erf_tables_cache[degree, terms]


def _erf_few_tasks(x):
    powers, series, orders, cheb = _erf_tables(*_ERF_TERMS[8 if x.dtype.itemsize >= 8 else 4])
    z = xp.clip(xp.abs(x.astype(xp.float64)), 0.0, 30.0)   # erf(30) is 1 in float64
    small = z * (((z * z)[..., None] ** powers) @ series)
    u = (z - _ERF_K) / (z + _ERF_K)
    erfc = xp.exp(xp.cos(xp.arccos(u)[..., None] * orders) @ cheb - z * z) / (z + _ERF_K)
    result = xp.where(z < 0.5, small, 1.0 - erfc)
    return (xp.sign(x) * result).astype(x.dtype)


def erfc(x):
    """Elementwise 1 - erf(x), accurate also where erf(x) rounds to 1 (torch.erfc)."""
    if is_numpy:
        from scipy.special import erfc as _erfc
        return _erfc(x)
    # cuPyNumeric: the Chebyshev tail of _erf_few_tasks directly where |x| >= 0.5 (no
    # cancellation), 1 - erf(x) near 0; erfc(-z) = 2 - erfc(z).
    _, _, orders, cheb = _erf_tables(*_ERF_TERMS[8 if x.dtype.itemsize >= 8 else 4])
    z = xp.clip(xp.abs(x.astype(xp.float64)), 0.0, 30.0)
    u = (z - _ERF_K) / (z + _ERF_K)
    tail = xp.exp(xp.cos(xp.arccos(u)[..., None] * orders) @ cheb - z * z) / (z + _ERF_K)
    tail = xp.where(x < 0, 2.0 - tail, tail)
    return xp.where(z < 0.5, 1.0 - _erf_few_tasks(x.astype(xp.float64)), tail).astype(x.dtype)


def erfinv(x):
    """Elementwise inverse error function on (-1, 1); +-inf at +-1, NaN outside (torch.erfinv)."""
    if is_numpy:
        from scipy.special import erfinv as _erfinv
        return _erfinv(x)
    # cuPyNumeric: Giles' single-precision approximation, then Newton steps on erf(y) = x
    # (each roughly doubles the correct digits: three reach float64).
    y = x.astype(xp.float64)
    w = -xp.log(xp.clip((1.0 - y) * (1.0 + y), 1e-300, None))
    central, tail = w - 2.5, xp.sqrt(w) - 3.0
    p_c, p_t = 0.0, 0.0
    for c in (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
              -0.00125372503, -0.00417768164, 0.246640727, 1.50140941):
        p_c = c + p_c * central
    for c in (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
              -0.0076224613, 0.00943887047, 1.00167406, 2.83297682):
        p_t = c + p_t * tail
    r = xp.where(w < 5.0, p_c, p_t) * y
    for _ in range(3):
        r = r - (_erf_few_tasks(r) - y) / (1.1283791670955126 * xp.exp(-r * r))
    r = xp.where(xp.abs(y) == 1.0, xp.sign(y) * xp.inf, r)
    return xp.where(xp.abs(y) > 1.0, xp.nan, r).astype(x.dtype)


def _special(scipy_name, *args):
    """SciPy's ``scipy.special.<scipy_name>`` on NumPy, in the first array argument's dtype."""
    import scipy.special
    out = getattr(scipy.special, scipy_name)(*args)
    return out.astype(_host_np.result_type(*(a for a in args if isinstance(a, ndarray))), copy=False)


# The gamma family, Bessel I0/I1 and the incomplete gamma function (torch.lgamma, digamma,
# polygamma, i0, igamma, igammac): SciPy on NumPy; on cuPyNumeric, which has none of them,
# whole-array formulas (tensorweaver/_special_functions.py, accurate to about 1e-14).
def lgamma(x):
    """Elementwise log |Gamma(x)| (+inf at the poles and at -inf, as torch)."""
    if is_numpy:
        return _host_np.where(x == -_host_np.inf, _host_np.inf, _special("gammaln", x)).astype(x.dtype)
    from tensorweaver import _special_functions
    return _special_functions.lgamma(x)


def digamma(x):
    """Elementwise psi(x), the derivative of lgamma."""
    if is_numpy:
        return _special("psi", x)
    from tensorweaver import _special_functions
    return _special_functions.digamma(x)


def polygamma(n, x):
    """Elementwise n-th derivative of digamma (``n`` a non-negative Python int)."""
    if is_numpy:
        return _special("psi", x) if n == 0 else _special("polygamma", n, x)
    from tensorweaver import _special_functions
    return _special_functions.polygamma(n, x)


def i0(x):
    """Elementwise modified Bessel function of the first kind, order 0."""
    if is_numpy:
        return _special("i0", x)
    from tensorweaver import _special_functions
    return _special_functions.i0(x)


def i1(x):
    """Elementwise modified Bessel function of the first kind, order 1 (i0's derivative)."""
    if is_numpy:
        return _special("i1", x)
    from tensorweaver import _special_functions
    return _special_functions.i1(x)


def gammainc(a, x):
    """Elementwise regularised lower incomplete gamma P(a, x) (torch.igamma)."""
    if is_numpy:
        return _special("gammainc", a, x)
    from tensorweaver import _special_functions
    return _special_functions.gammainc(a, x)


def gammaincc(a, x):
    """Elementwise regularised upper incomplete gamma Q(a, x) = 1 - P(a, x) (torch.igammac)."""
    if is_numpy:
        return _special("gammaincc", a, x)
    from tensorweaver import _special_functions
    return _special_functions.gammaincc(a, x)


def host_numpy():
    """The host NumPy module, for host-only work (RNG, file formats)."""
    return _host_np
