"""TensorWeaver: a small, readable autodiff engine with a PyTorch-compatible API.

    import tensorweaver as tw
    x = tw.randn(3, 4, requires_grad=True)
    y = (x @ x.T).relu().sum()
    y.backward()          # x.grad now holds dy/dx

The array library behind it (NumPy or cuPyNumeric) is picked once per process
from ``TENSORWEAVER_BACKEND``; see ``tensorweaver.backend``.
"""
# The labs' engine track: TENSORWEAVER_STUDENT_ENGINE=DIR loads a few modules from a student's
# files (see _student_engine.py); first, before any of them is imported. Unset: does nothing.
from tensorweaver import _student_engine
_student_engine.install_from_env()
from tensorweaver import backend  # noqa: E402
from tensorweaver.dtypes import (  # noqa: F401
    bool, double, float, float16, float32, float64, get_default_dtype, half, int, int8, int16,
    int32, int64, long, set_default_dtype, short, uint8,
)
from tensorweaver.tensor import Tensor
from tensorweaver.random import (  # noqa: E402  (more ops: random sampling with tw.Generator)
    Generator, default_generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state,
)
from tensorweaver.ops.sampling import bernoulli, multinomial, normal, poisson, randperm  # noqa: E402
from tensorweaver.autograd import (
    Function, detect_anomaly, enable_grad, gradcheck, is_grad_enabled, no_grad, set_grad_enabled,
)
from tensorweaver.ops.creation import (
    arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, linspace, ones,
    ones_like, rand, rand_like, randint, randint_like, randn, randn_like, tensor, zeros, zeros_like,
)
from tensorweaver.ops.elementwise import (
    abs, add, clamp, cos, div, eq, exp, ge, gelu, gt, isfinite, isnan, le, leaky_relu, log,
    logical_and, logical_not, logical_or, lt, masked_fill, maximum, minimum, mul, ne, neg, pow,
    relu, sigmoid, sign, sin, sqrt, sub, tanh, where,
)
from tensorweaver.ops.pointwise import (  # noqa: E402  (more ops: PyTorch's Pointwise Ops)
    absolute, acos, acosh, addcdiv, addcmul, arccos, arccosh, arcsin, arcsinh, arctan, arctan2,
    arctanh, asin, asinh, atan, atan2, atanh, ceil, clamp_min, clamp_max, cosh, divide, erf, erfc,
    erfinv, exp2, expm1, fix, float_power, floor, fmax, fmin, fmod, frac, hypot, lerp, log10, log1p,
    log2, logaddexp, logaddexp2, multiply, nan_to_num, negative, positive, reciprocal, remainder,
    round, rsqrt, sign, sinh, square, subtract, tan, true_divide, trunc, xlogy,
)
from tensorweaver.ops.reduction import (
    all, amax, amin, any, argmax, argmin, log_softmax, logsumexp, max, mean, min, softmax, std,
    sum, var,
)
from tensorweaver.ops.shape import (
    broadcast_to, cat, chunk, concatenate, expand, flatten, permute, reshape, split, squeeze,
    stack, transpose, tril, triu, unsqueeze,
)
from tensorweaver.ops.linalg import matmul
from tensorweaver.ops.indexing import gather, getitem, index_add, scatter, scatter_add
from tensorweaver.ops.cumulative import (  # noqa: E402  (more ops: products and running reductions)
    cummax, cummin, cumprod, cumsum, logcumsumexp, prod,
)
from tensorweaver.ops.statistics import (  # noqa: E402  (more ops: norms, NaN-ignoring and order statistics)
    aminmax, count_nonzero, dist, median, mode, nanmean, nanmedian, nanquantile, nansum, norm,
    quantile, std_mean, var_mean,
)
from tensorweaver.ops.comparison import (  # noqa: E402  (more ops: PyTorch's Comparison Ops; eq ... take out=)
    allclose, argsort, eq, equal, ge, greater, greater_equal, gt, isclose, isin, isinf, isneginf,
    isposinf, isreal, kthvalue, le, less, less_equal, lt, msort, ne, not_equal, sort, topk,
)
from tensorweaver.ops.other_ops import (  # noqa: E402  (more ops: PyTorch's Other Operations)
    atleast_1d, atleast_2d, atleast_3d, bincount, broadcast_shapes, broadcast_tensors, bucketize,
    cartesian_prod, clone, combinations, diag, diag_embed, diagflat, diagonal, diff, flip, fliplr,
    flipud, histc, meshgrid, repeat_interleave, roll, rot90, searchsorted, trace, tril_indices,
    triu_indices,
)
from tensorweaver.ops.linalg_more import (  # noqa: E402  (more ops: products, einsum, cdist)
    addmm, addmv, baddbmm, bmm, cdist, cross, dot, einsum, ger, kron, mv, outer, tensordot, vdot,
)
from tensorweaver.ops.joining import (  # noqa: E402  (more ops: Indexing, Slicing, Joining; where(cond))
    adjoint, argwhere, column_stack, concat, dsplit, dstack, hsplit, hstack, index_select,
    masked_select, moveaxis, movedim, narrow, nonzero, ravel, row_stack, select, swapaxes, swapdims,
    t, take, take_along_dim, tensor_split, tile, unbind, unflatten, vsplit, vstack, where,
)
from tensorweaver.ops.joining import (  # noqa: E402  (more ops: strided reads, unravel, *_scatter)
    as_strided, diagonal_scatter, narrow_copy, select_scatter, slice_scatter, unravel_index,
)
from tensorweaver.ops.scattering import index_copy, index_reduce, scatter_reduce  # noqa: E402
from tensorweaver.ops.unique import unique, unique_consecutive  # noqa: E402
from tensorweaver.ops.other_ops import (  # noqa: E402  (more ops: integers, covariance, histograms)
    block_diag, corrcoef, cov, gcd, heaviside, histogram, histogramdd, lcm, renorm, vander,
)
from tensorweaver.ops.creation import (  # noqa: E402  (more factories)
    asarray, empty_strided, from_dlpack, from_file, frombuffer, logspace, range,
)

from tensorweaver.ops.bitwise import (  # noqa: E402  (more ops: bitwise and logical)
    bitwise_and, bitwise_left_shift, bitwise_not, bitwise_or, bitwise_right_shift, bitwise_xor,
    logical_xor,
)
from tensorweaver.ops.pointwise_more import (  # noqa: E402  (more ops: copysign, frexp, logit, gradient, ...)
    copysign, deg2rad, floor_divide, frexp, gradient, ldexp, logit, nextafter, rad2deg, signbit, sinc,
)
from tensorweaver.ops.pointwise_special import (  # noqa: E402  (more ops: gamma family, i0, igamma)
    digamma, i0, igamma, igammac, lgamma, mvlgamma, polygamma,
)
from tensorweaver._tensor_utils import (  # noqa: E402  (PyTorch's Tensors section)
    get_default_device, is_floating_point, is_nonzero, is_tensor, numel, set_default_device,
    set_flush_denormal, set_printoptions,
)

clip = clamp
mm = matmul
__version__ = "0.1.0"

# The training stack: layers and losses, optimizers, data loading, checkpoints.
from tensorweaver import nn, optim, utils  # noqa: E402
from tensorweaver.serialization import load, save  # noqa: E402

# Devices as torch code writes them: tw.device, tw.cuda, tw.backends, tw.accelerator.
from tensorweaver._device import device  # noqa: E402
from tensorweaver import accelerator, backends, cuda  # noqa: E402


def __getattr__(name):
    """``tw.onnx`` on first use, as ``torch.onnx``: ``import tensorweaver`` does not import
    the ``onnx`` package (it is optional, and slow to import)."""
    if name == "onnx":
        import importlib
        return importlib.import_module("tensorweaver.onnx")
    raise AttributeError(f"module 'tensorweaver' has no attribute {name!r}")
