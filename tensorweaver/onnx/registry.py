"""The symbolic registry: one function per engine op, turning a traced call into ONNX nodes.

A symbolic function takes the graph being built and the traced call, adds nodes
and returns the name of the value that holds the op's result::

    @register(Exp)
    def exp(g, n):
        return g.op("Exp", n.input(0))

``n`` (a ``tensorweaver.onnx.graph.Call``) gives the Function instance ``n.fn``
(its attributes, e.g. ``n.fn.axes``), the inputs as value names (``n.input(i)``),
and the output's shape, dtype and dynamic axes. Functions are keyed by their class,
so every op family has its own module in ``tensorweaver/onnx/symbolic/``.

Ops defined outside the engine (a user's own ``Function`` subclass) get theirs with the
public ``register_symbolic`` (``tensorweaver.onnx.register_symbolic``), the same contract:
``g.op(op_type, *inputs, **attributes)`` adds a node, ``g.const(value, dtype)`` a constant,
``n.input(i)``, ``n.dtype``, ``n.shape`` and ``n.fn`` describe the call.
"""
from __future__ import annotations

_SYMBOLIC: dict = {}
_USER: set = set()          # classes registered by register_symbolic (replaceable, removable)


def register(*function_classes):
    """Decorator: ``symbolic(g, n) -> value name`` exports calls of these Function classes."""
    def deco(symbolic):
        for cls in function_classes:
            if cls in _SYMBOLIC:
                raise ValueError(f"{cls.__name__} already has a symbolic function "
                                 f"({_SYMBOLIC[cls].__module__}.{_SYMBOLIC[cls].__name__})")
            _SYMBOLIC[cls] = symbolic
        return symbolic
    return deco


def register_symbolic(function_class, symbolic=None):
    """Export calls of ``function_class``, a ``Function`` defined outside the engine, with
    ``symbolic(g, n) -> value name``. Usable as a decorator::

        class HardSwishOp(tw.autograd.Function):     # forward/backward on arrays
            ...

        @tw.onnx.register_symbolic(HardSwishOp)
        def hardswish(g, n):                          # x * clip(x + 3, 0, 6) / 6
            x, dt = n.input(0), n.dtype
            gate = g.op("Clip", g.op("Add", x, g.const(3, dt)), g.const(0, dt), g.const(6, dt))
            return g.op("Div", g.op("Mul", x, gate), g.const(6, dt))

    Registering the same class again replaces its symbolic (re-running a notebook cell);
    the engine's own ops keep theirs. Only instance-style Functions (``forward(self, ...)``
    on arrays) are traced as one call: a PyTorch-style Function (static ``forward(ctx, ...)``)
    is exported through the ops its forward runs, so a symbolic for it is refused.
    Returns ``symbolic`` (so the decorated function stays usable).
    """
    from tensorweaver.autograd.function import Function

    if not (isinstance(function_class, type) and issubclass(function_class, Function)):
        raise TypeError(f"register_symbolic: expected a subclass of tensorweaver.autograd.Function, "
                        f"got {function_class!r}")
    if isinstance(function_class.__dict__.get("forward"), staticmethod):
        raise TypeError(f"register_symbolic: {function_class.__name__} is a PyTorch-style Function "
                        "(static forward(ctx, ...)); export records the ops its forward runs, never "
                        "the class itself, so a symbolic for it would not be used. Write its forward "
                        "on arrays (forward(self, ...)) to export it as one op.")

    def deco(fn):
        if not callable(fn):
            raise TypeError(f"register_symbolic: the symbolic must be callable as fn(g, n), got {fn!r}")
        _load()
        if function_class in _SYMBOLIC and function_class not in _USER:
            raise ValueError(f"{function_class.__name__} is one of the engine's ops; its symbolic "
                             f"({_SYMBOLIC[function_class].__module__}.{_SYMBOLIC[function_class].__name__}) "
                             "cannot be replaced")
        _SYMBOLIC[function_class] = fn
        _USER.add(function_class)
        return fn
    return deco if symbolic is None else deco(symbolic)


def unregister_symbolic(function_class) -> bool:
    """Forget a symbolic added with ``register_symbolic``; False if there was none.
    The engine's own ops cannot be unregistered."""
    _load()
    if function_class not in _USER:
        if function_class in _SYMBOLIC:
            raise ValueError(f"{function_class.__name__} is one of the engine's ops; its symbolic "
                             "cannot be removed")
        return False
    _USER.discard(function_class)
    del _SYMBOLIC[function_class]
    return True


def lookup(function_class):
    """The symbolic function for a Function class, or None."""
    _load()
    return _SYMBOLIC.get(function_class)


def registered() -> frozenset:
    """Every Function class that can be exported."""
    _load()
    return frozenset(_SYMBOLIC)


def _load() -> None:
    # Importing the family modules runs their @register decorators.
    from tensorweaver.onnx import symbolic  # noqa: F401
