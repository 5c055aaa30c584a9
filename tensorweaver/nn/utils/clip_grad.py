"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_``.

Both rescale ``.grad`` by replacing its data with a new array (the same values torch
produces in place), so no gradient buffer is ever written through an alias.
"""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.grad_mode import no_grad
from tensorweaver.tensor import Tensor, _make_tensor

xp = backend.xp


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False):
    """Scale the gradients of ``parameters`` so that their total ``norm_type``-norm (as if
    all were concatenated into one vector) is at most ``max_norm``.

    Returns the total norm before clipping, as a 0-d tensor. The scale is
    ``min(1, max_norm / (total + 1e-6))``, as in torch; ``norm_type`` may be ``inf``.
    """
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return _make_tensor(xp.asarray(0.0, dtype=xp.float32), False, None)
    with no_grad():
        if norm_type == float("inf"):
            norms = [xp.abs(g.data).max() for g in grads]
            total = xp.stack(norms).max()
        else:
            norms = [(xp.abs(g.data) ** norm_type).sum() ** (1.0 / norm_type) for g in grads]
            total = (xp.abs(xp.stack(norms)) ** norm_type).sum() ** (1.0 / norm_type)
        total = backend.as_array(total).astype(grads[0].dtype)
        if error_if_nonfinite and not bool(xp.isfinite(total)):
            raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                               "so it cannot be clipped. To disable this error and scale the gradients by the "
                               "non-finite norm anyway, set `error_if_nonfinite=False`")
        coef = xp.minimum(max_norm / (total + 1e-6), 1.0)
        for g in grads:
            g.data = g.data * coef.astype(g.dtype)
    return _make_tensor(total, False, None)


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient element of ``parameters`` to ``[-clip_value, clip_value]``."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        g.data = xp.clip(g.data, -clip_value, clip_value)
