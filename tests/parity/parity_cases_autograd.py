"""Parity cases for autograd semantics: in-place ops (plain, under no_grad, recorded by
rebase, through views), version-counter errors, ``.data`` updates, and higher-order
gradients (``autograd.grad`` with ``create_graph``, Hessian-vector products)."""
from __future__ import annotations

import numpy as np

import tensorweaver as tw
from parity_cases import case, forward_backward, randn


@case("autograd.inplace_ops")
def inplace_ops(dtype):
    d = getattr(tw, dtype)
    x = tw.randn(3, 4, dtype=d)
    y = x.clone()
    y.add_(x, alpha=2.0).mul_(0.5).sub_(1.0).clamp_(-1.0, 2.0)
    y[0] = 3.0
    y[1:, 2] = x[1:, 0]
    y[y > 1.5] = 0.0
    z = tw.zeros(3, 4, dtype=d)
    z.index_add_(1, tw.tensor([0, 2, 2]), x[:, :3])
    z.scatter_add_(0, tw.tensor([[2, 1, 0, 0]]), x[:1])
    z.masked_fill_(x < -1.0, -7.0)
    w = x.clone()
    w.exp_().tanh_().sigmoid_()
    w /= 2.0
    w -= y
    f = tw.empty(2, 3, dtype=d).fill_(0.5)
    f[0].zero_()
    c = tw.zeros(3, 4, dtype=d).copy_(x[0])
    return {"y": y.numpy(), "z": z.numpy(), "w": w.numpy(), "version": np.array(w._version),
            "f": f.numpy(), "c": c.numpy(), "topk": x.topk(2, dim=1).values.numpy()}


@case("autograd.rebase")
def rebase(dtype):
    def fn(x, o):
        h = x * 2
        v = h[1:]                        # a view made before the base changes
        h.mul_(o)
        h[0] = o[0] * 3
        out = tw.zeros(4, 3, dtype=x.dtype)
        out[1:] = h[1:] * v.sum()
        out.relu_()
        return out
    return forward_backward(fn, randn(4, 3, dtype=dtype), randn(4, 3, dtype=dtype))


@case("autograd.inplace_module_flags")
def inplace_module_flags(dtype):
    tw.manual_seed(3)
    model = tw.nn.Sequential(tw.nn.Linear(4, 6), tw.nn.ReLU(inplace=True), tw.nn.Linear(6, 2),
                             tw.nn.LeakyReLU(0.2, inplace=True)).to(getattr(tw, dtype))
    x = randn(5, 4, dtype=dtype)
    result = forward_backward(model, x)
    for i, p in enumerate(model.parameters()):
        result[f"param_grad[{i}]"] = p.grad.numpy()
    return result


@case("autograd.version_error", dtypes=("float32",))
def version_error(dtype):
    d = getattr(tw, dtype)
    w = tw.ones(3, dtype=d, requires_grad=True)
    x = tw.ones(3, dtype=d)
    y = (w * x).sum()
    x[0] = 100.0
    try:
        y.backward()
        raised = False
    except RuntimeError as exc:
        raised = "modified by an inplace operation" in str(exc)
    return {"raised": np.array(raised), "version": np.array(x._version)}


@case("autograd.data_updates", training=True)
def data_updates(dtype):
    """A from-scratch loop: raw tensors, manual zeroing, updates written through .data."""
    d = getattr(tw, dtype)
    tw.manual_seed(5)
    w1 = (tw.randn(3, 8, dtype=d) * 0.5).requires_grad_()
    b1 = tw.zeros(8, dtype=d, requires_grad=True)
    w2 = (tw.randn(8, 2, dtype=d) * 0.5).requires_grad_()
    x = tw.randn(16, 3, dtype=d)
    y = (x[:, 0] > 0).long()
    losses = []
    for step in range(15):
        loss = tw.nn.functional.cross_entropy((x @ w1 + b1).tanh() @ w2, y)
        for p in (w1, b1, w2):
            p.grad = None
        loss.backward()
        # Array-on-array forms: with a Tensor on the right, cuPyNumeric computes
        # `array - tensor` itself (it ignores __array_priority__), so the ops recorded would
        # differ between backends; the Tensor forms are tested in tests/test_data_attribute.py.
        w1.data += -0.3 * w1.grad.data
        b1.data -= 0.3 * b1.grad.data
        w2.data = w2.data - 0.3 * w2.grad.data
        with tw.no_grad():
            w2 *= 1.0
        losses.append(loss.item())
    return {"losses": np.array(losses), "w1": w1.detach().numpy(), "w2": w2.detach().numpy()}


@case("autograd.grad_create_graph")
def grad_create_graph(dtype):
    x = randn(5, dtype=dtype)
    w = randn(5, 3, dtype=dtype)
    y = ((x @ w).tanh() ** 2).sum() + (x ** 3).sum() + (x[[0, 2, 2]] * w[1:4, 0]).sum()
    (gx, gw) = tw.autograd.grad(y, (x, w), create_graph=True)
    penalty = (gx ** 2).sum() + gw.sigmoid().mean()
    (hx, hw) = tw.autograd.grad(penalty, (x, w))
    return {"gx": gx.detach().numpy(), "gw": gw.detach().numpy(), "hx": hx.numpy(), "hw": hw.numpy()}


@case("autograd.hvp")
def hvp(dtype):
    tw.manual_seed(7)
    d = getattr(tw, dtype)
    model = tw.nn.Sequential(tw.nn.Linear(4, 5), tw.nn.Tanh(), tw.nn.Linear(5, 1)).to(d)
    x = tw.randn(6, 4, dtype=d)
    params = list(model.parameters())
    loss = (model(x) ** 2).mean()
    grads = tw.autograd.grad(loss, params, create_graph=True)
    vs = [tw.randn(*p.shape, dtype=d) for p in params]
    dot = sum((g * v).sum() for g, v in zip(grads, vs))
    hv = tw.autograd.grad(dot, params)
    hess = tw.autograd.functional.hessian(lambda t: (t.sin() * t.exp()).sum(), tw.randn(3, dtype=d))
    out = {f"hv[{i}]": h.numpy() for i, h in enumerate(hv)}
    out["hessian"] = hess.numpy()
    return out


@case("autograd.rebase_indexed_and_fills")
def rebase_indexed_and_fills(dtype):
    """In-place indexed adds, scatters and fills recorded in the graph (their backwards)."""
    def fn(x, o):
        h = x * 2
        h.index_add_(0, tw.tensor([0, 2]), o[:2])
        h.scatter_add_(1, tw.tensor([[0, 1, 2]] * 4), o)
        h.scatter_(1, tw.tensor([[2], [1], [0], [1]]), o[:, :1])
        g = x * 3
        g.fill_(o.sum())
        c = x * 1
        c.copy_(o[0])
        r = x * 4
        r.normal_()                      # drawn on the host: the same numbers on both backends
        return h + g * c + r
    return forward_backward(fn, randn(4, 3, dtype=dtype), randn(4, 3, dtype=dtype))
