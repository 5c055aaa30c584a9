"""``tw.autograd.profiler``: see every op as it runs, forward and backward.

``op_hooks(before, after)`` is a context manager that calls two functions around every op
the engine runs while it is active::

    events = []
    def before(fn, phase):
        fn.t0 = time.perf_counter()
    def after(fn, phase, inputs, output):
        events.append((fn.op_name, phase, time.perf_counter() - fn.t0))

    with tw.autograd.profiler.op_hooks(before, after):
        loss = loss_fn(model(x), y)
        loss.backward()

- ``before(fn, phase)``: ``phase`` is ``"forward"`` as ``Function.apply`` starts (``fn`` is
  the op's new node, its forward not run yet) or ``"backward"`` just before the backward
  engine calls that node's backward.
- ``after(fn, phase, inputs, output)``: forward: ``inputs`` are the op's arguments as
  given (Tensors and constants), ``output`` the Tensor it returns; backward: ``inputs`` is
  ``(grad_output,)`` and ``output`` the tuple of gradients, one per input (``None`` where
  an input takes none): backend arrays, or Tensors under ``create_graph=True`` (whose ops
  then show up as forward events nested inside the backward one).

The span between the two calls covers the whole op: the array work *and* the engine's
bookkeeping (recording the node, version checks), which is what an op costs in this
engine. On an asynchronous backend (cuPyNumeric) the array work is only *launched*
inside the span; wall-clock spans then measure launch costs, not the computation.

Either function may be ``None``. Blocks nest: the outer ``before`` runs first and its
``after`` last, so an inner timer does not time the outer one. An op's own Python
helpers (PyTorch-style ``autograd.Function`` subclasses, optimizers' updates of
``.data``) are not ops: only ``Function.apply`` calls and backward nodes are seen.
When no block is active this costs nothing: ``Function.apply`` reads one flag for anomaly
mode and these hooks together.
"""
from __future__ import annotations

from contextlib import contextmanager

from tensorweaver.autograd import function as _function

__all__ = ["op_hooks"]


def _nothing(*args):
    return None


@contextmanager
def op_hooks(before=None, after=None):
    """Call ``before(fn, phase)`` and ``after(fn, phase, inputs, output)`` around every op
    (forward and backward) run inside the block; see the module's docstring."""
    for name, hook in (("before", before), ("after", after)):
        if hook is not None and not callable(hook):
            raise TypeError(f"op_hooks: {name} must be callable or None, got {type(hook).__name__}")
    before = before or _nothing
    after = after or _nothing
    outer = _function._op_hooks[0]
    if outer is not None:
        outer_before, outer_after = outer

        def both_before(fn, phase):
            outer_before(fn, phase)
            before(fn, phase)

        def both_after(fn, phase, inputs, output):
            after(fn, phase, inputs, output)
            outer_after(fn, phase, inputs, output)

        installed = (both_before, both_after)
    else:
        installed = (before, after)
    _function._op_hooks[0] = installed
    _function._rewatch()
    try:
        yield
    finally:
        _function._op_hooks[0] = outer
        _function._rewatch()
