"""More activations: ``elu``, ``selu``, ``celu``, ``softplus``, ``softsign``, ``hardtanh``,
``relu6``, ``hardswish``, ``hardsigmoid``, ``mish``, ``logsigmoid``, ``threshold``,
``prelu``, ``glu``.

Each keeps torch's signature; ``inplace=True`` writes the result into the input with
torch's in-place rules (``ops/inplace.py``).
"""
from __future__ import annotations

from tensorweaver.ops import activations as _act
from tensorweaver.ops import inplace as _inplace
from tensorweaver.ops.elementwise import sigmoid

# SELU's constants (Klambauer et al., 2017), as torch's.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _maybe_inplace(input, fn, inplace, name):
    return _inplace.unary_(input, fn, name) if inplace else fn(input)


def _float(input, op):
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got {input.dtype} (convert with .float())")
    return input


def elu(input, alpha=1.0, inplace=False):
    """``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``."""
    _float(input, "elu")
    return _maybe_inplace(input, lambda x: _act.ELU.apply(x, alpha, 1.0, 1.0), inplace, "elu_")


def selu(input, inplace=False):
    """``scale * elu(x, alpha)`` with the self-normalizing constants."""
    _float(input, "selu")
    return _maybe_inplace(input, lambda x: _act.ELU.apply(x, SELU_ALPHA, SELU_SCALE, 1.0), inplace, "selu_")


def celu(input, alpha=1.0, inplace=False):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    _float(input, "celu")
    if alpha == 0:
        raise ValueError("celu: ZeroDivisionError, alpha must not be 0")
    return _maybe_inplace(input, lambda x: _act.ELU.apply(x, alpha, 1.0, 1.0 / alpha), inplace, "celu_")


def softplus(input, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold``."""
    return _act.Softplus.apply(_float(input, "softplus"), beta, threshold)


def softsign(input):
    """``x / (1 + |x|)``."""
    return input / (input.abs() + 1)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """``clamp(x, min_val, max_val)``."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _maybe_inplace(input, lambda x: _act.Hardtanh.apply(x, min_val, max_val), inplace, "hardtanh_")


def relu6(input, inplace=False):
    """``min(max(0, x), 6)``."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardswish(input, inplace=False):
    """``x * relu6(x + 3) / 6``."""
    return _maybe_inplace(input, _act.Hardswish.apply, inplace, "hardswish_")


def hardsigmoid(input, inplace=False):
    """``relu6(x + 3) / 6``."""
    return _maybe_inplace(input, _act.Hardsigmoid.apply, inplace, "hardsigmoid_")


def mish(input, inplace=False):
    """``x * tanh(softplus(x))``."""
    return _maybe_inplace(input, _act.Mish.apply, inplace, "mish_")


def logsigmoid(input):
    """``log(sigmoid(x))``, computed without overflow."""
    return _act.LogSigmoid.apply(_float(input, "logsigmoid"))


def threshold(input, threshold, value, inplace=False):
    """``x`` where ``x > threshold``, else ``value``."""
    return _maybe_inplace(input, lambda x: _act.Threshold.apply(x, threshold, value), inplace, "threshold_")


def prelu(input, weight):
    """``x`` where ``x > 0``, else ``weight * x``. ``weight`` has one element, or one per
    channel (dim 1 of ``input``)."""
    if weight.ndim != 1:
        raise ValueError(f"prelu: weight must be 1-D (num_parameters,), got shape {weight.shape}")
    n = weight.shape[0]
    channels = input.shape[1] if input.ndim >= 2 else 1       # torch: inputs below 2-D have one channel
    if n != 1 and channels != n:
        raise ValueError(f"prelu: Mismatch of parameter numbers and input channel size. Found parameter "
                         f"numbers = {n} and channel size = {channels} (input shape {input.shape}); "
                         f"use num_parameters=1 or one per channel (dim 1)")
    return _act.PReLU.apply(input, weight)


def glu(input, dim=-1):
    """Gated linear unit: split ``input`` in halves ``a``, ``b`` along ``dim``; ``a * sigmoid(b)``."""
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    size = input.shape[dim]
    if size % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {dim % input.ndim} is size {size}")
    a, b = input.split(size // 2, dim=dim)
    return a * sigmoid(b)
