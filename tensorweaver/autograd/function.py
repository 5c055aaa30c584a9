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

``Mul.apply(x, y)`` runs ``forward`` on ``x.data, y.data`` (non-tensor arguments are
passed through unchanged) and, when grad mode is on and an input requires grad,
records the call as the output's ``grad_fn``. The instance is the context: state for
backward lives on ``self``.
"""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd import anomaly
from tensorweaver.autograd.grad_mode import _enabled

_ndarray = backend.ndarray
_as_array = backend.as_array

#: Called as ``hook(fn, args, kwargs, output)`` after every op while a tracer (the
#: ONNX exporter) is active; ``None`` otherwise, so tracing costs nothing when off.
_trace_hook = [None]


class _Freed:
    """Marks saved arrays that backward (without ``retain_graph``) has released."""


_FREED = _Freed()


class Function:
    #: Set False for ops whose output never carries a gradient (comparisons, argmax).
    differentiable = True
    _saved = ()
    _hooks = None          # hooks registered on the (non-leaf) output tensor
    _created_at = None     # user source line, recorded under detect_anomaly()
    next_functions = ()    # per input: its grad_fn, a leaf Tensor that accumulates, or None

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
                f"{type(self).__name__}: the saved values were freed by an earlier backward(). "
                "Pass retain_graph=True to the first backward() to backward through the graph twice.")
        return self._saved

    @property
    def needs_input_grad(self) -> tuple:
        return tuple(e is not None for e in self.next_functions)

    @property
    def name(self) -> str:
        return type(self).__name__

    def release(self) -> None:
        """Drop saved arrays after backward; a second backward then fails clearly."""
        self._saved = _FREED

    @property
    def is_released(self) -> bool:
        return self._saved is _FREED

    def __repr__(self):
        return f"<{type(self).__name__}>"

    # -- running it ----------------------------------------------------------
    @classmethod
    def apply(cls, *args, **kwargs):
        fn = cls.__new__(cls)
        raw = []
        edges = []
        requires_grad = False
        for a in args:
            if isinstance(a, Tensor):
                raw.append(a.data)
                if a.requires_grad:
                    requires_grad = True
                    edges.append(a.grad_fn or a)
                else:
                    edges.append(None)
            else:
                raw.append(a)
                edges.append(None)
        fn.next_functions = edges
        if anomaly._enabled[0]:
            fn._created_at = anomaly.user_frame()
        try:
            out = fn.forward(*raw, **kwargs)
        except ValueError as exc:
            clear = _explain(cls, args, exc)
            if clear is None:
                raise
            raise clear from exc
        if type(out) is not _ndarray:
            out = _as_array(out)

        if requires_grad and _enabled[0] and cls.differentiable:
            fn.next_functions = tuple(edges)
            result = _make_tensor(out, True, fn)
        else:
            result = _make_tensor(out, False, None)
        if anomaly._enabled[0]:
            anomaly.check(fn, "forward", out)
        if _trace_hook[0] is not None:
            _trace_hook[0](fn, args, kwargs, result)
        return result


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
