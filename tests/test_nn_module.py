"""``nn.Module`` mechanics: registration order, hooks, traversal, modes, dtype moves,
state_dict round trips and their errors, repr, containers, and clear errors for
wrong input shapes."""
import copy
from collections import OrderedDict

import numpy as np
import pytest

import tensorweaver as tw
import tensorweaver.nn.functional as F
from tensorweaver import nn

pytestmark = pytest.mark.unit


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.bn = nn.BatchNorm1d(8)
        self.scale = nn.Parameter(tw.ones(1))
        self.register_buffer("steps", tw.zeros(1))
        self.register_buffer("scratch", tw.zeros(2), persistent=False)
        self.blocks = nn.ModuleList([nn.Linear(8, 8), nn.Linear(8, 8)])
        self.head = nn.Sequential(OrderedDict([("drop", nn.Dropout(0.5)), ("out", nn.Linear(8, 3))]))

    def forward(self, x):
        x = self.bn(self.fc1(x)).relu()
        for block in self.blocks:
            x = block(x).relu()
        return self.head(x) * self.scale


def test_registration_order_and_names():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "scale", "fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "blocks.0.weight", "blocks.0.bias",
        "blocks.1.weight", "blocks.1.bias", "head.out.weight", "head.out.bias"]
    assert list(net.state_dict()) == [
        "scale", "steps", "fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
        "bn.num_batches_tracked", "blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias",
        "head.out.weight", "head.out.bias"]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "bn", "blocks", "blocks.0", "blocks.1", "head",
                                                   "head.drop", "head.out"]
    assert [n for n, _ in net.named_children()] == ["fc1", "bn", "blocks", "head"]
    assert [n for n, _ in net.named_buffers()] == ["steps", "scratch", "bn.running_mean", "bn.running_var",
                                                   "bn.num_batches_tracked"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert net.get_submodule("head.out") is net.head.out
    with pytest.raises(AttributeError, match="no submodule 'nope'"):
        net.get_submodule("head.nope")


def test_shared_parameters_listed_once_and_reassignment():
    a = nn.Linear(3, 3)
    seq = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.modules())) == 3
    net = Net()
    net.fc1 = nn.Linear(4, 8, bias=False)
    assert "fc1.bias" not in dict(net.named_parameters())
    net.scale = None
    assert "scale" not in net.state_dict()
    with pytest.raises(TypeError, match="Parameter or None expected"):
        net.scale = tw.ones(1)
    del net.blocks
    assert "blocks.0.weight" not in net.state_dict()


def test_setattr_before_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)
    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()


def test_forward_missing_is_a_clear_error():
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        nn.Module()(1)


def test_hooks_signatures_order_and_removal():
    lin = nn.Linear(2, 2)
    calls = []

    def pre(module, args):
        calls.append(("pre", module is lin, len(args)))
        return (args[0] * 2,)

    def post(module, args, output):
        calls.append(("post", args[0].shape, output.shape))
        return output + 1

    h1 = lin.register_forward_pre_hook(pre)
    h2 = lin.register_forward_hook(post)
    h3 = lin.register_forward_hook(lambda m, a, o: calls.append(("first",)), prepend=True)
    x = tw.ones(1, 2)
    out = lin(x)
    ref = F.linear(x * 2, lin.weight, lin.bias) + 1
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy())
    assert calls == [("pre", True, 1), ("first",), ("post", (1, 2), (1, 2))]
    for h in (h1, h2, h3):
        h.remove()
    calls.clear()
    np.testing.assert_allclose(lin(x).detach().numpy(), F.linear(x, lin.weight, lin.bias).detach().numpy())
    assert calls == []


def test_hooks_with_kwargs_and_handle_as_context_manager():
    lin = nn.Linear(2, 2)
    seen = []
    with lin.register_forward_pre_hook(lambda m, a, k: seen.append(k) or ((a[0] * 0,), k), with_kwargs=True):
        assert lin(tw.ones(1, 2)).detach().numpy().tolist() == [lin.bias.detach().numpy().tolist()]
    assert seen == [{}]
    lin(tw.ones(1, 2))
    assert len(seen) == 1


def test_hooks_name_values_via_named_modules():
    # What an exporter does: map each module to its dotted name and record outputs.
    net = Net().eval()
    names = {m: n for n, m in net.named_modules()}
    recorded = []
    handles = [m.register_forward_hook(lambda m, a, o: recorded.append(names[m])) for m in net.modules()]
    net(tw.randn(2, 4))
    for h in handles:
        h.remove()
    assert recorded == ["fc1", "bn", "blocks.0", "blocks.1", "head.drop", "head.out", "head", ""]


def test_train_eval_reach_every_descendant():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_to_double_casts_float_params_and_buffers_only():
    net = Net()
    w = net.fc1.weight
    net(tw.randn(3, 4)).sum().backward()
    assert net.double() is net
    assert net.fc1.weight is w and w.dtype == tw.float64 and w.grad.dtype == tw.float64
    assert net.bn.running_mean.dtype == tw.float64
    assert net.bn.num_batches_tracked.dtype == tw.int64
    assert net(tw.randn(3, 4, dtype=tw.float64)).dtype == tw.float64
    net.to(tw.float32)
    assert net.fc1.weight.dtype == tw.float32
    with pytest.raises(TypeError, match="floating point"):
        net.to(tw.int64)


def test_zero_grad_and_apply():
    net = Net()
    net(tw.randn(3, 4)).sum().backward()
    assert net.fc1.weight.grad is not None
    net.zero_grad(set_to_none=False)
    assert not net.fc1.weight.grad.numpy().any()
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    visited = []
    net.apply(lambda m: visited.append(type(m).__name__))
    assert visited[-1] == "Net" and visited.count("Linear") == 4

    def init_zero(m):
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.weight)
    net.apply(init_zero)
    assert not net.blocks[1].weight.detach().numpy().any()


def test_state_dict_round_trip_and_sharing():
    a, b = Net(), Net()
    a(tw.randn(4, 4))                    # moves BatchNorm's running stats
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(va.numpy(), vb.numpy(), err_msg=k)
    sd = a.state_dict()
    assert not sd["fc1.weight"].requires_grad
    assert sd["fc1.weight"].data is a.fc1.weight.data        # shares memory, like torch
    assert "scratch" not in sd


def test_load_state_dict_errors_list_keys_and_shapes_and_copy_nothing():
    net = Net()
    before = net.fc1.weight.detach().numpy().copy()
    sd = OrderedDict(net.state_dict())
    sd["fc1.weight"] = tw.ones(8, 4) * 7
    sd["head.out.weight"] = tw.zeros(4, 8)
    del sd["bn.running_var"]
    sd["extra.weight"] = tw.zeros(1)
    with pytest.raises(RuntimeError) as err:
        net.load_state_dict(sd)
    msg = str(err.value)
    assert "Error(s) in loading state_dict for Net" in msg
    assert 'Missing key(s) in state_dict: "bn.running_var"' in msg
    assert 'Unexpected key(s) in state_dict: "extra.weight"' in msg
    assert "size mismatch for head.out.weight: copying a param with shape (4, 8) from checkpoint, the shape " \
           "in current model is (3, 8)" in msg
    np.testing.assert_array_equal(net.fc1.weight.detach().numpy(), before)   # nothing was copied
    # strict=False ignores missing/unexpected keys but never shape mismatches.
    del sd["head.out.weight"]
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["bn.running_var", "head.out.weight"]
    assert result.unexpected_keys == ["extra.weight"]
    np.testing.assert_array_equal(net.fc1.weight.detach().numpy(), 7.0)


def test_load_state_dict_accepts_arrays_and_casts():
    lin = nn.Linear(2, 3)
    lin.load_state_dict({"weight": np.arange(6.0).reshape(3, 2), "bias": [1, 2, 3]})
    assert lin.weight.dtype == tw.float32
    np.testing.assert_array_equal(lin.bias.detach().numpy(), [1, 2, 3])
    lin.load_state_dict({"weight": tw.zeros(3, 2, dtype=tw.float64), "bias": tw.zeros(3)}, assign=True)
    assert lin.weight.dtype == tw.float32 and not lin.weight.detach().numpy().any()


def test_deepcopy_makes_independent_parameters():
    net = Net()
    clone = copy.deepcopy(net)
    assert isinstance(clone.fc1.weight, nn.Parameter)
    with tw.no_grad():
        clone.fc1.weight.data[...] = 0
    assert net.fc1.weight.detach().numpy().any()
    assert [n for n, _ in clone.named_parameters()] == [n for n, _ in net.named_parameters()]


def test_repr_is_torch_like():
    assert repr(Net()) == """Net(
  (fc1): Linear(in_features=4, out_features=8, bias=True)
  (bn): BatchNorm1d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  (blocks): ModuleList(
    (0): Linear(in_features=8, out_features=8, bias=True)
    (1): Linear(in_features=8, out_features=8, bias=True)
  )
  (head): Sequential(
    (drop): Dropout(p=0.5, inplace=False)
    (out): Linear(in_features=8, out_features=3, bias=True)
  )
)"""
    assert repr(nn.Conv2d(1, 2, 3, stride=2, padding=1, bias=False)) == \
        "Conv2d(1, 2, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)"
    assert repr(nn.Parameter(tw.zeros(2))).startswith("Parameter containing:\ntensor(")


def test_containers():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and isinstance(seq[-1], nn.Linear)
    assert isinstance(seq[:2], nn.Sequential) and len(seq[:2]) == 2
    seq.append(nn.Sigmoid())
    del seq[1]
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2"]
    assert seq(tw.randn(5, 2)).shape == (5, 1)
    with pytest.raises(IndexError, match="out of range"):
        seq[7]
    ml = nn.ModuleList([nn.ReLU()])
    ml.append(nn.Tanh())
    ml += [nn.Sigmoid()]
    ml.insert(0, nn.Identity())
    assert [type(m).__name__ for m in ml] == ["Identity", "ReLU", "Tanh", "Sigmoid"]
    assert isinstance(ml[1:], nn.ModuleList)
    md = nn.ModuleDict({"a": nn.Linear(1, 1)})
    md["b"] = nn.ReLU()
    assert list(md.keys()) == ["a", "b"] and "a" in md and len(md) == 2
    assert list(dict(md.named_parameters())) == ["a.weight", "a.bias"]
    assert isinstance(md.pop("b"), nn.ReLU) and len(md) == 1


@pytest.mark.parametrize("module,x,match", [
    (nn.Linear(4, 2), tw.randn(3, 5), r"in_features=4"),
    (nn.Conv2d(3, 8, 3), tw.randn(2, 1, 8, 8), r"expected input\[2, 1, 8, 8\] to have 3 channels.*\(N, 3, H, W\)"),
    (nn.Conv2d(3, 8, 3), tw.randn(8, 8), r"expected a 3-D \(C, H, W\) or 4-D \(N, C, H, W\) input"),
    (nn.Conv2d(1, 1, 5), tw.randn(1, 1, 3, 3), r"too small for a 5x5 kernel"),
    (nn.MaxPool2d(2), tw.randn(4, 4), r"expected a 3-D \(C, H, W\) or 4-D"),
    (nn.BatchNorm2d(3), tw.randn(2, 3, 4), r"expected 4D input.*\(N, C, H, W\)"),
    (nn.BatchNorm1d(3), tw.randn(2, 4), r"expected an input with 3 channels in dim 1, i.e. of shape \(N, 3\)"),
    (nn.LayerNorm(5), tw.randn(2, 4), r"normalized_shape \(5,\).*\(\*, 5\)"),
    (nn.Embedding(3, 2), tw.tensor([0, 3]), r"index 3 is out of range for a table with 3 rows"),
    (nn.Embedding(3, 2), tw.tensor([0.0]), r"integer tensor"),
])
def test_wrong_inputs_name_the_expected_shape(module, x, match):
    with pytest.raises((ValueError, RuntimeError, TypeError, IndexError), match=match):
        module(x)


def test_batchnorm_train_needs_more_than_one_value_per_channel():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(tw.randn(1, 3))
    nn.BatchNorm1d(3).eval()(tw.randn(1, 3))   # fine in eval


def test_cross_entropy_target_errors():
    with pytest.raises(ValueError, match=r"expected target of shape \(4,\)"):
        F.cross_entropy(tw.randn(4, 3), tw.tensor([0, 1]))
    with pytest.raises(TypeError, match="integer tensor"):
        F.cross_entropy(tw.randn(4, 3), tw.tensor([0.0, 1, 2, 1]))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.MSELoss(reduction="avg")
