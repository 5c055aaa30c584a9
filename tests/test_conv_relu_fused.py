"""nn.Sequential runs a Conv2d followed by a ReLU as one node (conv + bias + ReLU, see
ops/conv.py). It must compute exactly what the two modules compute one by one — torch
as the oracle for values and all three gradients — and step aside whenever the
intermediate result could be seen: a hook on either module, a subclass."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver import nn
from tensorweaver.ops import conv as conv_ops
from tensorweaver.ops import elementwise

from conv_fused_helpers import compare_with_torch  # noqa: E402  (tests/ is on the path)

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle")
pytestmark = pytest.mark.torch

CASES = [
    dict(args=(3, 4, 3), kw=dict(padding=1), shape=(2, 3, 7, 6)),
    dict(args=(3, 4, 3), kw=dict(stride=2), shape=(2, 3, 9, 8)),
    dict(args=(4, 6, (3, 2)), kw=dict(padding=(2, 1), dilation=(1, 2), groups=2, bias=False), shape=(2, 4, 8, 9)),
    dict(args=(3, 4, 3), kw=dict(padding=1, padding_mode="reflect"), shape=(2, 3, 6, 6)),
    dict(args=(3, 4, 3), kw=dict(padding=1), shape=(3, 7, 6)),                     # unbatched
]


def _models(case, inplace=False):
    tw.manual_seed(0)
    ours = nn.Sequential(nn.Conv2d(*case["args"], dtype=tw.float64, **case["kw"]), nn.ReLU(inplace=inplace))
    ref = torch.nn.Sequential(torch.nn.Conv2d(*case["args"], dtype=torch.float64, **case["kw"]), torch.nn.ReLU())
    with torch.no_grad():
        for p, q in zip(ref.parameters(), ours.parameters()):
            p.copy_(torch.tensor(q.detach().numpy()))
    return ours, ref


def _run(ours, ref, shape, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape)
    x[..., 0, :] = 0.0                     # some outputs exactly at the ReLU's kink
    return compare_with_torch(torch, ours, ref, x, seed)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['kw']}-{len(c['shape'])}d")
@pytest.mark.parametrize("inplace", [False, True])
def test_fused_matches_torch(case, inplace):
    ours, ref = _models(case, inplace)
    y = _run(ours, ref, case["shape"])
    if len(case["shape"]) == 4:                           # (unbatched: a reshape follows)
        assert isinstance(y.grad_fn, conv_ops.Conv2d)    # one node: the fused path ran


def test_fused_equals_the_two_modules_run_one_by_one():
    case = CASES[0]
    ours, _ = _models(case)
    x = tw.tensor(np.random.default_rng(1).standard_normal(case["shape"]), requires_grad=True)
    fused = ours(x)
    fused.square().sum().backward()
    grads = [x.grad.numpy().copy()] + [p.grad.numpy().copy() for p in ours.parameters()]
    x.grad = None
    ours.zero_grad()
    plain = ours[1](ours[0](x))
    assert isinstance(plain.grad_fn, elementwise.ReLU)
    plain.square().sum().backward()
    np.testing.assert_array_equal(fused.detach().numpy(), plain.detach().numpy())
    for a, b in zip(grads, [x.grad.numpy()] + [p.grad.numpy() for p in ours.parameters()]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("where", ["conv_forward_hook", "relu_pre_hook", "subclass"])
def test_no_fusion_when_the_intermediate_could_be_seen(where):
    case = CASES[0]
    ours, ref = _models(case)
    seen = []
    if where == "conv_forward_hook":
        ours[0].register_forward_hook(lambda m, args, out: seen.append(out))
    elif where == "relu_pre_hook":
        ours[1].register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    else:
        class MyReLU(nn.ReLU):
            pass
        ours[1] = MyReLU()
    y = _run(ours, ref, case["shape"])
    assert isinstance(y.grad_fn, elementwise.ReLU)
    if where != "subclass":
        assert isinstance(seen[0].grad_fn, conv_ops.Conv2d) and (seen[0].detach().numpy() < 0).any()


def test_fused_output_changed_in_place_refuses_backward():
    ours, _ = _models(CASES[0])
    y = ours(tw.tensor(np.ones(CASES[0]["shape"]), requires_grad=True))
    loss = (y * y).sum()
    with tw.no_grad():
        y.add_(1.0)
    with pytest.raises(RuntimeError, match="inplace"):
        loss.backward()
