"""Transposed 2-D convolution, as the adjoint of ``Conv2d`` (``ops/conv.py``).

A convolution with weight ``W`` (C_in, C_out / groups, kH, kW), read as a ``Conv2d``
weight from C_out channels to C_in, is a linear map ``A`` from (N, C_out, H', W')
images to (N, C_in, H, W) ones. The transposed convolution is ``A^T``:

    forward  y  = A^T x           = Conv2d's input gradient (col2im) applied to x
    dL/dx       = A dL/dy         = Conv2d's forward on dL/dy
    dL/dW       = Conv2d's weight gradient with input dL/dy and output gradient x

so no im2col code is repeated here: a ``Conv2d`` node is planned for the adjoint
geometry and its forward/backward do the work.

``output_padding`` ``op`` extends the output at the bottom/right: it first uncovers
``op`` of the ``padding`` rows the convolution would drop there (so the adjoint
convolution pads that side by ``padding - op`` only), and rows beyond the padding
are reached by no input position at all (they hold only the bias; the adjoint
convolution is planned on the output without them).
"""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.function import Function
from tensorweaver.ops.conv import Conv2d

xp = backend.xp


def output_size(size, kernel, stride, padding, output_padding, dilation):
    """torch's ``(size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1``."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def _engine(y_shape, w_shape, stride, pads, dilation, groups):
    """A ``Conv2d`` node planned for inputs of ``y_shape`` (never applied: a calculator)."""
    node = Conv2d.__new__(Conv2d)
    node.plan(y_shape, w_shape, stride, pads, dilation, groups)
    return node


def _conv_backward(node, x, weight, grad, need_x, need_w):
    """``Conv2d.backward`` of ``node`` as if it had seen input ``x`` and ``weight``."""
    node._saved = (x, weight)
    node.needs_input_grad = (need_x, need_w, False)
    gx, gw, _ = node.backward(grad)
    node._saved = ()
    return gx, gw


class ConvTranspose2d(Function):
    """``x`` (N, C_in, H, W), ``weight`` (C_in, C_out / groups, kH, kW), ``bias`` (C_out,)
    -> (N, C_out, H_out, W_out) with ``H_out = output_size(H, kH, ...)``.

    ``stride``, ``padding``, ``output_padding`` and ``dilation`` are pairs.
    """

    def forward(self, x, weight, bias, stride, padding, output_padding, dilation, groups):
        n, _, h, w = x.shape
        c_out = weight.shape[1] * groups
        kh, kw = weight.shape[2:]
        oh = output_size(h, kh, stride[0], padding[0], output_padding[0], dilation[0])
        ow = output_size(w, kw, stride[1], padding[1], output_padding[1], dilation[1])
        # The part of the output the adjoint convolution covers, and its padding.
        (ph, pw), (oph, opw) = padding, output_padding
        core = (n, c_out, oh - max(oph - ph, 0), ow - max(opw - pw, 0))
        pads = (ph, max(ph - oph, 0), pw, max(pw - opw, 0))
        node = _engine(core, weight.shape, stride, pads, dilation, groups)
        shape_only = xp.broadcast_to(xp.zeros((), dtype=x.dtype), core)   # Conv2d.backward reads its shape
        y, _ = _conv_backward(node, shape_only, weight, x, True, False)
        if core[2:] != (oh, ow):
            full = xp.zeros((n, c_out, oh, ow), dtype=x.dtype)
            full[:, :, :core[2], :core[3]] = y
            y = full
        if bias is not None:
            y = y + bias.reshape(1, -1, 1, 1)
        self.node, self.core = node, core
        self.conv_args = (stride, pads, dilation, groups)
        self.save_for_backward(x, weight)
        return y

    def backward(self, grad):
        x, weight = self.saved_tensors
        need_x, need_w, need_b = self.needs_input_grad[:3]
        core = grad[:, :, :self.core[2], :self.core[3]]
        if core.shape != grad.shape:
            core = core.copy()          # contiguous, and cuPyNumeric has no ascontiguousarray
        gx = gw = None
        if need_x:        # the convolution itself, on the output gradient
            gx = self.node.forward(core, weight, None, *self.conv_args)
            self.node._saved = ()
        if need_w:
            _, gw = _conv_backward(self.node, core, weight, x, False, True)
        gb = grad.sum(axis=(0, 2, 3)) if need_b else None
        return gx, gw, gb
