"""Symbolic functions, one module per op family (mirroring ``tensorweaver/ops``).

Importing this package registers them all (``tensorweaver.onnx.registry``).
"""
from tensorweaver.onnx.symbolic import (  # noqa: F401
    conv, custom, dropout, elementwise, embedding, indexing, inplace, linalg, loss, normalization, pooling,
    reduction, shape,
)
from tensorweaver.onnx.symbolic import rnn  # noqa: F401,E402
from tensorweaver.onnx.symbolic import conv_family  # noqa: F401,E402  (Conv1d/ConvTranspose/Pad/Resample/Fold)
from tensorweaver.onnx.symbolic import pointwise  # noqa: F401,E402  (more ops: ops/pointwise.py)
from tensorweaver.onnx.symbolic import activations  # noqa: F401,E402  (ELU, Softplus, Hardtanh, PReLU, ...)
from tensorweaver.onnx.symbolic import cumulative  # noqa: F401,E402  (prod, cumsum, norm, nansum, median, ...)
from tensorweaver.onnx.symbolic import comparison  # noqa: F401,E402  (eq/lt/... masks, isinf, sort, topk)
from tensorweaver.onnx.symbolic import other_ops  # noqa: F401,E402  (flip, einsum, roll, bincount, ...)
from tensorweaver.onnx.symbolic import joining  # noqa: F401,E402  (nonzero)
from tensorweaver.onnx.symbolic import scattering  # noqa: F401,E402  (scatter_reduce, *_scatter, unique)
from tensorweaver.onnx.symbolic import pointwise_more  # noqa: F401,E402  (bitwise, logit, special functions)
