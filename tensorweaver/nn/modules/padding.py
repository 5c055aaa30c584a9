"""Padding layers (``F.pad`` with a fixed width and mode): ``ZeroPad1d/2d``,
``ConstantPad1d/2d``, ``ReflectionPad1d/2d``, ``ReplicationPad1d/2d``, ``CircularPad1d/2d``.

``padding`` is an int (every side) or a tuple ``(left, right)`` for 1-D,
``(left, right, top, bottom)`` for 2-D.
"""
from __future__ import annotations

from tensorweaver.nn import functional as F
from tensorweaver.nn.modules.module import Module


class _PadNd(Module):
    _dims = 1
    _mode = "constant"

    def __init__(self, padding, value=0.0):
        super().__init__()
        n = 2 * self._dims
        padding = (padding,) * n if isinstance(padding, int) else tuple(padding)
        if len(padding) != n:
            raise ValueError(f"{type(self).__name__}: padding must be an int or {n} ints, got {padding!r}")
        self.padding, self.value = padding, value

    def forward(self, input):
        if self._mode == "constant":
            return F.pad(input, self.padding, "constant", self.value)
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}" + (f", value={self.value}" if self._mode == "constant" else "")


def _layer(name, dims, mode, doc, zero=False):
    def __init__(self, padding, value):
        _PadNd.__init__(self, padding, value)
    if zero:
        def __init__(self, padding):        # noqa: F811  (ZeroPad takes no value)
            _PadNd.__init__(self, padding, 0.0)
    elif mode != "constant":
        def __init__(self, padding):        # noqa: F811
            _PadNd.__init__(self, padding)
    return type(name, (_PadNd,), {"__init__": __init__, "_dims": dims, "_mode": mode, "__doc__": doc,
                                  "__module__": __name__})


ZeroPad1d = _layer("ZeroPad1d", 1, "constant", "Pads the last dim with zeros.", zero=True)
ZeroPad2d = _layer("ZeroPad2d", 2, "constant", "Pads the last two dims with zeros.", zero=True)
ConstantPad1d = _layer("ConstantPad1d", 1, "constant", "Pads the last dim with ``value``.")
ConstantPad2d = _layer("ConstantPad2d", 2, "constant", "Pads the last two dims with ``value``.")
ReflectionPad1d = _layer("ReflectionPad1d", 1, "reflect", "Pads the last dim with its reflection.")
ReflectionPad2d = _layer("ReflectionPad2d", 2, "reflect", "Pads the last two dims with their reflection.")
ReplicationPad1d = _layer("ReplicationPad1d", 1, "replicate", "Pads the last dim by repeating its edge.")
ReplicationPad2d = _layer("ReplicationPad2d", 2, "replicate", "Pads the last two dims by repeating their edges.")
CircularPad1d = _layer("CircularPad1d", 1, "circular", "Pads the last dim circularly (wrap around).")
CircularPad2d = _layer("CircularPad2d", 2, "circular", "Pads the last two dims circularly (wrap around).")
