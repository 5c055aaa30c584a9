"""``DataLoader``: batches of samples from a dataset, and ``default_collate``."""
from __future__ import annotations

import collections.abc
import numbers

from tensorweaver import backend, dtypes
from tensorweaver.tensor import Tensor, _make_tensor
from tensorweaver.utils.data.dataset import TensorDataset
from tensorweaver.utils.data.sampler import BatchSampler, RandomSampler, SequentialSampler

xp = backend.xp
_host = backend.host_numpy()


def default_collate(batch):
    """Merge a list of samples into a batch, as torch's ``default_collate``.

    Tensors (and NumPy arrays) are stacked along a new first dim; Python floats become a
    float64 tensor, ints an int64 tensor, bools a bool tensor; strings stay a list;
    dicts, tuples and lists are collated field by field (``[(x0, y0), (x1, y1)]`` ->
    ``(stack(x), stack(y))``).
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        shape = elem.shape
        for i, t in enumerate(batch):
            if not isinstance(t, Tensor) or t.shape != shape:
                raise RuntimeError(f"default_collate: stack expects each tensor to be equal size, but got {shape} at "
                                   f"entry 0 and {getattr(t, 'shape', type(t).__name__)} at entry {i}")
        return _make_tensor(xp.stack([t.data for t in batch]), False, None)
    if isinstance(elem, _host.ndarray):
        return default_collate([Tensor(a) for a in batch])
    if isinstance(elem, (bool, _host.bool_)):
        return Tensor(list(batch), dtype=dtypes.bool)
    if isinstance(elem, numbers.Integral):
        return Tensor(list(batch), dtype=dtypes.int64)
    if isinstance(elem, numbers.Real):
        return Tensor(list(batch), dtype=dtypes.float64)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return type(elem)({key: default_collate([d[key] for d in batch]) for key in elem}) \
            if not isinstance(elem, collections.OrderedDict) else \
            collections.OrderedDict((key, default_collate([d[key] for d in batch])) for key in elem)
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):        # namedtuple
        return type(elem)(*(default_collate(list(samples)) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        fields = [default_collate(list(samples)) for samples in zip(*batch)]
        return tuple(fields) if isinstance(elem, tuple) else fields
    raise TypeError(f"default_collate: batch must contain tensors, NumPy arrays, numbers, dicts or lists; "
                    f"found {type(elem).__name__}")


class DataLoader:
    """Iterate over ``dataset`` in batches.

    Args:
        dataset: a map-style dataset (``__getitem__`` and ``__len__``)
        batch_size: samples per batch (None: yield single samples, uncollated). Default: 1
        shuffle: a new random order every epoch, from the seeded host generator
            (``tw.manual_seed``), so runs are reproducible. Default: False
        sampler: an iterable of indices (instead of ``shuffle``)
        batch_sampler: an iterable of index lists (instead of batch_size/shuffle/sampler/drop_last)
        num_workers: must be 0: batches are loaded in the main process.
        collate_fn: merges a list of samples into a batch. Default: ``default_collate``
        drop_last: drop the last batch if it is smaller than ``batch_size``. Default: False
        generator: a ``numpy.random.Generator`` for the shuffle instead of the global one.

    A ``TensorDataset`` with the default collate is batched by indexing its tensors with
    the batch's indices at once (the same result as collating samples one by one).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, generator=None):
        if num_workers != 0:
            raise ValueError(f"num_workers={num_workers}: tensorweaver's DataLoader loads batches in the main process; "
                             "use num_workers=0")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        if sampler is None:
            sampler = RandomSampler(dataset, generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, drop_last
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.collate_fn = collate_fn if collate_fn is not None else (default_collate if batch_size is not None
                                                                     or batch_sampler is not None else None)
        self.num_workers, self.generator = num_workers, generator

    def __len__(self):
        return len(self.batch_sampler) if self.batch_sampler is not None else len(self.sampler)

    def __iter__(self):
        if self.batch_sampler is None:                     # no auto-batching: samples as they are
            for idx in self.sampler:
                sample = self.dataset[idx]
                yield self.collate_fn(sample) if self.collate_fn is not None else sample
            return
        fast = type(self.dataset) is TensorDataset and self.collate_fn is default_collate
        for indices in self.batch_sampler:
            if fast:
                rows = xp.asarray(_host.asarray(indices, dtype=_host.int64))
                yield tuple(_make_tensor(t.data[rows], False, None) for t in self.dataset.tensors)
            else:
                yield self.collate_fn([self.dataset[i] for i in indices])
