"""The backward engine: reverse-mode accumulation over the recorded graph.

1. Order the graph's Functions topologically with an iterative depth-first search
   (no recursion, so a chain of 100,000 ops is fine; not breadth-first, so a node
   runs only after *every* consumer has sent its gradient).
2. Walk that order once, calling each node's ``backward`` with the summed gradient
   of its output, and route the results along ``next_functions``.
3. Leaves collect their total, run their hooks and accumulate into ``.grad``.

Gradient arrays are never shared between two destinations: when a backward returns
the same buffer twice (``Add`` passes ``grad`` to both inputs), the second use is
copied, so an in-place change to ``a.grad`` can never leak into ``b.grad``.
"""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd import anomaly

_owner = backend.owner


def topological_order(root) -> list:
    """Functions reachable from ``root``, each before every Function it feeds."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        for edge in node.next_functions:
            # Edges are Functions, leaf Tensors (which end the walk) or None.
            if edge is not None and not isinstance(edge, Tensor) and edge not in visited:
                stack.append((edge, False))
    order.reverse()
    return order


class _Buffers:
    """Pending gradients, keyed by destination, with no memory shared between them."""

    def __init__(self):
        self.grads = {}
        self.live = set()   # ids of the memory owners of the arrays held in `grads`

    def add(self, dest, g):
        prev = self.grads.get(dest)
        if prev is None:
            key = id(_owner(g))
            if key in self.live:           # the same buffer already went elsewhere
                g = g.copy()
                key = id(g)
            self.live.add(key)
            self.grads[dest] = g
        else:
            self.live.discard(id(_owner(prev)))
            total = prev + g               # out of place: `prev` may be a caller's buffer
            self.live.add(id(total))
            self.grads[dest] = total

    def pop(self, dest):
        g = self.grads.pop(dest, None)
        if g is not None:
            self.live.discard(id(_owner(g)))
        return g


def run_backward(root, grad, retain_graph: bool = False) -> None:
    """Backpropagate ``grad`` (a backend array shaped like ``root``) through the graph."""
    buffers = _Buffers()
    grad = grad.copy()                     # never alias the caller's gradient
    if root.grad_fn is None:               # backward() on a leaf: just accumulate
        buffers.add(root, grad)
        _accumulate_leaves(buffers)
        return
    root_fn = root.grad_fn
    if root_fn.is_released:
        raise _second_backward(root_fn)
    buffers.add(root_fn, grad)
    check = anomaly._enabled[0]

    for fn in topological_order(root_fn):
        g = buffers.pop(fn)
        if g is None:                      # no gradient reached this node
            continue
        if fn.is_released:
            raise _second_backward(fn)
        if fn._hooks:
            g = _run_hooks(fn._hooks, g)
        grads = fn.backward(g)
        if type(grads) is not tuple:
            grads = (grads,)
        if check:
            anomaly.check(fn, "backward", *grads)
        for edge, gi in zip(fn.next_functions, grads):
            if edge is not None and gi is not None:
                buffers.add(edge, gi)
        if not retain_graph:
            fn.release()
    _accumulate_leaves(buffers)


def _accumulate_leaves(buffers: _Buffers) -> None:
    for leaf, g in list(buffers.grads.items()):
        if leaf._hooks:
            g = _run_hooks(leaf._hooks, g)
        if leaf.grad is None:
            leaf.grad = _make_tensor(g, False, None)
        else:
            leaf.grad.data += g            # accumulate in place, as torch does


def _run_hooks(hooks, g):
    for hook in hooks:
        out = hook(_make_tensor(g, False, None))
        if out is not None:
            g = out.data if isinstance(out, Tensor) else backend.xp.asarray(out)
    return g


def _second_backward(fn) -> RuntimeError:
    return RuntimeError(
        f"Trying to backward through the graph a second time: {fn.name}'s saved values "
        "were freed by the first backward(). Pass retain_graph=True to the first "
        "backward() if you need to backward twice.")


from tensorweaver.tensor import Tensor, _make_tensor  # noqa: E402
