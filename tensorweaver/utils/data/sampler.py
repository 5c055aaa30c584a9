"""Samplers: which indices a DataLoader visits, and in which order.

Random samplers draw from the seeded host generator (``tw.manual_seed``) or from the
``generator`` they are given: a ``numpy.random.Generator``, or any object with the same
methods (``permutation``, ``integers``, ``choice``) — which is how a tensorweaver
``Generator`` plugs in. Their numbers differ from torch's (another bit generator), but
the rules (which indices, how many, with or without replacement) are torch's.
"""
from __future__ import annotations

import numbers

from tensorweaver import backend
from tensorweaver import random as _random
from tensorweaver.tensor import Tensor

_host = backend.host_numpy()


def host_rng(generator=None):
    """The generator to draw from: ``generator`` or the global seeded one. Objects that
    wrap a NumPy generator may expose it as ``numpy_generator`` (attribute or method)."""
    if generator is None:
        return _random.generator()
    if hasattr(generator, "permutation") and hasattr(generator, "integers"):
        return generator
    inner = getattr(generator, "numpy_generator", None)
    if inner is not None:
        return inner() if callable(inner) else inner
    raise TypeError(f"generator must be a numpy.random.Generator (or an object with its permutation/integers/"
                    f"choice methods, such as a tensorweaver Generator), but got {type(generator).__name__}")


class Sampler:
    """Base class: iterating yields dataset indices."""

    def __iter__(self):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """Random indices of ``data_source``, drawn afresh each epoch.

    Args:
        data_source: the dataset (only its length is used)
        replacement: draw ``num_samples`` indices independently (with repeats). Default: False
        num_samples: how many indices per epoch. Default: ``len(data_source)``. Without
            replacement a larger value repeats whole permutations, then a partial one.
        generator: a ``numpy.random.Generator`` (or compatible) instead of the global one
    """

    def __init__(self, data_source, replacement: bool = False, num_samples=None, generator=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={replacement!r}")
        if num_samples is not None and (not isinstance(num_samples, numbers.Integral) or isinstance(num_samples, bool)
                                        or num_samples <= 0):
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples!r}")
        self.data_source, self.replacement, self._num_samples = data_source, replacement, num_samples
        self.generator = generator

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def __iter__(self):
        n, rng = len(self.data_source), host_rng(self.generator)
        if self.replacement:
            return iter(rng.integers(0, n, size=self.num_samples).tolist())
        out = []
        for _ in range(self.num_samples // n):
            out.extend(rng.permutation(n).tolist())
        out.extend(rng.permutation(n)[:self.num_samples % n].tolist())
        return iter(out)

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order, a fresh one each epoch (e.g. a
    train/validation split of one dataset)."""

    def __init__(self, indices, generator=None):
        self.indices, self.generator = indices, generator

    def __iter__(self):
        order = host_rng(self.generator).permutation(len(self.indices)).tolist()
        return iter([self.indices[i] for i in order])

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices in ``[0, len(weights))``, index ``i`` drawn with probability
    ``weights[i] / sum(weights)`` (the weights need not sum to 1): the usual way to
    oversample rare classes.

    Args:
        weights: a sequence (or 1-d Tensor / array) of non-negative weights
        num_samples: indices per epoch
        replacement: draw with repeats (default); without, each index appears at most once
            and ``num_samples`` must not exceed the number of non-zero weights
        generator: a ``numpy.random.Generator`` (or compatible) instead of the global one
    """

    def __init__(self, weights, num_samples: int, replacement: bool = True, generator=None):
        if not isinstance(num_samples, numbers.Integral) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples!r}")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement!r}")
        w = weights.numpy() if isinstance(weights, Tensor) else weights
        w = _host.asarray(w, dtype=_host.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {tuple(w.shape)}")
        if not _host.all(_host.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
            raise RuntimeError("WeightedRandomSampler: weights must be finite, non-negative and not all zero")
        if not replacement and num_samples > int((w > 0).sum()):
            raise RuntimeError(f"WeightedRandomSampler: cannot draw {num_samples} samples without replacement from "
                               f"{int((w > 0).sum())} non-zero weights; lower num_samples or use replacement=True")
        self.weights, self.num_samples, self.replacement, self.generator = w, int(num_samples), replacement, generator

    def __iter__(self):
        p = self.weights / self.weights.sum()
        rng = host_rng(self.generator)
        return iter(rng.choice(len(p), size=self.num_samples, replace=self.replacement, p=p).tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size``; the last, shorter
    batch is dropped when ``drop_last``."""

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size!r}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        batch = []
        for idx in self.sampler:
            batch.append(idx)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
