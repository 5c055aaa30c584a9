"""PyTorch-style custom Functions (``tensorweaver/autograd/custom_function.py``).

Their nodes never appear in a trace: export records the ops their ``forward`` runs, one by
one, so a custom Function exports as whatever it computes. These mappings only say so, if
a node is ever handed to the exporter directly.
"""
from __future__ import annotations

from tensorweaver.autograd import custom_function
from tensorweaver.onnx.registry import register


@register(custom_function.FunctionCtx, custom_function.OutputSelect, custom_function._DelayedError)
def custom(g, n):
    raise n.fail("a custom autograd.Function is exported through the ops its forward runs, "
                 "not as one node")
