"""Every lab, top to bottom, on the NumPy backend, through the headless runner.

Each lab records its results with ``tensorweaver.labs.record``; here they are checked
against what the lab is meant to show (an accuracy threshold, a gradcheck, a parity),
not only "it ran". The full schedules run (no ``--quick``), as a student would run them.
"""
from __future__ import annotations

import os
import warnings

import pytest

from labrun import NOTEBOOKS, assert_ran, run_lab

pytestmark = [pytest.mark.labs, pytest.mark.slow]

#: The budget for one lab on one CPU core with NumPy (a target, measured: each run prints its
#: time and warns above it). A timed assertion would fail on a busy machine (lab 06 took 226 s
#: at load average 10 on 2 cores), so only a run that is surely stuck fails: HANG_SECONDS.
BUDGET_SECONDS = 120
HANG_SECONDS = 900


def _between(lo, hi):
    return lambda v: lo <= v <= hi


#: lab stem -> {metric: predicate}. Every lab must have an entry.
EXPECTED = {
    "00_environment": {
        "backend": lambda v: v == "numpy",
        "grad_error": _between(0, 1e-4),
        "matmul_checksum": lambda v: isinstance(v, float),
    },
    "01_tensors": {
        "softmax_error": _between(0, 1e-6),
        "speedup_vs_loop": _between(1, 1e6),
    },
    "02_autodiff": {
        "gradcheck_passed": lambda v: v is True,
        "my_backward_max_error": _between(0, 1e-5),
        "graph_nodes": _between(5, 50),
    },
    "03_linear_regression": {
        "final_loss": _between(0.05, 0.15),            # the noise variance is 0.09
        "w": _between(2.4, 2.7),
        "b": _between(-1.1, -0.9),
        "accumulation_error": _between(0, 1e-5),
    },
    "04_mlp": {
        "test_accuracy": _between(0.95, 1.0),
        "final_loss": _between(0, 0.3),
    },
    "05_cnn": {
        "test_accuracy": _between(0.95, 1.0),
        "im2col_max_error": _between(0, 1e-4),
        "bn_eval_deterministic": lambda v: v is True,
    },
    "06_attention": {
        "final_loss": _between(0, 2.6),                 # well under the uniform ln(vocab)
        "causal_leak": _between(0, 1e-6),
        "sample_chars": _between(100, 10_000),
    },
    "07_onnx": {
        "onnx_max_abs_error": _between(0, 1e-5),
        "checker_passed": lambda v: v is True,
        "predictions_agree": _between(0.999, 1.0),
    },
    "08_gpu": {
        "backend": lambda v: v == "numpy",
        "parity_max_rel_error": _between(0, 1e-3),
        "widths": lambda v: len(v) >= 3,
    },
    "09_optimization": {
        # the hand-written optimizers against the engine's, on copies of the same weights
        "sgd_momentum_max_diff": _between(0, 1e-5),
        "adam_max_diff": _between(0, 1e-5),
        "adamw_max_diff": _between(0, 1e-5),
        "l2_vs_weight_decay_max_diff": _between(0, 1e-5),
        "hand_vs_library_max_diff": _between(0, 1e-4),    # 12 epochs, SGD + warmup/cosine either way
        "schedule_max_diff": _between(0, 1e-9),
        "valley_final": lambda v: v["momentum_0.9"] < 1e-3 * v["momentum_0.0"],
        "weight_norms": lambda v: v["no decay"][-1] > 1.05 * max(v["L2"][-1], v["decoupled"][-1]),
        "dropout_zero_fraction": _between(0.49, 0.51),     # p = 0.5 on 100,000 elements
        "dropout": lambda v: v["p=0.5"]["test_loss"] < v["p=0.0"]["test_loss"] and v["p=0.0"]["train"] == 1.0,
        "saturation": lambda v: v["tanh/large"] > 0.5 and v["tanh/xavier"] < 0.2 and v["tanh/small"] < 0.01,
        "init_accuracy": lambda v: min(v["tanh/xavier"], v["relu/kaiming"]) > 0.9
                                   and max(v["tanh/small"], v["relu/small"], v["tanh/large"]) < 0.5,
        "test_accuracy": _between(0.95, 1.0),
    },
}


def test_every_lab_has_expectations():
    assert sorted(EXPECTED) == [p.stem for p in NOTEBOOKS]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_lab_runs_on_numpy(notebook, tmp_path):
    run = run_lab(notebook, "numpy", tmp_path)
    assert_ran(run)
    problems = [f"{name}={run.metrics.get(name)!r}" for name, ok in EXPECTED[notebook.stem].items()
                if name not in run.metrics or not ok(run.metrics[name])]
    assert not problems, f"{notebook.name}: unexpected metrics {problems}; all: {run.metrics}"
    seconds = run.report["wall_time_s"]
    print(f"{notebook.stem}: {seconds:.1f} s on NumPy (budget {BUDGET_SECONDS} s)")
    if seconds > BUDGET_SECONDS:
        warnings.warn(f"{notebook.stem} took {seconds:.0f} s, over its {BUDGET_SECONDS} s budget "
                      f"(load average {os.getloadavg()[0]:.1f})")
    assert seconds < HANG_SECONDS, run.report
