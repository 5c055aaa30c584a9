"""OneCycleLR, CyclicLR, CosineAnnealingWarmRestarts, PolynomialLR, ChainedScheduler and
ReduceLROnPlateau against PyTorch: the learning rates (and the cycled momentum or beta1)
are identical float for float at every step, and 100-step trajectories agree within
1e-10; state_dict round trips resume on torch's schedule."""
import io

import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver import optim
from tensorweaver.optim import lr_scheduler

torch = pytest.importorskip(
    "torch", reason="PyTorch is the test-only oracle (extra 'torch'); the CPU image omits it "
                    "and CI's venv stage runs these tests")
pytestmark = pytest.mark.torch

from test_optim_torch import assert_same_params, models, run  # noqa: E402  (shared trajectory helpers)


def pair(opt_name="SGD", **opt_kw):
    """Two param groups with different lrs, ours and torch's, from the same weights."""
    ours, theirs = models()
    opt_kw = opt_kw or dict(lr=0.05, momentum=0.9)
    opt_tw = getattr(optim, opt_name)([{"params": ours[0].parameters()},
                                       {"params": ours[2].parameters(), "lr": 0.02}], **opt_kw)
    opt_t = getattr(torch.optim, opt_name)([{"params": theirs[0].parameters()},
                                            {"params": theirs[2].parameters(), "lr": 0.02}], **opt_kw)
    return ours, theirs, opt_tw, opt_t


def same_groups(opt_tw, opt_t):
    for g, rg in zip(opt_tw.param_groups, opt_t.param_groups):
        for key in ("lr", "momentum", "betas", "initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"):
            if key in rg:
                assert g[key] == rg[key], key


SCHEDULERS = [
    ("PolynomialLR", "SGD", dict(total_iters=40, power=2.0)),
    ("PolynomialLR", "SGD", dict()),
    ("CosineAnnealingWarmRestarts", "SGD", dict(T_0=10)),
    ("CosineAnnealingWarmRestarts", "SGD", dict(T_0=5, T_mult=2, eta_min=1e-3)),
    ("OneCycleLR", "SGD", dict(max_lr=0.1, total_steps=100)),
    ("OneCycleLR", "SGD", dict(max_lr=[0.1, 0.05], epochs=10, steps_per_epoch=10, pct_start=0.25,
                               anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0)),
    ("OneCycleLR", "Adam", dict(max_lr=0.01, total_steps=100, three_phase=True)),
    ("OneCycleLR", "SGD", dict(max_lr=0.1, total_steps=100, cycle_momentum=False)),
    ("CyclicLR", "SGD", dict(base_lr=0.001, max_lr=0.05, step_size_up=7)),
    ("CyclicLR", "SGD", dict(base_lr=[0.001, 0.002], max_lr=0.05, step_size_up=5, step_size_down=12,
                             mode="triangular2", base_momentum=0.7, max_momentum=0.95)),
    ("CyclicLR", "Adam", dict(base_lr=0.001, max_lr=0.01, step_size_up=9, mode="exp_range", gamma=0.98)),
    ("CyclicLR", "SGD", dict(base_lr=0.001, max_lr=0.05, step_size_up=6, cycle_momentum=False,
                             scale_fn=lambda x: 0.5 ** x, scale_mode="iterations")),
]


@pytest.mark.parametrize("name,opt_name,kw", SCHEDULERS, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(SCHEDULERS)])
def test_scheduler_trajectory_100_steps(name, opt_name, kw):
    opt_kw = dict(lr=0.01) if opt_name == "Adam" else dict(lr=0.05, momentum=0.9)
    ours, theirs, opt_tw, opt_t = pair(opt_name, **opt_kw)
    s_tw = getattr(lr_scheduler, name)(opt_tw, **kw)
    s_t = getattr(torch.optim.lr_scheduler, name)(opt_t, **kw)
    assert s_tw.get_last_lr() == s_t.get_last_lr()
    same_groups(opt_tw, opt_t)
    run(ours, theirs, opt_tw, opt_t, 100, s_tw, s_t)      # asserts the lrs after every step
    same_groups(opt_tw, opt_t)
    assert_same_params(ours, theirs)


def test_one_cycle_past_total_steps_is_a_clear_error():
    _, _, opt_tw, _ = pair()
    s = lr_scheduler.OneCycleLR(opt_tw, max_lr=0.1, total_steps=3)
    for _ in range(3):
        s.step()
    with pytest.raises(ValueError, match="total steps is 3"):
        s.step()


def test_warm_restarts_with_fractional_epochs_matches_torch():
    """The batch-loop form: ``scheduler.step(epoch + i / iters)``."""
    _, _, opt_tw, opt_t = pair()
    s_tw = lr_scheduler.CosineAnnealingWarmRestarts(opt_tw, T_0=3, T_mult=2, eta_min=1e-4)
    s_t = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt_t, T_0=3, T_mult=2, eta_min=1e-4)
    for epoch in range(12):
        for i in range(5):
            s_tw.step(epoch + i / 5)
            s_t.step(epoch + i / 5)
            assert s_tw.get_last_lr() == s_t.get_last_lr(), (epoch, i)
    for epoch in (0, 2, 7, 30):               # jumping around
        s_tw.step(epoch)
        s_t.step(epoch)
        assert s_tw.get_last_lr() == s_t.get_last_lr(), epoch


def test_chained_scheduler_matches_torch():
    ours, theirs, opt_tw, opt_t = pair()

    def chain(ls, opt):
        return ls.ChainedScheduler([ls.ExponentialLR(opt, gamma=0.97), ls.StepLR(opt, step_size=10, gamma=0.5),
                                    ls.PolynomialLR(opt, total_iters=60, power=0.5)])
    s_tw, s_t = chain(lr_scheduler, opt_tw), chain(torch.optim.lr_scheduler, opt_t)
    assert s_tw.get_last_lr() == s_t.get_last_lr()
    run(ours, theirs, opt_tw, opt_t, 100, s_tw, s_t)
    assert_same_params(ours, theirs)


def test_chained_scheduler_errors():
    _, _, opt_tw, _ = pair()
    _, _, other, _ = pair()
    with pytest.raises(ValueError, match="at least one"):
        lr_scheduler.ChainedScheduler([])
    with pytest.raises(ValueError, match="same optimizer"):
        lr_scheduler.ChainedScheduler([lr_scheduler.StepLR(opt_tw, 3), lr_scheduler.StepLR(other, 3)])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        lr_scheduler.ChainedScheduler([lr_scheduler.ReduceLROnPlateau(opt_tw)])


PLATEAU = [
    dict(),
    dict(mode="max", factor=0.5, patience=2, threshold=0.01, threshold_mode="abs", cooldown=3),
    dict(factor=0.3, patience=1, min_lr=[0.004, 0.001], cooldown=1),
    dict(factor=0.5, patience=0, min_lr=0.01, eps=1e-3),
]


@pytest.mark.parametrize("kw", PLATEAU, ids=[str(kw) for kw in PLATEAU])
def test_reduce_lr_on_plateau_matches_torch(kw):
    """A noisy validation metric that improves, stalls and oscillates."""
    ours, theirs, opt_tw, opt_t = pair()
    s_tw = lr_scheduler.ReduceLROnPlateau(opt_tw, **kw)
    s_t = torch.optim.lr_scheduler.ReduceLROnPlateau(opt_t, **kw)
    metric_rng = np.random.default_rng(5)
    metrics = np.concatenate([np.linspace(1.0, 0.5, 15), 0.5 + 0.02 * metric_rng.normal(size=45),
                              np.linspace(0.5, 0.9, 10)])
    for epoch, m in enumerate(metrics):
        run(ours, theirs, opt_tw, opt_t, 1)
        s_tw.step(m)
        s_t.step(m)
        assert s_tw.get_last_lr() == s_t.get_last_lr(), epoch
        assert (s_tw.num_bad_epochs, s_tw.cooldown_counter, s_tw.best) == \
               (s_t.num_bad_epochs, s_t.cooldown_counter, s_t.best), epoch
    assert s_tw.get_last_lr() != [0.05, 0.02]             # it did reduce
    assert_same_params(ours, theirs)


def test_reduce_lr_on_plateau_accepts_a_tensor_metric_and_rejects_bad_options():
    _, _, opt_tw, _ = pair()
    s = lr_scheduler.ReduceLROnPlateau(opt_tw, patience=0)
    s.step(tw.tensor(1.0))
    s.step(tw.tensor(2.0))
    assert s.get_last_lr() == [0.05 * 0.1, 0.02 * 0.1]
    with pytest.raises(ValueError, match="Factor"):
        lr_scheduler.ReduceLROnPlateau(opt_tw, factor=1.5)
    with pytest.raises(ValueError, match="mode"):
        lr_scheduler.ReduceLROnPlateau(opt_tw, mode="lowest")
    with pytest.raises(ValueError, match="min_lrs"):
        lr_scheduler.ReduceLROnPlateau(opt_tw, min_lr=[0.1])


def test_cyclic_momentum_needs_an_optimizer_with_momentum():
    _, _, opt_tw, _ = pair("Adagrad", lr=0.1)
    with pytest.raises(ValueError, match="cycle_momentum=False"):
        lr_scheduler.CyclicLR(opt_tw, 0.01, 0.1)
    lr_scheduler.CyclicLR(opt_tw, 0.01, 0.1, cycle_momentum=False)


@pytest.mark.parametrize("name,kw", [
    ("OneCycleLR", dict(max_lr=0.1, total_steps=60)),
    ("CyclicLR", dict(base_lr=0.001, max_lr=0.05, step_size_up=7, mode="triangular2")),
    ("CosineAnnealingWarmRestarts", dict(T_0=4, T_mult=2)),
    ("PolynomialLR", dict(total_iters=30)),
    ("ReduceLROnPlateau", dict(patience=1)),
])
def test_state_dict_resume_through_tw_save(name, kw):
    ours, theirs, opt_tw, opt_t = pair()
    s_tw = getattr(lr_scheduler, name)(opt_tw, **kw)
    s_t = getattr(torch.optim.lr_scheduler, name)(opt_t, **kw)
    plateau = name == "ReduceLROnPlateau"
    metrics = [1.0, 0.9, 0.95, 0.97, 0.99, 0.8, 0.85, 0.86, 0.9, 0.95] * 4

    def advance(sched_tw, opt, start, stop):
        for i in range(start, stop):
            run(ours, theirs, opt, opt_t, 1)
            sched_tw.step(metrics[i]) if plateau else sched_tw.step()
            s_t.step(metrics[i]) if plateau else s_t.step()
            assert sched_tw.get_last_lr() == s_t.get_last_lr(), i
    advance(s_tw, opt_tw, 0, 20)
    buf = io.BytesIO()
    tw.save({"sched": s_tw.state_dict(), "optim": opt_tw.state_dict()}, buf)
    buf.seek(0)
    ckpt = tw.load(buf)
    opt2 = optim.SGD([{"params": ours[0].parameters()}, {"params": ours[2].parameters(), "lr": 0.02}],
                     lr=0.05, momentum=0.9)
    s2 = getattr(lr_scheduler, name)(opt2, **kw)      # built first: building sets the groups' lr,
    opt2.load_state_dict(ckpt["optim"])               # which the checkpoint then restores
    s2.load_state_dict(ckpt["sched"])
    advance(s2, opt2, 20, 40)
    assert_same_params(ours, theirs)
