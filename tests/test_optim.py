"""Optimizer contract without the torch oracle: gradients are never written, zero_grad,
closures, param-group validation, state_dict shape and scheduler argument errors."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver import nn, optim
from tensorweaver.optim import lr_scheduler

pytestmark = pytest.mark.unit

CONFIGS = [
    (optim.SGD, dict(lr=0.1)), (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, maximize=True)),
    (optim.Adam, dict(amsgrad=True, weight_decay=0.1)), (optim.AdamW, dict()),
    (optim.RMSprop, dict(centered=True, momentum=0.5, weight_decay=0.1)),
]


@pytest.mark.parametrize("cls,kw", CONFIGS, ids=[f"{c.__name__}-{i}" for i, (c, _) in enumerate(CONFIGS)])
def test_step_updates_data_and_never_writes_grads(cls, kw):
    tw.manual_seed(0)
    model = nn.Linear(3, 2)
    opt = cls(model.parameters(), **kw)
    for _ in range(3):
        opt.zero_grad()
        model(tw.randn(4, 3)).pow(2).sum().backward()
        grads = [p.grad.numpy().copy() for p in model.parameters()]
        grad_arrays = [p.grad.data for p in model.parameters()]
        before = [p.detach().numpy().copy() for p in model.parameters()]
        opt.step()
        for p, g, arr, b in zip(model.parameters(), grads, grad_arrays, before):
            np.testing.assert_array_equal(p.grad.numpy(), g)          # values untouched
            assert p.grad.data is arr                                 # and not replaced
            assert not np.array_equal(p.detach().numpy(), b)          # the parameter moved
            assert p.grad_fn is None and p.requires_grad
            for value in opt.state[p].values():
                if isinstance(value, tw.Tensor):
                    assert value.data is not p.grad.data


def test_parameters_without_grad_are_skipped_and_zero_grad():
    a, b = nn.Parameter(tw.ones(2)), nn.Parameter(tw.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    (a * 2).sum().backward()
    opt.step()
    assert b.tolist() == [1.0, 1.0] and b not in opt.state and a in opt.state
    opt.zero_grad(set_to_none=False)
    assert a.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert a.grad is None


def test_closure_is_called_with_grad_enabled():
    p = nn.Parameter(tw.tensor([3.0]))
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss
    with tw.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 9.0 and abs(p.item() - 2.4) < 1e-6


def test_param_group_validation():
    p, q = nn.Parameter(tw.ones(1)), nn.Parameter(tw.ones(1))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD({p}, lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p, q]}], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.Adam([p], lr=-1)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1"):
        optim.Adam([p], betas=(0.9, 1.0))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": q, "lr": 0.01})
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01] and opt.param_groups[1]["momentum"] == 0.9
    assert "Parameter Group 1" in repr(opt)


def test_state_dict_errors():
    p = nn.Parameter(tw.ones(2))
    opt = optim.Adam([p])
    p.grad = tw.ones(2)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="parameter groups"):
        optim.Adam([{"params": [p]}, {"params": [nn.Parameter(tw.ones(1))]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="with 1 parameters, but the optimizer.s group has 2"):
        optim.Adam([p, nn.Parameter(tw.ones(1))]).load_state_dict(sd)
    sd["state"][0]["exp_avg"] = tw.ones(3)
    with pytest.raises(ValueError, match="has shape \\(3,\\)"):
        optim.Adam([p]).load_state_dict(sd)


def test_scheduler_errors_and_state():
    p = nn.Parameter(tw.ones(1))
    opt = optim.SGD([p], lr=1.0)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR("sgd", 1)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(opt, 1, last_epoch=3)
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        lr_scheduler.LinearLR(opt, start_factor=0)
    sched = lr_scheduler.LambdaLR(opt, lambda e: 0.5 ** e)
    for _ in range(3):
        opt.step()
        sched.step()
    assert sched.get_last_lr() == [0.125]
    state = sched.state_dict()
    assert state["last_epoch"] == 3 and state["lr_lambdas"] == [None] and "optimizer" not in state
