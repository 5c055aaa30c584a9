"""Special functions of PyTorch's Pointwise Ops: the gamma family (``lgamma``, ``digamma``,
``polygamma``, ``mvlgamma``), the Bessel function ``i0`` and the regularised incomplete
gamma functions ``igamma``/``igammac``.

The values come from ``backend.py`` (SciPy on NumPy; whole-array formulas on cuPyNumeric,
see ``tensorweaver/_special_functions.py``). The derivatives are the classical ones, and
each is again a function of this family, so gradients of every order exist::

    d lgamma = digamma,   d digamma = polygamma(1, .),   d polygamma(n, .) = polygamma(n + 1, .)
    d i0 = i1,            d igamma(a, x) / dx = x^(a-1) e^-x / Gamma(a) = -d igammac(a, x) / dx

As in torch, ``igamma``/``igammac`` have no derivative with respect to ``a`` (backward refuses
when ``a`` requires grad), and ``i0``'s gradient (``i1``) cannot be differentiated again here.
Shapes: ``(*)`` -> ``(*)``; the incomplete gammas broadcast their two inputs. Integer inputs
become the default float dtype.
"""
from __future__ import annotations

import math
from numbers import Integral

from tensorweaver import backend
from tensorweaver.autograd.function import Function
from tensorweaver.ops import elementwise as ew
from tensorweaver.ops import inplace as _inp
from tensorweaver.ops.elementwise import _float_input, promote, sum_to, unbroadcast
from tensorweaver.ops.pointwise import _float_operands, write_out
from tensorweaver.tensor import Tensor

xp = backend.xp


# ---------------------------------------------------------------- the gamma family
class Lgamma(Function):
    """``log |Gamma(a)|``; derivative ``digamma(a)``."""

    def forward(self, a):
        self.save_for_backward(a)
        return backend.lgamma(a)

    def backward(self, grad):
        (a,) = self.saved_tensors
        return grad * backend.digamma(a)

    def tensor_backward(self, grad, a):
        return grad * Polygamma.apply(a, 0)


class Polygamma(Function):
    """``psi^(n)(a)``, the ``n``-th derivative of digamma (``n = 0``: digamma); derivative
    ``psi^(n+1)(a)``."""

    def forward(self, a, n):
        self.n = n
        self.save_for_backward(a)
        return backend.polygamma(n, a)

    def backward(self, grad):
        (a,) = self.saved_tensors
        return grad * backend.polygamma(self.n + 1, a)

    def tensor_backward(self, grad, a):
        return grad * Polygamma.apply(a, self.n + 1)


def _check_order(n, op):
    if not isinstance(n, Integral) or isinstance(n, bool) or n < 0:
        raise ValueError(f"{op}: n must be a non-negative integer (the order of the derivative), "
                         f"got {n!r}")
    return int(n)


def lgamma(input, *, out=None):  # noqa: A002  (torch's argument name)
    """``log |Gamma(input)|`` (+inf at 0, -1, -2, ...)."""
    return write_out(Lgamma.apply(_float_input(input)), out)


def digamma(input, *, out=None):  # noqa: A002
    """``psi(input) = d/dx lgamma(x)`` (NaN at the negative integers, -inf at 0)."""
    return write_out(Polygamma.apply(_float_input(input), 0), out)


def polygamma(n, input, *, out=None):  # noqa: A002
    """The ``n``-th derivative of digamma at ``input`` (``n = 0`` is digamma)."""
    return write_out(Polygamma.apply(_float_input(input), _check_order(n, "polygamma")), out)


def mvlgamma(input, p, *, out=None):  # noqa: A002
    """The multivariate log-gamma function of dimension ``p``:
    ``p (p - 1) / 4 * log(pi) + sum_{i < p} lgamma(input - i / 2)``, shape ``(*)`` -> ``(*)``."""
    if not isinstance(p, Integral) or isinstance(p, bool) or p < 1:
        raise ValueError(f"mvlgamma: p must be a positive integer (the dimension), got {p!r}")
    x = _float_input(input)
    offsets = Tensor(xp.asarray(backend.host_numpy().arange(p, dtype=x.dtype) / 2.0))
    terms = lgamma(ew.sub(x.unsqueeze(-1), offsets))
    constant = p * (p - 1) / 4.0 * math.log(math.pi)
    return write_out(ew.add(terms.sum(-1), constant), out)


# ---------------------------------------------------------------- Bessel
class I0(Function):
    """The modified Bessel function of the first kind, order 0; derivative ``i1`` (array
    backward only: ``i1`` is not an op of its own here, so no higher orders)."""

    def forward(self, a):
        self.save_for_backward(a)
        return backend.i0(a)

    def backward(self, grad):
        (a,) = self.saved_tensors
        return grad * backend.i1(a)


def i0(input, *, out=None):  # noqa: A002
    """The modified Bessel function of the first kind, order 0."""
    return write_out(I0.apply(_float_input(input)), out)


# ---------------------------------------------------------------- incomplete gamma
class _IncompleteGamma:
    """Mixin of Igamma/Igammac: ``value(a, x)`` and the sign of d/dx."""

    def forward(self, a, x):
        self.shapes = (ew._shape_of(a), ew._shape_of(x))
        self.save_for_backward(a, x)
        return type(self).value(a, x)

    def _refuse_input_grad(self):
        if self.needs_input_grad[0]:
            name = type(self).__name__.lower()
            raise NotImplementedError(
                f"the derivative of {name} with respect to input (the shape parameter a) is not "
                f"implemented, as in torch; call {name} with input.detach() to differentiate with "
                "respect to other only")

    def backward(self, grad):
        self._refuse_input_grad()
        a, x = self.saved_tensors
        # d/dx P(a, x) = exp((a - 1) log x - x - lgamma(a)).
        density = xp.exp((a - 1) * xp.log(x) - x - backend.lgamma(a))
        return None, unbroadcast(grad * (type(self).sign * density), self.shapes[1])

    def tensor_backward(self, grad, a, x):
        self._refuse_input_grad()
        density = ew.exp(ew.sub(ew.sub(ew.mul(ew.sub(a, 1.0), ew.log(x)), x), Lgamma.apply(a)))
        return None, sum_to(grad * (density * type(self).sign), self.shapes[1])


class Igamma(_IncompleteGamma, Function):
    """The regularised lower incomplete gamma function ``P(a, x)``."""
    sign = 1.0
    value = staticmethod(lambda a, x: backend.gammainc(a, x))


class Igammac(_IncompleteGamma, Function):
    """The regularised upper incomplete gamma function ``Q(a, x) = 1 - P(a, x)``."""
    sign = -1.0
    value = staticmethod(lambda a, x: backend.gammaincc(a, x))


def _incomplete(cls, name):
    def op(input, other, *, out=None):  # noqa: A002
        a, x = promote(input, other)
        a, x = _float_operands(a, x)
        a, x = (v if isinstance(v, Tensor) else Tensor(xp.asarray(v, dtype=(x if v is a else a).dtype))
                for v in (a, x))
        return write_out(cls.apply(a, x), out)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = (f"``torch.{name}(input, other)``: the regularised {'lower' if cls is Igamma else 'upper'} "
                  "incomplete gamma function of shape ``input`` at ``other`` (broadcasting).")
    return op


igamma = _incomplete(Igamma, "igamma")
igammac = _incomplete(Igammac, "igammac")


# ---------------------------------------------------------------- Tensor methods
def _polygamma_method(self, n):
    """``x.polygamma(n)`` (the tensor first, as torch's method)."""
    return polygamma(n, self)


def lgamma_(self): return _inp.unary_(self, lgamma, "lgamma_")  # noqa: E704
def digamma_(self): return _inp.unary_(self, digamma, "digamma_")  # noqa: E704
def polygamma_(self, n): return _inp.unary_(self, lambda x: polygamma(n, x), "polygamma_")  # noqa: E704
def mvlgamma_(self, p): return _inp.unary_(self, lambda x: mvlgamma(x, p), "mvlgamma_")  # noqa: E704
def i0_(self): return _inp.unary_(self, i0, "i0_")  # noqa: E704
def igamma_(self, other): return _inp.binary_(self, other, igamma, "igamma_")  # noqa: E704
def igammac_(self, other): return _inp.binary_(self, other, igammac, "igammac_")  # noqa: E704


METHODS = ("lgamma digamma mvlgamma i0 igamma igammac lgamma_ digamma_ polygamma_ mvlgamma_ i0_ "
           "igamma_ igammac_").split()
#: Methods whose signature differs from the function's (torch: x.polygamma(n)).
RENAMED_METHODS = {"polygamma": _polygamma_method}
