"""``DataLoader``: batches of samples from a dataset, in the main process or in workers."""
from __future__ import annotations

import numbers

from tensorweaver import backend
from tensorweaver.tensor import _make_tensor
from tensorweaver.utils.data._worker import WorkerPool, get_worker_info  # noqa: F401  (re-exported)
from tensorweaver.utils.data.collate import default_collate, default_convert
from tensorweaver.utils.data.dataset import Subset, TensorDataset
from tensorweaver.utils.data.sampler import BatchSampler, RandomSampler, SequentialSampler, host_rng

xp = backend.xp
_host = backend.host_numpy()


class DataLoader:
    """Iterate over ``dataset`` in batches.

    Args:
        dataset: a map-style dataset (``__getitem__`` and ``__len__``)
        batch_size: samples per batch (None: yield single samples, uncollated). Default: 1
        shuffle: a new random order every epoch, from the seeded host generator
            (``tw.manual_seed``), so runs are reproducible. Default: False
        sampler: an iterable of indices (instead of ``shuffle``)
        batch_sampler: an iterable of index lists (instead of batch_size/shuffle/sampler/drop_last)
        num_workers: worker processes loading batches (0: the main process). Default: 0
        collate_fn: merges a list of samples into a batch. Default: ``default_collate``
            (``default_convert`` when ``batch_size=None``)
        pin_memory: accepted for compatibility; there is no pinned memory to use.
        drop_last: drop the last batch if it is smaller than ``batch_size``. Default: False
        timeout: seconds to wait for a batch from the workers before raising (0: forever). Default: 0
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker after seeding
        multiprocessing_context: how workers start: None or ``"spawn"`` (the default, and
            the only choice on cuPyNumeric), or ``"fork"``/``"forkserver"`` on NumPy
        generator: a ``numpy.random.Generator`` (or compatible, e.g. a tensorweaver
            ``Generator``) for the shuffle and the workers' base seed instead of the global one
        prefetch_factor: batches loaded ahead per worker. Default: 2 (None when num_workers=0)
        persistent_workers: keep the workers (and their dataset copies) between epochs. Default: False

    With ``num_workers > 0`` each worker gets a pickled copy of the dataset (Tensors in
    it travel as host arrays), fetches and collates whole batches, and sends them back
    as host arrays; they become backend Tensors in the main process, in the sampler's
    order. Workers always compute with NumPy (on cuPyNumeric too: they never start
    Legate). Worker ``i`` seeds ``tw``, ``random`` and ``numpy.random`` with
    ``base_seed + i``, where ``base_seed`` is drawn from ``generator`` (or the global
    generator) each time workers start; ``get_worker_info()`` tells code which worker
    runs it. Datasets, ``collate_fn`` and ``worker_init_fn`` must be picklable (defined
    at module level); a clear error says so otherwise.

    A ``TensorDataset`` (or a ``Subset`` of one, as ``random_split`` makes) with the default
    collate and no workers is batched by indexing its tensors with the batch's indices at
    once: the same result as collating samples, in one gather instead of one per sample (on
    Legate each is a task).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None,
                 persistent_workers=False):
        if not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing. let num_workers > 0 "
                             "to enable multiprocessing, otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and prefetch_factor < 1:
            raise ValueError(f"prefetch_factor should be a positive integer, but got {prefetch_factor}")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
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
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, drop_last
        self.sampler, self.batch_sampler = sampler, batch_sampler
        if collate_fn is None:
            collate_fn = default_collate if batch_sampler is not None else default_convert
        self.collate_fn = collate_fn
        self.num_workers, self.generator, self.pin_memory = int(num_workers), generator, pin_memory
        self.timeout, self.worker_init_fn = timeout, worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.prefetch_factor, self.persistent_workers = prefetch_factor, persistent_workers
        self._pool = None

    def __len__(self):
        return len(self.batch_sampler) if self.batch_sampler is not None else len(self.sampler)

    def __iter__(self):
        if self.num_workers > 0:
            return self._worker_batches()
        return self._main_process_batches()

    def _main_process_batches(self):
        if self.batch_sampler is None:                     # no auto-batching: samples as they are
            for idx in self.sampler:
                yield self.collate_fn(self.dataset[idx])
            return
        fast = _tensor_rows(self.dataset) if self.collate_fn is default_collate else None
        for indices in self.batch_sampler:
            if fast is not None:
                tensors, maps = fast
                rows = _host.asarray(indices, dtype=_host.int64)
                for m in maps:                   # through each Subset, outermost first
                    rows = m[rows]
                rows = xp.asarray(rows)
                yield [_make_tensor(t.data[rows], False, None) for t in tensors]
            else:
                yield self.collate_fn([self.dataset[i] for i in indices])

    def _start_pool(self):
        # One draw from the loader's generator per start, as torch's base seed.
        base_seed = int(host_rng(self.generator).integers(0, 2 ** 62))
        return WorkerPool(self, base_seed)

    def _worker_batches(self):
        tasks = self.batch_sampler if self.batch_sampler is not None else self.sampler
        if self.persistent_workers:
            if self._pool is None or self._pool.closed:
                self._pool = self._start_pool()
            yield from self._pool.run(tasks)
            return
        pool = self._start_pool()
        try:
            yield from pool.run(tasks)
        finally:
            pool.shutdown()

    def __del__(self):
        pool = self.__dict__.get("_pool")
        if pool is not None:
            pool.shutdown()

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_pool"] = None                              # worker processes do not travel
        return state


def _tensor_rows(dataset):
    """``(tensors, index maps)`` when ``dataset`` is a TensorDataset or Subsets of one (the
    maps, host int64 arrays, outermost Subset first); None otherwise."""
    maps = []
    while type(dataset) is Subset:
        if not all(isinstance(i, numbers.Integral) for i in dataset.indices):
            return None                  # e.g. tensors as indices: collate sample by sample
        maps.append(_host.asarray(dataset.indices, dtype=_host.int64))
        dataset = dataset.dataset
    if type(dataset) is not TensorDataset:
        return None
    return dataset.tensors, maps
