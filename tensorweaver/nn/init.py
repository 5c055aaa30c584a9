"""Weight initialisation, as ``torch.nn.init``.

Every function fills ``tensor`` in place (its ``.data``, under ``no_grad``) and
returns it. Random values are drawn on the host from the seeded generator
(``tensorweaver.random``), so one seed gives identical weights on every backend.
"""
from __future__ import annotations

import math
import warnings

from tensorweaver.ops.inplace import bump_version
from tensorweaver import backend
from tensorweaver import random as _random
from tensorweaver.autograd.grad_mode import no_grad


def _fill(tensor, host_values):
    with no_grad():
        tensor.data[...] = backend.from_host(host_values)
    bump_version(tensor)
    return tensor


def _empty(tensor) -> bool:
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for ``nonlinearity`` (torch's table)."""
    linear_fns = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d")
    ### BEGIN SOLUTION
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    ### END SOLUTION
    raise ValueError(f"Unsupported nonlinearity {nonlinearity!r}; use one of linear, conv2d, sigmoid, tanh, "
                     "relu, leaky_relu, selu")


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight shaped (out, in, *kernel)."""
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions "
                         f"(got shape {tensor.shape})")
    ### BEGIN SOLUTION
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive
    ### END SOLUTION


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a: float = 0.0, b: float = 1.0):
    """Fill with U(a, b)."""
    values = _random.generator().uniform(a, b, size=tensor.shape)
    return _fill(tensor, values.astype(tensor.dtype))


def normal_(tensor, mean: float = 0.0, std: float = 1.0):
    """Fill with N(mean, std^2)."""
    values = _random.generator().normal(mean, std, size=tensor.shape)
    return _fill(tensor, values.astype(tensor.dtype))


def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0):
    """Fill with N(mean, std^2) restricted to [a, b] (redrawing values outside)."""
    rng = _random.generator()
    values = rng.normal(mean, std, size=tensor.shape)
    outside = (values < a) | (values > b)
    while outside.any():
        values[outside] = rng.normal(mean, std, size=int(outside.sum()))
        outside = (values < a) | (values > b)
    return _fill(tensor, values.astype(tensor.dtype))


def constant_(tensor, val: float):
    with no_grad():
        tensor.data[...] = val
    bump_version(tensor)
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0)


def ones_(tensor):
    return constant_(tensor, 1)


def xavier_uniform_(tensor, gain: float = 1.0):
    """Glorot uniform: U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``."""
    if _empty(tensor):
        return tensor
    ### BEGIN SOLUTION
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)
    ### END SOLUTION


def xavier_normal_(tensor, gain: float = 1.0):
    """Glorot normal: N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    if _empty(tensor):
        return tensor
    ### BEGIN SOLUTION
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)))
    ### END SOLUTION


def kaiming_uniform_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"):
    """He uniform: U(-bound, bound) with ``bound = gain * sqrt(3 / fan)``.

    ``nn.Linear`` and ``nn.Conv2d`` use ``a=sqrt(5)``, which gives
    ``bound = 1 / sqrt(fan_in)``.
    """
    if _empty(tensor):
        return tensor
    ### BEGIN SOLUTION
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)
    ### END SOLUTION


def kaiming_normal_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"):
    """He normal: N(0, std^2) with ``std = gain / sqrt(fan)``."""
    if _empty(tensor):
        return tensor
    ### BEGIN SOLUTION
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std)
    ### END SOLUTION
