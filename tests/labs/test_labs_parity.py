"""Labs 00, 04, 06, 08 and 09 on cuPyNumeric (Legate; CPU mode when there is no GPU) against NumPy.

Each lab runs twice through the headless runner with ``--quick`` (the same short schedule
on both sides), once per backend, and the metrics the labs record are compared: the
results must agree, not only "both ran".

Tolerances (documented here, the one place they live for the labs):

- float32 values from a single computation (a checksum of a 512x512 matmul): rtol 1e-4,
  as the per-op parity suite (tests/parity/tolerances.py) allows for float32;
- values at the end of a training run (losses after hundreds of float32 steps, where
  rounding differences compound): rtol 1e-3, atol 1e-4, the parity suite's TRAINING pair;
- accuracies: at most 2 of the 360 test images may be classified differently (a near-tie
  in the logits can flip an argmax).
"""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from labrun import LABS, assert_ran, run_lab

pytestmark = [pytest.mark.labs, pytest.mark.parity, pytest.mark.slow]

if importlib.util.find_spec("cupynumeric") is None:
    pytest.skip("cuPyNumeric is not installed in this environment; the labs' parity tests run "
                "in .venv-gpu (make test-gpu-local) and in the GPU image (make test-gpu)",
                allow_module_level=True)

SINGLE_OP = dict(rtol=1e-4, atol=0.0)
TRAINING = dict(rtol=1e-3, atol=1e-4)
ACCURACY_ATOL = 2 / 360 + 1e-9


def close(name, a, b, rtol, atol):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"{name}: shapes {a.shape} vs {b.shape}"
    assert np.allclose(a, b, rtol=rtol, atol=atol), (
        f"{name}: cupynumeric {a} vs numpy {b} (rtol {rtol}, atol {atol}); "
        f"max abs difference {np.abs(a - b).max():.3g}")


def run_both(stem, tmp_path):
    notebook = LABS / f"{stem}.ipynb"
    runs = {backend: run_lab(notebook, backend, tmp_path, "--quick") for backend in ("numpy", "cupynumeric")}
    for run in runs.values():
        assert_ran(run)
    return runs["numpy"].metrics, runs["cupynumeric"].metrics


def test_00_environment(tmp_path):
    np_m, cn_m = run_both("00_environment", tmp_path)
    assert (np_m["backend"], cn_m["backend"]) == ("numpy", "cupynumeric")
    assert cn_m["device"] == "legate"
    assert cn_m["grad_error"] < 1e-4
    close("matmul_checksum", cn_m["matmul_checksum"], np_m["matmul_checksum"], **SINGLE_OP)


def test_04_mlp(tmp_path):
    np_m, cn_m = run_both("04_mlp", tmp_path)
    assert cn_m["steps"] == np_m["steps"] and cn_m["epochs"] == np_m["epochs"]
    close("loss_first_steps", cn_m["loss_first_steps"], np_m["loss_first_steps"], **SINGLE_OP)
    close("final_loss", cn_m["final_loss"], np_m["final_loss"], **TRAINING)
    for name in ("test_accuracy", "train_accuracy"):
        close(name, cn_m[name], np_m[name], rtol=0.0, atol=ACCURACY_ATOL)
    assert cn_m["test_accuracy"] >= 0.95


def test_08_gpu(tmp_path):
    np_m, cn_m = run_both("08_gpu", tmp_path)
    assert (np_m["backend"], cn_m["backend"]) == ("numpy", "cupynumeric")
    # Inside the lab each side already compared itself with the other backend in a subprocess.
    assert (np_m["parity_other_backend"], cn_m["parity_other_backend"]) == ("cupynumeric", "numpy")
    assert np_m["parity_max_rel_error"] < 1e-3 and cn_m["parity_max_rel_error"] < 1e-3
    close("losses", cn_m["losses"], np_m["losses"], **TRAINING)
    assert cn_m["widths"] == np_m["widths"]


def test_06_attention(tmp_path):
    # The sequence-model section: the LSTM language model trained with truncated BPTT.
    np_m, cn_m = run_both("06_attention", tmp_path)
    assert cn_m["lstm_steps"] == np_m["lstm_steps"] and cn_m["steps"] == np_m["steps"]
    close("lstm_loss", cn_m["lstm_loss"], np_m["lstm_loss"], **TRAINING)
    close("final_loss", cn_m["final_loss"], np_m["final_loss"], **TRAINING)
    assert cn_m["causal_leak"] == 0.0


def test_09_optimization(tmp_path):
    # The hand-written optimizers and schedules match the engine's on both backends; the
    # seeded draws (weights, dropout masks) are the same, so the statistics and the losses agree.
    np_m, cn_m = run_both("09_optimization", tmp_path)
    for m in (np_m, cn_m):
        assert max(m["sgd_momentum_max_diff"], m["adam_max_diff"], m["adamw_max_diff"],
                   m["l2_vs_weight_decay_max_diff"]) < 1e-5
        assert m["hand_vs_library_max_diff"] < 1e-4 and m["schedule_max_diff"] < 1e-9
    assert cn_m["dropout_zero_fraction"] == np_m["dropout_zero_fraction"]
    names = sorted(np_m["saturation"])
    assert sorted(cn_m["saturation"]) == names
    close("saturation", [cn_m["saturation"][k] for k in names], [np_m["saturation"][k] for k in names],
          rtol=0.0, atol=1e-3)               # a few entries at the |a| = 0.97 threshold may flip
    # The per-layer statistics of the six initialisations: float32 means and stds over 65,536
    # entries, which NumPy sums pairwise and Legate in another order (2e-4 apart, measured).
    for k in names:
        for stat in ("act_std", "grad_std", "grad_data_ratio"):
            close(f"layer_stats[{k}][{stat}]", cn_m["layer_stats"][k][stat], np_m["layer_stats"][k][stat],
                  rtol=1e-3, atol=0.0)
        close(f"layer_stats[{k}][dead]", cn_m["layer_stats"][k]["dead"], np_m["layer_stats"][k]["dead"],
              rtol=0.0, atol=1e-3)
    close("first_losses", cn_m["first_losses"], np_m["first_losses"], **SINGLE_OP)
    close("schedule_final_loss", cn_m["schedule_final_loss"], np_m["schedule_final_loss"], **TRAINING)
    close("test_accuracy", cn_m["test_accuracy"], np_m["test_accuracy"], rtol=0.0, atol=ACCURACY_ATOL)
