"""Parity cases for PyTorch's Other Operations (ops/other_ops.py, ops/linalg_more.py): one case
per op. Imported at the end of ``parity_cases.py`` (which owns the registry)."""
from __future__ import annotations

import tensorweaver as tw
from parity_cases import case, forward_backward, randn

UNARY = {  # op: (fn of one (4, 5) input)
    "flip": lambda x: tw.flip(x, (0, 1)), "fliplr": tw.fliplr, "flipud": tw.flipud,
    "roll": lambda x: tw.roll(x, (1, -2), (0, 1)), "rot90": lambda x: tw.rot90(x, 1),
    "diff": lambda x: tw.diff(x, 2, dim=1, prepend=x[:, :1] * 2), "diagonal": lambda x: tw.diagonal(x, 1),
    "trace": tw.trace, "diag": lambda x: tw.diag(tw.diag(x), -1), "diag_embed": lambda x: tw.diag_embed(x, 1),
    "kron": lambda x: tw.kron(x, x[:2, :3]), "outer": lambda x: tw.outer(x[0], x[1]),
    "dot": lambda x: tw.dot(x[0], x[1]), "mv": lambda x: tw.mv(x, x[0]),
    "bmm": lambda x: tw.bmm(x.reshape(2, 2, 5), x.reshape(2, 5, 2)),
    "addmm": lambda x: tw.addmm(x[0], x.T, x, beta=0.5, alpha=2),
    "addmv": lambda x: tw.addmv(x[:, 0], x, x[0]),
    "baddbmm": lambda x: tw.baddbmm(x[:2, :2], x.reshape(2, 2, 5), x.reshape(2, 5, 2), beta=2),
    "tensordot": lambda x: tw.tensordot(x.reshape(2, 2, 5), x.reshape(5, 4), dims=1),
    "cross": lambda x: tw.cross(x[:, :3], x[:, 2:], dim=1),
    "cdist": lambda x: tw.cdist(x, x[:3] * 0.5), "cdist_p1": lambda x: tw.cdist(x, x[:3] * 0.5, p=1.0),
    "einsum": lambda x: tw.einsum("ij,kj->ik", x, x * x),
    "meshgrid": lambda x: tw.meshgrid(x[0], x[1], indexing="xy")[0] * tw.meshgrid(x[0], x[1])[1].T,
    "cartesian_prod": lambda x: tw.cartesian_prod(x[0], x[1, :2]),
    "combinations": lambda x: tw.combinations(x[0], 3), "repeat_interleave": lambda x: tw.repeat_interleave(x, 2, dim=1),
    "diagflat": lambda x: tw.diagflat(x[:2], 1), "atleast_3d": lambda x: tw.atleast_3d(x) * tw.atleast_2d(x[0]).unsqueeze(-1),
    "broadcast_tensors": lambda x: tw.broadcast_tensors(x[:, :1], x[0])[0] * tw.atleast_1d(x[0, 0]),
    "clone": tw.clone,
}


def _case(op, fn):
    @case(f"other.{op}")
    def run(dtype):
        return forward_backward(fn, randn(4, 5, dtype=dtype))


for _op, _fn in UNARY.items():
    _case(_op, _fn)


@case("other.counting")
def counting(dtype):
    x = tw.randn(40, dtype=dtype)
    ints = tw.randint(0, 7, (30,))
    seq = tw.sort(tw.randn(8, dtype=dtype)).values
    return {"bincount": tw.bincount(ints).numpy(), "bincount_w": tw.bincount(ints, tw.rand(30, dtype=dtype)).numpy(),
            "histc": tw.histc(x, 6, -2, 2).numpy(), "histc_auto": tw.histc(x, 5).numpy(),
            "searchsorted": tw.searchsorted(seq, x).numpy(), "right": tw.searchsorted(seq, x, right=True).numpy(),
            "bucketize": tw.bucketize(x, seq).numpy(), "tril": tw.tril_indices(4, 5, 1).numpy(),
            "triu": tw.triu_indices(5, 3, -1).numpy(), "repeat": tw.repeat_interleave(tw.tensor([1, 0, 3])).numpy()}
