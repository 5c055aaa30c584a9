"""The optimizers courses reach for beyond SGD/Adam (Adagrad, Adadelta, Adamax, NAdam,
RAdam, ASGD, LBFGS) against PyTorch: 100-step float64 trajectories within 1e-10 for
every option, per-group options, state_dict round trips in torch's layout (ours and
torch's own state_dict), and L-BFGS on a small regression with and without the
strong-Wolfe line search."""
import copy
import io

import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver import nn, optim

torch = pytest.importorskip(
    "torch", reason="PyTorch is the test-only oracle (extra 'torch'); the CPU image omits it "
                    "and CI's venv stage runs these tests")
pytestmark = pytest.mark.torch

from test_optim_torch import assert_same_params, models, run  # noqa: E402  (shared trajectory helpers)

OPTIMIZERS = [
    ("Adagrad", dict(lr=0.05)),
    ("Adagrad", dict(lr=0.05, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1, eps=1e-6)),
    ("Adagrad", dict(lr=0.02, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.05)),
    ("Adadelta", dict(lr=0.5, maximize=True)),
    ("Adamax", dict(lr=0.01)),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    ("Adamax", dict(lr=0.01, maximize=True)),
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, momentum_decay=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, betas=(0.8, 0.99))),
    ("NAdam", dict(lr=0.01, maximize=True)),
    ("RAdam", dict(lr=0.01)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, betas=(0.8, 0.9), eps=1e-6)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.01, maximize=True)),
    ("ASGD", dict(lr=0.05)),
    ("ASGD", dict(lr=0.05, lambd=1e-3, alpha=0.6, t0=20, weight_decay=0.05)),
    ("ASGD", dict(lr=0.02, t0=0, maximize=True)),
]


@pytest.mark.parametrize("name,kw", OPTIMIZERS, ids=[f"{n}-{kw}" for n, kw in OPTIMIZERS])
def test_optimizer_trajectory_100_steps(name, kw):
    ours, theirs = models()
    opt_tw = getattr(optim, name)(ours.parameters(), **kw)
    opt_t = getattr(torch.optim, name)(theirs.parameters(), **kw)
    run(ours, theirs, opt_tw, opt_t, 100)
    assert_same_params(ours, theirs)


GROUP_OPTIONS = {
    "Adagrad": ({"lr": 0.1, "lr_decay": 0.05}, {"weight_decay": 0.1}),
    "Adadelta": ({"rho": 0.5}, {"lr": 0.3, "eps": 1e-4}),
    "Adamax": ({"betas": (0.5, 0.9)}, {"lr": 0.05, "weight_decay": 0.2}),
    "NAdam": ({"momentum_decay": 0.02, "decoupled_weight_decay": True, "weight_decay": 0.1}, {"lr": 0.003}),
    "RAdam": ({"betas": (0.7, 0.95)}, {"decoupled_weight_decay": True, "weight_decay": 0.2}),
    "ASGD": ({"t0": 10, "lambd": 1e-3}, {"lr": 0.01, "alpha": 0.9}),
}


@pytest.mark.parametrize("name", sorted(GROUP_OPTIONS))
def test_per_group_options(name):
    """Each group overrides different hyper-parameters; one is added with add_param_group."""
    first, second = GROUP_OPTIONS[name]
    ours, theirs = models()
    opt_tw = getattr(optim, name)([dict(params=ours[0].parameters(), **first)], lr=0.02)
    opt_t = getattr(torch.optim, name)([dict(params=theirs[0].parameters(), **first)], lr=0.02)
    opt_tw.add_param_group(dict(params=ours[2].parameters(), **second))
    opt_t.add_param_group(dict(params=theirs[2].parameters(), **second))
    run(ours, theirs, opt_tw, opt_t, 60)
    assert_same_params(ours, theirs)
    for g, rg in zip(opt_tw.param_groups, opt_t.param_groups):
        for key, value in g.items():
            if key != "params":
                assert rg[key] == value, key


@pytest.mark.parametrize("name,kw", [OPTIMIZERS[1], OPTIMIZERS[4], OPTIMIZERS[7], OPTIMIZERS[11], OPTIMIZERS[15],
                                     OPTIMIZERS[18]],
                         ids=["Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "ASGD"])
def test_state_dict_resume_mid_run(name, kw):
    """Stop at step 50; resume from our state_dict (through tw.save/tw.load) and from
    torch's own state_dict: both continue on torch's trajectory."""
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
    theirs_b = copy.deepcopy(theirs)
    opt_t_b = getattr(torch.optim, name)(theirs_b.parameters(), **kw)
    opt_t_b.load_state_dict(copy.deepcopy(opt_t.state_dict()))
    run(resumed_model, theirs, resumed, opt_t, 100, start=50)
    run(from_torch_model, theirs_b, from_torch, opt_t_b, 100, start=50)
    assert_same_params(resumed_model, theirs, what="resumed from tw.save")
    assert_same_params(from_torch_model, theirs_b, what="resumed from torch's state_dict")


@pytest.mark.parametrize("name", ["Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "ASGD"])
def test_state_dict_layout_is_torchs(name):
    ours, theirs = models()
    opt_tw = getattr(optim, name)([{"params": [ours[0].weight]}, {"params": [ours[0].bias, ours[2].weight]}])
    opt_t = getattr(torch.optim, name)([{"params": [theirs[0].weight]}, {"params": [theirs[0].bias,
                                                                                   theirs[2].weight]}])
    run(ours, theirs, opt_tw, opt_t, 3)
    sd, ref = opt_tw.state_dict(), opt_t.state_dict()
    assert sorted(sd["state"]) == sorted(ref["state"]) == [0, 1, 2]
    assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in ref["param_groups"]]
    for index in (0, 2):
        assert sorted(sd["state"][index]) == sorted(ref["state"][index])
        for key, value in ref["state"][index].items():
            ours_value = sd["state"][index][key]
            if value.ndim == 0:
                np.testing.assert_allclose(float(ours_value), value.item(), rtol=1e-12, err_msg=key)
            else:
                np.testing.assert_allclose(ours_value.numpy(), value.numpy(), rtol=1e-10, atol=1e-14, err_msg=key)


def test_adagrad_state_exists_before_the_first_step_as_in_torch():
    ours, theirs = models()
    sd = optim.Adagrad(ours.parameters(), initial_accumulator_value=0.5).state_dict()
    ref = torch.optim.Adagrad(theirs.parameters(), initial_accumulator_value=0.5).state_dict()
    assert sorted(sd["state"]) == sorted(ref["state"]) == list(range(4))
    assert float(sd["state"][0]["sum"].numpy()[0, 0]) == 0.5


@pytest.mark.parametrize("name", ["Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "ASGD"])
def test_step_bumps_the_version_so_a_stale_graph_refuses_backward(name):
    w = tw.tensor([1.0, 2.0], requires_grad=True)
    opt = getattr(optim, name)([w])
    (w * w).sum().backward()
    stale = (w * w).sum()          # saves w for its backward
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        stale.backward()


def test_invalid_hyperparameters_are_named():
    w = tw.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="lr_decay"):
        optim.Adagrad([w], lr_decay=-1)
    with pytest.raises(ValueError, match="rho"):
        optim.Adadelta([w], rho=1.5)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        optim.Adamax([w], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="momentum_decay"):
        optim.NAdam([w], momentum_decay=-0.1)
    with pytest.raises(ValueError, match="epsilon"):
        optim.RAdam([w], eps=-1)
    with pytest.raises(ValueError, match="weight_decay"):
        optim.ASGD([w], weight_decay=-1)


# ----------------------------------------------------------------------------- L-BFGS
rng = np.random.default_rng(7)
XR = rng.normal(size=(32, 4))
YR = (XR @ rng.normal(size=(4, 1)) + 0.3 * np.sin(3 * XR[:, :1]) + 0.1 * rng.normal(size=(32, 1)))
XR = np.concatenate([XR, XR ** 2], axis=1)          # polynomial features: 8 inputs


def regression_models(kind="linear"):
    """Least squares on polynomial features (convex: L-BFGS runs to convergence and the
    two libraries stay together to the end), or a small tanh net (non-convex: rounding
    differences grow with every iteration, so only the first steps are compared)."""
    torch.manual_seed(0)
    def build(m):
        if kind == "linear":
            return m.Sequential(m.Linear(8, 1))
        return m.Sequential(m.Linear(8, 8), m.Tanh(), m.Linear(8, 1))
    theirs = build(torch.nn).double()
    ours = build(nn).double()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def lbfgs_pair(kind="linear", **kw):
    ours, theirs = regression_models(kind)
    return ours, theirs, optim.LBFGS(ours.parameters(), **kw), torch.optim.LBFGS(theirs.parameters(), **kw)


def closures(ours, theirs, opt_tw, opt_t):
    xw, yw, xt, yt = tw.tensor(XR), tw.tensor(YR), torch.tensor(XR), torch.tensor(YR)
    calls = {"tw": 0, "torch": 0}

    def closure_tw():
        calls["tw"] += 1
        opt_tw.zero_grad()
        loss = ((ours(xw) - yw) ** 2).mean()
        loss.backward()
        return loss

    def closure_t():
        calls["torch"] += 1
        opt_t.zero_grad()
        loss = ((theirs(xt) - yt) ** 2).mean()
        loss.backward()
        return loss
    return closure_tw, closure_t, calls


LBFGS_OPTIONS = [
    dict(),
    dict(lr=0.5, max_iter=5, history_size=3),
    dict(line_search_fn="strong_wolfe"),
    dict(line_search_fn="strong_wolfe", history_size=4, max_iter=7, max_eval=9),
    dict(lr=0.8, tolerance_grad=1e-3, tolerance_change=1e-4, line_search_fn="strong_wolfe"),
]


@pytest.mark.parametrize("kind,steps", [("linear", 6), ("net", 2)])
@pytest.mark.parametrize("kw", LBFGS_OPTIONS, ids=[str(kw) for kw in LBFGS_OPTIONS])
def test_lbfgs_regression_matches_torch(kw, kind, steps):
    ours, theirs, opt_tw, opt_t = lbfgs_pair(kind, **kw)
    closure_tw, closure_t, calls = closures(ours, theirs, opt_tw, opt_t)
    first = None
    for i in range(steps):
        a, b = opt_tw.step(closure_tw), opt_t.step(closure_t)
        assert abs(a.item() - b.item()) <= 1e-10 * max(1.0, abs(b.item())), f"loss at step {i}"
        first = b.item() if first is None else first
        assert calls["tw"] == calls["torch"], f"closure evaluations at step {i}"
        assert_same_params(ours, theirs, tol=1e-9, what=f"step {i}")
    final = closure_t().item()
    assert final < first                                  # it did optimise
    s, r = opt_tw.state[ours[0].weight], opt_t.state[theirs[0].weight]
    assert s["func_evals"] == r["func_evals"] and s["n_iter"] == r["n_iter"]
    assert len(s["old_dirs"]) == len(r["old_dirs"]) <= kw.get("history_size", 100)


def test_lbfgs_state_dict_resume_from_ours_and_torchs():
    kw = dict(line_search_fn="strong_wolfe", history_size=5, max_iter=4)
    ours, theirs, opt_tw, opt_t = lbfgs_pair("net", **kw)
    closure_tw, closure_t, _ = closures(ours, theirs, opt_tw, opt_t)
    for _ in range(3):
        opt_tw.step(closure_tw)
        opt_t.step(closure_t)
    buf = io.BytesIO()
    tw.save(opt_tw.state_dict(), buf)
    buf.seek(0)
    for saved in (tw.load(buf), opt_t.state_dict()):
        model, _ = regression_models("net")
        model.load_state_dict(theirs.state_dict())
        resumed = optim.LBFGS(model.parameters(), **kw)
        resumed.load_state_dict(saved)
        theirs_b = copy.deepcopy(theirs)
        opt_t_b = torch.optim.LBFGS(theirs_b.parameters(), **kw)
        opt_t_b.load_state_dict(copy.deepcopy(opt_t.state_dict()))
        c_tw, c_t, _ = closures(model, theirs_b, resumed, opt_t_b)
        for _ in range(2):
            resumed.step(c_tw)
            opt_t_b.step(c_t)
        assert_same_params(model, theirs_b, tol=1e-9)


def test_lbfgs_errors_are_clear():
    w = tw.tensor([1.0], requires_grad=True)
    v = tw.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [w]}, {"params": [v], "lr": 0.1}])
    with pytest.raises(ValueError, match="strong_wolfe"):
        optim.LBFGS([w], line_search_fn="backtracking")
    with pytest.raises(RuntimeError, match="closure"):
        optim.LBFGS([w]).step()


def test_lbfgs_stops_at_a_stationary_point_with_one_evaluation():
    w = tw.tensor([0.0, 0.0], requires_grad=True)
    opt = optim.LBFGS([w])
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss
    opt.step(closure)
    assert len(calls) == 1 and w.tolist() == [0.0, 0.0]
