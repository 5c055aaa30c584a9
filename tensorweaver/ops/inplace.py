"""In-place ops (``add_``, ``x -= y``, ``x[i] = v``, ...), made safe the way PyTorch does it.

Forward ops never write into their inputs. An in-place op is the matching out-of-place
op whose result is written back into the tensor's own memory, plus three rules:

1. **Version counters.** Every write bumps the counter that ``t`` shares with the
   tensors sharing its memory (views, ``detach()``). A Function that saved the old
   value notices at backward and raises instead of using the new one.
2. **Leaves that require grad** may be changed in place only under ``tw.no_grad()``
   (parameter updates, initialisation); in grad mode that is torch's error.
3. **Rebase.** In grad mode, when ``t`` or the value requires grad, the op is recorded:
   ``t`` gets the new node as its ``grad_fn``, which chains to the node that made the
   old value. Views of ``t`` made earlier are re-attached to the new ``grad_fn``.

An in-place op on a *view* of a tensor that requires grad (``y[0].mul_(2)`` where ``y``
is part of a graph) is refused with a clear error: PyTorch rebases the base too, which
this engine does not do. Change the base itself (``y[0] = y[0] * 2``) or ``clone()`` it.
"""
from __future__ import annotations

import weakref

from tensorweaver import backend, dtypes, random
from tensorweaver.autograd import function as _function
from tensorweaver.autograd.function import Function, _counter
from tensorweaver.autograd.grad_mode import _enabled as _grad_enabled
from tensorweaver.autograd.grad_mode import enable_grad as _enable_grad
from tensorweaver.autograd.grad_mode import no_grad
from tensorweaver.tensor import Tensor, _make_tensor

xp = backend.xp
_owner = backend.owner


def bump_version(t) -> None:
    """Count one in-place change of ``t``'s memory (the engine's own writes call this)."""
    _counter(t)[0] += 1


def _requires_grad(x) -> bool:
    return isinstance(x, Tensor) and x.requires_grad


def _check_target(t, op, value_requires_grad: bool) -> bool:
    """Apply rules 2 and 3's preconditions; return whether the op must be recorded."""
    if not _grad_enabled[0]:
        return False
    if t.requires_grad and t.grad_fn is None:
        raise RuntimeError(
            f"{op}: a leaf Variable that requires grad is being used in an in-place operation. "
            "Update parameters under `with tw.no_grad():` (as optimizers do), or clone() first.")
    base = getattr(t, "_base", None)
    record = t.requires_grad or value_requires_grad
    if base is not None and (base.requires_grad or record):
        if base.requires_grad and base.grad_fn is None:
            raise RuntimeError(
                f"{op}: a view of a leaf Variable that requires grad is being used in an in-place "
                "operation. Update it under `with tw.no_grad():`, or clone() it first.")
        raise RuntimeError(
            f"{op}: in-place change of a view (of shape {t.shape}) of a tensor that is part of the "
            "graph is not supported here (PyTorch rebases the base tensor; this engine does not). "
            "Change the base tensor itself, e.g. `y[i] = y[i] * 2` instead of `y[i].mul_(2)`, "
            "or clone() the view first.")
    return record


def _check_writable(t, op):
    if getattr(t, "_maybe_copy", False):
        raise RuntimeError(
            f"{op}: this tensor came from reshape/view, which on {backend.name} may be a copy, so "
            "an in-place change might not reach the original tensor. Change the original "
            "tensor, or clone() the reshaped one and change that.")


def _check_result(t, res, op, cast_any=False):
    if res.shape != t.shape:
        raise RuntimeError(
            f"{op}: output with shape {list(t.shape)} doesn't match the broadcast shape "
            f"{list(res.shape)}; an in-place op cannot change the shape of the tensor it writes to.")
    if cast_any or res.dtype == t.dtype:
        return
    src, dst = res.dtype.kind, t.dtype.kind
    if (src == "f" and dst in "iub") or (src in "iuf" and dst == "b"):
        raise RuntimeError(
            f"{op}: result type {dtypes.torch_name(res.dtype)} can't be cast to the desired output "
            f"type {dtypes.torch_name(t.dtype)} of the tensor it writes to; use the out-of-place op "
            "(e.g. `x = x + y`) or convert first (e.g. `x = x.float()`).")


def _write(t, arr, op):
    try:
        t.data[...] = arr
    except ValueError as exc:
        if "read-only" not in str(exc):
            raise
        raise RuntimeError(
            f"{op}: unsupported operation: more than one element of the written-to tensor refers to "
            "a single memory location (an expand()ed tensor). Please clone() the tensor before "
            "performing the operation.") from exc


def _run(t, op, compute, value_requires_grad=False, cast_any=False):
    """The shared path: checks, compute out of place, write back, bump, rebase."""
    record = _check_target(t, op, value_requires_grad)
    _check_writable(t, op)
    if record:
        # The old value, as a tensor at the same place in the graph: the op's node reads
        # (and may save) this copy, never the memory about to be overwritten.
        old = _make_tensor(t.data.copy(), t.requires_grad, t.grad_fn)
        res = compute(old)
    else:
        with no_grad():
            res = compute(t)
    _check_result(t, res, op, cast_any)
    _write(t, res.data, op)
    bump_version(t)
    if record and res.requires_grad:
        t.grad_fn = res.grad_fn
        t.requires_grad = True
        _reattach_views(t)
    return t


def _reattach_views(t):
    """Views of ``t`` made before the change now hang off its new ``grad_fn`` (torch
    regenerates a view's grad_fn the same way when its base was changed in place)."""
    views = getattr(t, "_views", None)
    if not views:
        return
    for v in list(views):
        with _enable_grad():
            fresh = v._view_replay(t)
        v.grad_fn, v.requires_grad = fresh.grad_fn, fresh.requires_grad


def _in_place_ufunc(t, other, alpha, ufunc, op) -> bool:
    """The update ``t op= alpha * other`` written straight into ``t``'s memory, when nothing
    is recorded: what ``W -= lr * W.grad`` under ``no_grad`` costs in NumPy, one pass and no
    result array (``_run`` would compute ``t - x`` out of place, then copy it in).

    Only for the cases whose result is plainly ``t``'s dtype and shape: a float tensor, and a
    same-dtype tensor of the same shape (or 0-d), or a Python number. Both backends take this
    path (the parity suite checks that they run the same Functions); how the result reaches
    ``t``'s memory is ``backend.ufunc_into``'s business. Returns False to take the general path.
    """
    if t._data.dtype.kind != "f" or type(alpha) not in (int, float):
        return False                  # (a NumPy scalar alpha would promote: torch's rules apply)
    if _function.ops_observed():
        return False                  # the profiler, anomaly mode or a tracer sees every op: run it as one
    if isinstance(other, Tensor):
        value = other._data
        dtype = t._data.dtype
        if (value.dtype is not dtype and value.dtype != dtype) or (value.shape != t.shape and value.ndim != 0):
            return False
    elif type(other) in (float, int):
        value = other
    else:
        return False
    if _check_target(t, op, _requires_grad(other)):
        return False                  # recorded: the general path builds the node
    _check_writable(t, op)
    if alpha != 1:
        value = value * alpha
    try:
        backend.ufunc_into(ufunc, t._data, value)
    except ValueError as exc:
        if "read-only" not in str(exc):
            raise
        _write(t, t._data, op)        # raises the expand()ed-tensor error
    bump_version(t)
    return True


# ---------------------------------------------------------------- the ops
def add_(t, other, alpha=1):
    if _in_place_ufunc(t, other, alpha, xp.add, "add_"):
        return t
    from tensorweaver.ops import elementwise as ew
    def compute(x):
        return ew.add(x, other if alpha == 1 else ew.mul(other, alpha))
    return _run(t, "add_", compute, _requires_grad(other))


def sub_(t, other, alpha=1):
    if _in_place_ufunc(t, other, alpha, xp.subtract, "sub_"):
        return t
    from tensorweaver.ops import elementwise as ew
    def compute(x):
        return ew.sub(x, other if alpha == 1 else ew.mul(other, alpha))
    return _run(t, "sub_", compute, _requires_grad(other))


def binary_(t, other, fn, op):
    return _run(t, op, lambda x: fn(x, other), _requires_grad(other))


def unary_(t, fn, op):
    return _run(t, op, fn)


class Fill(Function):
    """``a`` filled with ``value`` (a number, or a 0-d tensor that may carry a gradient)."""

    def forward(self, a, value):
        return xp.full(a.shape, value, dtype=a.dtype)

    # The old value gets a zero gradient (torch's rule), so the nodes before it still run
    # and check what they saved.
    def backward(self, grad):
        return _zeros_for(self, grad), (grad.sum() if self.needs_input_grad[1] else None)

    def tensor_backward(self, grad, *saved):
        return _zeros_for(self, grad), (grad.sum() if self.needs_input_grad[1] else None)


def _zeros_for(fn, grad):
    """A zero gradient for input 0 (an array, or a constant Tensor under create_graph)."""
    if not fn.needs_input_grad[0]:
        return None
    if isinstance(grad, Tensor):
        return _make_tensor(xp.zeros(grad.shape, dtype=grad.dtype), False, None)
    return xp.zeros(grad.shape, dtype=grad.dtype)


def fill_(t, value, op="fill_"):
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError(f"{op} only supports 0-dimension value tensor but got tensor with "
                           f"{value.ndim} dimensions; use copy_() to copy a whole tensor")
    return _run(t, op, lambda x: Fill.apply(x, value), _requires_grad(value), cast_any=True)


class Copy(Function):
    """``src`` broadcast to ``a``'s shape and cast to its dtype (``a``'s value is dropped)."""

    def forward(self, a, src):
        self.src_shape, self.src_dtype = getattr(src, "shape", ()), getattr(src, "dtype", None)
        return xp.broadcast_to(xp.asarray(src, dtype=a.dtype), a.shape).copy()

    def backward(self, grad):
        from tensorweaver.ops.elementwise import unbroadcast
        gs = unbroadcast(grad, self.src_shape).astype(self.src_dtype) if self.needs_input_grad[1] else None
        return _zeros_for(self, grad), gs

    def tensor_backward(self, grad, *saved):
        from tensorweaver.ops.elementwise import sum_to
        gs = sum_to(grad, self.src_shape).to(self.src_dtype) if self.needs_input_grad[1] else None
        return _zeros_for(self, grad), gs


def copy_(t, src):
    if not isinstance(src, Tensor):
        src = Tensor(src)
    try:
        xp.broadcast_shapes(src.shape, t.shape)
    except ValueError:
        raise RuntimeError(f"copy_: the source of shape {list(src.shape)} cannot be broadcast to the "
                           f"tensor's shape {list(t.shape)}") from None
    return _run(t, "copy_", lambda x: Copy.apply(x, src), src.requires_grad, cast_any=True)


def normal_(t, mean=0.0, std=1.0, generator=None):
    if t.dtype.kind != "f":
        raise RuntimeError(f"normal_ expects a floating point tensor, got {t.dtype}")
    draw = random.rng(generator).standard_normal(t.shape) * std + mean
    return _run(t, "normal_", lambda x: _fill_from_host(x, draw), cast_any=True)


def uniform_(t, a=0.0, b=1.0, generator=None):
    if t.dtype.kind != "f":
        raise RuntimeError(f"uniform_ expects a floating point tensor, got {t.dtype}")
    draw = random.rng(generator).uniform(a, b, t.shape)
    return _run(t, "uniform_", lambda x: _fill_from_host(x, draw), cast_any=True)


def _fill_from_host(x, host_values):
    """``x`` replaced by values drawn on the host (so both backends see the same numbers)."""
    return FillFrom.apply(x, backend.from_host(backend.host_numpy().asarray(host_values, dtype=x.dtype)))


class FillFrom(Function):
    """``values`` in place of ``a``: no gradient reaches the old value."""

    def forward(self, a, values):
        return values

    def backward(self, grad):
        return _zeros_for(self, grad), None

    def tensor_backward(self, grad, *saved):
        return _zeros_for(self, grad), None


# ---------------------------------------------------------------- indexed writes
class IndexPut(Function):
    """``a`` with ``a[index] = value`` (the out-of-place form of ``__setitem__``)."""

    def forward(self, a, value, index):
        self.index = index
        self.value_shape = getattr(value, "shape", ())
        out = a.copy()
        _setitem_checked(out, index, value)
        return out

    def backward(self, grad):
        from tensorweaver.ops.elementwise import unbroadcast
        need_a, need_v = self.needs_input_grad[:2]
        ga = gv = None
        if need_a:
            ga = grad.copy()
            backend.setitem(ga, self.index, 0)
        if need_v:
            gv = unbroadcast(backend.as_array(backend.getitem(grad, self.index)), self.value_shape)
        return ga, gv, None

    def tensor_backward(self, grad, *saved):
        from tensorweaver.ops.elementwise import sum_to
        need_a, need_v = self.needs_input_grad[:2]
        ga = IndexPut.apply(grad, 0, self.index) if need_a else None
        gv = sum_to(_getitem_raw(grad, self.index), self.value_shape) if need_v else None
        return ga, gv, None


def _setitem_checked(arr, index, value):
    """``arr[index] = value``, with torch's error when the shapes do not fit."""
    try:
        backend.setitem(arr, index, value)
    except ValueError as exc:
        if "broadcast" not in str(exc):
            raise
        target = tuple(backend.getitem(arr, index).shape)
        raise RuntimeError(
            f"shape mismatch: value tensor of shape {list(getattr(value, 'shape', ()))} cannot be "
            f"broadcast to indexing result of shape {list(target)}") from None


def _getitem_raw(t, index):
    from tensorweaver.ops.indexing import GetItem
    return GetItem.apply(t, index)


def setitem_(t, index, value):
    from tensorweaver.ops.indexing import normalize_index
    index = normalize_index(index)
    value_rg = _requires_grad(value)
    if not (_grad_enabled[0] and (t.requires_grad or value_rg)):
        _check_target(t, "__setitem__", value_rg)       # leaf/view rules
        _check_writable(t, "__setitem__")
        # Nothing to record: write the elements directly (no copy of the whole tensor).
        raw = value.data if isinstance(value, Tensor) else value
        _setitem_checked(t.data, index, raw)
        bump_version(t)
        return
    if isinstance(value, Tensor) and value.dtype != t.dtype:
        from tensorweaver.ops.elementwise import cast
        value = cast(value, t.dtype)
    elif not isinstance(value, (Tensor, int, float, bool)):
        value = Tensor(value).to(t.dtype)
    _run(t, "__setitem__", lambda x: IndexPut.apply(x, value, index), value_rg, cast_any=True)


def index_add_(t, dim, index, source, alpha=1):
    from tensorweaver.ops import indexing
    return _run(t, "index_add_", lambda x: indexing.index_add(x, dim, index, source, alpha=alpha),
                _requires_grad(source))


def scatter_(t, dim, index, src, value, reduce):
    from tensorweaver.ops import indexing
    if src is None and value is None:
        raise TypeError("scatter_() needs src (a tensor) or value (a number)")
    if reduce not in (None, "add", "multiply"):
        raise ValueError(f"scatter_: reduce must be None, 'add' or 'multiply', got {reduce!r}")
    if reduce == "multiply":
        raise NotImplementedError("scatter_(reduce='multiply') is not supported; use scatter_reduce")
    s = src if src is not None else value
    if reduce == "add":
        return _run(t, "scatter_add_", lambda x: indexing.scatter_add(x, dim, index, s), _requires_grad(s))
    return _run(t, "scatter_", lambda x: indexing.scatter(x, dim, index, s), _requires_grad(s))


# ---------------------------------------------------------------- views
def mark_view(out, base, replay, may_copy=False, always_a_view=False):
    """Record that ``out`` (made from ``base`` by a view op) shares ``base``'s memory.

    It then shares ``base``'s version counter, and remembers its base, so in-place
    rules can see it is a view. ``replay(base) -> view`` re-makes it after the base is
    changed in place in grad mode. On NumPy, sharing is proven with ``backend.owner``
    (a reshape may copy); cuPyNumeric cannot tell, so there a possibly-copying view
    (``may_copy``) refuses in-place changes instead of silently not reaching the base.
    ``always_a_view``: the op never copies (a transpose), so there is nothing to prove.
    """
    if backend.is_numpy:
        if not always_a_view and _owner(out.data) is not _owner(base.data):
            return out                      # a copy after all: independent memory
    elif may_copy:
        out._maybe_copy = True
    out._version_counter = _counter(base)
    root = getattr(base, "_base", None)
    if root is None:
        root = base
    else:
        outer, inner = replay, base._view_replay
        replay = lambda r: outer(inner(r))  # noqa: E731  (root -> base -> out)
    out._base = root
    out._view_replay = replay
    if not (root.requires_grad and root.grad_fn is None):
        # The base may later be rebased by an in-place op in grad mode (a leaf that requires
        # grad never is): remember the view so it can follow.
        views = getattr(root, "_views", None)
        if views is None:
            views = root._views = weakref.WeakSet()
        views.add(out)
    return out
