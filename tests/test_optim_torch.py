"""Optimizer and scheduler trajectories against PyTorch: 100 steps from identical float64
weights agree within 1e-10 for every optimizer option, and every scheduler's learning
rates are identical float for float. Also: state_dict round trips mid-run (ours and
torch's layout), param groups, and gradient clipping."""
import copy
import io
import math

import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver import nn, optim
from tensorweaver.nn.utils import clip_grad_norm_, clip_grad_value_
from tensorweaver.optim import lr_scheduler

torch = pytest.importorskip(
    "torch", reason="PyTorch is the test-only oracle (extra 'torch'); the CPU image omits it "
                    "and CI's venv stage runs these tests")
pytestmark = pytest.mark.torch

rng = np.random.default_rng(3)
X = rng.normal(size=(16, 5))
Y = rng.normal(size=(16, 3))


def models():
    def build(m):
        return m.Sequential(m.Linear(5, 6), m.Tanh(), m.Linear(6, 3))
    theirs = build(torch.nn).double()
    ours = build(nn).double()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def loss_step(model, lib, x, y, sign=1.0):
    out = model(x)
    loss = ((out - y) ** 2).mean() + 0.1 * (out ** 4).mean()     # a little curvature beyond quadratic
    (loss * sign).backward()                                     # sign=-1: the objective for maximize=True
    return loss


def assert_same_params(ours, theirs, tol=1e-10, what=""):
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=tol, atol=tol, err_msg=f"{what} {name}")


def run(ours, theirs, opt_tw, opt_t, steps, sched_tw=None, sched_t=None, start=0):
    xt, yt, xw, yw = torch.tensor(X), torch.tensor(Y), tw.tensor(X), tw.tensor(Y)
    for i in range(start, steps):
        batch = slice((i % 4) * 4, (i % 4) * 4 + 4)
        opt_tw.zero_grad()
        opt_t.zero_grad()
        sign = -1.0 if opt_t.param_groups[0].get("maximize") else 1.0
        a = loss_step(ours, tw, xw[batch], yw[batch], sign)
        b = loss_step(theirs, torch, xt[batch], yt[batch], sign)
        assert abs(a.item() - b.item()) <= 1e-10 * max(1.0, abs(b.item())), f"loss at step {i}"
        opt_tw.step()
        opt_t.step()
        if sched_tw is not None:
            sched_tw.step()
            sched_t.step()
            assert sched_tw.get_last_lr() == sched_t.get_last_lr(), f"lr at step {i}"


OPTIMIZERS = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05)),
    ("SGD", dict(lr=0.01, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.3, decoupled_weight_decay=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.005, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.1, eps=1e-4)),
]


@pytest.mark.parametrize("name,kw", OPTIMIZERS, ids=[f"{n}-{kw}" for n, kw in OPTIMIZERS])
def test_optimizer_trajectory_100_steps(name, kw):
    ours, theirs = models()
    opt_tw = getattr(optim, name)(ours.parameters(), **kw)
    opt_t = getattr(torch.optim, name)(theirs.parameters(), **kw)
    run(ours, theirs, opt_tw, opt_t, 100)
    assert_same_params(ours, theirs)


@pytest.mark.parametrize("name,kw", [OPTIMIZERS[3], OPTIMIZERS[8], OPTIMIZERS[10], OPTIMIZERS[15]],
                         ids=["SGD", "Adam", "AdamW", "RMSprop"])
def test_optimizer_state_dict_resume_mid_run(name, kw):
    """Stop at step 50, save/load our optimizer (tw.save) into a fresh one, and also load
    torch's own state_dict into another: both continue on torch's trajectory."""
    ours, theirs = models()
    opt_tw = getattr(optim, name)(ours.parameters(), **kw)
    opt_t = getattr(torch.optim, name)(theirs.parameters(), **kw)
    run(ours, theirs, opt_tw, opt_t, 50)
    buf = io.BytesIO()
    tw.save({"model": ours.state_dict(), "optim": opt_tw.state_dict()}, buf)
    buf.seek(0)
    ckpt = tw.load(buf)
    resumed_model, _ = models()
    resumed_model.load_state_dict(ckpt["model"])
    resumed = getattr(optim, name)(resumed_model.parameters(), **kw)
    resumed.load_state_dict(ckpt["optim"])
    from_torch_model, _ = models()
    from_torch_model.load_state_dict(theirs.state_dict())
    from_torch = getattr(optim, name)(from_torch_model.parameters(), **kw)
    from_torch.load_state_dict(opt_t.state_dict())
    # torch continues twice from the same point, once beside each resumed optimizer.
    theirs_b = copy.deepcopy(theirs)
    opt_t_b = getattr(torch.optim, name)(theirs_b.parameters(), **kw)
    opt_t_b.load_state_dict(copy.deepcopy(opt_t.state_dict()))   # torch's load aliases same-dtype tensors
    run(resumed_model, theirs, resumed, opt_t, 100, start=50)
    run(from_torch_model, theirs_b, from_torch, opt_t_b, 100, start=50)
    assert_same_params(resumed_model, theirs, what="resumed from tw.save")
    assert_same_params(from_torch_model, theirs_b, what="resumed from torch's state_dict")


def test_state_dict_layout_is_torchs():
    ours, theirs = models()
    opt_tw = optim.Adam([{"params": [ours[0].weight]}, {"params": [ours[0].bias, ours[2].weight], "lr": 0.1}],
                        amsgrad=True)
    opt_t = torch.optim.Adam([{"params": [theirs[0].weight]}, {"params": [theirs[0].bias, theirs[2].weight],
                                                                "lr": 0.1}], amsgrad=True)
    run(ours, theirs, opt_tw, opt_t, 3)
    sd, ref = opt_tw.state_dict(), opt_t.state_dict()
    assert list(sd) == ["state", "param_groups"]
    assert sorted(sd["state"]) == sorted(ref["state"]) == [0, 1, 2]
    assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in ref["param_groups"]]
    for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
        np.testing.assert_allclose(sd["state"][1][k].numpy(), ref["state"][1][k].numpy(), rtol=1e-10, atol=1e-14)
    assert sd["state"][1]["step"] == int(ref["state"][1]["step"].item()) == 3
    for g, rg in zip(sd["param_groups"], ref["param_groups"]):
        for key, value in g.items():
            assert rg[key] == value, key
    assert ours[2].bias.grad is not None and 3 not in sd["state"]     # ungrouped params are not touched


def test_param_groups_with_different_lrs_and_add_param_group():
    ours, theirs = models()
    groups_tw = [{"params": ours[0].parameters(), "lr": 0.1}, {"params": ours[2].parameters()}]
    groups_t = [{"params": theirs[0].parameters(), "lr": 0.1}, {"params": theirs[2].parameters()}]
    opt_tw = optim.SGD(groups_tw[:1], lr=0.01, momentum=0.9)
    opt_t = torch.optim.SGD(groups_t[:1], lr=0.01, momentum=0.9)
    opt_tw.add_param_group(groups_tw[1])
    opt_t.add_param_group(groups_t[1])
    run(ours, theirs, opt_tw, opt_t, 30)
    assert_same_params(ours, theirs)
    assert [g["lr"] for g in opt_tw.param_groups] == [0.1, 0.01]


SCHEDULERS = [
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[10, 30, 30, 60], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.97)),
    ("CosineAnnealingLR", dict(T_max=30, eta_min=0.001)),
    ("CosineAnnealingLR", dict(T_max=100)),
    ("LambdaLR", dict(lr_lambda=lambda epoch: 1.0 / (1 + 0.1 * epoch))),
    ("LinearLR", dict(start_factor=0.1, total_iters=20)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.2, total_iters=40)),
]


@pytest.mark.parametrize("name,kw", SCHEDULERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULERS)])
def test_scheduler_trajectory_100_steps(name, kw):
    ours, theirs = models()
    opt_tw = optim.SGD([{"params": ours[0].parameters()}, {"params": ours[2].parameters(), "lr": 0.02}],
                       lr=0.05, momentum=0.9)
    opt_t = torch.optim.SGD([{"params": theirs[0].parameters()}, {"params": theirs[2].parameters(), "lr": 0.02}],
                            lr=0.05, momentum=0.9)
    s_tw = getattr(lr_scheduler, name)(opt_tw, **kw)
    s_t = getattr(torch.optim.lr_scheduler, name)(opt_t, **kw)
    assert s_tw.get_last_lr() == s_t.get_last_lr()
    run(ours, theirs, opt_tw, opt_t, 100, s_tw, s_t)
    assert_same_params(ours, theirs)
    assert [g["lr"] for g in opt_tw.param_groups] == [g["lr"] for g in opt_t.param_groups]


def test_sequential_warmup_then_cosine_matches_torch():
    ours, theirs = models()
    opt_tw, opt_t = optim.AdamW(ours.parameters(), lr=0.01), torch.optim.AdamW(theirs.parameters(), lr=0.01)

    def sched(lib, opt):
        ls = lib.optim.lr_scheduler if lib is torch else lr_scheduler
        return ls.SequentialLR(opt, [ls.LinearLR(opt, start_factor=0.01, total_iters=10),
                                     ls.CosineAnnealingLR(opt, T_max=90)], milestones=[10])
    s_tw, s_t = sched(tw, opt_tw), sched(torch, opt_t)
    assert s_tw.get_last_lr() == s_t.get_last_lr()
    run(ours, theirs, opt_tw, opt_t, 100, s_tw, s_t)
    assert_same_params(ours, theirs)


def test_scheduler_state_dict_resume():
    ours, theirs = models()
    opt_tw, opt_t = optim.SGD(ours.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(), lr=0.1)
    s_tw = lr_scheduler.MultiStepLR(opt_tw, [5, 12], 0.5)
    s_t = torch.optim.lr_scheduler.MultiStepLR(opt_t, [5, 12], 0.5)
    run(ours, theirs, opt_tw, opt_t, 8, s_tw, s_t)
    buf = io.BytesIO()
    tw.save({"sched": s_tw.state_dict(), "optim": opt_tw.state_dict()}, buf)
    buf.seek(0)
    ckpt = tw.load(buf)
    opt2 = optim.SGD(ours.parameters(), lr=0.1)
    s2 = lr_scheduler.MultiStepLR(opt2, [1], 0.9)
    opt2.load_state_dict(ckpt["optim"])
    s2.load_state_dict(ckpt["sched"])
    run(ours, theirs, opt2, opt_t, 20, s2, s_t, start=8)
    assert_same_params(ours, theirs)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.05, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ours, theirs = models()
    loss_step(ours, tw, tw.tensor(X), tw.tensor(Y))
    loss_step(theirs, torch, torch.tensor(X), torch.tensor(Y))
    total = clip_grad_norm_(ours.parameters(), max_norm, norm_type)
    ref = torch.nn.utils.clip_grad_norm_(theirs.parameters(), max_norm, norm_type)
    np.testing.assert_allclose(total.item(), ref.item(), rtol=1e-12)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_clip_grad_value_and_nonfinite_error():
    ours, theirs = models()
    loss_step(ours, tw, tw.tensor(X), tw.tensor(Y))
    loss_step(theirs, torch, torch.tensor(X), torch.tensor(Y))
    clip_grad_value_(ours.parameters(), 0.01)
    torch.nn.utils.clip_grad_value_(theirs.parameters(), 0.01)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-16)
    ours[0].weight.grad.data[0, 0] = np.nan
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(ours.parameters(), 1.0, error_if_nonfinite=True)
