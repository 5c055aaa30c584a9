"""cuPyNumeric (Legate) must compute what NumPy computes, op by op and over whole runs.

The cases are in ``parity_cases.py``; ``conftest.py`` runs them on both backends and
compares them with the tolerances of ``tolerances.py``. The coverage tests make sure
no op, layer or optimizer of tensorweaver goes without a case.
"""
from __future__ import annotations

import numpy as np
import pytest

import parity_cases

pytestmark = [pytest.mark.parity, pytest.mark.slow]


@pytest.mark.parametrize("name", list(parity_cases.CASES))
def test_case_agrees(parity, name):
    row = parity["rows"][name]
    assert row.ok, f"{name}:\n" + "\n".join(row.problems)


def _ran(runs, kind: str) -> set:
    return {fn for case in runs["numpy"].meta["cases"].values() for fn in case[kind]}


def test_every_function_runs_forward_and_backward(parity):
    """Every Function subclass in tensorweaver is exercised by some case, both ways."""
    functions = parity["runs"]["numpy"].meta["functions"]
    assert len(functions) >= 30, "the worker found suspiciously few Functions"
    forward, backward = _ran(parity["runs"], "forward"), _ran(parity["runs"], "backward")
    no_forward = sorted(set(functions) - forward)
    no_backward = sorted(f for f, differentiable in functions.items() if differentiable and f not in backward)
    assert not no_forward, f"no parity case runs these ops forward: {no_forward}; add cases to parity_cases.py"
    assert not no_backward, f"no parity case runs these ops backward: {no_backward}; add cases to parity_cases.py"


def _require(parity, package):
    if package not in parity["runs"]["numpy"].meta["packages"]:
        pytest.skip(f"{package} does not exist in this checkout, so there is nothing to cover")


def test_every_layer_runs_in_train_and_eval_mode(parity):
    _require(parity, "tensorweaver.nn")
    layers = parity["runs"]["numpy"].meta["layers"]
    assert layers, "the worker found no nn layers"
    missing = sorted({f"{name}.{mode}" for name in layers for mode in ("train", "eval")}
                     - _ran(parity["runs"], "layers"))
    assert not missing, f"no parity case runs these layers in these modes: {missing}; add layer(...) cases"


def test_every_optimizer_steps(parity):
    _require(parity, "tensorweaver.optim")
    optimizers = parity["runs"]["numpy"].meta["optimizers"]
    assert optimizers, "the worker found no optimizers"
    missing = sorted(set(optimizers) - _ran(parity["runs"], "optimizers"))
    assert not missing, f"no parity case steps these optimizers: {missing}; add them to OPTIMIZERS"


def test_both_backends_ran_what_they_claim(parity):
    runs = parity["runs"]
    assert runs["numpy"].meta["backend"] == "numpy"
    assert runs["cupynumeric"].meta["backend"] == "cupynumeric"
    legate = runs["cupynumeric"].meta["legate"]
    assert legate["mode"] in ("cpu", "gpu"), legate
    assert legate["CUPYNUMERIC_FAST_MATH"] == "0", "TF32 must be off for parity"
    # Same cases, and the same ops ran in each (no backend-specific code path in the engine).
    for name, case in runs["numpy"].meta["cases"].items():
        other = runs["cupynumeric"].meta["cases"][name]
        if not case["error"] and not other["error"]:
            assert case["forward"] == other["forward"], name


def test_budget_says_which_tolerance_passed():
    from tolerances import budget
    want = np.array([1.0, 2.0, 1e-9])
    # Within rtol everywhere: half of the allowance at most, carried by rtol.
    used, needs_atol = budget(want * (1 + 5e-5), want, 1e-4, 1e-5)
    assert 0.4 < used < 0.6 and not needs_atol
    # A near-zero element off by 5e-6: far above rtol * |np|, passes only through atol.
    got = want + np.array([0.0, 0.0, 5e-6])
    used, needs_atol = budget(got, want, 1e-4, 1e-5)
    assert needs_atol and 0.4 < used < 0.6 and np.allclose(got, want, rtol=1e-4, atol=1e-5)
    assert budget(want + 1.0, want, 1e-4, 1e-5)[0] > 1          # a failure uses more than all of it
