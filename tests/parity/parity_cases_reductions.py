"""Parity cases for the Reduction Ops of ops/cumulative.py and ops/statistics.py: one case per op.

Imported at the end of ``parity_cases.py`` (which owns the registry), so the worker finds them.
Order statistics and running extremes draw distinct values (a random permutation), so both
backends pick the same elements; NaN-ignoring ops get NaNs at fixed positions.
"""
from __future__ import annotations

import math

import tensorweaver as tw
from parity_cases import case, forward_backward, randn


def distinct(*s, dtype):
    """Distinct values (no ties): a permutation of 0..n-1, scaled, plus a little noise."""
    n = math.prod(s)
    x = tw.randperm(n).reshape(*s).to(getattr(tw, dtype)) * 0.25 - n * 0.125
    return (x + tw.rand(*s, dtype=dtype) * 0.1).detach().requires_grad_()


def with_nan(*s, dtype):
    x = tw.randn(*s, dtype=dtype)
    return tw.where(tw.rand(*s) < 0.25, float("nan"), x).detach().requires_grad_()


def ties(*s, dtype):
    """Small whole numbers: exact ties, the same on both backends (for mode)."""
    return tw.randint(0, 3, s).to(getattr(tw, dtype)).requires_grad_()


def with_zeros(*s, dtype):
    x = tw.randn(*s, dtype=dtype)
    return tw.where(tw.rand(*s) < 0.2, 0.0, x).detach().requires_grad_()


CASES = {
    "prod": (lambda x: tw.prod(x, 1), randn), "prod_all": (lambda x: tw.prod(x * 0.5 + 1), randn),
    "prod_zeros": (lambda x: tw.prod(x, 0), with_zeros),
    "cumsum": (lambda x: tw.cumsum(x, 1), randn),
    "cumprod": (lambda x: tw.cumprod(x, 1), randn), "cumprod_zeros": (lambda x: tw.cumprod(x, 1), with_zeros),
    "cummax": (lambda x: tw.cummax(x, 1).values, distinct), "cummin": (lambda x: tw.cummin(x, 0).values, distinct),
    "logcumsumexp": (lambda x: tw.logcumsumexp(x, 1), randn),
    "norm": (lambda x: tw.norm(x, dim=1), randn), "norm_p": (lambda x: tw.norm(x, 3, dim=0), randn),
    "norm_inf": (lambda x: tw.norm(x, math.inf, dim=1), distinct),
    "nansum": (lambda x: tw.nansum(x, 1), with_nan), "nanmean": (lambda x: tw.nanmean(x, 0), with_nan),
    "median": (lambda x: tw.median(x, 1).values, distinct), "median_all": (tw.median, distinct),
    "nanmedian": (lambda x: tw.nanmedian(x, 1).values, with_nan),
    "mode": (lambda x: tw.mode(x, 1).values, lambda *s, dtype: ties(*s, dtype=dtype)),
    "quantile": (lambda x: tw.quantile(x, tw.tensor([0.2, 0.5], dtype=x.dtype), dim=1), distinct),
    "nanquantile": (lambda x: tw.nanquantile(x, 0.4, dim=1), with_nan),
    "std_mean": (lambda x: tw.std_mean(x, 1)[0] + tw.std_mean(x, 1)[1], randn),
    "var_mean": (lambda x: tw.var_mean(x, 0)[0] * tw.var_mean(x, 0)[1], randn),
    "dist": (lambda x: tw.dist(x, x.flip(0) * 0.5, 3), randn),
    "aminmax": (lambda x: tw.aminmax(x, dim=1).min - tw.aminmax(x, dim=1).max, distinct),
}


def _case(op, fn, make):
    @case(f"reductions.{op}")
    def run(dtype):
        x = make(5, 7, dtype=dtype)
        extra = {}
        if op in ("cummax", "median", "nanmedian", "mode"):
            result = getattr(tw, op)(x.detach(), 1)
            extra["indices"] = result.indices.numpy()
        if op == "median":
            extra["count_nonzero"] = tw.count_nonzero(x.detach() > 0, 1).numpy()
        return forward_backward(fn, x, **extra)


for _op, (_fn, _make) in CASES.items():
    _case(_op, _fn, _make)


@case("reductions.extremes_with_nan")
def _extremes_with_nan(dtype):
    # NaN propagates as in NumPy and torch: the extreme is NaN and its index the first NaN's,
    # an all-NaN row included. cuPyNumeric's own reductions skip NaN (backend.py corrects it).
    x = with_nan(5, 7, dtype=dtype)
    with tw.no_grad():
        x[2] = float("nan")
    d = x.detach()
    return forward_backward(
        lambda t: tw.max(t, 1).values, x,
        max_indices=tw.max(d, 1).indices.numpy(), min_dim=tw.min(d, 0).values.numpy(),
        argmax=tw.argmax(d, 1).numpy(), argmin=tw.argmin(d, 0).numpy(),
        amax=tw.amax(d, 1).numpy(), amin=tw.amin(d, 0).numpy(),
        max_all=tw.max(d).numpy(), argmax_all=tw.argmax(d).numpy())
