"""2-D convolution as im2col + matrix products.

For every kernel offset ``(i, j)`` the padded input, sliced with the stride, lines
up with the output grid; stacking those ``kH * kW`` slices gives the column matrix
``cols`` of shape (C * kH * kW, N * OH * OW), and the convolution is the product
``weight.reshape(O, -1) @ cols``. The Python loops run over kernel offsets (9 for a
3x3 kernel) and over blocks of images, never over pixels.

Layout: the input is viewed channels-first, (C, N, H, W), so that the rows of
``cols`` come out in the order (c, i, j), matching ``weight.reshape(O, C*kH*kW)``,
and the product's (O, N*OH*OW) result is returned as an (N, O, OH, OW) *view*.
Elementwise ops keep that memory order, so the next convolution's channels-first
view of it is already contiguous.
"""
from __future__ import annotations

import threading
import weakref

from tensorweaver import backend
from tensorweaver.autograd import grad_mode
from tensorweaver.autograd.function import Function

xp = backend.xp


def output_size(size, kernel, stride, pad_before, pad_after, dilation, ceil_mode=False):
    """Output length along one axis (torch's formula)."""
    span = size + pad_before + pad_after - dilation * (kernel - 1) - 1
    if ceil_mode:
        out = -(-span // stride) + 1
        # The last window must start inside the input or the left padding.
        if (out - 1) * stride >= size + pad_before:
            out -= 1
        return out
    return span // stride + 1


def window_slices(kernel, stride, dilation, out_hw):
    """For each kernel offset ``(i, j)``, row-major, the (rows, cols) slices of a
    padded input that line up with the ``out_hw`` output grid."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_hw
    return [(slice(i * dh, i * dh + sh * (oh - 1) + 1, sh), slice(j * dw, j * dw + sw * (ow - 1) + 1, sw))
            for i in range(kh) for j in range(kw)]


def gather_windows(a, slices, axis):
    """Stack ``a[..., rows, cols]`` for every window offset along a new ``axis``."""
    return xp.stack([backend.getitem(a, (Ellipsis, r, c)) for r, c in slices], axis=axis)


def add_into(dst, index, values):
    """``dst[index] += values`` in place (each index names distinct elements).

    cuPyNumeric has no non-unit-step slice views, so there the slice is read with
    ``backend.getitem`` and written back with ``backend.setitem``.
    """
    if backend.is_numpy or not backend._has_strided_slice(index):
        dst[index] += values
    else:
        backend.setitem(dst, index, backend.getitem(dst, index) + values)


def memory_order(a):
    """The axes of ``a`` from the largest stride to the smallest (its memory layout).

    Conv2d returns channels-major views; gradient buffers allocated in the same layout
    keep later elementwise ops on matching strides (much faster in NumPy). cuPyNumeric
    manages layout itself, so there the order is simply C order.
    """
    if not backend.is_numpy:
        return tuple(range(a.ndim))
    return tuple(sorted(range(a.ndim), key=lambda i: -abs(a.strides[i])))


def zeros_in_order(shape, order, dtype, zero=True):
    """``zeros(shape)`` (or ``empty`` if not ``zero``) laid out in axis ``order`` (see
    ``memory_order``)."""
    make = xp.zeros if zero else xp.empty
    if order == tuple(range(len(shape))):
        return make(shape, dtype=dtype)
    inverse = [0] * len(order)
    for i, axis in enumerate(order):
        inverse[axis] = i
    return make([shape[a] for a in order], dtype=dtype).transpose(tuple(inverse))


def pad_hw(a, pads, value=0.0):
    """Pad the last two axes by ``(top, bottom, left, right)``."""
    top, bottom, left, right = pads
    if not (top or bottom or left or right):
        return a
    widths = [(0, 0)] * (a.ndim - 2) + [(top, bottom), (left, right)]
    return xp.pad(a, widths, mode="constant", constant_values=value)


#: Images per im2col block: a block's column matrix holds about this many elements
#: (4 MB of float32), so it stays in cache and no large temporary (with its page
#: faults) is allocated per step. cuPyNumeric prefers one large operation.
_BLOCK_ELEMENTS = 1 << 20 if backend.is_numpy else None


_scratch = threading.local()
_SCRATCH_MAX_ELEMENTS = 4 << 20


def scratch(name, shape, dtype, zero=False):
    """A reusable NumPy work buffer for a temporary that never leaves the op, or None
    on cuPyNumeric (which manages its own memory). Its contents are whatever the last
    user of ``name`` left there; with ``zero``, a newly made buffer starts as zeros
    (for a user that keeps some part of it zero, like a padding border).

    A fresh multi-megabyte temporary per block costs page faults whenever glibc has
    handed the heap back to the OS; one buffer per (name, shape, dtype) and thread
    is faulted in once and then reused, step after step.
    """
    size = 1
    for d in shape:
        size *= d
    if not backend.is_numpy or size > _SCRATCH_MAX_ELEMENTS:   # a huge one is not kept alive
        return None
    cache = getattr(_scratch, "buffers", None)
    if cache is None:
        cache = _scratch.buffers = {}
    key = (name, tuple(shape), xp.dtype(dtype).str)
    buf = cache.get(key)
    if buf is None:
        if len(cache) > 32:          # many distinct shapes: keep memory bounded
            cache.clear()
        buf = cache[key] = (xp.zeros if zero else xp.empty)(shape, dtype=dtype)
    return buf


#: Column matrices kept from forward for backward (NumPy) hold at most this many
#: elements (64 MB of float32) per convolution; a larger one is rebuilt, block by
#: block, in backward instead (which bounds memory).
_KEEP_MAX_ELEMENTS = 16 << 20
_POOL_KEYS = 8          # distinct (shape, dtype) kept in the pool ...
_POOL_PER_KEY = 2       # ... and free buffers per key


def pool_take(shape, dtype):
    """A NumPy buffer of ``shape`` (contents undefined) from this thread's pool of
    column matrices, or a new one. Give it back with ``pool_return`` when no node
    needs it any more: the next training step then reuses memory that is already
    faulted in (a fresh 30 MB array per step costs thousands of page faults)."""
    pool = getattr(_scratch, "pool", None)
    if pool is None:
        pool = _scratch.pool = {}
    free = pool.get((tuple(shape), xp.dtype(dtype).str))
    return free.pop() if free else xp.empty(shape, dtype=dtype)


def pool_return(buf):
    """Put ``buf`` (from ``pool_take``) back; the pool stays bounded."""
    pool = getattr(_scratch, "pool", None)
    if pool is None:
        pool = _scratch.pool = {}
    key = (buf.shape, buf.dtype.str)
    free = pool.get(key)
    if free is None:
        if len(pool) >= _POOL_KEYS:
            pool.clear()
        free = pool[key] = []
    if len(free) < _POOL_PER_KEY:
        free.append(buf)


#: Input channels from which a stride-1, one-group convolution on NumPy runs on the padded
#: grid (see ``Conv2d``): each of its products has the input channels as inner dimension,
#: and BLAS needs a few of them to run at speed. Forward + backward of a 3x3 layer on 64
#: images of 28x28 (AVX-512 host) took 1.0-1.7x im2col's time on the grid with 1-2 input
#: channels, 0.9x with 4, 0.8-0.9x with 8 and 0.7-0.8x with 16.
_GRID_MIN_CHANNELS = 8
#: Elements of one product's output per block of images on the grid (8 images of the CNN
#: benchmark's 16 -> 32 channel layer): a block's gradient buffers stay small (1 MB) and
#: few; the products themselves walk a block in cache-sized pieces (``_blas``).
_GRID_BLOCK_ELEMENTS = 1 << 18


def _blocks(n, per_image, elements=None):
    """[(start, stop)] ranges of images, each block about ``elements`` (default
    ``_BLOCK_ELEMENTS``: the block's columns) for ``per_image`` elements per image."""
    elements = _BLOCK_ELEMENTS if elements is None else elements
    if elements is None:
        return [(0, n)]
    step = max(1, elements // max(per_image, 1))
    return [(s, min(s + step, n)) for s in range(0, n, step)]


class Conv2d(Function):
    """``x`` (N, C, H, W) * ``weight`` (O, C/groups, kH, kW) + ``bias`` (O,) -> (N, O, OH, OW).

    ``padding`` is (top, bottom, left, right); ``stride`` and ``dilation`` are pairs.
    Images are processed in blocks (see ``_BLOCK_ELEMENTS``), each padded and turned
    into columns on its own. On NumPy, when the weight gradient will be needed, the
    forward writes the blocks' columns into one (C, kH*kW, N, OH*width) buffer that
    the node keeps for backward (see ``_keep_columns``), so backward does not build
    them again; otherwise, or past ``_KEEP_MAX_ELEMENTS``, the backward rebuilds each
    block's columns from the saved input, which bounds memory.

    With stride 1, every kernel offset's window is one *contiguous* run of the
    flattened padded image: rows of width Wp (the padded width) starting at
    ``i * Wp + j``. The product is then computed on an (OH, Wp) grid whose last
    Wp - OW columns are discarded; copying long runs is several times faster than
    copying OW-long rows, for a few percent more multiply-adds.

    On the grid (NumPy with its bundled BLAS, stride 1, one group, at least
    ``_GRID_MIN_CHANNELS`` input channels; see ``on_grid``) there are no columns at all.
    The padded images are laid end to end in one (C, N * Hp * Wp) buffer, so kernel
    offset (i, j) is a shift of it by ``i * dH * Wp + j * dW`` positions, and the
    convolution is nine products that accumulate into one output (``backend.
    shifted_products``): ``out += W[:, :, i, j] @ grid[:, shift:]``. The input gradient is
    their adjoint (``grid_grad[:, shift:] += W[:, :, i, j].T @ g``, no col2im), the weight
    gradient ``g @ grid[:, shift:].T`` per offset, and backward keeps only the padded input
    (``kept_grid``), not nine copies of it.
    """

    def plan(self, x_shape, w_shape, stride, padding, dilation, groups):
        """Set ``self.geometry`` for an input of ``x_shape`` and a weight of ``w_shape``;
        returns (OH, OW). (``ops/conv_transpose.py`` plans a node this way to run its
        backward as the transposed convolution.)"""
        n, c, h, w = x_shape
        o, _, kh, kw = w_shape
        pt, pb, pl, pr = padding
        oh = output_size(h, kh, stride[0], pt, pb, dilation[0])
        ow = output_size(w, kw, stride[1], pl, pr, dilation[1])
        # Stride 1 takes the contiguous-runs fast path below. The labs' student copy of this
        # module turns it off (the next line becomes `flat = False`), so the col2im a student
        # writes in ``backward`` is the general one, on slices (see tensorweaver/labs/engine_track.py).
        ### STUDENT COPY: flat = False
        flat = tuple(stride) == (1, 1)
        # One extra zero row lets the last offset's run (which starts (kW-1)*dW later) fit.
        pads = (pt, pb + (1 if flat and kw > 1 else 0), pl, pr)
        hp, wp = h + pads[0] + pads[1], w + pl + pr
        if flat:
            windows = [i * dilation[0] * wp + j * dilation[1] for i in range(kh) for j in range(kw)]
        else:
            windows = window_slices((kh, kw), stride, dilation, (oh, ow))
        width = wp if flat else ow
        self.geometry = (pads, (hp, wp), windows, groups, (oh, ow, width), flat)
        return oh, ow

    def on_grid(self, x_dtype, w_dtype, channels):
        """Whether this node computes on the padded grid (see the class docstring)."""
        products = backend.shifted_products
        return (products is not None and self.geometry[5] and self.geometry[3] == 1
                and channels >= _GRID_MIN_CHANNELS and x_dtype == w_dtype and products.supports(x_dtype))

    def forward(self, x, weight, bias, stride, padding, dilation, groups, activation=None, pool=None):
        """``activation="relu"`` returns ``relu(conv(x) + bias)`` as this one node (what
        ``nn.Sequential`` runs for a Conv2d followed by a ReLU): the max is taken on each
        block while it is in cache, and backward masks the gradient while copying it.

        ``pool=(kH, kW)`` then also takes the max over windows that tile the output
        (a following ``MaxPool2d`` with stride == kernel, no padding or dilation; see
        ``pooled_conv_fits``): the result is (N, O, OH / kH, OW / kW). On NumPy each
        block is pooled while it is in cache, so the full-size activation, and in
        backward its gradient, is never written out.
        """
        n, c, h, w = x.shape
        o, _, kh, kw = weight.shape
        oh, ow = self.plan(x.shape, weight.shape, stride, padding, dilation, groups)
        width, flat = self.geometry[4][2], self.geometry[5]
        xt = x.transpose((1, 0, 2, 3))                                  # (C, N, H, W)
        w3 = weight.reshape(groups, o // groups, -1)                    # (G, O/G, C/G * kH * kW)
        pool_blocks = pool is not None and backend.is_numpy
        out = None if pool_blocks else xp.empty((o, n, oh, ow), dtype=x.dtype)
        if pool_blocks:
            pooled = _PooledOutput(pool, (o, n, oh, ow), x.dtype)
        grid = kept = None
        if self.on_grid(x.dtype, weight.dtype, c):
            grid = self._grid(x)
            w_offsets = xp.ascontiguousarray(weight.transpose((2, 3, 0, 1))).reshape(kh * kw, o, c)
            blocks = _blocks(n, max(o, c) * self.geometry[1][0] * self.geometry[1][1], _GRID_BLOCK_ELEMENTS)
        else:
            kept = self._keep_columns(x.shape, x.dtype)
            blocks = _blocks(n, c * kh * kw * oh * width)
        for s, e in blocks:
            if grid is not None:
                block = self._grid_products(w_offsets, grid, s, e)[:, :, :oh, :ow]
            else:
                cols = self._columns(xt[:, s:e], None if kept is None else kept[:, :, s:e])
                block = _group_matmul(w3, cols, "out").reshape(o, e - s, oh, width)
                block = block[..., :ow] if flat else block
            if not backend.is_numpy:
                block = block if bias is None else block + bias[:, None, None, None]
                out[:, s:e] = block if activation is None else xp.maximum(block, 0)
                continue
            if pool_blocks:      # the block's activation goes to a scratch buffer, pooled from there
                dst = scratch("activation", (o, e - s, oh, ow), x.dtype)
                if dst is None:
                    dst = xp.empty((o, e - s, oh, ow), dtype=x.dtype)
            else:
                dst = out[:, s:e]
            if bias is None:
                dst[...] = block
            else:                    # bias added while copying out: one pass, not two
                xp.add(block, bias[:, None, None, None], out=dst)
            if activation is not None:
                xp.maximum(dst, 0, out=dst)
            if pool_blocks:
                pooled.take(dst, s, e)
        if pool is not None and not pool_blocks:
            pooled = _PooledOutput(pool, out.shape, x.dtype)
            pooled.take(out, 0, n)
        if pool is not None:
            out = pooled.values
            self.pooled = pooled if grad_mode._enabled[0] else None
        if grid is not None:
            # The weight gradient reads it; one past ``_KEEP_MAX_ELEMENTS`` (a second copy of a
            # large input) is made again in backward instead, which bounds memory.
            if grad_mode._enabled[0] and self.needs_input_grad[1] and grid.size <= _KEEP_MAX_ELEMENTS:
                self.kept_grid = grid
                self._kept_finalizer = weakref.finalize(self, _give_back, grid)
            else:
                _give_back(grid)
        result = out.transpose((1, 0, 2, 3))
        if activation is None:
            self.save_for_backward(x, weight)
        else:
            self.save_for_backward(x, weight, result)
        return result

    def _padded(self, xb):
        """The images ``xb`` (C, nb, H, W) zero-padded to (C, nb, Hp, Wp).

        On NumPy the result is a scratch buffer whose border is zeroed once, when it is
        made, and never written (only the interior is copied in, every call): one copy
        instead of ``xp.pad``'s fresh array, border fills and copy.
        """
        pads, (hp, wp) = self.geometry[:2]
        if not any(pads):
            return xb
        c, nb, h, w = xb.shape
        # The key includes the padding: buffers of one shape with other pads have their
        # interior (nonzero) where this one's border is.
        buf = scratch(("padded", pads), (c, nb, hp, wp), xb.dtype, zero=True)
        if buf is None:
            return pad_hw(xb, pads)
        buf[:, :, pads[0]:pads[0] + h, pads[2]:pads[2] + w] = xb
        return buf

    # The fused max-pool's values and offsets (a ``_PooledOutput``), or None.
    pooled = None
    # Kept columns: (C, K, N, OH * width) NumPy buffer from ``pool_take``, or None.
    kept_columns = None
    # On the grid: the padded input (``_grid``) kept for the weight gradient, or None.
    kept_grid = None
    _kept_finalizer = None

    def _keep_columns(self, x_shape, dtype):
        """The buffer the forward writes all columns into and backward reads them from
        (NumPy, graph recorded, weight gradient wanted, not too large), else None.

        The buffer goes back to the pool when backward releases the node, or when the
        node is dropped without a backward (a finalizer), never while a node holds it.
        """
        if not (backend.is_numpy and grad_mode._enabled[0] and self.needs_input_grad[1]):
            return None
        windows, (oh, _, width) = self.geometry[2], self.geometry[4]
        shape = (x_shape[1], len(windows), x_shape[0], oh * width)
        if shape[0] * shape[1] * shape[2] * shape[3] > _KEEP_MAX_ELEMENTS:
            return None
        buf = self.kept_columns = pool_take(shape, dtype)
        self._kept_finalizer = weakref.finalize(self, pool_return, buf)
        return buf

    def release(self):
        super().release()
        self.pooled = None
        if self._kept_finalizer is not None:
            self.kept_columns = self.kept_grid = None
            self._kept_finalizer()          # returns the buffer to the pool, once

    def _grid(self, x):
        """The images ``x`` (N, C, H, W) zero-padded and laid end to end: (C, N * Hp * Wp + tail),
        the tail (the last offset's shift, zeros) keeping every product's window inside.
        A buffer from ``pool_take`` (hand it back with ``_give_back``): the next step's
        grid reuses its memory."""
        pads, (hp, wp), windows = self.geometry[:3]
        n, c, h, w = x.shape
        size = n * hp * wp
        shape = (c, size + windows[-1])
        buf = pool_take(shape, x.dtype) if shape[0] * shape[1] <= _KEEP_MAX_ELEMENTS else xp.empty(shape, x.dtype)
        images = xp.reshape(buf[:, :size], (c, n, hp, wp), copy=False)
        top, left = pads[0], pads[2]
        # A pooled buffer holds whatever its last user left: zero the border every time.
        images[:, :, :top] = 0
        images[:, :, top + h:] = 0
        images[:, :, top:top + h, :left] = 0
        images[:, :, top:top + h, left + w:] = 0
        buf[:, size:] = 0
        images[:, :, top:top + h, left:left + w] = x.transpose((1, 0, 2, 3))
        return buf

    def _grid_products(self, w_offsets, grid, s, e):
        """The convolution of images s:e on the grid, (O, e - s, Hp, Wp) (a scratch buffer's
        view: valid until the next call), correct in its [:OH, :OW] corner: the sum over
        offsets of ``w_offsets[k]`` (O, C) @ the grid shifted by ``windows[k]``."""
        (hp, wp), windows = self.geometry[1:3]
        o, step = w_offsets.shape[1], hp * wp
        length = (e - s) * step
        out = scratch("grid out", (o, length), grid.dtype)
        if out is None:
            out = xp.empty((o, length), dtype=grid.dtype)
        backend.shifted_products.sum_shifted(w_offsets, grid[:, s * step:s * step + length + windows[-1]],
                                             windows, out)
        return xp.reshape(out, (o, e - s, hp, wp), copy=False)

    def _columns(self, xb, out=None):
        """The im2col matrix of the images ``xb`` (C, nb, H, W): (G, C/G * kH * kW, nb * OH * width),
        written into ``out`` (C, K, nb, OH * width) when given (a view of the kept columns)."""
        pads, (hp, wp), windows, groups, (oh, ow, width), flat = self.geometry
        c, nb = xb.shape[:2]
        xb = self._padded(xb)
        if flat:                                           # stride 1: contiguous runs
            xb = xb.reshape(c, nb, hp * wp)
            run = oh * width
            parts = [xb[:, :, start:start + run] for start in windows]
            buf = scratch("cols", (c, len(windows), nb, run), xb.dtype) if out is None else out
            cols = xp.stack(parts, axis=1) if buf is None else xp.stack(parts, axis=1, out=buf)
        elif out is not None:
            parts = [backend.getitem(xb, (Ellipsis, r, cc)) for r, cc in windows]
            cols = xp.stack(parts, axis=1, out=out.reshape(c, len(windows), nb, oh, ow))
        else:
            cols = gather_windows(xb, windows, axis=1)     # (C, K, nb, OH, OW)
        return cols.reshape(groups, -1, nb * oh * width)

    def backward(self, grad):
        saved = self.saved_tensors
        x, weight = saved[:2]
        relu_out = saved[2] if len(saved) > 2 else None    # fused ReLU: its output
        pads, (hp, wp), windows, groups, (oh, ow, width), flat = self.geometry
        n, c, h, w = x.shape
        o = weight.shape[0]
        need_x, need_w = self.needs_input_grad[:2]
        need_b = self.needs_input_grad[2]
        xt = x.transpose((1, 0, 2, 3))
        # A fused max-pool routes the gradient to each window's maximum block by block
        # (NumPy, stride 1), else for the whole gradient first.
        pooled = self.pooled
        pool_blocks = pooled is not None and flat and backend.is_numpy
        if pooled is not None and not pool_blocks:
            if relu_out is not None:
                grad, relu_out = grad * (relu_out > 0), None
            grad = pooled.route(grad.transpose((1, 0, 2, 3)), 0, n).transpose((1, 0, 2, 3))
        # The fused ReLU's mask is applied block by block while the gradient is copied
        # (NumPy, stride 1), else to the whole gradient first.
        mask_blocks = relu_out is not None and flat and backend.is_numpy
        if relu_out is not None and not mask_blocks:
            grad = grad * (relu_out > 0)
        g4 = grad.transpose((1, 0, 2, 3))                                 # (O, N, OH, OW)
        r4 = relu_out.transpose((1, 0, 2, 3)) if mask_blocks else None
        gb = xp.zeros((o,), dtype=grad.dtype) if need_b and flat else None
        gx = xp.empty((c, n, h, w), dtype=grad.dtype) if need_x else None  # every block writes its part
        run = oh * width
        on_grid = self.on_grid(x.dtype, weight.dtype, c) and grad.dtype == x.dtype
        grid = gw = None
        if on_grid:
            step = hp * wp
            blocks = _blocks(n, max(o, c) * step, _GRID_BLOCK_ELEMENTS)
            if need_w:   # the padded input: kept by the forward, else (a node planned elsewhere) made here
                grid = self.kept_grid if self.kept_grid is not None else self._grid(x)
                gw_offsets = xp.empty((len(windows), o, c), dtype=grad.dtype)
            if need_x:
                wt_offsets = xp.ascontiguousarray(weight.transpose((2, 3, 1, 0))).reshape(len(windows), c, o)
        else:
            blocks = _blocks(n, c * len(windows) * run)
            w3 = weight.reshape(groups, o // groups, -1)
            w3t = w3.transpose((0, 2, 1))                                 # (G, C/G * kH * kW, O/G)
            if need_x and backend.is_numpy:
                # A contiguous copy of W^T (tiny): OpenBLAS runs the input-gradient product
                # about 20% faster with it than with the transposed view.
                w3t = xp.ascontiguousarray(w3t)
            if need_w:
                gw = xp.zeros(w3.shape, dtype=grad.dtype)
        for s, e in blocks:
            if on_grid:   # the gradient on the grid, zeros outside its (OH, OW) corner
                length = (e - s) * step
                gflat = scratch("grid grad", (o, length), grad.dtype)
                if gflat is None:
                    gflat = xp.empty((o, length), dtype=grad.dtype)
                g_grid = xp.reshape(gflat, (o, e - s, hp, wp), copy=False)
                g_grid[:, :, oh:] = 0
                g_grid[:, :, :oh, ow:] = 0
                gview = g_grid[:, :, :oh, :ow]
            elif flat:   # zeros in the discarded columns: they then contribute nothing below
                gblock = scratch("grad", (o, e - s, oh, width), grad.dtype)
                if gblock is None:
                    gblock = xp.zeros((o, e - s, oh, width), dtype=grad.dtype)
                else:
                    gblock[..., ow:] = 0
                gview = gblock[..., :ow]
            if flat:
                if pool_blocks:
                    gp = g4[:, s:e] * (r4[:, s:e] > 0) if mask_blocks else g4[:, s:e]
                    pooled.route(gp, s, e, out=gview)
                elif mask_blocks:
                    xp.multiply(g4[:, s:e], r4[:, s:e] > 0, out=gview)
                else:
                    gview[...] = g4[:, s:e]
                if need_b:   # summed here, while the block is in cache (its extra columns are 0)
                    gb += gflat.sum(axis=1) if on_grid else gblock.sum(axis=(1, 2, 3))
            else:
                gblock = g4[:, s:e]
            if on_grid:
                products = backend.shifted_products
                if need_w:
                    products.gram_shifted(gflat, grid[:, s * step:e * step + windows[-1]], windows, gw_offsets,
                                          accumulate=s > 0)
                if need_x:   # the adjoint of the forward's shifted products: no col2im
                    gxb = scratch("grid dx", (c, length + windows[-1]), grad.dtype)
                    if gxb is None:
                        gxb = xp.empty((c, length + windows[-1]), dtype=grad.dtype)
                    gxb.fill(0)
                    products.scatter_shifted(wt_offsets, gflat, windows, gxb)
                    gxb = xp.reshape(gxb[:, :length], (c, e - s, hp, wp), copy=False)
                    gx[:, s:e] = gxb[:, :, pads[0]:pads[0] + h, pads[2]:pads[2] + w]
                continue
            gblock = gblock.reshape(groups, o // groups, (e - s) * run)
            if need_w:
                if self.kept_columns is not None:
                    cols = self.kept_columns[:, :, s:e].reshape(groups, -1, (e - s) * run)
                else:
                    cols = self._columns(xt[:, s:e])
                # (cols @ g^T)^T is the same product as g @ cols^T; OpenBLAS runs it faster.
                gw += _group_matmul(cols, gblock.transpose((0, 2, 1))).transpose((0, 2, 1))
            if need_x:   # col2im, the adjoint of im2col: add each offset's columns back
                ### BEGIN SOLUTION
                dcols = _group_matmul(w3t, gblock, "dcols").reshape(c, len(windows), e - s, run)
                gxb = scratch("col2im", (c, e - s, hp, wp), grad.dtype)
                if gxb is None:
                    gxb = xp.zeros((c, e - s, hp, wp), dtype=grad.dtype)
                else:
                    gxb.fill(0)
                if flat:
                    flat_gxb = gxb.reshape(c, e - s, hp * wp)
                    for k, start in enumerate(windows):
                        flat_gxb[:, :, start:start + run] += dcols[:, k]
                    gxb = flat_gxb.reshape(gxb.shape)   # cuPyNumeric's reshape is a copy, not a view
                else:
                    for k, win in enumerate(windows):
                        add_into(gxb, (slice(None), slice(None)) + win, dcols[:, k].reshape(c, e - s, oh, ow))
                gx[:, s:e] = gxb[:, :, pads[0]:pads[0] + h, pads[2]:pads[2] + w]
                ### END SOLUTION
        if need_b and not flat:
            gb = g4.sum(axis=(1, 2, 3))
        if on_grid and need_w:
            gw = gw_offsets.transpose((1, 2, 0))             # (O, C, kH * kW)
            if grid is not self.kept_grid:
                _give_back(grid)
        return ((gx.transpose((1, 0, 2, 3)) if need_x else None), (gw.reshape(weight.shape) if need_w else None), gb)


def pooled_conv_fits(out_hw, kernel):
    """Whether max-pooling windows ``kernel`` (stride == kernel, no padding or dilation)
    tile a convolution output of ``out_hw`` exactly, so ``Conv2d`` can pool it itself."""
    return all(k >= 1 and size % k == 0 for size, k in zip(out_hw, kernel))


class _PooledOutput:
    """The max over (kH, kW) windows that tile a convolution's (O, N, OH, OW) output,
    filled block of images by block, with where each maximum was: per window, the row
    of the first row holding it (``row_at``) and per row the first column (``col_at``),
    int8, which is ``MaxPool2d``'s tiled path and its tie rule (the first one wins; a
    NaN wins its window, the first NaN if several)."""

    def __init__(self, kernel, shape, dtype):
        o, n, oh, ow = shape
        kh, kw = kernel
        self.kernel = kernel
        self.values = xp.empty((o, n, oh // kh, ow // kw), dtype=dtype)
        self.row_at = xp.empty((o, n, oh // kh, ow // kw), dtype=xp.int8)
        self.col_at = xp.empty((o, n, oh // kh, kh, ow // kw), dtype=xp.int8)

    def take(self, a, s, e):
        """Pool ``a`` (O, e - s, OH, OW), the activations of images s:e."""
        from tensorweaver.ops import pooling    # (it imports this module)
        kh, kw = self.kernel
        o, nb, oh, ow = a.shape
        v = a.reshape(o, nb, oh // kh, kh, ow // kw, kw)
        rows, col_at = pooling._first_max(v, kw, axis=-1)               # (O, nb, PH, kH, PW)
        best, row_at = pooling._first_max(rows, kh, axis=-2)            # (O, nb, PH, PW)
        if bool(xp.isnan(best).any()):       # rare: find the offsets again, NaN-aware
            rows, col_at = pooling._first_max(v, kw, axis=-1, nan_first=True)
            best, row_at = pooling._first_max(rows, kh, axis=-2, nan_first=True)
        self.values[:, s:e] = best
        self.row_at[:, s:e] = row_at
        self.col_at[:, s:e] = col_at

    def route(self, g, s, e, out=None):
        """The adjoint of ``take``: ``g`` (O, e - s, PH, PW) placed at each window's
        maximum, zeros elsewhere, (O, e - s, OH, OW); written into ``out`` (a NumPy view
        of that shape) when given."""
        from tensorweaver.ops import pooling
        kh, kw = self.kernel
        o, nb, ph, pw = g.shape
        shape6 = (o, nb, ph, kh, pw, kw)
        rows = pooling._route(g, self.row_at[:, s:e], kh, axis=-2)       # (O, nb, PH, kH, PW)
        if out is not None:      # a view, never a copy: the values must land in ``out``
            pooling._route(rows, self.col_at[:, s:e], kw, axis=-1, out=xp.reshape(out, shape6, copy=False))
            return out
        return pooling._route(rows, self.col_at[:, s:e], kw, axis=-1).reshape(o, nb, ph * kh, pw * kw)


def _give_back(buf):
    """Return a grid buffer to the pool (one made outside it, too large to pool, is dropped)."""
    if buf.size <= _KEEP_MAX_ELEMENTS:
        pool_return(buf)


def _group_matmul(a, b, name=None):
    """(G, M, K) @ (G, K, N) -> (G, M, N); a plain 2-D product when G == 1. With a
    ``name``, the result is written into that ``scratch`` buffer (NumPy), so it is only
    valid until the next product of that name."""
    out = None
    if name and backend.is_numpy:
        out = scratch(name, (a.shape[0], a.shape[1], b.shape[2]), xp.result_type(a, b))
    if a.shape[0] == 1:
        return (a[0] @ b[0])[None] if out is None else xp.matmul(a[0], b[0], out=out[0])[None]
    return xp.matmul(a, b) if out is None else xp.matmul(a, b, out=out)
