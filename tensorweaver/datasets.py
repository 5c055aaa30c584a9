"""Small datasets that need no download: scikit-learn's bundled digits, and synthetic
spirals and regression lines.

Each returns ``TensorDataset``s (features float32 by default, class labels int64),
ready for a ``DataLoader``. Random draws use the seeded global generator
(``tw.manual_seed``) unless a ``seed`` is given, which makes a dataset independent of
everything else drawn in the session.
"""
from __future__ import annotations

import numpy as np

from tensorweaver import dtypes
from tensorweaver import random as _random
from tensorweaver.tensor import Tensor
from tensorweaver.utils.data import TensorDataset


def _rng(seed):
    return np.random.Generator(np.random.PCG64(seed)) if seed is not None else _random.generator()


def _float(dtype):
    return dtypes.get_default_dtype() if dtype is None else dtypes.as_dtype(dtype)


def load_digits(*, images: bool = False, dtype=None):
    """scikit-learn's 8x8 handwritten digits: 1797 samples of 10 classes, shipped inside
    the scikit-learn package (no download).

    Returns ``(X, y)``: X is (1797, 64), or (1797, 1, 8, 8) with ``images=True``, scaled
    from 0..16 to [0, 1]; y is (1797,) int64 class labels 0..9.
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as exc:
        raise ImportError("tensorweaver.datasets.load_digits needs scikit-learn, which bundles the digits data: "
                          "pip install scikit-learn (or the 'lab' extra, from the tensorweaver checkout: pip install -e '.[lab]')") from exc
    bunch = _sk_load_digits()
    x = bunch.data.astype(np.float64) / 16.0
    if images:
        x = x.reshape(-1, 1, 8, 8)
    return Tensor(x, dtype=_float(dtype)), Tensor(bunch.target.astype(np.int64))


def digits(test_fraction: float = 0.2, *, images: bool = False, seed: int = 0, dtype=None):
    """The digits split into ``(train, test)`` TensorDatasets of ``(x, label)``.

    The split is a stratified random one (each class divided in the same proportion)
    fixed by ``seed``, so every run and every backend sees the same test set.
    With 0.2, the sizes are 1438 and 359.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    x, y = load_digits(images=images, dtype=dtype)
    labels = y.numpy()
    rng = np.random.Generator(np.random.PCG64(seed))
    test_idx = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        test_idx.extend(members[:int(round(test_fraction * len(members)))].tolist())
    test_mask = np.zeros(len(labels), dtype=bool)
    test_mask[test_idx] = True
    train_idx = rng.permutation(np.flatnonzero(~test_mask))
    test_idx = rng.permutation(np.flatnonzero(test_mask))
    xs, ys = x.numpy(), labels
    return (TensorDataset(Tensor(xs[train_idx]), Tensor(ys[train_idx])),
            TensorDataset(Tensor(xs[test_idx]), Tensor(ys[test_idx])))


def spirals(n_per_class: int = 100, n_classes: int = 3, noise: float = 0.2, *, seed=None, dtype=None):
    """Interleaved 2-D spirals, one arm per class (the classic non-linear toy problem).

    Returns a TensorDataset of X (n_per_class * n_classes, 2) and labels (N,) int64.
    ``noise`` is the standard deviation of the angle jitter.
    """
    if n_per_class < 1 or n_classes < 1:
        raise ValueError("n_per_class and n_classes must be positive")
    rng = _rng(seed)
    xs, ys = [], []
    for c in range(n_classes):
        r = np.linspace(0.0, 1.0, n_per_class)
        t = np.linspace(c * 4.0, (c + 1) * 4.0, n_per_class) + rng.standard_normal(n_per_class) * noise
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        ys.append(np.full(n_per_class, c, dtype=np.int64))
    return TensorDataset(Tensor(np.concatenate(xs), dtype=_float(dtype)), Tensor(np.concatenate(ys)))


def regression_line(n: int = 100, slope: float = 2.0, intercept: float = -1.0, noise: float = 0.1, *,
                    low: float = -1.0, high: float = 1.0, seed=None, dtype=None):
    """Points on ``y = slope * x + intercept`` plus Gaussian noise (std ``noise``), x uniform
    in [low, high). Returns a TensorDataset of x (n, 1) and y (n, 1)."""
    if n < 1:
        raise ValueError("n must be positive")
    rng = _rng(seed)
    x = rng.uniform(low, high, size=(n, 1))
    y = slope * x + intercept + noise * rng.standard_normal((n, 1))
    return TensorDataset(Tensor(x, dtype=_float(dtype)), Tensor(y, dtype=_float(dtype)))
