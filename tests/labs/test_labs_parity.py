"""Every lab on cuPyNumeric (Legate; CPU mode when there is no GPU) against NumPy.

The engine-track labs 10 and 12 run here on NumPy, full schedule: their checks run the pieces'
tests, and parity cases on cuPyNumeric as hidden tests (test_engine_track_grading.py grades
lab 10's submissions).

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

from labrun import LABS, assert_ran, result_of, run_all, run_lab

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
    # The two backends side by side (two processes; labrun.WORKERS at once).
    results = run_all({backend: (lambda backend=backend: run_lab(notebook, backend, tmp_path, "--quick"))
                       for backend in ("numpy", "cupynumeric")})
    runs = {backend: result_of(results, backend) for backend in results}
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


def test_13_profiling(tmp_path):
    # Timings differ between backends by design; the counts, the formulas and the host-side
    # TF32 emulation (the same seeded draws) must not.
    np_m, cn_m = run_both("13_profiling", tmp_path)
    assert (np_m["backend"], cn_m["backend"]) == ("numpy", "cupynumeric")
    for name in ("op_count_per_step", "forward_flops_per_step", "width", "batch", "sweep_widths"):
        assert cn_m[name] == np_m[name], (name, cn_m[name], np_m[name])
    assert (np_m["sweep_other_backend"], cn_m["sweep_other_backend"]) == ("cupynumeric", "numpy")
    close("tf32_rel_error", cn_m["tf32_rel_error"], np_m["tf32_rel_error"], **SINGLE_OP)
    close("backend_matmul_rel_error", cn_m["backend_matmul_rel_error"], np_m["backend_matmul_rel_error"],
          rtol=0.0, atol=1e-6)
    assert set(cn_m["bounds"]) == set(np_m["bounds"])
    assert cn_m["bounds"]["ReLU 1"] == np_m["bounds"]["ReLU 1"] == "memory"
    assert cn_m["tf32_flag_changes_nothing"] is np_m["tf32_flag_changes_nothing"] is True


def test_14_scale_out(tmp_path):
    # The workers always run NumPy; the single-process reference runs on the kernel's backend.
    np_m, cn_m = run_both("14_scale_out", tmp_path)
    assert (np_m["backend"], cn_m["backend"]) == ("numpy", "cupynumeric")
    assert np_m["worker_backends"] == cn_m["worker_backends"] == ["numpy", "numpy"]
    assert cn_m["dp_steps"] == np_m["dp_steps"]
    close("sp_losses", cn_m["sp_losses"], np_m["sp_losses"], **TRAINING)
    close("dp_losses", cn_m["dp_losses"], np_m["dp_losses"], **TRAINING)
    close("plain_mean_error", cn_m["plain_mean_error"], np_m["plain_mean_error"], **SINGLE_OP)
    for m in (np_m, cn_m):
        assert m["dp_max_weight_diff"] < 1e-5 and m["replica_max_diff"] == 0
        assert m["shard_grad_error"] < 1e-5 and m["process_grad_error"] < 1e-5
        assert m["allreduce_error"] < 1e-6 and m["ring_weighted_error"] < 1e-6
        assert m["workers_stopped"] is True


def test_15_debugging(tmp_path):
    # The five diagnoses reach the same verdicts on both backends, and their numbers agree.
    np_m, cn_m = run_both("15_debugging", tmp_path)
    for name in ("bad_layer_detected", "first_nonfinite_loss_step", "nan_step", "anomaly_step", "anomaly_op",
                 "anomaly_phase", "stable_with_eval", "stable_without_eval", "fp16_naive_overflows",
                 "fp16_anomaly_op", "drift_steps", "drift_agree"):
        assert cn_m[name] == np_m[name], f"{name}: cupynumeric {cn_m[name]!r}, numpy {np_m[name]!r}"
    assert (np_m["drift_other_backend"], cn_m["drift_other_backend"]) == ("cupynumeric", "numpy")
    close("healthy_first_loss", cn_m["healthy_first_loss"], np_m["healthy_first_loss"], **SINGLE_OP)
    close("sick_first_loss", cn_m["sick_first_loss"], np_m["sick_first_loss"], **SINGLE_OP)
    close("good_lr_losses", cn_m["good_lr_losses"], np_m["good_lr_losses"], **TRAINING)
    close("guarded_final_loss", cn_m["guarded_final_loss"], np_m["guarded_final_loss"], **TRAINING)
    close("drift_losses", cn_m["drift_losses"], np_m["drift_losses"], **TRAINING)
    for name in ("healthy_accuracy", "cured_accuracy", "accuracy_with_eval", "accuracy_without_eval"):
        close(name, cn_m[name], np_m[name], rtol=0.0, atol=ACCURACY_ATOL)
    for m in (np_m, cn_m):
        # The sick network's logits are NaN: its accuracy is chance or below on both, but
        # argmax over a row of NaNs is not the same index on the two backends.
        assert m["sick_accuracy"] <= 0.2
        assert m["fp16_fixed_max_rel_error"] < 2e-3
        assert m["drift_max_rel_diff"] < 1e-3 and m["drift_float64_max_rel_diff"] < 1e-3


def test_16_deployment(tmp_path):
    # The lab runs ONNX Runtime in the kernel: the GPU image has it (docker/requirements/gpu.in
    # includes cpu.in), and so does .venv-gpu (make venv-gpu installs the onnx extra).
    np_m, cn_m = run_both("16_deployment", tmp_path)
    assert cn_m["epochs"] == np_m["epochs"] and cn_m["onnx_nodes"] == np_m["onnx_nodes"]
    for m in (np_m, cn_m):
        # Each side's exports agree with its own engine: the model was trained on, and
        # exported from, that backend.
        assert m["fold_max_error"] < 1e-4 and m["folded_onnx_error"] < 1e-4
        assert max(m["dynamic_max_error"].values()) < 1e-4 and m["custom_op_error"] < 1e-5
        assert m["unsupported_error_raised"] is True and max(m["int8_accuracy_drop"].values()) <= 0.02
    # The CNN trains with Adam at lr 1e-2 (46 steps under --quick): its round-off differences
    # grow more than the other models', and two cuPyNumeric runs differed by 2 images out of
    # 360 (0.972, 0.978; NumPy: 0.969). Its accuracies may differ by 4 images.
    cnn_atol = 4 / 360 + 1e-9
    for name, atol in (("cnn_accuracy", cnn_atol), ("transformer_accuracy", ACCURACY_ATOL),
                       ("mlp_accuracy", ACCURACY_ATOL)):
        close(name, cn_m[name], np_m[name], rtol=0.0, atol=atol)
    for model, q in np_m["quantization"].items():
        for kind in ("float", "int8"):
            close(f"{model} {kind} accuracy", cn_m["quantization"][model][kind]["accuracy"], q[kind]["accuracy"],
                  rtol=0.0, atol=cnn_atol if model == "cnn_static" else ACCURACY_ATOL)
            close(f"{model} {kind} weights_kib", cn_m["quantization"][model][kind]["weights_kib"],
                  q[kind]["weights_kib"], rtol=0.0, atol=0.0)


def test_11_sequence_models(tmp_path):
    # The hand-written cells agree with the library on both; the truncated-BPTT graphs, the BPE
    # tokenizer (host Python) and the seeded sampling frequencies are the same; the language
    # model's losses agree to the training tolerance.
    np_m, cn_m = run_both("11_sequence_models", tmp_path)
    for m in (np_m, cn_m):
        assert m["rnn_max_error"] < 1e-5 and m["lstm_max_error"] < 1e-5
        assert m["rnn_grad_max_error"] < 1e-4 and m["lstm_grad_max_error"] < 1e-4
        assert m["bpe_roundtrip"] is True and m["sampling_max_deviation"] < 0.015
    for name in ("graph_nodes_detached", "graph_nodes_not_detached", "lm_steps", "bpe_vocab_size",
                 "bpe_compression", "bpe_val_compression", "sample_chars"):
        assert cn_m[name] == np_m[name], f"{name}: cupynumeric {cn_m[name]!r}, numpy {np_m[name]!r}"
    for name, freqs in np_m["sampling_frequencies"].items():
        # 20,000 draws from the same seeded generator: a near-boundary rounding may move a draw.
        close(f"sampling_frequencies[{name}]", cn_m["sampling_frequencies"][name], freqs, rtol=0.0, atol=2e-4)
    close("first_loss", cn_m["first_loss"], np_m["first_loss"], **SINGLE_OP)
    for name in ("final_loss", "val_loss", "best_val_loss"):
        close(name, cn_m[name], np_m[name], **TRAINING)


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


def test_01_tensors(tmp_path):
    np_m, cn_m = run_both("01_tensors", tmp_path)
    assert np_m["softmax_error"] < 1e-6 and cn_m["softmax_error"] < 1e-6
    # Broadcasting beats the Python loop on both (on Legate CPU mode by less: every op is a task).
    assert np_m["speedup_vs_loop"] > 1 and cn_m["speedup_vs_loop"] > 1


def test_02_autodiff(tmp_path):
    np_m, cn_m = run_both("02_autodiff", tmp_path)
    assert np_m["gradcheck_passed"] is cn_m["gradcheck_passed"] is True
    assert np_m["my_backward_max_error"] < 1e-5 and cn_m["my_backward_max_error"] < 1e-5
    assert cn_m["graph_nodes"] == np_m["graph_nodes"]


def test_03_linear_regression(tmp_path):
    np_m, cn_m = run_both("03_linear_regression", tmp_path)
    for name in ("final_loss", "w", "b"):
        close(name, cn_m[name], np_m[name], **TRAINING)
    assert np_m["accumulation_error"] < 1e-5 and cn_m["accumulation_error"] < 1e-5


def test_05_cnn(tmp_path):
    np_m, cn_m = run_both("05_cnn", tmp_path)
    close("test_accuracy", cn_m["test_accuracy"], np_m["test_accuracy"], rtol=0.0, atol=ACCURACY_ATOL)
    assert np_m["im2col_max_error"] < 1e-4 and cn_m["im2col_max_error"] < 1e-4
    assert np_m["bn_eval_deterministic"] is cn_m["bn_eval_deterministic"] is True


def test_07_onnx(tmp_path):
    # Trained and exported on each backend; ONNX Runtime (on the host) must agree with each.
    np_m, cn_m = run_both("07_onnx", tmp_path)
    for m in (np_m, cn_m):
        assert m["checker_passed"] is True
        assert m["onnx_max_abs_error"] < 1e-5 and m["predictions_agree"] >= 0.999


@pytest.mark.parametrize("stem", ["10_engine_optim", "12_engine_layers"])
def test_engine_lab_runs_with_its_parity_checks(stem, tmp_path):
    from test_labs_numpy import check_metrics
    notebook = LABS / f"{stem}.ipynb"
    run = run_lab(notebook, "numpy", tmp_path)
    assert_ran(run)
    check_metrics(notebook, run)
