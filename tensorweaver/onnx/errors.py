"""What can go wrong while exporting, each with the op and the module that caused it."""
from __future__ import annotations


class ExportError(RuntimeError):
    """The model cannot be exported as traced; the message says why and what to change."""


class UnsupportedOperatorError(ExportError):
    """A traced op has no ONNX mapping (no symbolic function is registered for it).

    ``op`` is the Function's name and ``scope`` the module path that ran it
    (``""`` for the top-level model).
    """

    def __init__(self, op: str, scope: str, detail: str = ""):
        self.op, self.scope = op, scope
        where = f"module '{scope}'" if scope else "the model's own forward"
        msg = (f"ONNX export: no mapping for the op {op} (called in {where}). "
               f"Give it one with tensorweaver.onnx.register_symbolic({op}, fn) (an op of the "
               f"engine itself: in tensorweaver/onnx/symbolic/, see tensorweaver.onnx.registry), "
               f"or avoid the op in forward().")
        if detail:
            msg += f" {detail}"
        super().__init__(msg)
