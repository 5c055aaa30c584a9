"""PyTorch-style custom Functions: static ``forward(ctx, ...)`` / ``backward(ctx, ...)``.

This is how PyTorch's tutorials teach extending autograd::

    class Exp(tw.autograd.Function):
        @staticmethod
        def forward(ctx, x):                 # receives Tensors, runs without recording
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):             # receives and returns Tensors (None = no grad)
            (y,) = ctx.saved_tensors
            return grad * y

    y = Exp.apply(x)

The torch 2 form, with ``forward(*args)`` and ``setup_context(ctx, inputs, output)``,
works too. The engine's own ops use the instance style on arrays (``function.py``); a
subclass whose ``forward`` is a ``staticmethod`` gets this ``apply`` instead. The
context ``ctx`` is the graph node itself, as in torch: ``ctx.save_for_backward``,
``ctx.saved_tensors`` (checked by the version counters), ``ctx.needs_input_grad``,
``ctx.mark_non_differentiable``, ``ctx.mark_dirty`` and ``ctx.set_materialize_grads``.

A forward may return several tensors: each output's ``grad_fn`` is then a small
selection node, and the gradients of all outputs reach ``backward`` together.
"""
from __future__ import annotations

import functools

from tensorweaver import backend
from tensorweaver.autograd import grad_mode
from tensorweaver.autograd.function import Function, _counter

xp = backend.xp


class FunctionCtx(Function):
    """The node (and ``ctx``) of one call of a PyTorch-style Function."""

    _fn_cls = None
    _materialize = True
    _non_diff = ()
    _dirty = ()
    _saved_values = None       # ((tensor or None, kind, array, counter, version), ...)
    _outputs_info = ()         # per output: (shape, dtype) for materialized zero grads
    _n_outputs = 1

    # -- what forward may call ------------------------------------------------
    def save_for_backward(self, *tensors) -> None:
        values = []
        for t in tensors:
            if t is None:
                values.append((None, "none", None, None, 0))
            elif not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save tensors (or None), but got "
                                f"{type(t).__name__}; keep other values as attributes of ctx")
            else:
                c = _counter(t)
                values.append((t, "tensor", t._data, c, c[0]))
        self._saved_values = values

    def mark_non_differentiable(self, *outputs) -> None:
        self._non_diff = tuple(outputs)

    def mark_dirty(self, *tensors) -> None:
        self._dirty = tuple(tensors)

    def set_materialize_grads(self, value: bool) -> None:
        self._materialize = bool(value)

    @property
    def saved_tensors(self) -> tuple:
        if self._saved_values is _FREED_MARK:
            raise RuntimeError(
                f"{self.name()}: the saved tensors were freed by an earlier backward(). Pass "
                "retain_graph=True to the first backward() to backward through the graph twice.")
        out = []
        for t, kind, arr, counter, version in self._saved_values or ():
            if kind == "none":
                out.append(None)
                continue
            if counter[0] != version:
                shape = "x".join(map(str, arr.shape)) or "scalar"
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an "
                    f"inplace operation: [{arr.dtype} tensor of shape {shape}], saved by {self.name()}, "
                    f"is at version {counter[0]}; expected version {version} instead. Hint: clone() "
                    "the tensor before changing it in place, or change it under tw.no_grad() only "
                    "after backward().")
            out.append(t)
        return tuple(out)

    saved_variables = saved_tensors

    # -- the node's side --------------------------------------------------------
    def name(self) -> str:
        return f"{self._fn_cls.__name__}Backward"

    @property
    def op_name(self) -> str:
        return self._fn_cls.__name__

    def release(self) -> None:
        super().release()
        self._saved_values = _FREED_MARK

    def saved_graph_tensors(self) -> tuple:
        return ()                        # the user's backward reads ctx.saved_tensors itself

    def backward(self, grad):
        # Plain backward: arrays in, arrays out; the user's backward sees Tensors.
        grads = self._grads_in(grad, plain=True)
        with grad_mode.no_grad():
            out = self._fn_cls.backward(self, *grads)
        return tuple(None if g is None else g._data for g in self._grads_out(out))

    def tensor_backward(self, grad, *saved):
        # create_graph=True: the user's backward runs with grad mode on, on Tensors.
        return self._grads_out(self._fn_cls.backward(self, *self._grads_in(grad, plain=False)))

    def _grads_in(self, grad, plain):
        """One gradient per output, as Tensors; missing ones are zeros (materialize_grads)."""
        slots = grad.grads if isinstance(grad, _OutputGrads) else (grad,)
        grads = []
        for g, (shape, dtype) in zip(slots, self._outputs_info):
            if g is None:
                g = _make_tensor(xp.zeros(shape, dtype=dtype), False, None) if self._materialize and dtype else None
            elif plain:
                g = _make_tensor(g, False, None)
            grads.append(g)
        return grads

    def _grads_out(self, out):
        grads = out if isinstance(out, tuple) else (out,)
        n = len(self._inputs_info)
        if len(grads) != n and not (len(grads) > n and all(g is None for g in grads[n:])):
            raise RuntimeError(f"function {self.name()} returned an incorrect number of gradients "
                               f"(expected {n}, got {len(grads)})")
        result = []
        for i, (g, info) in enumerate(zip(grads, self._inputs_info)):
            if g is None or info is None or not self.needs_input_grad[i]:
                result.append(None)
                continue
            if not isinstance(g, Tensor):
                raise TypeError(f"function {self.name()} returned a {type(g).__name__} as gradient {i}; "
                                "backward must return Tensors (or None)")
            shape, dtype = info
            if g.shape != shape:
                try:
                    g = sum_to(g, shape)
                except (ValueError, RuntimeError, IndexError):
                    raise RuntimeError(
                        f"Function {self.name()} returned an invalid gradient at index {i} - got "
                        f"{list(g.shape)} but expected shape compatible with {list(shape)}") from None
            if g.dtype != dtype:
                g = g.to(dtype)
            result.append(g)
        return tuple(result)


_FREED_MARK = ()        # saved tensors after release (an empty, falsy marker)


class _OutputGrads:
    """The gradients of a multi-output call's outputs, gathered for one backward.

    The engine adds gradients that arrive at the same node with ``+`` and checks memory
    ownership with ``.base``: this small container supports both, slot by slot."""

    base = None
    dtype = None
    gathers_output_grads = True

    def __init__(self, grads):
        self.grads = grads

    def __add__(self, other):
        return _OutputGrads(tuple(a if b is None else b if a is None else a + b
                                  for a, b in zip(self.grads, other.grads)))

    def copy(self):
        return _OutputGrads(tuple(None if g is None else g.copy() for g in self.grads))


class OutputSelect(Function):
    """The ``grad_fn`` of output ``i`` of a multi-output custom Function."""

    def backward(self, grad):
        slots = [None] * self.n
        slots[self.i] = grad
        return _OutputGrads(tuple(slots))

    def tensor_backward(self, grad, *saved):
        slots = [None] * self.n
        slots[self.i] = grad
        return _OutputGrads(tuple(slots))

    def name(self) -> str:
        return f"{self.parent_name}Backward[output {self.i}]"


def apply(cls, *args, **kwargs):
    """``Function.apply`` for PyTorch-style subclasses (installed by ``__init_subclass__``)."""
    node = FunctionCtx.__new__(FunctionCtx)
    node._fn_cls = cls
    edges, infos = [], []
    requires_grad = False
    for a in args:
        if isinstance(a, Tensor):
            infos.append((a.shape, a.dtype))
            if a.requires_grad:
                requires_grad = True
                edges.append(a.grad_fn or a)
                continue
        else:
            infos.append(None)
        edges.append(None)
    node._edges = edges
    node._inputs_info = infos
    record = requires_grad and grad_mode._enabled[0]
    with grad_mode.no_grad():
        if _has_setup_context(cls):
            out = cls.forward(*args, **kwargs)
            cls.setup_context(node, args, out)
        else:
            out = cls.forward(node, *args, **kwargs)
    single = not isinstance(out, tuple)
    outputs = (out,) if single else out
    node._outputs_info = tuple((o.shape, o.dtype) if isinstance(o, Tensor) else ((), None) for o in outputs)
    node._n_outputs = len(outputs)
    results = []
    for i, o in enumerate(outputs):
        if not isinstance(o, Tensor):
            results.append(o)
            continue
        dirty = any(o is d for d in node._dirty)
        if dirty:
            if record and o.requires_grad and o.grad_fn is None:
                raise RuntimeError(f"{cls.__name__}: a leaf Variable that requires grad has been used in an "
                                   "in-place operation (mark_dirty); clone it before passing it in")
            _counter(o)[0] += 1
        elif any(o is a for a in args):
            # An input returned as is: a new tensor on the same memory, as in torch.
            alias = _make_tensor(o._data, False, None)
            alias._version_counter = _counter(o)
            o = alias
        differentiable = record and not any(o is n for n in node._non_diff) and o.dtype.kind == "f"
        if differentiable:
            if single:
                o.grad_fn = node
            else:
                sel = OutputSelect.__new__(OutputSelect)
                sel._edges, sel.i, sel.n, sel.parent_name = [node], i, len(outputs), cls.__name__
                o.grad_fn = sel
            o.requires_grad = True
        elif not dirty:
            o.grad_fn, o.requires_grad = None, False
        results.append(o)
    return results[0] if single else tuple(results)


def _has_setup_context(cls) -> bool:
    for klass in cls.__mro__:
        if "setup_context" in klass.__dict__:
            return klass is not Function and isinstance(klass.__dict__["setup_context"], staticmethod)
    return False


def once_differentiable(backward):
    """Decorator for a ``backward(ctx, *grads)`` whose result cannot be differentiated
    again: it runs without recording, and differentiating it raises a clear error."""
    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        with grad_mode.no_grad():
            out = backward(ctx, *grads)
        if not grad_mode._enabled[0] or not any(isinstance(g, Tensor) and g.requires_grad for g in grads):
            return out
        outs = out if isinstance(out, tuple) else (out,)
        wrapped = []
        for g in outs:
            if isinstance(g, Tensor):
                err = _DelayedError.__new__(_DelayedError)
                err._edges, err.where = [], ctx.name()
                g = _make_tensor(g._data, True, err)
            wrapped.append(g)
        return tuple(wrapped) if isinstance(out, tuple) else wrapped[0]
    return wrapper


class _DelayedError(Function):
    """Stands for a gradient computed by a ``@once_differentiable`` backward."""

    def backward(self, grad):
        raise RuntimeError(f"trying to differentiate twice a function that was marked with "
                           f"@once_differentiable ({self.where})")

    tensor_backward = backward


from tensorweaver.ops.elementwise import sum_to  # noqa: E402
from tensorweaver.tensor import Tensor, _make_tensor  # noqa: E402
