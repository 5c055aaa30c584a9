"""PyTorch's products from *Other Operations* and *BLAS and LAPACK Operations*: ``dot``, ``mv``,
``bmm``, ``addmm``, ``addmv``, ``baddbmm``, ``outer``/``ger``, ``kron``, ``tensordot``, ``cross``,
``cdist`` and ``einsum``.

All but ``einsum`` are written from recorded ops (matmul, broadcasting products, reshape,
slicing, ``norm``), so their gradients and ONNX export come from those. ``einsum`` is one
Function whose gradient for each operand is again an einsum (of the output gradient with the
other operands), so first and higher-order gradients share one formula; ONNX has Einsum.

Shapes::

    dot(a (n), b (n)) -> ()            mv(m (n, k), v (k)) -> (n)
    bmm((b, n, k), (b, k, m)) -> (b, n, m)
    addmm(input, m1 (n, k), m2 (k, m)) -> beta * input + alpha * m1 @ m2   (n, m)
    outer(a (n), b (m)) -> (n, m)      kron(a (*a), b (*b)) -> (a_i * b_i ...)
    cdist(x1 (*, p, d), x2 (*, r, d)) -> (*, p, r)
"""
from __future__ import annotations

import numpy as _host_np   # host side only: shapes

from tensorweaver import backend
from tensorweaver.autograd.function import Function
from tensorweaver.ops import elementwise as ew
from tensorweaver.ops import shape as sh
from tensorweaver.ops.cumulative import _tensor
from tensorweaver.ops.linalg import matmul
from tensorweaver.ops.pointwise import write_out
from tensorweaver.ops.reduction import normalize_dims

xp = backend.xp


def _need(x, ndim, op, what):
    if x.ndim != ndim:
        raise RuntimeError(f"{op}: expected {what} ({ndim}-D), got a {x.ndim}-D tensor of shape {x.shape}")


def _same_dtype(a, b, op):
    if a.dtype != b.dtype:
        raise RuntimeError(f"{op}: expected both tensors to have the same dtype, got {a.dtype} and {b.dtype}; "
                           "convert one with .to(...)")


def dot(input, tensor, *, out=None):  # noqa: A002 (torch's names)
    """Inner product of two 1-D tensors of the same length."""
    a, b = _tensor(input), _tensor(tensor)
    _need(a, 1, "dot", "a vector")
    _need(b, 1, "dot", "a vector")
    _same_dtype(a, b, "dot")
    if a.shape != b.shape:
        raise RuntimeError(f"dot: the vectors have different lengths, {a.shape[0]} and {b.shape[0]}")
    return write_out(matmul(a, b), out)


vdot = dot     # real tensors only: no conjugation to do


def mv(input, vec, *, out=None):  # noqa: A002
    """Matrix times vector: ``(n, k) @ (k) -> (n)``."""
    m, v = _tensor(input), _tensor(vec)
    _need(m, 2, "mv", "a matrix")
    _need(v, 1, "mv", "a vector")
    return write_out(matmul(m, v), out)


def bmm(input, mat2, *, out=None):  # noqa: A002
    """Batched matrix product of two 3-D tensors with the same batch size (no broadcasting)."""
    a, b = _tensor(input), _tensor(mat2)
    _need(a, 3, "bmm", "a batch of matrices")
    _need(b, 3, "bmm", "a batch of matrices")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ, {a.shape[0]} and {b.shape[0]}")
    return write_out(matmul(a, b), out)


def _scaled_sum(input, product, beta, alpha):
    """``beta * input + alpha * product``; ``beta=0`` ignores ``input`` (NaNs included), as torch."""
    prod = product if alpha == 1 else product * alpha
    if beta == 0:
        return prod
    return ew.add(_tensor(input) if beta == 1 else ew.mul(_tensor(input), beta), prod)


def addmm(input, mat1, mat2, *, beta=1, alpha=1, out=None):  # noqa: A002
    """``beta * input + alpha * (mat1 @ mat2)``, ``input`` broadcast to ``(n, m)``."""
    m1, m2 = _tensor(mat1), _tensor(mat2)
    _need(m1, 2, "addmm", "a matrix")
    _need(m2, 2, "addmm", "a matrix")
    return write_out(_scaled_sum(input, matmul(m1, m2), beta, alpha), out)


def addmv(input, mat, vec, *, beta=1, alpha=1, out=None):  # noqa: A002
    """``beta * input + alpha * (mat @ vec)``."""
    return write_out(_scaled_sum(input, mv(mat, vec), beta, alpha), out)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):  # noqa: A002
    """``beta * input + alpha * bmm(batch1, batch2)``."""
    return write_out(_scaled_sum(input, bmm(batch1, batch2), beta, alpha), out)


def outer(input, vec2, *, out=None):  # noqa: A002
    """Outer product of two 1-D tensors: ``(n), (m) -> (n, m)``."""
    a, b = _tensor(input), _tensor(vec2)
    _need(a, 1, "outer", "a vector")
    _need(b, 1, "outer", "a vector")
    return write_out(a.reshape(-1, 1) * b.reshape(1, -1), out)


ger = outer


def kron(input, other, *, out=None):  # noqa: A002
    """Kronecker product: block (i, j, ...) of the result is ``input[i, j, ...] * other``."""
    a, b = _tensor(input), _tensor(other)
    nd = max(a.ndim, b.ndim)
    a = a.reshape((1,) * (nd - a.ndim) + a.shape)
    b = b.reshape((1,) * (nd - b.ndim) + b.shape)
    # Interleave the dims: a as (a0, 1, a1, 1, ...), b as (1, b0, 1, b1, ...).
    pa = sum(((n, 1) for n in a.shape), ())
    pb = sum(((1, n) for n in b.shape), ())
    prod = a.reshape(pa) * b.reshape(pb)
    return write_out(prod.reshape(tuple(x * y for x, y in zip(a.shape, b.shape))), out)


def tensordot(a, b, dims=2, out=None):
    """Contract ``a``'s last ``dims`` dims with ``b``'s first ``dims`` (an int), or the listed
    dims (``([a dims], [b dims])``): permute, reshape to matrices, matmul."""
    a, b = _tensor(a), _tensor(b)
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot: dims must be non-negative, got {dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
        da = [d % a.ndim for d in da]
        db = [d % b.ndim for d in db]
    if len(da) != len(db) or any(a.shape[i] != b.shape[j] for i, j in zip(da, db)):
        raise RuntimeError(f"tensordot: the contracted dims of a {a.shape} ({da}) and b {b.shape} ({db}) "
                           "must have the same sizes")
    free_a = [i for i in range(a.ndim) if i not in da]
    free_b = [j for j in range(b.ndim) if j not in db]
    k = 1
    for i in da:
        k *= a.shape[i]
    am = a.permute(tuple(free_a + da)).reshape(-1, k)
    bm = b.permute(tuple(db + free_b)).reshape(k, -1)
    shape = tuple(a.shape[i] for i in free_a) + tuple(b.shape[j] for j in free_b)
    return write_out(matmul(am, bm).reshape(shape), out)


def cross(input, other, dim=None, *, out=None):  # noqa: A002
    """Cross product of 3-vectors along ``dim`` (the first dim of size 3 if ``None``, as torch's
    deprecated default), with broadcasting."""
    a, b = ew.promote(_tensor(input), _tensor(other))
    shape = _host_np.broadcast_shapes(a.shape, b.shape)
    a, b = a.expand(*shape), b.expand(*shape)
    if dim is None:
        dims = [i for i, n in enumerate(shape) if n == 3]
        if not dims:
            raise RuntimeError(f"cross: no dimension of size 3 in input of shape {tuple(shape)}")
        d = dims[0]
    else:
        (d,) = normalize_dims(dim, len(shape), "cross")
    if shape[d] != 3:
        raise RuntimeError(f"cross: dimension {dim} does not have size 3 (shape {tuple(shape)})")

    def part(x, i):
        return x[tuple(slice(i, i + 1) if j == d else slice(None) for j in range(x.ndim))]

    a0, a1, a2 = (part(a, i) for i in range(3))
    b0, b1, b2 = (part(b, i) for i in range(3))
    return write_out(sh.cat([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], d), out)


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """Pairwise p-norm distances between the rows of ``x1`` ``(*, P, M)`` and ``x2`` ``(*, R, M)``:
    ``(*, P, R)``; the gradient at distance 0 is 0, as torch."""
    from tensorweaver.ops.statistics import norm
    a, b = _tensor(x1), _tensor(x2)
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-1]:
        raise RuntimeError(f"cdist: x1 {a.shape} and x2 {b.shape} must be (*, P, M) and (*, R, M) "
                           "with the same M")
    if p < 0:
        raise RuntimeError(f"cdist: p must be non-negative, got {p}")
    diff = a.unsqueeze(-2) - b.unsqueeze(-3)          # (*, P, R, M)
    return norm(diff, p, dim=-1)


# ---------------------------------------------------------------- einsum
def _parse(equation, operands):
    eq = equation.replace(" ", "")
    if "..." in eq:
        eq, operands = _spell_out_ellipsis(eq, operands)
    if "->" in eq:
        lhs, rhs = eq.split("->")
    else:
        lhs = eq
        letters = lhs.replace(",", "")
        rhs = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    subs = lhs.split(",")
    if len(subs) != len(operands):
        raise ValueError(f"einsum: the equation names {len(subs)} operands but {len(operands)} were given")
    for s, t in zip(subs, operands):
        if len(s) != t.ndim:
            raise ValueError(f"einsum: operand subscripts {s!r} name {len(s)} dims but the operand has {t.ndim}")
    return subs, rhs, operands


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _spell_out_ellipsis(eq, operands):
    """Rewrite ``...`` as letters the equation does not use, as torch/NumPy read it: each
    operand's ``...`` stands for its leading dims not named by letters, right-aligned and
    broadcast together. A size-1 broadcast dim is squeezed from its operand (so the letter
    is absent there, which is broadcasting in einsum). The output gets the ``...`` dims where
    ``->`` puts them, first when there is no ``->``, and they are summed when ``->`` omits them.
    Returns the equation with letters only and the (possibly reshaped) operands."""
    lhs, arrow, rhs = eq.partition("->")
    subs = lhs.split(",")
    if len(subs) != len(operands):
        raise ValueError(f"einsum: the equation names {len(subs)} operands but {len(operands)} were given")
    if any(s.count("...") > 1 for s in subs + [rhs]) or "." in eq.replace("...", ""):
        raise ValueError(f"einsum: '...' may appear at most once per operand (and '.' only as '...'): {eq!r}")
    counts = []
    for s, t in zip(subs, operands):
        named = len(s.replace("...", ""))
        k = t.ndim - named if "..." in s else 0
        if k < 0:
            raise ValueError(f"einsum: operand subscripts {s!r} name {named} dims but the operand has {t.ndim}")
        counts.append(k)
    free = [c for c in _LETTERS if c not in eq]
    n_ell = max(counts)
    if n_ell > len(free):
        raise ValueError(f"einsum: '...' covers {n_ell} dims, more than the {len(free)} unused letters")
    ell = free[:n_ell]
    sizes = [1] * n_ell
    for s, t, k in zip(subs, operands, counts):
        start = s.find("...")
        for j in range(k):
            n, pos = t.shape[start + j], n_ell - k + j
            if n != 1 and sizes[pos] not in (1, n):
                raise ValueError(f"einsum: the '...' dims of the operands {tuple(t.shape)} do not broadcast "
                                 f"(size {n} against {sizes[pos]})")
            sizes[pos] = max(sizes[pos], n) if n != 1 else sizes[pos]
    new_subs, new_ops = [], []
    for s, t, k in zip(subs, operands, counts):
        if "..." not in s:
            new_subs.append(s), new_ops.append(t)
            continue
        start = s.find("...")
        letters = ell[n_ell - k:]
        keep = [j for j in range(k) if not (t.shape[start + j] == 1 and sizes[n_ell - k + j] != 1)]
        if len(keep) != k:     # squeeze the size-1 dims that broadcast against a larger size
            shape = t.shape[:start] + tuple(t.shape[start + j] for j in keep) + t.shape[start + k:]
            t = t.reshape(shape)
        new_subs.append(s.replace("...", "".join(letters[j] for j in keep)))
        new_ops.append(t)
    if arrow:
        out = rhs.replace("...", "".join(ell))
    else:
        letters = lhs.replace(",", "").replace("...", "")
        out = "".join(ell) + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return ",".join(new_subs) + "->" + out, new_ops


class Einsum(Function):
    """``einsum`` of the operands. d out / d operand_i is the einsum of the output gradient with
    the other operands into operand_i's subscripts; a letter only operand_i has (summed away)
    comes back by broadcasting, and a repeated letter (a diagonal) by writing onto it."""

    def forward(self, *arrays, subs, rhs):
        self.subs, self.rhs = subs, rhs
        self.shapes = [a.shape for a in arrays]
        self.save_for_backward(*arrays)
        return xp.einsum(",".join(subs) + "->" + rhs, *arrays)

    def _grads(self, grad, operands, einsum, expand):
        grads = []
        for i, target in enumerate(self.subs):
            if not self.needs_input_grad[i]:
                grads.append(None)
                continue
            others = [(s, operands[j]) for j, s in enumerate(self.subs) if j != i]
            present = set(self.rhs).union(*(set(s) for s, _ in others))
            keep = "".join(c for c in dict.fromkeys(target) if c in present)
            g = einsum(",".join([self.rhs] + [s for s, _ in others]) + "->" + keep,
                       grad, *[o for _, o in others])
            grads.append(expand(g, keep, target, self.shapes[i]))
        return tuple(grads)

    def backward(self, grad):
        return self._grads(grad, self.saved_tensors, xp.einsum, _expand_array)

    def tensor_backward(self, grad, *operands):
        return self._grads(grad, operands, lambda eq, *ts: einsum(eq, *ts), _expand_tensor)


def _target_shape(keep, target, shape):
    sizes = dict(zip(target, shape))
    return [sizes[c] if c in keep else 1 for c in dict.fromkeys(target)], sizes


def _check_no_repeats(target):
    if len(set(target)) != len(target):
        raise NotImplementedError(f"einsum: the gradient of an operand with a repeated subscript ({target!r}, "
                                  "a diagonal) is not supported; take torch.diagonal first")


def _expand_array(g, keep, target, shape):
    _check_no_repeats(target)
    dims, _ = _target_shape(keep, target, shape)
    return xp.broadcast_to(g.reshape(dims), shape).copy()


def _expand_tensor(g, keep, target, shape):
    _check_no_repeats(target)
    dims, _ = _target_shape(keep, target, shape)
    g = g.reshape(tuple(dims))
    return g.expand(*shape) if tuple(g.shape) != tuple(shape) else g


def einsum(equation, *operands):
    """Einstein summation: ``einsum('ij,jk->ik', a, b)`` is ``a @ b``. Without ``->`` the
    output is the letters used once, sorted. ``...`` stands for the dims no letter names,
    broadcast across operands (``'...ij,...jk->...ik'`` is a batched matmul). Operands may
    also be passed as one list."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ts = [_tensor(t) for t in operands]
    subs, rhs, ts = _parse(equation, ts)
    for s, t in zip(subs, ts):
        if len(set(s)) != len(s) and t.requires_grad:
            _check_no_repeats(s)
    for t in ts[1:]:
        _same_dtype(ts[0], t, "einsum")
    return Einsum.apply(*ts, subs=tuple(subs), rhs=rhs)


# The Tensor methods these functions are.
METHODS = "dot vdot mv bmm addmm addmv baddbmm outer ger kron cross".split()
