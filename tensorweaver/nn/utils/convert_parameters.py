"""Flatten parameters into one vector and back (e.g. for line searches or analysis)."""
from __future__ import annotations

from tensorweaver.autograd.grad_mode import no_grad


def parameters_to_vector(parameters):
    """One 1-D tensor: every parameter flattened, in order (differentiable)."""
    from tensorweaver.ops.shape import cat

    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into ``parameters`` (in place, no grad)."""
    if vec.ndim != 1:
        raise TypeError(f"expected a 1-D vector, got shape {vec.shape}")
    offset = 0
    with no_grad():
        for p in parameters:
            n = p.numel()
            if offset + n > vec.shape[0]:
                raise ValueError(f"the vector has {vec.shape[0]} elements, fewer than the parameters need")
            p.data[...] = vec.data[offset:offset + n].reshape(p.shape)
            offset += n
    if offset != vec.shape[0]:
        raise ValueError(f"the vector has {vec.shape[0]} elements but the parameters have {offset}")
