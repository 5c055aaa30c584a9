"""nn.Sequential runs a Conv2d followed by a MaxPool2d whose windows tile its output
(with or without a ReLU between them) as one node: conv + bias (+ ReLU) + max-pool,
see ops/conv.py. It must compute exactly what the modules compute one by one (torch
as the oracle for values and all three gradients, including its first-maximum rule
for ties), work block by block of images, and step aside whenever an intermediate
result could be seen or the pool is not a plain tiling one."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver import nn
from tensorweaver.ops import conv as conv_ops
from tensorweaver.ops import pooling as pool_ops

from conv_fused_helpers import compare_with_torch  # noqa: E402  (tests/ is on the path)

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle")
pytestmark = pytest.mark.torch

# (conv args, conv kwargs, relu?, pool kernel, input shape)
CASES = {
    "relu-pool2": ((3, 4, 3), dict(padding=1), True, 2, (3, 3, 8, 6)),
    "pool2-no-relu": ((3, 4, 3), dict(padding=1), False, 2, (3, 3, 8, 6)),
    "relu-pool-2x3": ((3, 4, 3), dict(padding=1), True, (2, 3), (2, 3, 6, 9)),
    "strided-conv": ((3, 4, 3), dict(stride=2, padding=1), True, 2, (2, 3, 8, 8)),
    "groups-dilation-no-bias": ((4, 6, (3, 2)), dict(padding=(2, 1), dilation=(1, 2), groups=2, bias=False),
                                True, 2, (2, 4, 8, 8)),
    "reflect-padding": ((3, 4, 3), dict(padding=1, padding_mode="reflect"), True, 2, (2, 3, 6, 6)),
    "unbatched": ((3, 4, 3), dict(padding=1), True, 2, (3, 8, 6)),
}


def _models(case):
    args, kw, relu, pool, _ = case
    tw.manual_seed(0)
    ours = [nn.Conv2d(*args, dtype=tw.float64, **kw)] + ([nn.ReLU()] if relu else []) + [nn.MaxPool2d(pool)]
    ref = [torch.nn.Conv2d(*args, dtype=torch.float64, **kw)] + ([torch.nn.ReLU()] if relu else []) + \
        [torch.nn.MaxPool2d(pool)]
    ours, ref = nn.Sequential(*ours), torch.nn.Sequential(*ref)
    with torch.no_grad():
        for p, q in zip(ref.parameters(), ours.parameters()):
            p.copy_(torch.tensor(q.detach().numpy()))
    return ours, ref


def _input(shape, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape)
    x[..., :3, :] = 0.5     # constant rows: equal conv outputs, i.e. ties inside pooling windows
    return x


def _compare(ours, ref, x, seed=0):
    return compare_with_torch(torch, ours, ref, x, seed)


@pytest.mark.parametrize("name", CASES)
def test_fused_matches_torch(name):
    case = CASES[name]
    ours, ref = _models(case)
    y = _compare(ours, ref, _input(case[4]))
    if len(case[4]) == 4:                                # (unbatched: a reshape follows)
        assert isinstance(y.grad_fn, conv_ops.Conv2d)   # one node: the fused path ran


def test_several_blocks_of_images(monkeypatch):
    # Small blocks (3 images, the last one short) exercise the per-block pooling and routing.
    monkeypatch.setattr(conv_ops, "_BLOCK_ELEMENTS", 3 * 3 * 9 * 8 * 8)
    case = CASES["relu-pool2"]
    ours, ref = _models(case)
    assert len(conv_ops._blocks(8, 3 * 9 * 8 * 8)) == 3
    y = _compare(ours, ref, _input((8,) + case[4][1:]))
    assert isinstance(y.grad_fn, conv_ops.Conv2d)


def test_windows_that_do_not_tile_the_output_run_as_their_own_node():
    case = ((3, 4, 3), {}, True, 2, (2, 3, 9, 8))            # 7x6 output: the last row is dropped
    ours, ref = _models(case)
    y = _compare(ours, ref, _input(case[4]))
    assert isinstance(y.grad_fn, pool_ops.MaxPool2d)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")   # inf * 0 in the products
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("special", ["nan", "inf", "ties"])
def test_fused_equals_the_modules_run_one_by_one(relu, special):
    ours, _ = _models(((3, 4, 3), dict(padding=1), relu, 2, None))
    x = _input((3, 3, 8, 6), seed=2)
    if special == "nan":
        x[0, 0, 4, 2] = x[1, 2, 5, 5] = np.nan
    elif special == "inf":
        x[0, 0, 4, 2] = np.inf
    else:
        x[:] = 0.0
    xt = tw.tensor(x, requires_grad=True)
    fused = ours(xt)
    assert isinstance(fused.grad_fn, conv_ops.Conv2d)
    g = tw.tensor(np.random.default_rng(3).standard_normal(fused.shape))
    fused.backward(g)
    grads = [xt.grad.numpy().copy()] + [p.grad.numpy().copy() for p in ours.parameters()]
    xt.grad = None
    ours.zero_grad()
    plain = xt
    for module in ours:
        plain = module(plain)
    assert isinstance(plain.grad_fn, pool_ops.MaxPool2d)
    plain.backward(g)
    np.testing.assert_array_equal(fused.detach().numpy(), plain.detach().numpy())
    for a, b in zip(grads, [xt.grad.numpy()] + [p.grad.numpy() for p in ours.parameters()]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("where", ["pool_forward_hook", "pool_pre_hook", "subclass", "return_indices",
                                   "ceil_mode", "padding", "stride"])
def test_no_pool_fusion_when_it_could_be_seen_or_is_not_tiling(where):
    ours, ref = _models(CASES["relu-pool2"])
    seen = []
    pool = ours[2]
    if where == "pool_forward_hook":
        pool.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    elif where == "pool_pre_hook":
        pool.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    elif where == "subclass":
        class MyPool(nn.MaxPool2d):
            pass
        ours[2] = MyPool(2)
    elif where == "return_indices":
        pool.return_indices = True
    elif where == "ceil_mode":
        pool.ceil_mode = ref[2].ceil_mode = True
    elif where == "padding":
        pool.padding = ref[2].padding = 1
    else:
        pool.stride = ref[2].stride = 1
    x = tw.tensor(_input((3, 3, 8, 6)))
    out = ours(x)
    if where == "return_indices":
        out, idx = out
        ref[2].return_indices = True
        expected, expected_idx = ref(torch.tensor(x.numpy()))
        np.testing.assert_array_equal(idx.numpy(), expected_idx.numpy())
    else:
        _compare(ours, ref, x.numpy())
        expected = ref(torch.tensor(x.numpy()))
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    assert isinstance(out.grad_fn, pool_ops.MaxPool2d)
    if seen:                 # the hook saw the ReLU's output, which the fused node never writes
        assert seen[0].shape == (3, 4, 8, 6) and (seen[0].detach().numpy() >= 0).all()


def test_no_grad_forward_and_an_in_place_change_of_the_output():
    ours, _ = _models(CASES["relu-pool2"])
    x = tw.tensor(_input((3, 3, 8, 6)), requires_grad=True)
    with tw.no_grad():
        expected = ours[2](ours[1](ours[0](x)))
        got = ours(x)
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    y = ours(x)
    loss = (y * y).sum()
    with tw.no_grad():
        y.add_(1.0)
    with pytest.raises(RuntimeError, match="inplace"):
        loss.backward()
