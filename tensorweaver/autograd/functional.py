"""``jacobian`` and ``hessian`` of a function of Tensors, for small inputs (torch's
``torch.autograd.functional``): one vector-Jacobian product per output element."""
from __future__ import annotations

from tensorweaver import backend


def jacobian(func, inputs, create_graph: bool = False, strict: bool = False):
    """The Jacobian of ``func(*inputs)``: shape ``output.shape + input.shape``.

    ``inputs`` is a Tensor or a tuple of Tensors; with a tuple the result is a tuple per
    input (and per output if ``func`` returns a tuple), as in torch.
    """
    single_in = isinstance(inputs, Tensor)
    xs = (inputs,) if single_in else tuple(inputs)
    xs = tuple(x.detach().requires_grad_(True) if not create_graph or not x.requires_grad else x
               for x in xs)
    with enable_grad():
        out = func(*xs)
    single_out = isinstance(out, Tensor)
    outs = (out,) if single_out else tuple(out)
    rows = []
    for y in outs:
        per_input = [[] for _ in xs]
        flat = y.reshape(-1)
        for k in range(flat.numel()):
            if not y.requires_grad:
                gs = (None,) * len(xs)
            else:
                gs = grad(flat[k], xs, retain_graph=True, create_graph=create_graph, allow_unused=True)
            for j, (x, g) in enumerate(zip(xs, gs)):
                if g is None:
                    if strict:
                        raise RuntimeError(f"jacobian: output {k} is independent of input {j} (strict=True)")
                    g = _make_tensor(backend.xp.zeros(x.shape, dtype=x.dtype), False, None)
                per_input[j].append(g)
        blocks = []
        for j, x in enumerate(xs):
            stacked = stack(per_input[j]) if per_input[j] else _make_tensor(
                backend.xp.zeros((0,) + x.shape, dtype=x.dtype), False, None)
            block = stacked.reshape(y.shape + x.shape)
            blocks.append(block if create_graph else block.detach())
        rows.append(blocks[0] if single_in else tuple(blocks))
    return rows[0] if single_out else tuple(rows)


def hessian(func, inputs, create_graph: bool = False, strict: bool = False):
    """The Hessian of a scalar ``func(*inputs)``: the Jacobian of its gradient."""
    single_in = isinstance(inputs, Tensor)

    def gradient(*xs):
        y = func(*xs)
        if y.numel() != 1:
            raise RuntimeError(f"hessian: the function must return a single element, got shape {y.shape}")
        gs = grad(y, xs, create_graph=True, allow_unused=True)
        gs = tuple(g if g is not None else _make_tensor(backend.xp.zeros(x.shape, dtype=x.dtype), False, None)
                   for g, x in zip(gs, xs))
        return gs[0] if single_in else gs

    return jacobian(gradient, inputs, create_graph=create_graph, strict=strict)


def vjp(func, inputs, v=None, create_graph: bool = False):
    """``(func(*inputs), v^T J)``."""
    single_in = isinstance(inputs, Tensor)
    xs = (inputs,) if single_in else tuple(inputs)
    xs = tuple(x.detach().requires_grad_(True) for x in xs)
    with enable_grad():
        out = func(*xs)
    gs = grad(out, xs, grad_outputs=v, create_graph=create_graph, allow_unused=True)
    gs = tuple(g if g is not None else _make_tensor(backend.xp.zeros(x.shape, dtype=x.dtype), False, None)
               for g, x in zip(gs, xs))
    gs = gs if create_graph else tuple(g.detach() for g in gs)
    return (out if create_graph else out.detach()), (gs[0] if single_in else gs)


def hvp(func, inputs, v, create_graph: bool = False):
    """``(func(*inputs), H v)``: a Hessian-vector product by double backward."""
    single_in = isinstance(inputs, Tensor)
    xs = (inputs,) if single_in else tuple(inputs)
    vs = (v,) if single_in else tuple(v)
    xs = tuple(x.detach().requires_grad_(True) for x in xs)
    with enable_grad():
        out = func(*xs)
        gs = grad(out, xs, create_graph=True)
        dot = None
        for g, vi in zip(gs, vs):
            term = (g * vi).sum()
            dot = term if dot is None else dot + term
    hv = grad(dot, xs, create_graph=create_graph, allow_unused=True)
    hv = tuple(h if h is not None else _make_tensor(backend.xp.zeros(x.shape, dtype=x.dtype), False, None)
               for h, x in zip(hv, xs))
    hv = hv if create_graph else tuple(h.detach() for h in hv)
    return (out if create_graph else out.detach()), (hv[0] if single_in else hv)


from tensorweaver.autograd.gradients import grad  # noqa: E402
from tensorweaver.autograd.grad_mode import enable_grad  # noqa: E402
from tensorweaver.ops.shape import stack  # noqa: E402
from tensorweaver.tensor import Tensor, _make_tensor  # noqa: E402
