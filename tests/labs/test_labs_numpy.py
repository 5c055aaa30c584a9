"""Every lab, top to bottom, on the NumPy backend, through the headless runner.

Each lab records its results with ``tensorweaver.labs.record``; here they are checked
against what the lab is meant to show (an accuracy threshold, a gradcheck, a parity),
not only "it ran". The full schedules run (no ``--quick``), as a student would run them.
"""
from __future__ import annotations

import os
import warnings

import pytest

from labrun import NOTEBOOKS, WORKERS, assert_ran, result_of, run_all, run_lab, selected

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
    "10_engine_optim": {                                # the engine's own modules: the solutions
        "kaiming_depth_std_ratio": _between(0.5, 2.0),  # Kaiming keeps the scale through 20 ReLUs
        "xavier_depth_std_ratio": _between(0, 0.05),    # Xavier loses it
        "sgd_momentum_final_loss": _between(0.05, 0.12),   # the noise variance is 0.09
        "adam_rosenbrock_distance": _between(0, 0.05),
        "dropout_kept_fraction": _between(0.68, 0.72),
        "test_accuracy": _between(0.93, 1.0),
    },
    "11_sequence_models": {
        "rnn_max_error": _between(0, 1e-5),
        "rnn_grad_max_error": _between(0, 1e-4),
        "lstm_max_error": _between(0, 1e-5),
        "lstm_grad_max_error": _between(0, 1e-4),
        "graph_nodes_detached": lambda v: len(v) >= 3 and len(set(v)) == 1,       # constant per chunk
        "graph_nodes_not_detached": lambda v: all(b > a for a, b in zip(v, v[1:])) and v[-1] > 5 * v[0],
        "lm_steps": _between(200, 1000),
        "final_loss": _between(0, 2.0),                 # well under the unigram entropy (3.13)
        "val_loss": _between(0, 2.6),                   # on the unseen last sonnet
        "bpe_roundtrip": lambda v: v is True,
        "bpe_compression": _between(1.8, 3.0),          # characters per token, 200 merges
        "bpe_val_compression": _between(1.5, 3.0),
        "sampling_max_deviation": _between(0, 0.015),
        "sampling_frequencies": lambda v: v["top-k 2"][2:] == [0.0, 0.0, 0.0] and v["top-p 0.8"][3:] == [0.0, 0.0],
    },
    "12_engine_layers": {
        "test_accuracy": _between(0.93, 1.0),
        "conv_grad_error": _between(0, 1e-6),
    },
    "13_profiling": {
        "op_count_per_step": lambda v: v == 12,         # 6 forward ops and 6 backward nodes
        # batch 256, 1024-1024-1024-10: 3 Linear, 2 ReLU, the loss (one FLOP per input element)
        "forward_flops_per_step": lambda v: v == (2 * 256 * (2 * 1024 * 1024 + 10 * 1024)
                                                  + 256 * (2 * 1024 + 10) + 2 * 256 * 1024 + 256 * 11),
        "matmul_time_fraction": _between(0.5, 1.0),
        "peak_gflops": _between(0.5, 1e5),
        "peak_gbs": _between(0.05, 1e4),
        "bounds": lambda v: v["ReLU 1"] == v["ReLU 2"] == "memory" and len(v) == 7
                            and set(v.values()) <= {"memory", "compute"},
        "sync_ratio": _between(0.2, 5),                   # NumPy is synchronous: about 1, noisy
        "sweep_widths": lambda v: v == [32, 64, 128, 256, 512],
        "tf32_flag_changes_nothing": lambda v: v is True,
        "tf32_rel_error": _between(1e-4, 1e-3),
        "fp32_rel_error": _between(0, 1e-6),
        "backend_matmul_rel_error": _between(0, 1e-6),
    },
    "14_scale_out": {
        "workers": lambda v: v == 2,
        "worker_backends": lambda v: v == ["numpy", "numpy"],
        "shard_grad_error": _between(0, 1e-5),
        "plain_mean_error": _between(1e-4, 1),          # the unweighted average of unequal shards is off
        "process_grad_error": _between(0, 1e-5),
        "allreduce_error": _between(0, 1e-6),
        "ring_weighted_error": _between(0, 1e-6),
        "dp_max_weight_diff": _between(0, 1e-5),        # data-parallel == single-process, to float32
        "replica_max_diff": lambda v: v == 0,
        "dp_losses": lambda v: len(v) == 30 and v[-1] < 0.6 * v[0],
        "speedup_2": _between(0.2, 2.5),                 # 2 workers on a shared machine: any honest value
        "efficiency_2": _between(0.1, 1.25),
        "cluster_job_rendered": lambda v: v is True,
        "cluster_ranks": lambda v: v == 4,
        "cluster_gpus_per_rank": lambda v: v == 2,
        "workers_stopped": lambda v: v is True,
    },
    "15_debugging": {
        "bad_layer_detected": lambda v: v == 3,         # the layer the lab scaled by 30
        "healthy_accuracy": _between(0.9, 1.0),
        "sick_accuracy": _between(0, 0.3),              # NaN or dead: chance level
        "cured_accuracy": _between(0.9, 1.0),
        "sick_first_loss": _between(10, 1e4),           # logits 30 times too large
        "first_nonfinite_loss_step": _between(5, 40),
        "nan_step": _between(5, 59),
        "anomaly_step": _between(5, 40),
        "anomaly_phase": lambda v: v in ("forward", "backward"),
        "guarded_final_loss": _between(0, 0.08),         # clipping turns the explosion into training
        "good_lr_final_loss": _between(0, 0.08),
        "accuracy_with_eval": _between(0.95, 1.0),
        "accuracy_without_eval": _between(0.5, 0.95),   # Dropout and batch-of-8 BatchNorm at test time
        "stable_with_eval": lambda v: v is True,
        "stable_without_eval": lambda v: v is False,
        "fp16_naive_overflows": lambda v: v is True,
        "fp16_anomaly_op": lambda v: v == "Exp",
        "fp16_fixed_max_rel_error": _between(0, 2e-3),  # a few float16 roundings
        "drift_steps": lambda v: v == 200,
        "drift_agree": lambda v: v is True,
        "drift_max_rel_diff": _between(0, 1e-3),
        "shuffle_drift_last": _between(1e-9, 1e-4),     # round-off: present, and far below the tolerance
    },
    "16_deployment": {
        "fold_max_error": _between(0, 1e-4),            # folding is exact up to float32 rounding
        "folded_onnx_error": _between(0, 1e-4),
        "onnx_nodes": lambda v: v["folded"] == v["eval"] - 2,     # one BatchNormalization per block gone
        "dynamic_max_error": lambda v: sorted(v) == ["1", "2", "4", "6", "8"] and max(v.values()) < 1e-4,
        "unsupported_error_raised": lambda v: v is True,
        "custom_op_error": _between(0, 1e-5),
        "cnn_accuracy": _between(0.95, 1.0),
        "transformer_accuracy": _between(0.85, 1.0),
        "int8_accuracy_drop": lambda v: max(v.values()) <= 0.02,  # within 2 points of float
        "quantization": lambda v: all(q["int8"]["weights_kib"] < 0.35 * q["float"]["weights_kib"] for q in v.values()),
        "gates": lambda v: all(g["candidate_accuracy"] >= g["baseline_accuracy"] - 0.02 for g in v.values()),
    },
}


def test_every_lab_has_expectations():
    assert sorted(EXPECTED) == [p.stem for p in NOTEBOOKS]


@pytest.fixture(scope="module")
def numpy_runs(request, tmp_path_factory):
    """Every selected lab, run side by side (labrun.WORKERS at once): {notebook: LabRun}."""
    notebooks = [nb for nb in selected(request, "notebook") if runs_here(nb.stem)]
    return run_all({nb: (lambda nb=nb: run_lab(nb, "numpy", tmp_path_factory.mktemp(nb.stem)))
                    for nb in notebooks})


def runs_here(stem) -> bool:
    """The engine-track labs' checks run parity cases on cuPyNumeric: they run where it is
    (test_labs_parity.py runs them there, in .venv-gpu and the GPU image)."""
    from tensorweaver.labs import engine_track
    return not engine_track.is_engine_lab(stem) or engine_track.parity_python() is not None


def check_metrics(notebook, run):
    problems = [f"{name}={run.metrics.get(name)!r}" for name, ok in EXPECTED[notebook.stem].items()
                if name not in run.metrics or not ok(run.metrics[name])]
    assert not problems, f"{notebook.name}: unexpected metrics {problems}; all: {run.metrics}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_lab_runs_on_numpy(notebook, numpy_runs):
    if not runs_here(notebook.stem):
        from tensorweaver.labs import engine_track
        pytest.skip(f"{notebook.stem}'s checks run parity cases on cuPyNumeric: "
                    f"{engine_track.WHERE_TO_GRADE}; test_labs_parity.py runs it there")
    run = result_of(numpy_runs, notebook)
    assert_ran(run)
    check_metrics(notebook, run)
    seconds = run.report["wall_time_s"]
    print(f"{notebook.stem}: {seconds:.1f} s on NumPy (budget {BUDGET_SECONDS} s; "
          f"{WORKERS} labs at once)")
    if seconds > BUDGET_SECONDS:
        warnings.warn(f"{notebook.stem} took {seconds:.0f} s, over its {BUDGET_SECONDS} s budget "
                      f"(load average {os.getloadavg()[0]:.1f}; {WORKERS} labs at once)")
    assert seconds < HANG_SECONDS, run.report
