"""Parity cases for issue 12's part B: writes at indices (scatter_reduce, index_reduce,
index_copy, *_scatter; ops/scattering.py, ops/joining.py), unique, the new Other Operations
(block_diag, cov, corrcoef, renorm, vander, heaviside, gcd/lcm, histogram/histogramdd), the new
factories, einsum with '...', and second derivatives through prod/cumprod. One case per op.
Imported at the end of ``parity_cases.py`` (which owns the registry)."""
from __future__ import annotations

import warnings

import numpy as np   # host side only: assembling results

import tensorweaver as tw
from parity_cases import case, forward_backward, randn

IDX = [[0, 1, 0, 2, 4], [2, 2, 1, 0, 0], [1, 1, 1, 1, 3], [4, 0, 4, 0, 4]]      # repeats, and unhit positions


def _reduce_case(reduce):
    @case(f"scatter.scatter_reduce_{reduce}")
    def run(dtype):
        src = randn(4, 5, dtype=dtype)
        with tw.no_grad():
            src[0, 0] = 0.0                           # prod's exact gradient at a zero
            src[1, 2] = src[1, 3]                       # amax/amin: tied values share
        both = lambda x, s: (tw.scatter_reduce(x, 1, tw.tensor(IDX), s, reduce)               # noqa: E731
                             + tw.scatter_reduce(x, 1, tw.tensor(IDX), s, reduce, include_self=False))
        return forward_backward(both, randn(4, 5, dtype=dtype), src)


for _reduce in ("sum", "prod", "mean", "amax", "amin"):
    _reduce_case(_reduce)


OPS = {  # op: fn of one (4, 5) input
    "index_reduce": lambda x: tw.index_reduce(x, 0, tw.tensor([3, 0, 3]), x[:3] * 2, "prod")
    + tw.index_reduce(x, 1, tw.tensor([1, 1]), x[:, :2], "amax", include_self=False),
    "index_copy": lambda x: tw.index_copy(x, 1, tw.tensor([4, 0]), x[:, 1:3] * 3),
    "select_scatter": lambda x: tw.select_scatter(x, x[0] * 2, 0, -1),
    "slice_scatter": lambda x: tw.slice_scatter(x, x[:, :2] * 2, 1, 1, None, 2),
    "diagonal_scatter": lambda x: tw.diagonal_scatter(x, x[0, :4] * 3, 1),
    "narrow_copy": lambda x: tw.narrow_copy(x, 1, 1, 3),
    "as_strided": lambda x: tw.as_strided(x, (4, 3), (3, 2), 1),
    "einsum_ellipsis": lambda x: tw.einsum("...ij,...jk->...ik", x.reshape(2, 2, 5), x.reshape(5, 4)[None]),
    "block_diag": lambda x: tw.block_diag(x[:2, :3], x[0], x[1, 1]),
    "cov": lambda x: tw.cov(x, correction=0, fweights=tw.tensor([1, 2, 1, 3, 1]), aweights=x[0].detach().abs()),
    "corrcoef": tw.corrcoef,
    "renorm": lambda x: tw.renorm(x, 2, 0, 1.5),
    "vander": lambda x: tw.vander(x[0], 4),
    "heaviside": lambda x: tw.heaviside(tw.where(x > 0.5, 0.0, x), x[0]),
}


def _case(op, fn):
    @case(f"scatter.{op}")
    def run(dtype):
        return forward_backward(fn, randn(4, 5, dtype=dtype))


for _op, _fn in OPS.items():
    _case(_op, _fn)


@case("scatter.in_place")
def in_place(dtype):
    """The in-place forms on a non-leaf (recorded, rebased) and gradients through them."""
    x, s = randn(4, 5, dtype=dtype), randn(4, 2, dtype=dtype)
    y = x * 2
    y.index_copy_(1, tw.tensor([3, 0]), s * 3)
    y.scatter_reduce_(1, tw.tensor(IDX), x * 1, "amin")
    y.index_reduce_(1, tw.tensor([2, 2]), s, "mean")
    return forward_backward(lambda a, b: y, x, s)


@case("scatter.unique")
def unique(dtype):
    x = tw.randint(0, 4, (6, 5)).to(getattr(tw, dtype))
    values, inverse, counts = tw.unique(x, return_inverse=True, return_counts=True)
    rows, row_inverse = tw.unique(x[:, :2], dim=0, return_inverse=True)
    runs, run_counts = tw.unique_consecutive(x.reshape(-1), return_counts=True)
    return {"values": values.numpy(), "inverse": inverse.numpy(), "counts": counts.numpy(),
            "rows": rows.numpy(), "row_inverse": row_inverse.numpy(), "runs": runs.numpy(),
            "run_counts": run_counts.numpy()}


@case("scatter.integer_and_histograms")
def integer_and_histograms(dtype):
    a, b = tw.randint(-20, 20, (12,)), tw.randint(-20, 20, (12,))
    points = tw.randn(40, 2, dtype=dtype)
    hist, edges = tw.histogram(points[:, 0], 5, weight=points[:, 1].abs())
    hdd, hdd_edges = tw.histogramdd(points, [3, 4], range=[-2.0, 2.0, -1.0, 1.0], density=True)
    counts = tw.bincount(tw.unravel_index(tw.randint(0, 12, (20,)), (3, 4))[1])
    return {"gcd": tw.gcd(a, b).numpy(), "lcm": tw.lcm(a, b).numpy(), "hist": hist.numpy(),
            "edges": edges.numpy(), "hdd": hdd.numpy(), "hdd_edges": hdd_edges[1].numpy(), "unravel": counts.numpy()}


@case("scatter.factories")
def factories(dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)      # tw.range is deprecated, as torch.range
        ranged = tw.range(-1, 2, 0.5, dtype=dtype)
    raw = np.arange(6, dtype=dtype)
    return {"range": ranged.numpy(), "logspace": tw.logspace(-1, 2, 7, base=2, dtype=dtype).numpy(),
            "frombuffer": tw.frombuffer(bytearray(raw.tobytes()), dtype=dtype, offset=raw.itemsize).numpy(),
            "asarray": tw.asarray([[1, 2], [3, 4]], dtype=dtype).numpy(),
            "from_dlpack": tw.from_dlpack(raw).numpy(), "empty_strided": tw.empty_strided((2, 3), (1, 2), dtype=dtype).numpy()}


@case("scatter.prod_cumprod_double_backward")
def prod_cumprod_double_backward(dtype):
    """create_graph through prod and cumprod (their tensor_backward), zeros included."""
    x = randn(3, 4, dtype=dtype)
    with tw.no_grad():
        x[0, 1] = 0.0
        x[2, 0] = x[2, 3] = 0.0
    y = tw.prod(x, 1).sum() + (tw.cumprod(x, 1) * tw.cumprod(x, 0)).sum() + tw.prod(x)
    (g,) = tw.autograd.grad(y, x, create_graph=True)
    (gg,) = tw.autograd.grad((g * g).sum(), x)
    return {"y": y.detach().numpy(), "grad": g.detach().numpy(), "gradgrad": gg.numpy()}
