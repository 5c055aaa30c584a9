"""PyTorch as the oracle for every loss (module and functional forms): values and
gradients for all reductions, class weights, ignore_index, label smoothing,
probability targets, spatial (N, C, d1, d2) inputs and pos_weight."""
import numpy as np
import pytest

import tensorweaver as tw
import tensorweaver.nn.functional as F
from tensorweaver import nn

torch = pytest.importorskip(
    "torch", reason="PyTorch is the test-only oracle (extra 'torch'); the CPU image omits it "
                    "and CI's venv stage runs these tests")
pytestmark = pytest.mark.torch

rng = np.random.default_rng(99)
REDUCTIONS = pytest.mark.parametrize("reduction", ["mean", "sum", "none"])


def compare(loss_tw, loss_t, x, target, rtol=1e-10, atol=1e-12, target_grad=False):
    """Run both losses on the same data; compare the value and d(value . seed)/d(inputs)."""
    xt, xtw = torch.tensor(x, requires_grad=True), tw.tensor(x, requires_grad=True)
    tgt_grad = target_grad and target.dtype.kind == "f"
    tt, ttw = torch.tensor(target, requires_grad=tgt_grad), tw.tensor(target, requires_grad=tgt_grad)
    ref, out = loss_t(xt, tt), loss_tw(xtw, ttw)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=rtol, atol=atol)
    seed = rng.standard_normal(tuple(ref.shape))
    (ref * torch.tensor(seed)).sum().backward()
    (out * tw.tensor(seed)).sum().backward()
    np.testing.assert_allclose(xtw.grad.numpy(), xt.grad.numpy(), rtol=rtol, atol=atol)
    if tgt_grad:
        np.testing.assert_allclose(ttw.grad.numpy(), tt.grad.numpy(), rtol=rtol, atol=atol)


def both(name, **kw):
    """(our module, torch's module) with the same options; tensors in kw are converted."""
    kw_tw = {k: tw.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    kw_t = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    return getattr(nn, name)(**kw_tw), getattr(torch.nn, name)(**kw_t)


@REDUCTIONS
def test_mse_and_l1(reduction):
    x, t = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    for name in ("MSELoss", "L1Loss"):
        ours, theirs = both(name, reduction=reduction)
        compare(ours, theirs, x, t, target_grad=True)


def test_mse_broadcast_warns_like_torch():
    with pytest.warns(UserWarning, match="target size"):
        F.mse_loss(tw.zeros(3, 1), tw.zeros(3))


@REDUCTIONS
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.7])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [False, True])
def test_cross_entropy_class_indices(reduction, smoothing, weighted, ignore):
    x = rng.normal(size=(7, 5)) * 3
    t = rng.integers(0, 5, size=7)
    if ignore:
        t[[1, 4]] = -100
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    if weighted:
        kw["weight"] = rng.uniform(0.2, 2.0, size=5)
    ours, theirs = both("CrossEntropyLoss", **kw)
    compare(ours, theirs, x, t)


@REDUCTIONS
def test_cross_entropy_custom_ignore_index_spatial_and_1d(reduction):
    x = rng.normal(size=(3, 4, 2, 5))
    t = rng.integers(0, 4, size=(3, 2, 5))
    t[0, 1, 2] = 2
    ours, theirs = both("CrossEntropyLoss", reduction=reduction, ignore_index=2, weight=rng.uniform(0.5, 2, 4),
                        label_smoothing=0.2)
    compare(ours, theirs, x, t)
    ours, theirs = both("CrossEntropyLoss", reduction=reduction)
    compare(ours, theirs, rng.normal(size=6), np.array(4))


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("kind", ["plain", "weighted", "ignored_target"])
def test_targets_changed_in_place_refuse_backward_like_torch(loss, kind):
    # torch saves the targets: changing them in place before backward is refused, on every path.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    y = np.array([0, 1, 2, -100 if kind == "ignored_target" else 1])
    w = np.array([1.0, 2.0, 0.5]) if kind == "weighted" else None
    for lib, fn in ((tw, getattr(F, loss)), (torch, getattr(torch.nn.functional, loss))):
        xt = lib.tensor(x, requires_grad=True)
        yt = lib.tensor(y)
        out = fn(xt, yt, weight=None if w is None else lib.tensor(w))
        yt.add_(0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.backward()


@REDUCTIONS
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_probabilities(reduction, smoothing, weighted):
    x = rng.normal(size=(4, 3, 5))
    p = rng.uniform(size=(4, 3, 5))
    p /= p.sum(axis=1, keepdims=True)
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    if weighted:
        kw["weight"] = rng.uniform(0.2, 2.0, size=3)
    ours, theirs = both("CrossEntropyLoss", **kw)
    compare(ours, theirs, x, p, target_grad=True)
    compare(ours, theirs, x[:, :, 0], p[:, :, 0], target_grad=True)


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_cross_entropy_all_ignored_is_nan_like_torch():
    x, t = rng.normal(size=(2, 3)), np.array([-100, -100])
    ref = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t))
    out = F.cross_entropy(tw.tensor(x), tw.tensor(t))
    assert np.isnan(ref.item()) and np.isnan(out.item())


def test_cross_entropy_float32_large_logits_stable():
    x = np.array([[1000.0, -1000.0, 0.0], [-50.0, 80.0, 79.0]], dtype=np.float32)
    t = np.array([0, 2])
    ref = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t))
    out = F.cross_entropy(tw.tensor(x), tw.tensor(t))
    assert out.dtype == tw.float32
    np.testing.assert_allclose(out.item(), ref.item(), rtol=1e-6)


@REDUCTIONS
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(reduction, weighted):
    x = np.log(rng.dirichlet(np.ones(4), size=6))
    t = rng.integers(0, 4, size=6)
    t[2] = -100
    kw = dict(reduction=reduction)
    if weighted:
        kw["weight"] = rng.uniform(0.2, 2.0, size=4)
    ours, theirs = both("NLLLoss", **kw)
    compare(ours, theirs, x, t)
    compare(ours, theirs, rng.normal(size=(2, 4, 3)), rng.integers(0, 4, size=(2, 3)))


def test_log_softmax_plus_nll_equals_cross_entropy():
    x, t = tw.tensor(rng.normal(size=(5, 4))), tw.tensor(rng.integers(0, 4, size=5))
    a = F.nll_loss(F.log_softmax(x, 1), t).item()
    assert abs(a - F.cross_entropy(x, t).item()) < 1e-12


@REDUCTIONS
@pytest.mark.parametrize("weighted", [False, True])
def test_bce(reduction, weighted):
    p = rng.uniform(0.01, 0.99, size=(4, 3))
    p[0, 0], p[1, 1] = 0.0, 1.0            # the log clamp at -100 and the 1e-12 guard
    t = rng.uniform(size=(4, 3))
    kw = dict(reduction=reduction)
    if weighted:
        kw["weight"] = rng.uniform(0.5, 2.0, size=(3,))
    ours, theirs = both("BCELoss", **kw)
    compare(ours, theirs, p, t, rtol=1e-9)


@REDUCTIONS
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos_weighted", [False, True])
def test_bce_with_logits(reduction, weighted, pos_weighted):
    x = rng.normal(size=(5, 3)) * 10
    x[0, 0], x[1, 1] = 200.0, -200.0       # would overflow a naive sigmoid/log
    t = (rng.uniform(size=(5, 3)) > 0.5).astype(np.float64)
    kw = dict(reduction=reduction)
    if weighted:
        kw["weight"] = rng.uniform(0.5, 2.0, size=(5, 1))
    if pos_weighted:
        kw["pos_weight"] = rng.uniform(0.5, 3.0, size=(3,))
    ours, theirs = both("BCEWithLogitsLoss", **kw)
    compare(ours, theirs, x, t, target_grad=True)


def test_loss_weights_are_buffers_like_torch():
    ours, theirs = both("CrossEntropyLoss", weight=np.ones(3))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    ours, theirs = both("BCEWithLogitsLoss", pos_weight=np.ones(3))
    assert list(ours.state_dict()) == list(theirs.state_dict())


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
def test_out_of_range_target_is_a_clear_error(fn):
    with pytest.raises(IndexError, match="Target 5 is out of bounds"):
        getattr(F, fn)(tw.randn(2, 5), tw.tensor([1, 5]))


@pytest.mark.parametrize("dtype, bad", [(d, bad) for d in (tw.int8, tw.int32, tw.int64) for bad in (-1, -5, 5)]
                         + [(tw.uint8, 5)])
def test_negative_or_too_large_target_is_an_error_for_every_integer_dtype(dtype, bad):
    # The common-case check reads signed targets as unsigned (one max for both ends):
    # a negative index must still be refused, never wrap around to the last classes.
    with pytest.raises(IndexError, match=f"Target {bad} is out of bounds"):
        F.cross_entropy(tw.randn(2, 5), tw.tensor([1, bad], dtype=dtype))
    if dtype == tw.int64:                # torch's own targets are int64: it refuses them too
        with pytest.raises(IndexError, match=f"Target {bad} is out of bounds"):
            torch.nn.functional.cross_entropy(torch.randn(2, 5), torch.tensor([1, bad]))
    ok = F.cross_entropy(tw.randn(2, 5), tw.tensor([4, 0], dtype=dtype))
    assert np.isfinite(ok.item())
