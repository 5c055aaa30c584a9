"""``Parameter``: a Tensor that a Module registers as learnable when assigned to it."""
from __future__ import annotations

from tensorweaver import backend, dtypes
from tensorweaver.tensor import Tensor


class Parameter(Tensor):
    r"""A leaf Tensor that is a module parameter (``requires_grad=True`` by default).

    Assigning a ``Parameter`` as a Module attribute registers it: it then appears in
    ``parameters()`` and ``state_dict()``. Built from a Tensor, it shares that
    tensor's data (no copy), as in torch; anything else is copied.

    Args:
        data: a Tensor or array-like; default an empty float tensor.
        requires_grad: whether it receives ``.grad`` in ``backward()``. Default: True
    """

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = backend.xp.zeros((0,), dtype=dtypes.get_default_dtype())
        if isinstance(data, Tensor):
            data = data.data                     # share, like torch.nn.Parameter(t)
        elif not isinstance(data, backend.ndarray):
            data = Tensor(data).data
        self._init_leaf(data, requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        # copy.deepcopy(model): a new Parameter holding a copy of the data (and grad).
        import copy

        p = Parameter(self.data.copy(), requires_grad=self.requires_grad)
        memo[id(self)] = p
        p.grad = copy.deepcopy(self.grad, memo)
        return p
