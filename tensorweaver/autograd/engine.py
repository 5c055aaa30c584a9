"""The backward engine: reverse-mode accumulation over the recorded graph.

1. Order the graph's Functions topologically with an iterative depth-first search
   (no recursion, so a chain of 100,000 ops is fine; not breadth-first, so a node
   runs only after *every* consumer has sent its gradient).
2. Walk that order once, calling each node's ``backward`` with the summed gradient
   of its output, and route the results along its edges (``fn._edges``).
3. Leaves collect their total, run their hooks and accumulate into ``.grad``.

Gradient arrays are never shared between two destinations: when a backward returns
the same buffer twice (``Add`` passes ``grad`` to both inputs), the second use is
copied, so an in-place change to ``a.grad`` can never leak into ``b.grad``.

With ``create_graph=True`` the same walk runs on Tensors instead of arrays: each node's
``tensor_backward`` (its rule written with Tensor ops) runs with grad mode on, so the
gradients are themselves differentiable (Hessian-vector products, gradient penalties).
``tw.autograd.grad`` uses the same walk but returns the gradients of chosen inputs
instead of accumulating into ``.grad``, and runs only the nodes that lead to them.
"""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd import anomaly, grad_mode

_owner = backend.owner


def topological_order(roots) -> list:
    """Functions reachable from ``roots`` (a node or a list), each before every Function
    it feeds."""
    order, visited = [], set()
    stack = [(r, False) for r in (roots if isinstance(roots, list) else [roots])]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        for edge in node._edges:
            # Edges are Functions, leaf Tensors (which end the walk) or None.
            if edge is not None and not isinstance(edge, Tensor) and edge not in visited:
                stack.append((edge, False))
    order.reverse()
    return order


class _Buffers:
    """Pending gradient arrays, keyed by destination, with no memory shared between them."""

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


class _TensorBuffers:
    """Pending gradients as Tensors (``create_graph=True``): sums are recorded ops."""

    def __init__(self):
        self.grads = {}

    def add(self, dest, g):
        prev = self.grads.get(dest)
        self.grads[dest] = g if prev is None else prev + g

    def pop(self, dest):
        return self.grads.pop(dest, None)


def run_backward(root, grad, retain_graph: bool = False, own_grad: bool = False) -> None:
    """Backpropagate ``grad`` (a backend array shaped like ``root``) into the leaves' ``.grad``.

    ``own_grad``: ``grad`` was made for this call (``backward()``'s implicit ones), so it
    need not be copied to keep the caller's array out of ``.grad``.
    """
    if not own_grad:
        grad = grad.copy()                 # never alias the caller's gradient
    buffers = _Buffers()
    if root.grad_fn is None:               # backward() on a leaf: just accumulate
        buffers.add(root, grad)
        _accumulate_leaves(buffers, False)
        return
    root_fn = root.grad_fn
    if root_fn.is_released:
        raise _second_backward(root_fn)
    buffers.add(root_fn, grad)
    _walk(topological_order(root_fn), buffers, retain_graph, False)
    _accumulate_leaves(buffers, False)


def run_general(roots, grads, retain_graph: bool, create_graph: bool, inputs=None,
                accumulate: bool = True):
    """The general walk behind ``backward(create_graph=..., inputs=...)`` and ``autograd.grad``.

    ``grads`` are arrays, or Tensors when ``create_graph``. With ``inputs``, only the
    nodes leading to them run; ``accumulate=False`` returns their gradients (a list,
    None where no gradient reached an input) instead of adding them to ``.grad``.
    """
    buffers = _TensorBuffers() if create_graph else _Buffers()
    nodes = []
    for root, g in zip(roots, grads):
        if not create_graph:
            g = g.copy()
        if root.grad_fn is None:
            buffers.add(root, g)
        else:
            if root.grad_fn.is_released:
                raise _second_backward(root.grad_fn)
            buffers.add(root.grad_fn, g)
            nodes.append(root.grad_fn)
    order = topological_order(nodes) if nodes else []
    targets = None
    if inputs is not None:
        # An input's gradient is what arrives at its grad_fn (a non-leaf) or at itself (a leaf).
        targets = {(t.grad_fn if t.grad_fn is not None else t): i for i, t in enumerate(inputs)}
        order, through = _prune(order, targets)
    else:
        through = None
    prev = grad_mode._enabled[0]
    grad_mode._enabled[0] = create_graph
    try:
        captured = _walk(order, buffers, retain_graph, create_graph, targets, through)
    finally:
        grad_mode._enabled[0] = prev
    if targets is None:
        _accumulate_leaves(buffers, create_graph)
        return None
    results = [None] * len(inputs)
    for key, i in targets.items():
        g = captured.get(key) if key in captured else buffers.pop(key)
        if g is not None:
            results[i] = g if create_graph else _make_tensor(g, False, None)
    if accumulate:
        for t, g in zip(inputs, results):
            if g is not None:
                _accumulate(t, g if create_graph else g.data, create_graph)
        return None
    return results


def _prune(order, targets):
    """The nodes that are targets or lead to one, and among them those whose backward
    must run (an edge leads on to a target). ``order`` lists every node before the
    nodes it feeds, so walking it backwards sees the feeders first."""
    needed, through = set(), set()
    for fn in reversed(order):
        if any(e is not None and (e in targets or e in needed) for e in fn._edges):
            through.add(fn)
            needed.add(fn)
        elif fn in targets:
            needed.add(fn)
    return [fn for fn in order if fn in needed], through


def _walk(order, buffers, retain_graph, create_graph, targets=None, through=None):
    check = anomaly._enabled[0]
    hooks = _op_hooks[0]                   # the profiler's (before, after), or None
    pop, add = buffers.pop, buffers.add
    captured = {}
    for fn in order:
        g = pop(fn)
        if g is None:                      # no gradient reached this node
            continue
        if fn._saved is _FREED:            # fn.is_released, without the property's call
            raise _second_backward(fn)
        if fn._hooks:
            g = _run_hooks(fn._hooks, g, create_graph)
        if fn._prehooks:
            g = _run_node_prehooks(fn, g, create_graph)
        if targets is not None:
            if fn in targets:
                captured[fn] = g
            if fn not in through:          # it leads to no other input
                continue
        if hooks is not None:
            hooks[0](fn, "backward")
        grads = _tensor_backward(fn, g) if create_graph else fn.backward(g)
        if type(grads) is not tuple:
            grads = (grads,)
        if hooks is not None:
            hooks[1](fn, "backward", (g,), grads)
        if fn._posthooks:
            grads = _run_node_posthooks(fn, grads, g, create_graph)
        if check:
            anomaly.check(fn, "backward", *(x.data if isinstance(x, Tensor) else x for x in grads))
        for edge, gi in zip(fn._edges, grads):
            if edge is not None and gi is not None:
                add(edge, gi)
        if not retain_graph:
            fn.release()
    return captured


def _tensor_backward(fn, g):
    rule = getattr(fn, "tensor_backward", None)
    if rule is None:
        raise RuntimeError(
            f"{fn.op_name}: its backward is written on arrays only, so it cannot be differentiated "
            "again: create_graph=True (higher-order gradients, autograd.grad with create_graph) is "
            f"not supported through {fn.op_name}. Compute without create_graph, or express this "
            "part of the model with ops that support it (see the README's engine section).")
    out = rule(g, *fn.saved_graph_tensors())
    if type(out) is not tuple:
        out = (out,)
    # A rule may return a constant (an array or number): it becomes a constant Tensor.
    return tuple(o if o is None or isinstance(o, Tensor) or getattr(o, "gathers_output_grads", False)
                 else _make_tensor(backend.as_array(o), False, None) for o in out)


def _accumulate_leaves(buffers, create_graph: bool) -> None:
    for leaf, g in list(buffers.grads.items()):
        if isinstance(leaf, Tensor):
            _accumulate(leaf, g, create_graph)


def _accumulate(leaf, g, create_graph: bool) -> None:
    if leaf._hooks:
        g = _run_hooks(leaf._hooks, g, create_graph)
    if create_graph:
        # A copy, as torch's AccumulateGrad makes: `g` may be shared by two leaves (Add
        # sends one gradient to both) or a read-only broadcast (Sum's expand).
        leaf._grad = g.clone() if leaf._grad is None else leaf._grad + g
    elif leaf._grad is None:
        leaf._grad = _make_tensor(g, False, None)
    else:
        leaf._grad.data += g               # accumulate in place, as torch does
    node = getattr(leaf, "_accumulator", None)
    if node is not None and node._posthooks:
        for hook in list(node._posthooks):
            hook((), (leaf._grad,))
    post = getattr(leaf, "_post_accumulate_hooks", None)
    if post:
        for hook in list(post):
            hook(leaf)


def _as_tensor(g, create_graph):
    return g if create_graph else _make_tensor(g, False, None)


def _as_grad(out, like, create_graph, where):
    """A hook's replacement gradient, checked against the one it replaces."""
    if isinstance(out, Tensor):
        new = out
    else:
        new = _make_tensor(backend.xp.asarray(out), False, None)
    ref = like if isinstance(like, Tensor) else _make_tensor(like, False, None)
    if new.shape != ref.shape or new.dtype != ref.dtype:
        raise RuntimeError(
            f"{where} returned a gradient of shape {tuple(new.shape)} and dtype {new.dtype}, but the "
            f"gradient it replaces has shape {tuple(ref.shape)} and dtype {ref.dtype}. A hook may "
            "change a gradient's values, not its shape or dtype.")
    return new if create_graph else new.data


def _run_hooks(hooks, g, create_graph=False):
    for hook in list(hooks):
        out = hook(_as_tensor(g, create_graph))
        if out is not None:
            g = _as_grad(out, g, create_graph, f"hook {getattr(hook, '__name__', hook)!s}")
    return g


def _run_node_prehooks(fn, g, create_graph):
    for hook in list(fn._prehooks):
        out = hook((_as_tensor(g, create_graph),))
        if out is not None:
            g = _as_grad(out[0], g, create_graph, f"pre-hook on {fn.name()}")
    return g


def _run_node_posthooks(fn, grads, g, create_graph):
    grads_in = tuple(None if x is None else _as_tensor(x, create_graph) for x in grads)
    for hook in list(fn._posthooks):
        out = hook(grads_in, (_as_tensor(g, create_graph),))
        if out is not None:
            if len(out) != len(grads_in):
                raise RuntimeError(f"hook on {fn.name()} returned {len(out)} gradients; expected "
                                   f"{len(grads_in)} (one per input, None allowed)")
            grads_in = tuple(None if new is None else
                             (_make_tensor(_as_grad(new, old, False, f"hook on {fn.name()}"), False, None)
                              if old is not None and not create_graph else new)
                             for new, old in zip(out, grads_in))
    return tuple(None if x is None else (x if create_graph else x.data) for x in grads_in)


def _second_backward(fn) -> RuntimeError:
    return RuntimeError(
        f"Trying to backward through the graph a second time: {fn.name()}'s saved values "
        "were freed by the first backward(). Pass retain_graph=True to the first "
        "backward() if you need to backward twice.")


from tensorweaver.autograd.function import _FREED, _op_hooks  # noqa: E402
from tensorweaver.tensor import Tensor, _make_tensor  # noqa: E402
