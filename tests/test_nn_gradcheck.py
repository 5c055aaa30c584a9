"""float64 gradcheck (central differences) of every differentiable op the nn layers add:
convolution, pooling, batch/layer norm, dropout, embedding and the fused losses."""
import numpy as np
import pytest

import tensorweaver as tw
import tensorweaver.nn.functional as F

pytestmark = pytest.mark.unit

rng = np.random.default_rng(1234)


def T(*shape, low=-1.0, high=1.0, grad=True):
    return tw.tensor(rng.uniform(low, high, size=shape), dtype=tw.float64, requires_grad=grad)


@pytest.mark.parametrize("stride,padding,dilation,groups", [
    (1, 0, 1, 1), (1, 1, 1, 1), (2, 1, 1, 1), (1, 2, 2, 1), ((2, 1), (1, 0), (1, 2), 1), (1, 1, 1, 2),
    (1, "same", 1, 1), (2, 0, 1, 2),
])
def test_conv2d(stride, padding, dilation, groups):
    x, w, b = T(2, 4, 6, 5), T(4, 4 // groups, 3, 2), T(4)
    assert tw.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups), (x, w, b))


def test_conv2d_without_bias_and_unbatched():
    x, w = T(3, 5, 5), T(2, 3, 2, 2)
    assert tw.gradcheck(lambda x, w: F.conv2d(x, w, None, 1, 1), (x, w))


@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil_mode", [
    (2, None, 0, 1, False), (3, 1, 1, 1, False), (3, 2, 1, 1, True), (2, 1, 0, 2, False), ((3, 2), (2, 1), (1, 1), 1, True),
])
def test_max_pool2d(kernel, stride, padding, dilation, ceil_mode):
    # Distinct values, so no ties make the max non-differentiable.
    x = tw.tensor(rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) / 10.0, dtype=tw.float64, requires_grad=True)
    assert tw.gradcheck(lambda x: F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode), (x,))


@pytest.mark.parametrize("kernel,stride,padding,ceil_mode,count_include_pad,divisor", [
    (2, None, 0, False, True, None), (3, 1, 1, False, True, None), (3, 2, 1, True, False, None),
    (3, 2, 1, True, True, None), (2, 1, 0, False, True, 3),
])
def test_avg_pool2d(kernel, stride, padding, ceil_mode, count_include_pad, divisor):
    x = T(2, 2, 7, 6)
    assert tw.gradcheck(lambda x: F.avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor), (x,))


@pytest.mark.parametrize("out", [1, 3, (2, 4), (None, 2)])
def test_adaptive_avg_pool2d(out):
    x = T(2, 2, 7, 5)
    assert tw.gradcheck(lambda x: F.adaptive_avg_pool2d(x, out), (x,))


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 6), (3, 3, 4, 2)])
def test_batch_norm(training, shape):
    x, w, b = T(*shape), T(3), T(3)
    rm, rv = tw.tensor(rng.normal(size=3)), tw.tensor(rng.uniform(0.5, 2, size=3))

    def fn(x, w, b):
        # Fresh running stats for every call: the training path updates them in place.
        return F.batch_norm(x, tw.tensor(rm.numpy()), tw.tensor(rv.numpy()), w, b, training, 0.1, 1e-5)
    assert tw.gradcheck(fn, (x, w, b))


def test_batch_norm_without_affine():
    x = T(6, 2, 3)
    assert tw.gradcheck(lambda x: F.batch_norm(x, None, None, None, None, True), (x,))


@pytest.mark.parametrize("normalized", [(5,), (4, 5)])
def test_layer_norm(normalized):
    x, w, b = T(3, 4, 5), T(*normalized), T(*normalized)
    assert tw.gradcheck(lambda x, w, b: F.layer_norm(x, normalized, w, b), (x, w, b))
    assert tw.gradcheck(lambda x: F.layer_norm(x, normalized), (x,))


def test_dropout():
    x = T(4, 6)

    def fn(x):
        tw.manual_seed(5)              # the same mask on every call
        return F.dropout(x, 0.4, training=True)
    assert tw.gradcheck(fn, (x,))

    def fn2d(x):
        tw.manual_seed(5)
        return F.dropout2d(x, 0.5, training=True)
    assert tw.gradcheck(fn2d, (T(2, 3, 2, 2),))


def test_embedding_repeated_indices_and_padding():
    w = T(6, 3)
    idx = tw.tensor([[0, 2, 2], [5, 0, 3]])
    assert tw.gradcheck(lambda w: F.embedding(idx, w), (w,))
    # padding_idx deliberately blocks its row's gradient (not a derivative): the other
    # rows match the plain lookup's gradient, the padding row gets zeros.
    seed = tw.tensor(rng.normal(size=(2, 3, 3)))
    F.embedding(idx, w).backward(seed)
    full = w.grad.numpy().copy()
    w.grad = None
    F.embedding(idx, w, padding_idx=2).backward(seed)
    full[2] = 0
    np.testing.assert_array_equal(w.grad.numpy(), full)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_indices(reduction, smoothing, weighted):
    x = T(5, 4, low=-3, high=3)
    target = tw.tensor([0, 3, -100, 1, 3])
    weight = tw.tensor([0.5, 1.0, 2.0, 1.5], dtype=tw.float64) if weighted else None
    assert tw.gradcheck(lambda x: F.cross_entropy(x, target, weight, reduction=reduction, label_smoothing=smoothing),
                        (x,))


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_probabilities_and_spatial(reduction):
    x = T(3, 4, 2, low=-3, high=3)
    p = tw.softmax(T(3, 4, 2, grad=False), 1)
    p.requires_grad_(True)
    assert tw.gradcheck(lambda x, p: F.cross_entropy(x, p, reduction=reduction, label_smoothing=0.1), (x, p))
    target = tw.tensor([[0, 1], [3, -100], [2, 2]])
    assert tw.gradcheck(lambda x: F.cross_entropy(x, target, reduction=reduction), (x,))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(reduction):
    x = T(4, 3)
    assert tw.gradcheck(lambda x: F.nll_loss(x, tw.tensor([2, 0, -100, 1]), tw.tensor([1.0, 2.0, 0.5], dtype=tw.float64),
                                             reduction=reduction), (x,))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce(reduction):
    p, t = T(3, 4, low=0.05, high=0.95), T(3, 4, low=0, high=1)
    w = tw.tensor(rng.uniform(0.5, 2, size=(4,)), dtype=tw.float64)
    assert tw.gradcheck(lambda p, t: F.binary_cross_entropy(p, t, w, reduction=reduction), (p, t))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits(reduction):
    x, t = T(3, 4, low=-4, high=4), T(3, 4, low=0, high=1)
    pw = tw.tensor(rng.uniform(0.5, 3, size=(4,)), dtype=tw.float64)
    w = tw.tensor(rng.uniform(0.5, 2, size=(3, 1)), dtype=tw.float64)
    assert tw.gradcheck(lambda x, t: F.binary_cross_entropy_with_logits(x, t, w, reduction, pw), (x, t))
    assert tw.gradcheck(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction=reduction), (x, t))


def test_mse_and_l1():
    a, b = T(3, 4), T(3, 4)
    assert tw.gradcheck(lambda a, b: F.mse_loss(a, b), (a, b))
    assert tw.gradcheck(lambda a, b: F.l1_loss(a, b, reduction="sum"), (a, b))


def test_multi_head_attention_and_sdpa():
    mha = tw.nn.MultiheadAttention(4, 2, batch_first=True).double()
    q, k = T(2, 3, 4), T(2, 5, 4)
    mask = tw.tensor([[False, False, True, False, False], [False, True, False, False, False]])
    assert tw.gradcheck(lambda q, k: mha(q, k, k, key_padding_mask=mask)[0], (q, k))
    qs, ks, vs = T(2, 3, 4), T(2, 5, 4), T(2, 5, 3)
    assert tw.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v), (qs, ks, vs))
