"""Parity cases for the indexing/joining ops of ops/joining.py: one case per op. Imported at the
end of ``parity_cases.py`` (which owns the registry)."""
from __future__ import annotations

import tensorweaver as tw
from parity_cases import case, forward_backward, randn

OPS = {  # op: fn of one (4, 5) input
    "index_select": lambda x: tw.index_select(x, 1, tw.tensor([4, 0, 4, 2])),
    "masked_select": lambda x: tw.masked_select(x, x.detach() > 0),
    "narrow": lambda x: tw.narrow(x, 1, -3, 2), "take": lambda x: tw.take(x, tw.tensor([[0, 19], [7, 7]])),
    "take_along_dim": lambda x: tw.take_along_dim(x, tw.argsort(x.detach(), 1), 1),
    "unbind": lambda x: tw.unbind(x, 1)[3] * tw.unbind(x)[0][:4],
    "movedim": lambda x: tw.movedim(x.reshape(2, 2, 5), (0, 2), (1, 0)), "moveaxis": lambda x: tw.moveaxis(x, 0, 1),
    "swapaxes": lambda x: tw.swapaxes(x, 0, 1), "swapdims": lambda x: tw.swapdims(x, 1, 0),
    "hstack": lambda x: tw.hstack([x, x[:, :2]]), "vstack": lambda x: tw.vstack([x[0], x]),
    "row_stack": lambda x: tw.row_stack([x, x]), "dstack": lambda x: tw.dstack([x, x * 2]),
    "column_stack": lambda x: tw.column_stack([x[:, 0], x]), "tile": lambda x: tw.tile(x, (2, 1, 2)),
    "repeat": lambda x: x.repeat(1, 2, 1),
    "select": lambda x: tw.select(x, 1, -2), "tensor_split": lambda x: tw.tensor_split(x, 3, 1)[1],
    "hsplit": lambda x: tw.hsplit(x, [1, 3])[2], "vsplit": lambda x: tw.vsplit(x, 2)[1],
    "dsplit": lambda x: tw.dsplit(x.reshape(2, 2, 5), [2])[1], "ravel": tw.ravel,
    "unflatten": lambda x: tw.unflatten(x, 0, (2, 2)), "t": tw.t, "adjoint": tw.adjoint,
    "concat": lambda x: tw.concat([x, x * 3], 1),
}


def _case(op, fn):
    @case(f"joining.{op}")
    def run(dtype):
        return forward_backward(fn, randn(4, 5, dtype=dtype))


for _op, _fn in OPS.items():
    _case(_op, _fn)


@case("joining.nonzero")
def nonzero(dtype):
    x = tw.where(tw.rand(4, 5) < 0.5, 0.0, tw.randn(4, 5, dtype=dtype))
    return {"nonzero": tw.nonzero(x).numpy(), "argwhere": tw.argwhere(x).numpy(),
            "rows": tw.where(x != 0)[0].numpy(), "cols": tw.nonzero(x, as_tuple=True)[1].numpy()}
