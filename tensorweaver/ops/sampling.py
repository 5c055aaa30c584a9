"""PyTorch's *Random sampling* functions and in-place random fills, with ``generator=``.

Every draw is made on the host from a seeded PCG64 generator (``tensorweaver.random``:
``generator=`` a ``tw.Generator``, or the default one) and then moved to the backend, so
NumPy and cuPyNumeric see the same numbers. The samples carry no gradient (torch's
sampling gradients are zero or undefined; use ``mean + std * tw.randn(...)`` to
reparameterize).
"""
from __future__ import annotations

from tensorweaver import backend, dtypes
from tensorweaver import random as _random
from tensorweaver.ops import inplace as _inp
from tensorweaver.tensor import Tensor, _make_tensor

_np = backend.host_numpy()


def _host(t):
    return backend.to_host(t.data if isinstance(t, Tensor) else t)


def _wrap(host, dtype, requires_grad=False):
    return _make_tensor(backend.from_host(_np.asarray(host), dtype), False, None).requires_grad_(requires_grad) \
        if requires_grad else _make_tensor(backend.from_host(_np.asarray(host), dtype), False, None)


def _float_of(*values):
    for v in values:
        if isinstance(v, Tensor):
            return v.dtype
    return dtypes.get_default_dtype()


def randperm(n, *, generator=None, dtype=None, requires_grad=False, device=None, out=None):
    """A random permutation of ``0 .. n-1`` (int64 by default)."""
    from tensorweaver.ops.pointwise import write_out
    dtype = dtypes.int64 if dtype is None else dtypes.as_dtype(dtype)
    perm = _random.rng(generator).permutation(int(n))
    return write_out(_wrap(perm, dtype, requires_grad), out)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, out=None, requires_grad=False,
           device=None):
    """Samples of N(mean, std^2): ``mean``/``std`` tensors (broadcast) or numbers with ``size``."""
    from tensorweaver.ops.pointwise import write_out
    m, s = (_host(v) if isinstance(v, Tensor) else v for v in (mean, std))
    if size is None and not isinstance(mean, Tensor) and not isinstance(std, Tensor):
        raise TypeError("normal(): with number mean and std, give size=, e.g. tw.normal(0.0, 1.0, size=(3,))")
    if isinstance(std, Tensor) and (_np.asarray(s) < 0).any() or not isinstance(std, Tensor) and std < 0:
        raise RuntimeError("normal expects all elements of std >= 0.0")
    shape = tuple(size) if size is not None else _np.broadcast_shapes(_np.shape(m), _np.shape(s))
    d = dtypes.as_dtype(dtype) if dtype is not None else _float_of(mean, std)
    z = _random.rng(generator).standard_normal(shape)
    return write_out(_wrap(m + s * z, d, requires_grad), out)


def poisson(input, generator=None):  # noqa: A002
    """Samples of Poisson(rate) for each rate in ``input`` (same shape and dtype)."""
    rates = _host(input)
    if (rates < 0).any():
        raise RuntimeError("poisson: the rates (input) must be >= 0")
    return _wrap(_random.rng(generator).poisson(rates), input.dtype)


def bernoulli(input, p=None, *, generator=None, out=None):  # noqa: A002
    """0/1 samples with success probability ``input`` (or the number ``p``), input's dtype."""
    from tensorweaver.ops.pointwise import write_out
    probs = _np.full(input.shape, p) if p is not None else _host(input)
    if ((probs < 0) | (probs > 1)).any():
        raise RuntimeError("bernoulli: probabilities must be in [0, 1]")
    draw = _random.rng(generator).random(input.shape) < probs
    return write_out(_wrap(draw, input.dtype), out)


def multinomial(input, num_samples, replacement=False, *, generator=None, out=None):  # noqa: A002
    """Indices drawn by the (unnormalized) row weights of ``input``: (C,) -> (num_samples,),
    (N, C) -> (N, num_samples); without replacement each index appears at most once."""
    from tensorweaver.ops.pointwise import write_out
    w = _host(input).astype(_np.float64)
    if w.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got {w.ndim}")
    rows = w.reshape(-1, w.shape[-1])
    if (rows < 0).any() or not _np.isfinite(rows).all():
        raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` or element < 0")
    rng = _random.rng(generator)
    picks = []
    for row in rows:
        if row.sum() <= 0:
            raise RuntimeError("multinomial: invalid multinomial distribution (sum of probabilities <= 0)")
        if not replacement and num_samples > (row > 0).sum():
            raise RuntimeError("multinomial: cannot sample n_sample > prob_dist.size(-1) samples without "
                               "replacement (more samples than categories with nonzero weight)")
        picks.append(rng.choice(row.size, size=num_samples, replace=replacement, p=row / row.sum()))
    result = _np.stack(picks).reshape(w.shape[:-1] + (num_samples,))
    return write_out(_wrap(result, dtypes.int64), out)


# ---------------------------------------------------------------- in-place random fills
def _fill(t, name, draw):
    if t.dtype.kind != "f" and name not in ("random_", "bernoulli_"):
        raise RuntimeError(f"{name} expects a floating point tensor, got {t.dtype}")
    return _inp._run(t, name, lambda x: _inp._fill_from_host(x, draw), cast_any=True)


def normal_(self, mean=0.0, std=1.0, *, generator=None):
    return _inp.normal_(self, mean, std, generator)


def uniform_(self, a=0.0, b=1.0, *, generator=None):
    return _inp.uniform_(self, a, b, generator)


def bernoulli_(self, p=0.5, *, generator=None):
    probs = _host(p) if isinstance(p, Tensor) else p
    return _fill(self, "bernoulli_", _random.rng(generator).random(self.shape) < probs)


def exponential_(self, lambd=1.0, *, generator=None):
    return _fill(self, "exponential_", _random.rng(generator).exponential(1.0 / lambd, self.shape))


def geometric_(self, p, *, generator=None):
    return _fill(self, "geometric_", _random.rng(generator).geometric(p, self.shape))


def log_normal_(self, mean=1.0, std=2.0, *, generator=None):
    return _fill(self, "log_normal_", _random.rng(generator).lognormal(mean, std, self.shape))


def cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
    return _fill(self, "cauchy_", median + sigma * _random.rng(generator).standard_cauchy(self.shape))


def random_(self, from_=0, to=None, *, generator=None):
    """Integers in ``[from, to)``; ``random_(to)`` is ``[0, to)``; no bounds: ``[0, 2**mantissa]``
    for floats (torch's rule) and the dtype's range for integers."""
    if to is None and from_ != 0:
        from_, to = 0, from_
    if to is None:
        to = (2 ** (_np.finfo(self.dtype).nmant + 1) + 1) if self.dtype.kind == "f" else \
            (2 if self.dtype.kind == "b" else int(_np.iinfo(self.dtype).max) + 1)
    return _fill(self, "random_", _random.rng(generator).integers(from_, to, self.shape))


METHODS = ("bernoulli multinomial normal_ uniform_ bernoulli_ exponential_ geometric_ log_normal_ "
           "cauchy_ random_").split()
