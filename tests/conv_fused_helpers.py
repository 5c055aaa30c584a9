"""Shared by the fused-convolution tests: run one model of ours and its torch twin on the
same input and gradient, and compare values and every gradient (float64)."""
import numpy as np

import tensorweaver as tw


def compare_with_torch(torch, ours, ref, x, seed=0):
    """``ours(x)`` and ``ref(x)``, backward from the same random gradient; returns ours's output."""
    xo, xr = tw.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yr = ours(xo), ref(xr)
    g = np.random.default_rng(seed + 1).standard_normal(tuple(yr.shape))
    yo.backward(tw.tensor(g))
    yr.backward(torch.tensor(g))
    np.testing.assert_allclose(yo.detach().numpy(), yr.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xo.grad.numpy(), xr.grad.numpy(), rtol=1e-10, atol=1e-12)
    for p, q in zip(ours.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-12)
    return yo
