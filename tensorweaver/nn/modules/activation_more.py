"""More activation layers: ``ELU``, ``SELU``, ``CELU``, ``Softplus``, ``Softsign``, ``Hardtanh``,
``ReLU6``, ``Hardswish``, ``Hardsigmoid``, ``Mish``, ``LogSigmoid``, ``Threshold``, ``GLU``,
``PReLU`` (the first ones are in ``activation.py``). Shape: any input, output the same
(``GLU`` halves ``dim``)."""
from __future__ import annotations

from tensorweaver.nn import functional as F
from tensorweaver.nn import init
from tensorweaver.nn.modules._factory import empty_parameter, resolve_dtype
from tensorweaver.nn.modules.module import Module


class ELU(Module):
    r"""``x`` if ``x > 0``, else :math:`\alpha (\exp(x) - 1)`."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class CELU(Module):
    r""":math:`\max(0, x) + \min(0, \alpha (\exp(x / \alpha) - 1))`."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return F.celu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class SELU(Module):
    r""":math:`\text{scale} \cdot \text{ELU}(x, \alpha)` with the self-normalizing constants."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.selu(input, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Softplus(Module):
    r""":math:`\frac{1}{\beta} \log(1 + \exp(\beta x))`, linear where :math:`\beta x > \text{threshold}`."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softsign(Module):
    r""":math:`\frac{x}{1 + |x|}`."""

    def forward(self, input):
        return F.softsign(input)


class Hardtanh(Module):
    """``clamp(x, min_val, max_val)``."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__()
        if max_val <= min_val:
            raise ValueError(f"Hardtanh: max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class ReLU6(Hardtanh):
    """``min(max(0, x), 6)``."""

    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Hardswish(Module):
    r""":math:`x \cdot \text{ReLU6}(x + 3) / 6`."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.hardswish(input, self.inplace)


class Hardsigmoid(Module):
    r""":math:`\text{ReLU6}(x + 3) / 6`."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.hardsigmoid(input, self.inplace)


class Mish(Module):
    r""":math:`x \tanh(\text{softplus}(x))`."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.mish(input, self.inplace)


class LogSigmoid(Module):
    r""":math:`\log \frac{1}{1 + \exp(-x)}`."""

    def forward(self, input):
        return F.logsigmoid(input)


class Threshold(Module):
    """``x`` where ``x > threshold``, else ``value``."""

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input):
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + (", inplace=True" if self.inplace else "")


class GLU(Module):
    r"""Gated linear unit :math:`a \otimes \sigma(b)`, ``a`` and ``b`` the halves of the input along ``dim``.

    Shape: :math:`(*, 2N, *)` -> :math:`(*, N, *)`.
    """

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class PReLU(Module):
    r"""``x`` if ``x >= 0``, else ``a * x`` with a learnable slope ``a``.

    Args:
        num_parameters: 1 (one slope) or the number of channels (dim 1 of the input). Default: 1
        init: the initial value of the slope(s). Default: 0.25

    Attributes:
        weight: shape ``(num_parameters,)``.
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        self.weight = empty_parameter((num_parameters,), resolve_dtype(dtype, device))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.constant_(self.weight, self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
