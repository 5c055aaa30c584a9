"""``Function``: one differentiable operation, and one node of the graph.

Subclasses define ``forward`` on backend arrays and ``backward`` on the gradient of
the output::

    class Mul(Function):
        def forward(self, a, b):
            self.save_for_backward(a, b)
            return a * b

        def backward(self, grad):
            a, b = self.saved_tensors
            return grad * b, grad * a          # one gradient per input (None = no grad)

        def tensor_backward(self, grad, a, b):  # optional: the same rule on Tensors,
            return grad * b, grad * a           # used by backward(create_graph=True)

``Mul.apply(x, y)`` runs ``forward`` on ``x.data, y.data`` (non-tensor arguments are
passed through unchanged) and, when grad mode is on and an input requires grad,
records the call as the output's ``grad_fn``. The instance is the context: state for
backward lives on ``self``, and ``self.needs_input_grad[i]`` says whether input ``i``
wants a gradient (derived once from the edges ``apply`` records; usable in forward too).

Saved arrays are checked like torch's saved tensors: ``apply`` notes, for every saved
array that is an input's (or the output's) data, that tensor's version counter and
its version then. An in-place change made afterwards bumps the counter, and
``saved_tensors`` refuses to hand out the stale value (see ``tensorweaver/ops/inplace.py``).
The same note remembers where each saved input came from in the graph, so that
``tensor_backward`` can receive saved values as Tensors still attached to the graph
(higher-order gradients).
"""
from __future__ import annotations

from itertools import repeat
from operator import is_not as _is_not

from tensorweaver import backend
from tensorweaver.autograd import anomaly
from tensorweaver.autograd.grad_mode import _enabled

_ndarray = backend.ndarray
_as_array = backend.as_array
_owner = backend.owner
_is_numpy = backend.is_numpy

#: Called as ``hook(fn, args, kwargs, output)`` after every op while a tracer (the
#: ONNX exporter) is active; ``None`` otherwise, so tracing costs nothing when off.
_trace_hook = [None]
#: ``(before, after)`` while ``tw.autograd.profiler.op_hooks`` is active, ``None``
#: otherwise: ``before(fn, "forward")`` as an op starts, ``after(fn, "forward", args,
#: output)`` when it is done (the backward engine calls them around each node too).
_op_hooks = [None]
#: True while anomaly mode or an ``op_hooks`` block is on: the one flag ``apply`` reads for
#: both, once before the forward and once after it, so watching costs nothing when off.
_watching = [False]


def ops_observed() -> bool:
    """Whether anomaly mode, the profiler's op hooks or a tracer watches ops: then every op
    must run as its ``Function``, even where a shortcut would give the same values."""
    return _watching[0] or _trace_hook[0] is not None


def _rewatch():
    """Called whenever anomaly mode or the op hooks change."""
    _watching[0] = bool(anomaly._enabled[0]) or _op_hooks[0] is not None


def _watch_before(fn):
    if anomaly._enabled[0]:
        fn._created_at = anomaly.user_frame()
    if _op_hooks[0] is not None:
        _op_hooks[0][0](fn, "forward")


def _watch_after(fn, args, out, result):
    if anomaly._enabled[0]:
        anomaly.check(fn, "forward", out)
    if _op_hooks[0] is not None:
        _op_hooks[0][1](fn, "forward", args, result)


class _Freed:
    """Marks saved arrays that backward (without ``retain_graph``) has released."""


_FREED = _Freed()
_OUTPUT = "output"        # a saved array that is the op's own output


_NONES = repeat(None)     # `e is not None` per edge, in C: map(_is_not, edges, _NONES)


class _NeedsInputGrad:
    """``fn.needs_input_grad``: per input, does it require grad (torch's
    ``ctx.needs_input_grad``). Computed from ``apply``'s edges on first use and then
    stored on the node, so ops that never ask (most forwards) pay nothing for it."""

    def __get__(self, fn, owner=None):
        if fn is None:
            return self
        value = fn.__dict__["needs_input_grad"] = tuple(map(_is_not, fn._edges, _NONES))
        return value


class Function:
    #: Set False for ops whose output never carries a gradient (comparisons, argmax).
    differentiable = True
    _saved = ()
    _saved_meta = None     # ((position in _saved, counter, version, source), ...)
    _hooks = None          # hooks registered on the (non-leaf) output tensor
    _prehooks = None       # node pre-hooks: hook(grad_outputs) -> new grad_outputs or None
    _posthooks = None      # node hooks: hook(grad_inputs, grad_outputs) -> new grad_inputs or None
    _created_at = None     # user source line, recorded under detect_anomaly()
    _edges = ()            # per input: its grad_fn, a leaf Tensor that accumulates, or None
    needs_input_grad = _NeedsInputGrad()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # PyTorch's style: a static forward(ctx, ...) gets the ctx-style apply
        # (tensorweaver/autograd/custom_function.py); instance-style ops keep this one.
        if isinstance(cls.__dict__.get("forward"), staticmethod):
            from tensorweaver.autograd import custom_function
            cls.apply = classmethod(custom_function.apply)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def backward(self, grad):
        raise NotImplementedError(f"{type(self).__name__} has no backward(); it is not differentiable")

    # -- saved state ---------------------------------------------------------
    def save_for_backward(self, *arrays) -> None:
        self._saved = arrays

    @property
    def saved_tensors(self) -> tuple:
        if self._saved is _FREED:
            raise RuntimeError(
                f"{self.name()}: the saved values were freed by an earlier backward(). "
                "Pass retain_graph=True to the first backward() to backward through the graph twice.")
        if self._saved_meta is not None:
            self._check_versions()
        return self._saved

    def _check_versions(self) -> None:
        for pos, counter, version, _ in self._saved_meta:
            if counter[0] != version:
                a = self._saved[pos]
                shape = "x".join(map(str, a.shape)) or "scalar"
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an "
                    f"inplace operation: [{a.dtype} tensor of shape {shape}], saved by {self.name()}, "
                    f"is at version {counter[0]}; expected version {version} instead. Hint: clone() "
                    "the tensor before changing it in place, or change it under tw.no_grad() only "
                    "after backward().")

    def saved_graph_tensors(self) -> tuple:
        """The saved values as Tensors attached to the graph (for ``tensor_backward``).

        A saved input comes back as a tensor whose ``grad_fn`` is that input's (a leaf
        comes back as itself); the saved output as a tensor whose ``grad_fn`` is this
        node; anything else as a constant.
        """
        saved = self.saved_tensors
        sources = [None] * len(saved)
        for pos, _, _, source in self._saved_meta or ():
            sources[pos] = source
        out = []
        for value, source in zip(saved, sources):
            if type(value) is not _ndarray:
                out.append(value)                                  # a Python scalar, a dtype...
            elif source is None:
                out.append(_make_tensor(value, False, None))      # a constant
            elif source is _OUTPUT:
                out.append(_make_tensor(value, True, self))
            elif isinstance(source, Tensor):
                out.append(source)                                 # a leaf: gradients reach it
            else:
                out.append(_make_tensor(value, True, source))      # a non-leaf input
        return tuple(out)

    # -- graph introspection (torch's Node API) ---------------------------------
    def name(self) -> str:
        """``"MulBackward0"``: torch's name for the node that differentiates ``Mul``."""
        return f"{type(self).__name__}Backward0"

    @property
    def op_name(self) -> str:
        """The forward op's name, ``"Mul"``."""
        return type(self).__name__

    @property
    def next_functions(self) -> tuple:
        """``((node, 0), ...)`` per input: its ``grad_fn``, an ``AccumulateGrad`` for a leaf
        that requires grad, or ``None``."""
        return tuple((_node_of(e), 0) for e in self._edges)

    def register_hook(self, hook):
        """``hook(grad_inputs, grad_outputs)`` after this node's backward; may return new
        ``grad_inputs``. Returns a handle with ``remove()``."""
        if self._posthooks is None:
            self._posthooks = []
        self._posthooks.append(hook)
        return _HookHandle(self._posthooks, hook)

    def register_prehook(self, hook):
        """``hook(grad_outputs)`` before this node's backward; may return new ``grad_outputs``."""
        if self._prehooks is None:
            self._prehooks = []
        self._prehooks.append(hook)
        return _HookHandle(self._prehooks, hook)

    def release(self) -> None:
        """Drop saved arrays after backward; a second backward then fails clearly."""
        self._saved = _FREED
        self._saved_meta = None

    @property
    def is_released(self) -> bool:
        return self._saved is _FREED

    def __repr__(self):
        return f"<{self.name()}>"

    # -- running it ----------------------------------------------------------
    @classmethod
    def apply(cls, *args, **kwargs):
        fn = cls.__new__(cls)
        if _watching[0]:
            _watch_before(fn)
        raw = []
        edges = []
        requires_grad = False
        for a in args:
            if isinstance(a, Tensor):
                raw.append(a._data)
                if a.requires_grad:
                    requires_grad = True
                    edges.append(a.grad_fn or a)
                    continue
            else:
                raw.append(a)
            edges.append(None)
        fn._edges = edges                      # needs_input_grad is derived from these, once
        try:
            out = fn.forward(*raw, **kwargs)
        except ValueError as exc:
            clear = _explain(cls, args, exc)
            if clear is None:
                raise
            raise clear from exc
        if type(out) is not _ndarray:
            scalar, out = out, _as_array(out)      # NumPy gives a scalar for 0-d results
            if fn._saved:                          # a saved output stays the output (graph, versions)
                fn._saved = tuple(out if s is scalar else s for s in fn._saved)

        if requires_grad and _enabled[0] and cls.differentiable:
            result = _make_tensor(out, True, fn)
            if fn._saved:
                fn._saved_meta = _note_saved(fn._saved, args, raw, out, result)
        else:
            result = _make_tensor(out, False, None)
        if _watching[0]:
            _watch_after(fn, args, out, result)
        if _trace_hook[0] is not None:
            _trace_hook[0](fn, args, kwargs, result)
        return result


def _note_saved(saved, args, raw, out, result):
    """For each saved array that is an input's (or the output's) memory: its position,
    the owning tensor's version counter and version now, and where it came from.
    (Written as plain loops: this runs on every recorded op that saves something.)"""
    meta = []
    pos = -1
    for s in saved:
        pos += 1
        if type(s) is not _ndarray:
            continue
        if s is out:
            meta.append((pos, _counter(result), 0, _OUTPUT))
            continue
        i = 0
        for r in raw:
            if s is r:
                t = args[i]
                if isinstance(t, Tensor):
                    c = t._version_counter
                    if c is None:
                        c = t._version_counter = [0]
                    meta.append((pos, c, c[0], (t.grad_fn or t) if t.requires_grad else None))
                break
            i += 1
        else:
            if _is_numpy and s.base is not None:
                _note_view(meta, pos, s, args, raw)
    return meta or None


def _note_view(meta, pos, s, args, raw):
    """A saved view of an input (NumPy can tell): tracked, but not a graph tensor."""
    for t, r in zip(args, raw):
        if isinstance(t, Tensor) and _owner(s) is _owner(r):
            c = _counter(t)
            meta.append((pos, c, c[0], None))
            return


def _counter(t):
    """``t``'s version counter (created on first use: most tensors never need one)."""
    c = t._version_counter
    if c is None:
        c = t._version_counter = [0]
    return c


class AccumulateGrad:
    """The node that stores a leaf's gradient into ``.grad`` (torch's ``AccumulateGrad``)."""

    next_functions = ()

    def __init__(self, variable):
        self.variable = variable
        self._posthooks = None

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def register_prehook(self, hook):
        """``hook((grad,))`` before accumulation; may return a replacement ``(grad,)``."""
        return self.variable.register_hook(lambda g: _first(hook((g,))))

    def register_hook(self, hook):
        """``hook((), (grad,))`` after ``.grad`` was accumulated."""
        if self._posthooks is None:
            self._posthooks = []
        self._posthooks.append(hook)
        return _HookHandle(self._posthooks, hook)

    def __repr__(self):
        return f"<AccumulateGrad for a leaf of shape {self.variable.shape}>"


def _first(out):
    return None if out is None else out[0]


def _node_of(edge):
    if edge is None or not isinstance(edge, Tensor):
        return edge
    return edge._grad_accumulator()


class _HookHandle:
    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _explain(cls, args, exc):
    """Turn NumPy's broadcast error into one that names the op and both shapes."""
    msg = str(exc)
    if "broadcast" not in msg:
        return None
    shapes = " and ".join(str(tuple(a.shape)) for a in args if isinstance(a, Tensor))
    return ValueError(
        f"{cls.__name__.lower()}: shapes {shapes} cannot be broadcast together "
        "(trailing dimensions must be equal or 1); reshape or unsqueeze one operand.")


from tensorweaver.tensor import Tensor, _make_tensor  # noqa: E402  (Tensor imports ops lazily)


def __getattr__(name):
    # torch.autograd.function's names for the PyTorch-style Functions, loaded on use.
    if name in ("once_differentiable", "FunctionCtx"):
        from tensorweaver.autograd import custom_function
        return getattr(custom_function, name)
    raise AttributeError(f"module 'tensorweaver.autograd.function' has no attribute {name!r}")
