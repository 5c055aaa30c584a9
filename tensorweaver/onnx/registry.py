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
"""
from __future__ import annotations

_SYMBOLIC: dict = {}


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
