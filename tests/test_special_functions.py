"""The whole-array special functions cuPyNumeric uses (tensorweaver/_special_functions.py),
run here on NumPy and compared with SciPy, which the NumPy backend uses: the parity suite
then only has to show that cuPyNumeric runs the same formulas."""
import numpy as np
import pytest

from tensorweaver import _special_functions as sf

scipy_special = pytest.importorskip("scipy.special", reason="SciPy is the reference (an engine dependency)")
pytestmark = pytest.mark.unit

rng = np.random.default_rng(5)
X = np.concatenate([rng.uniform(-30, 30, 4000), rng.uniform(0, 3, 1000), rng.uniform(-3, 0.5, 1000),
                    [1e-10, 0.5, 1.0, 2.0, 7.999, 8.0, 10.0, 1e6]])


def _close(got, expected, rtol, floor=1e-3):
    """Relative error with a floor on the scale, so values near a zero use an absolute bound."""
    assert got.dtype == expected.dtype
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    finite = np.isfinite(expected)
    assert np.array_equal(got[~finite], expected[~finite], equal_nan=True)
    err = np.abs(got[finite] - expected[finite]) / np.maximum(np.abs(expected[finite]), floor)
    assert err.max() < rtol, err.max()


def test_lgamma_and_digamma_match_scipy():
    _close(sf.lgamma(X), scipy_special.gammaln(X), 1e-11)
    _close(sf.digamma(X), scipy_special.psi(X), 1e-11)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 6])
def test_polygamma_matches_scipy(n):
    _close(sf.polygamma(n, X), scipy_special.polygamma(n, X), 1e-11)


def test_poles_and_infinities_as_torch():
    with np.errstate(all="ignore"):
        edges = np.array([0.0, -0.0, -1.0, -2.0, np.inf, -np.inf, np.nan])
        assert np.array_equal(sf.lgamma(edges), [np.inf, np.inf, np.inf, np.inf, np.inf, np.inf, np.nan],
                              equal_nan=True)
        assert np.array_equal(sf.digamma(edges), [-np.inf, np.inf, np.nan, np.nan, np.inf, np.nan, np.nan],
                              equal_nan=True)
        assert np.array_equal(sf.polygamma(1, edges[[0, 2, 4]]), [np.inf, np.inf, 0.0])


def test_bessel_i0_i1_match_scipy():
    x = np.concatenate([rng.uniform(-40, 40, 4000), [0.0, 19.999, 20.0, 20.001, -20.0, 300.0, 709.0]])
    with np.errstate(over="ignore"):
        _close(sf.i0(x), scipy_special.i0(x), 1e-13)
        _close(sf.i1(x), scipy_special.i1(x), 1e-13)


def test_incomplete_gamma_matches_scipy():
    a = np.concatenate([rng.uniform(0, 20, 3000), rng.uniform(0, 200, 1000), [0, 0, 1, -1, 1, 1, 2]])
    x = np.concatenate([rng.uniform(0, 30, 3000), rng.uniform(0, 250, 1000), [0, 1, 0, 1, -1, np.inf, np.inf]])
    with np.errstate(all="ignore"):
        _close(sf.gammainc(a, x), scipy_special.gammainc(a, x), 1e-11)
        _close(sf.gammaincc(a, x), scipy_special.gammaincc(a, x), 1e-11)


def test_float32_in_float32_out():
    x = np.array([0.5, 2.5, 7.0], dtype=np.float32)
    for fn in (sf.lgamma, sf.digamma, sf.i0, sf.i1, lambda v: sf.polygamma(2, v), lambda v: sf.gammainc(v, v)):
        assert fn(x).dtype == np.float32


def test_bernoulli_numbers_are_exact():
    from fractions import Fraction
    assert sf._bernoulli_even(6) == (Fraction(1, 6), Fraction(-1, 30), Fraction(1, 42), Fraction(-1, 30),
                                     Fraction(5, 66), Fraction(-691, 2730))
