"""``Tensor``: a backend array plus the autograd bookkeeping.

``data`` is a NumPy or cuPyNumeric array, ``shape`` a plain tuple. A tensor made by
an op while grad mode is on and some input requires grad has a ``grad_fn`` (the
Function that made it); a tensor made by the user is a *leaf*, and leaves that
require grad receive ``.grad`` from ``backward()``.

The math lives in ``tensorweaver/ops``; the methods here only forward to it.
"""
from __future__ import annotations

import builtins
import warnings
import weakref
from operator import attrgetter as _attrgetter

from tensorweaver import _device, backend, dtypes

xp = backend.xp
_host_np = backend.host_numpy()
_new = object.__new__


class Tensor:
    # Set by every tensor: _data (read as .data), shape, requires_grad, grad_fn, _grad, _hooks and
    #   _version_counter  [n] shared by tensors that share memory, bumped by in-place ops;
    #                     None until something needs it (most tensors never do).
    # The rest are set only when needed and read with getattr(t, name, None):
    #   _base             the tensor this one is a view of (basic slice, view, transpose...)
    #   _view_replay      base -> this view, to re-attach the view after its base is rebased
    #   _views            a WeakSet of this tensor's views (unless it is a leaf requiring grad)
    #   _accumulator      this leaf's AccumulateGrad node, once asked for
    #   _maybe_copy       made by reshape on a backend where that may copy (cuPyNumeric)
    #   _post_accumulate_hooks, _retains_grad
    __slots__ = ("_data", "shape", "requires_grad", "grad_fn", "_grad", "_hooks", "_version_counter",
                 "_base", "_view_replay", "_views", "_accumulator", "_post_accumulate_hooks",
                 "_retains_grad", "_maybe_copy", "__weakref__")
    __array_priority__ = 1000   # numpy_array + tensor -> Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self._init_leaf(_to_backend_array(data, dtype), requires_grad)

    def _init_leaf(self, arr, requires_grad):
        """Fill the slots of a new leaf holding backend array ``arr`` (shared, not copied)."""
        self._data = arr
        self.shape = tuple(arr.shape)
        self.grad_fn = None
        self._grad = None
        self._hooks = None
        self._version_counter = None
        # Read on every backward that reaches a leaf (and `_base`, `_maybe_copy` by its views
        # and in-place updates): set here, so those reads never take getattr's slow path.
        self._accumulator = None
        self._post_accumulate_hooks = None
        self._base = None
        self._maybe_copy = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # -- attributes --------------------------------------------------------
    def _set_data(self, value):
        # As in torch, `.data = x` may change the shape and dtype (Module.double() relies on
        # it); unlike torch, `.data` is the backend array, so a Tensor is unwrapped and
        # anything array-like converted: `p.data -= lr * p.grad` (an array minus a Tensor
        # gives a Tensor) must leave an array here, never a Tensor.
        if isinstance(value, Tensor):
            arr = value._data
        elif type(value) is backend.ndarray:
            arr = value
        else:
            try:
                arr = _to_backend_array(value, self._data.dtype if isinstance(value, (int, float, bool)) else None)
            except TypeError as exc:
                raise TypeError(f"Tensor.data must be set to a Tensor, an array (NumPy, or the {backend.name} "
                                f"backend's) or a number, not {type(value).__name__}") from exc
        self._data = arr
        self.shape = tuple(arr.shape)

    #: The backend array (NumPy or cuPyNumeric). The engine's hot paths read the ``_data``
    #: slot directly; ``.data`` is a property with a C-level getter (no Python frame) whose
    #: setter keeps an array there.
    data = property(_attrgetter("_data"), _set_data)

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def device(self):
        """``device(type='cpu')``, or ``device(type='cuda', index=0)`` on cuPyNumeric in Legate
        GPU mode: one device per process (see ``tensorweaver._device``)."""
        return _device.CURRENT

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return len(self.shape)

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def is_floating_point(self) -> bool:
        return self.data.dtype.kind == "f"

    @property
    def T(self):
        # The reversed dims are a permutation by construction: skip permute's checks
        # (``x @ W.T`` runs this on every layer of every step).
        return _shape._permute_view(self, (1, 0) if self.ndim == 2 else tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self):
        return _shape.transpose(self, -2, -1)


    # -- autograd ----------------------------------------------------------
    @property
    def grad(self):
        """The accumulated gradient of a leaf (None until a backward reaches it)."""
        if self.grad_fn is not None and self._grad is None and not getattr(self, "_retains_grad", False):
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
                "attribute won't be populated during backward(). If you want the gradient of a non-leaf "
                "Tensor, call .retain_grad() on it before backward(), or use tw.autograd.grad().",
                UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None and not isinstance(value, Tensor):
            raise TypeError(f"assigned grad expected to be a Tensor or None but got {type(value).__name__}")
        if value is not None and (tuple(value.shape) != self.shape or value.dtype != self.dtype):
            raise RuntimeError(f"assigned grad has shape {tuple(value.shape)} and dtype {value.dtype}, but "
                               f"the tensor has shape {self.shape} and dtype {self.dtype}")
        self._grad = value

    @property
    def retains_grad(self) -> bool:
        return self.grad_fn is not None and getattr(self, "_retains_grad", False)

    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's memory has seen (torch's ``_version``)."""
        counter = self._version_counter
        return 0 if counter is None else counter[0]

    def _is_view(self) -> bool:
        return getattr(self, "_base", None) is not None

    def _grad_accumulator(self):
        """This leaf's ``AccumulateGrad`` node (one per leaf while the graph holds it)."""
        if self.grad_fn is not None or not self.requires_grad:
            return None
        node = getattr(self, "_accumulator", None)
        if node is None:
            # Held by the leaf, so hooks registered on it live as long as the leaf (made
            # only when asked for: most leaves never need one).
            node = self._accumulator = _AccumulateGrad(self)
        return node

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` after ``.grad`` of this leaf was accumulated."""
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        hooks = getattr(self, "_post_accumulate_hooks", None)
        if hooks is None:
            hooks = self._post_accumulate_hooks = []
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph: bool = False, inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``gradient`` is required unless ``self`` holds a single element; it is the
        vector in the vector-Jacobian product and must have ``self``'s shape.
        ``create_graph=True`` records the backward itself, so the gradients can be
        differentiated again; ``inputs`` restricts accumulation to those tensors.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward(): this tensor does not require grad and has no grad_fn. Did you create "
                "the inputs with requires_grad=True, and compute it outside tw.no_grad()?")
        if gradient is None:
            if self.numel() != 1:
                raise RuntimeError(
                    f"backward(): grad can be implicitly created only for scalar outputs, but this "
                    f"tensor has shape {self.shape}. Reduce it first (e.g. .sum() or .mean()) or pass "
                    "gradient=<tensor of the same shape>.")
            g = xp.ones(self.shape, dtype=self.data.dtype) if self.shape else xp.array(1, dtype=self.data.dtype)
        else:
            g = gradient.data if isinstance(gradient, Tensor) else _to_backend_array(gradient, self.dtype)
            if tuple(g.shape) != self.shape:
                raise RuntimeError(
                    f"backward(): gradient has shape {tuple(g.shape)} but the tensor has shape {self.shape}")
            g = g.astype(self.data.dtype, copy=False)
        if retain_graph is None:
            retain_graph = create_graph
        if not create_graph and inputs is None:
            _engine.run_backward(self, g, retain_graph=retain_graph, own_grad=gradient is None)
            return
        if create_graph:
            g = gradient if isinstance(gradient, Tensor) and gradient.dtype == self.dtype else _make_tensor(g, False, None)
        if inputs is not None:
            inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
            for t in inputs:
                if not isinstance(t, Tensor) or not t.requires_grad:
                    raise RuntimeError("backward(inputs=...): every input must be a Tensor that requires grad")
        _engine.run_general([self], [g], retain_graph, create_graph, inputs=inputs, accumulate=True)

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a
        replacement. Returns a handle with ``remove()``."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that does not require gradient")
        owner = self if self.grad_fn is None else self.grad_fn
        if owner._hooks is None:
            owner._hooks = []
        owner._hooks.append(hook)
        return _HookHandle(owner._hooks, hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on a non-leaf tensor too."""
        if self.grad_fn is None:
            if not self.requires_grad:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            return
        if getattr(self, "_retains_grad", False):
            return
        self._retains_grad = True
        ref = weakref.ref(self)

        def store(grad):
            t = ref()
            if t is not None:
                t._grad = grad if t._grad is None else t._grad + grad
        self.register_hook(store)

    def detach(self):
        """The same data, cut from the graph (in-place changes to either are seen by both,
        and counted by the shared version counter)."""
        out = _make_tensor(self.data, False, None)
        out._version_counter = _counter(self)
        return out

    def detach_(self):
        """Cut this tensor from the graph, in place: it becomes a leaf."""
        if getattr(self, "_base", None) is not None and self._base.requires_grad:
            raise RuntimeError("detach_(): can't detach a view of a tensor that requires grad in place; "
                               "use detach() instead")
        self.grad_fn = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad: bool = True):
        if requires_grad and self.data.dtype.kind != "f":
            raise RuntimeError(
                f"Only tensors of floating point dtype can require gradients, got {self.data.dtype}. "
                "Create it with dtype=tw.float32 or convert it with .float() first.")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad can only be turned off on leaf tensors; use .detach()")
        self.requires_grad = bool(requires_grad)
        return self

    # -- in-place ops (tensorweaver/ops/inplace.py has the rules) -------------
    def add_(self, other, *, alpha=1): return _inp.add_(self, other, alpha)
    def sub_(self, other, *, alpha=1): return _inp.sub_(self, other, alpha)
    def mul_(self, other): return _inp.binary_(self, other, _ew.mul, "mul_")
    def div_(self, other): return _inp.binary_(self, other, _ew.div, "div_")
    def pow_(self, exponent): return _inp.binary_(self, exponent, _ew.pow, "pow_")
    def clamp_(self, min=None, max=None): return _inp.unary_(self, lambda x: _ew.clamp(x, min, max), "clamp_")
    clip_ = clamp_
    def exp_(self): return _inp.unary_(self, _ew.exp, "exp_")
    def relu_(self): return _inp.unary_(self, _ew.relu, "relu_")
    def sigmoid_(self): return _inp.unary_(self, _ew.sigmoid, "sigmoid_")
    def tanh_(self): return _inp.unary_(self, _ew.tanh, "tanh_")
    def neg_(self): return _inp.unary_(self, _ew.neg, "neg_")
    def zero_(self): return _inp.fill_(self, 0, "zero_")
    def fill_(self, value): return _inp.fill_(self, value, "fill_")
    def copy_(self, src, non_blocking=False): return _inp.copy_(self, src)
    def normal_(self, mean=0.0, std=1.0, *, generator=None): return _inp.normal_(self, mean, std)
    def uniform_(self, a=0.0, b=1.0, *, generator=None): return _inp.uniform_(self, a, b)
    def masked_fill_(self, mask, value): return _inp.binary_(self, value, lambda x, v: _ew.masked_fill(x, mask, v), "masked_fill_")
    def index_add_(self, dim, index, source, *, alpha=1): return _inp.index_add_(self, dim, index, source, alpha)
    def scatter_(self, dim, index, src=None, *, value=None, reduce=None): return _inp.scatter_(self, dim, index, src, value, reduce)
    def scatter_add_(self, dim, index, src): return _inp.scatter_(self, dim, index, src, None, "add")
    def __iadd__(self, other): return _inp.add_(self, other, 1)
    def __isub__(self, other): return _inp.sub_(self, other, 1)
    def __imul__(self, other): return _inp.binary_(self, other, _ew.mul, "__imul__")
    def __itruediv__(self, other): return _inp.binary_(self, other, _ew.div, "__itruediv__")

    # -- conversion ----------------------------------------------------------
    def numpy(self):
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on a tensor that requires grad. Use tensor.detach().numpy().")
        return backend.to_host(self.data)

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def item(self):
        if self.numel() != 1:
            raise RuntimeError(f"item(): a tensor with {self.numel()} elements cannot be converted to a Python scalar")
        return backend.to_host(self.data).reshape(()).item()

    def tolist(self):
        return backend.to_host(self.data).tolist()

    def to(self, *args, **kwargs):
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or ``to(other_tensor)``. The
        device is checked; a process has one device, so the data never moves. ``self`` is
        returned when nothing changes, unless ``copy=True``."""
        dtype = parse_to_args(args, kwargs)
        out = self if dtype is None else _ew.cast(self, dtype)
        return _ew.clone(out) if out is self and kwargs.get("copy") else out

    def type(self, dtype=None):
        return str(self.dtype) if dtype is None else self.to(dtype)

    def float(self):
        return _ew.cast(self, dtypes.float32)

    def double(self):
        return _ew.cast(self, dtypes.float64)

    def half(self):
        return _ew.cast(self, dtypes.float16)

    def long(self):
        return _ew.cast(self, dtypes.int64)

    def int(self):
        return _ew.cast(self, dtypes.int32)

    def bool(self):
        return _ew.cast(self, dtypes.bool)

    def cpu(self):
        """``self``: in a GPU-mode process the data stays where Legate placed it."""
        return self

    def cuda(self, device=None, non_blocking=False):
        """``self`` when CUDA is available (cuPyNumeric in Legate GPU mode); torch's error otherwise."""
        _device.check_cuda(device, "Tensor.cuda()")
        return self

    def clone(self):
        return _ew.clone(self)

    def contiguous(self):
        return self

    # -- Python protocol -------------------------------------------------------
    def __repr__(self):
        body = _tensor_utils.format_array(backend.to_host(self.data), prefix="tensor(")  # set_printoptions
        extras = []
        if self.data.dtype not in (dtypes.get_default_dtype(), dtypes.int64, dtypes.bool):
            extras.append(f"dtype=tw.{self.data.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError(f"Boolean value of a tensor with {self.numel()} values is ambiguous; use .any() or .all()")
        return builtins.bool(self.item())

    def __float__(self):
        return builtins.float(self.item())

    def __int__(self):
        return builtins.int(self.item())

    def __index__(self):
        if self.data.dtype.kind not in "iu" or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return builtins.int(self.item())

    __hash__ = object.__hash__

    # -- operators ---------------------------------------------------------------
    def __add__(self, other): return _ew.add(self, other)
    def __radd__(self, other): return _ew.add(other, self)
    def __sub__(self, other): return _ew.sub(self, other)
    def __rsub__(self, other): return _ew.sub(other, self)
    def __mul__(self, other): return _ew.mul(self, other)
    def __rmul__(self, other): return _ew.mul(other, self)
    def __truediv__(self, other): return _ew.div(self, other)
    def __rtruediv__(self, other): return _ew.div(other, self)
    def __pow__(self, other): return _ew.pow(self, other)
    def __rpow__(self, other): return _ew.pow(other, self)
    def __matmul__(self, other): return _la.matmul(self, other)
    def __rmatmul__(self, other): return _la.matmul(other, self)
    def __neg__(self): return _ew.neg(self)
    def __pos__(self): return self
    def __abs__(self): return _ew.abs(self)
    def __lt__(self, other): return _ew.lt(self, other)
    def __le__(self, other): return _ew.le(self, other)
    def __gt__(self, other): return _ew.gt(self, other)
    def __ge__(self, other): return _ew.ge(self, other)
    def __eq__(self, other): return _ew.eq(self, other)
    def __ne__(self, other): return _ew.ne(self, other)
    def __getitem__(self, index): return _idx.getitem(self, index)
    def gather(self, dim, index): return _idx.gather(self, dim, index)
    def scatter(self, dim, index, src=None, *, value=None): return _idx.scatter(self, dim, index, src, value=value)
    def scatter_add(self, dim, index, src): return _idx.scatter_add(self, dim, index, src)
    def index_add(self, dim, index, source, *, alpha=1): return _idx.index_add(self, dim, index, source, alpha=alpha)

    def __setitem__(self, index, value):
        _inp.setitem_(self, index, value)

    # -- elementwise ------------------------------------------------------------
    def add(self, other): return _ew.add(self, other)
    def sub(self, other): return _ew.sub(self, other)
    def mul(self, other): return _ew.mul(self, other)
    def div(self, other): return _ew.div(self, other)
    def pow(self, exponent): return _ew.pow(self, exponent)
    def neg(self): return _ew.neg(self)
    def exp(self): return _ew.exp(self)
    def log(self): return _ew.log(self)
    def sqrt(self): return _ew.sqrt(self)
    def abs(self): return _ew.abs(self)
    def sin(self): return _ew.sin(self)
    def cos(self): return _ew.cos(self)
    def tanh(self): return _ew.tanh(self)
    def sigmoid(self): return _ew.sigmoid(self)
    def relu(self): return _ew.relu(self)
    def clamp(self, min=None, max=None): return _ew.clamp(self, min, max)
    clip = clamp
    def maximum(self, other): return _ew.maximum(self, other)
    def minimum(self, other): return _ew.minimum(self, other)
    def masked_fill(self, mask, value): return _ew.masked_fill(self, mask, value)
    def where(self, condition, other): return _ew.where(condition, self, other)

    # -- reductions ---------------------------------------------------------------
    def sum(self, dim=None, keepdim=False, *, dtype=None): return _red.sum(self, dim, keepdim, dtype=dtype)
    def mean(self, dim=None, keepdim=False, *, dtype=None): return _red.mean(self, dim, keepdim, dtype=dtype)
    def max(self, dim=None, keepdim=False): return _red.max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return _red.min(self, dim, keepdim)
    def amax(self, dim=None, keepdim=False): return _red.amax(self, dim, keepdim)
    def amin(self, dim=None, keepdim=False): return _red.amin(self, dim, keepdim)
    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return _red.var(self, dim, unbiased, keepdim, correction=correction)
    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return _red.std(self, dim, unbiased, keepdim, correction=correction)
    def logsumexp(self, dim, keepdim=False): return _red.logsumexp(self, dim, keepdim)
    def softmax(self, dim): return _red.softmax(self, dim)
    def log_softmax(self, dim): return _red.log_softmax(self, dim)
    def argmax(self, dim=None, keepdim=False): return _red.argmax(self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return _red.argmin(self, dim, keepdim)
    def all(self, dim=None, keepdim=False): return _red.all(self, dim, keepdim)
    def any(self, dim=None, keepdim=False): return _red.any(self, dim, keepdim)

    # -- shape ----------------------------------------------------------------------
    def reshape(self, *shape): return _shape.reshape(self, *shape)
    def view(self, *shape): return _shape.reshape(self, *shape)
    def view_as(self, other): return _shape.reshape(self, other.shape)
    def transpose(self, dim0, dim1): return _shape.transpose(self, dim0, dim1)
    def permute(self, *dims): return _shape.permute(self, *dims)
    def t(self): return _shape.transpose(self, 0, 1) if self.ndim == 2 else self
    def squeeze(self, dim=None): return _shape.squeeze(self, dim)
    def unsqueeze(self, dim): return _shape.unsqueeze(self, dim)
    def expand(self, *sizes): return _shape.expand(self, *sizes)
    def expand_as(self, other): return _shape.expand(self, other.shape)
    def broadcast_to(self, shape): return _shape.expand(self, shape)
    def flatten(self, start_dim=0, end_dim=-1): return _shape.flatten(self, start_dim, end_dim)
    def split(self, split_size_or_sections, dim=0): return _shape.split(self, split_size_or_sections, dim)
    def chunk(self, chunks, dim=0): return _shape.chunk(self, chunks, dim)
    def tril(self, diagonal=0): return _shape.tril(self, diagonal)
    def triu(self, diagonal=0): return _shape.triu(self, diagonal)
    def matmul(self, other): return _la.matmul(self, other)
    def mm(self, other): return _la.matmul(self, other)


def _make_tensor(data, requires_grad, grad_fn):
    """Wrap an existing backend array without copying or checks (the ops' fast path)."""
    t = _new(Tensor)
    t._data = data
    t.shape = data.shape
    t.requires_grad = requires_grad
    t.grad_fn = grad_fn
    t._grad = None
    t._hooks = None
    t._version_counter = None
    return t


def _to_backend_array(data, dtype=None):
    """Python data or arrays -> backend array with torch's dtype defaults.

    Python floats become the default float type (float32) and ints int64; NumPy
    arrays keep their dtype, as ``torch.tensor(ndarray)`` does. Always copies.
    """
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        dtype = dtypes.as_dtype(dtype)
    if isinstance(data, backend.ndarray):
        return xp.array(data, dtype=dtype, copy=True) if dtype is not None else data.copy()
    keep_dtype = isinstance(data, (_host_np.ndarray, _host_np.generic))
    try:
        host = _host_np.array(data, dtype=dtype)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"cannot build a tensor from {type(data).__name__}: {exc}") from exc
    if dtype is None:
        kind = host.dtype.kind
        if kind == "f" and not keep_dtype:
            host = host.astype(dtypes.get_default_dtype())
        elif kind in "iu" and not keep_dtype:
            host = host.astype(dtypes.int64)
        elif host.dtype not in dtypes.SUPPORTED:
            raise TypeError(
                f"cannot build a tensor from data of dtype {host.dtype}; tensors hold floating point, "
                "integer or bool data (e.g. convert with numpy.asarray(data, dtype=float))")
    return backend.from_host(host)


# Re-exported: nn layers (device=), Module.to and serialization (map_location) use them.
from tensorweaver._device import check_device, parse_to_args  # noqa: E402, F401


from tensorweaver.autograd import engine as _engine  # noqa: E402
from tensorweaver.autograd.function import (  # noqa: E402
    AccumulateGrad as _AccumulateGrad, _counter, _HookHandle,
)
from tensorweaver.ops import inplace as _inp  # noqa: E402
from tensorweaver.ops import elementwise as _ew  # noqa: E402
from tensorweaver.ops import indexing as _idx  # noqa: E402
from tensorweaver.ops import linalg as _la  # noqa: E402
from tensorweaver.ops import reduction as _red  # noqa: E402
from tensorweaver.ops import shape as _shape  # noqa: E402

# -- more ops (ops/pointwise.py ...): each function takes the tensor first, so it is also the method.
from tensorweaver.ops import pointwise as _pw  # noqa: E402
from tensorweaver.ops import sampling as _sampling  # noqa: E402  (generator= on the random fills)
from tensorweaver.ops import cumulative as _cum  # noqa: E402  (prod, cumsum, cummax, ...)
from tensorweaver.ops import statistics as _stats  # noqa: E402  (norm, median, quantile, ...)
from tensorweaver.ops import comparison as _cmp  # noqa: E402  (eq ... with out=, sort, topk, isclose, ...)
from tensorweaver.ops import other_ops as _other  # noqa: E402  (flip, roll, diff, diagonal, ...)
from tensorweaver.ops import linalg_more as _lam  # noqa: E402  (dot, mv, bmm, addmm, kron, ...)
from tensorweaver.ops import joining as _join  # noqa: E402  (index_select, narrow, movedim, tile, ...)
from tensorweaver.ops import scattering as _scat  # noqa: E402  (scatter_reduce, index_reduce, index_copy)
from tensorweaver.ops import unique as _uniq  # noqa: E402  (unique, unique_consecutive)
for _family in (_pw, _sampling, _cum, _stats, _cmp, _other, _lam, _join, _scat, _uniq):
    for _name in _family.METHODS:
        setattr(Tensor, _name, getattr(_family, _name))

# Bitwise/logical ops, more pointwise math and special functions: their methods, the Python
# operators torch gives them (~ & | ^ << >> //, bitwise on integer and bool tensors) and the
# methods whose signature differs from the function's (x.polygamma(n)).
from tensorweaver.ops import bitwise as _bit  # noqa: E402
from tensorweaver.ops import pointwise_more as _pwm  # noqa: E402
from tensorweaver.ops import pointwise_special as _pws  # noqa: E402
from tensorweaver import _tensor_utils  # noqa: E402  (set_printoptions, is_nonzero)
for _family in (_bit, _pwm, _pws):
    for _name in _family.METHODS:
        setattr(Tensor, _name, getattr(_family, _name))
    for _name, _fn in {**getattr(_family, "OPERATORS", {}), **getattr(_family, "RENAMED_METHODS", {})}.items():
        setattr(Tensor, _name, _fn)
Tensor.is_nonzero = _tensor_utils.is_nonzero
