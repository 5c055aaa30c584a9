"""Samplers (RandomSampler with replacement/num_samples, SubsetRandomSampler,
WeightedRandomSampler), default_collate's rules against torch's, and DataLoader worker
processes: same batches as the main process, host arrays in the workers (which never run
Legate), per-worker seeds, worker_init_fn, get_worker_info, persistent workers,
timeout, and clear errors."""
import os
import pickle
from collections import Counter, OrderedDict, namedtuple

import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver.utils.data import (
    DataLoader, RandomSampler, SubsetRandomSampler, TensorDataset, WeightedRandomSampler, default_collate,
    default_convert, get_worker_info,
)

from data_more_helpers import (  # noqa: E402  (module-level classes the spawned workers can import)
    Fails, Holds, InitMark, RandomAugment, Slow, Structured, WhereAmI, record_init,
)

pytestmark = pytest.mark.unit
P = namedtuple("P", "x y")


# ----------------------------------------------------------------------------- samplers
def test_random_sampler_without_replacement_and_num_samples():
    gen = np.random.default_rng(0)
    s = RandomSampler(range(5), num_samples=12, generator=gen)
    drawn = list(s)
    assert len(s) == len(drawn) == 12
    assert sorted(drawn[:5]) == sorted(drawn[5:10]) == list(range(5))     # whole permutations first
    assert len(set(drawn[10:])) == 2
    assert sorted(RandomSampler(range(7))) == list(range(7))


def test_random_sampler_with_replacement_and_reproducibility():
    s = RandomSampler(range(4), replacement=True, num_samples=400, generator=np.random.default_rng(1))
    drawn = list(s)
    assert len(drawn) == 400 and set(drawn) == {0, 1, 2, 3} and max(Counter(drawn).values()) > 100 > 50
    tw.manual_seed(3)
    a = list(RandomSampler(range(10), replacement=True))
    tw.manual_seed(3)
    assert list(RandomSampler(range(10), replacement=True)) == a and len(a) == 10
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        list(RandomSampler(range(3), generator=42))


class NumpyBacked:
    """Stands in for a generator object that wraps a NumPy one (as a tw.Generator may)."""

    def __init__(self, seed):
        self.numpy_generator = np.random.default_rng(seed)


def test_subset_random_sampler_and_wrapped_generators():
    s = SubsetRandomSampler([10, 20, 30, 40], generator=NumpyBacked(5))
    first, second = list(s), list(s)
    assert sorted(first) == sorted(second) == [10, 20, 30, 40] and len(s) == 4
    assert first == [[10, 20, 30, 40][i] for i in np.random.default_rng(5).permutation(4)]


def test_weighted_random_sampler():
    w = [0.0, 1.0, 3.0, 6.0]
    drawn = list(WeightedRandomSampler(w, 5000, generator=np.random.default_rng(2)))
    counts = Counter(drawn)
    assert counts[0] == 0 and len(drawn) == 5000
    np.testing.assert_allclose([counts[i] / 5000 for i in (1, 2, 3)], [0.1, 0.3, 0.6], atol=0.03)
    unique = list(WeightedRandomSampler(tw.tensor(w), 3, replacement=False))
    assert sorted(unique) == [1, 2, 3]
    with pytest.raises(RuntimeError, match="without replacement"):
        WeightedRandomSampler(w, 4, replacement=False)
    with pytest.raises(RuntimeError, match="non-negative"):
        WeightedRandomSampler([1.0, -1.0], 2)
    with pytest.raises(ValueError, match="1d sequence"):
        WeightedRandomSampler([[1.0, 2.0]], 2)


# ----------------------------------------------------------------------------- collate against torch
torch_mod = None


def _torch():
    return pytest.importorskip("torch", reason="PyTorch is the test-only oracle")


def assert_same_structure(ours, theirs, torch):
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, tw.Tensor), type(ours)
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", ""), (ours.dtype, theirs.dtype)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs)
        for k in theirs:
            assert_same_structure(ours[k], theirs[k], torch)
    elif isinstance(theirs, (list, tuple)):
        assert type(ours).__name__ == type(theirs).__name__ and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_same_structure(a, b, torch)
    else:
        assert ours == theirs


SAMPLES = {
    "tuples": lambda m: [(m.ones(2) * i, i, float(i)) for i in range(3)],
    "lists": lambda m: [[i, [i, 2.5 * i]] for i in range(3)],
    "dicts": lambda m: [OrderedDict(a=np.float32(i), b=np.arange(3, dtype=np.int16) + i, c="x") for i in range(2)],
    "namedtuples": lambda m: [P(x=np.zeros((2, 2)) + i, y=True) for i in range(3)],
    "numbers": lambda m: [1.5, 2.5],
    "numpy scalars": lambda m: [np.float32(1.5), np.float32(2)],
    "nested dict": lambda m: [{"img": m.zeros(1, 2), "meta": {"id": i, "tags": ("a", "b")}} for i in range(2)],
}


@pytest.mark.torch
@pytest.mark.parametrize("kind", list(SAMPLES))
def test_default_collate_matches_torch(kind):
    torch = _torch()
    ours = default_collate(SAMPLES[kind](tw))
    theirs = torch.utils.data.default_collate(SAMPLES[kind](torch))
    assert_same_structure(ours, theirs, torch)


@pytest.mark.torch
def test_default_convert_and_loader_batches_match_torch_for_the_same_indices():
    torch = _torch()
    sample = (np.ones(2), {"k": (1, np.int64(3))}, "s")
    assert_same_structure(default_convert(sample), torch.utils.data.default_convert(sample), torch)
    order = [7, 2, 9, 0, 4, 4, 1]              # a fixed sampler: both loaders see these indices

    class Ours(tw.utils.data.Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return {"x": np.full(3, i, dtype=np.float64), "y": (i, f"n{i}")}
    theirs_ds = Ours()
    ours_batches = list(DataLoader(Ours(), batch_size=3, sampler=order))
    theirs_batches = list(torch.utils.data.DataLoader(theirs_ds, batch_size=3, sampler=order))
    assert len(ours_batches) == len(theirs_batches) == 3
    for a, b in zip(ours_batches, theirs_batches):
        assert_same_structure(a, b, torch)
    x = np.arange(20.0).reshape(10, 2)
    ours_td = list(DataLoader(TensorDataset(tw.tensor(x), tw.arange(10)), batch_size=4, sampler=order))
    theirs_td = list(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(x), torch.arange(10)),
                                                 batch_size=4, sampler=order))
    for a, b in zip(ours_td, theirs_td):
        assert_same_structure(a, b, torch)


def test_default_collate_rejects_string_arrays():
    with pytest.raises(TypeError, match="found <U1"):
        default_collate([np.array(["a"]), np.array(["b"])])


# ----------------------------------------------------------------------------- worker processes
def as_lists(batches):
    def conv(v):
        if isinstance(v, tw.Tensor):
            return v.tolist()
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return type(v)(conv(x) for x in v) if not hasattr(v, "_fields") else type(v)(*map(conv, v))
        return v
    return [conv(b) for b in batches]


def test_workers_give_the_main_process_batches_as_backend_tensors():
    ds = Structured(10)
    main = list(DataLoader(ds, batch_size=3))
    loader = DataLoader(ds, batch_size=3, num_workers=2)
    workers = list(loader)
    assert as_lists(workers) == as_lists(main)
    img = workers[0]["image"]
    assert isinstance(img, tw.Tensor) and isinstance(img.data, tw.backend.xp.ndarray) and not img.requires_grad
    assert workers[0]["np_scalar"].dtype == tw.int32 and workers[0]["pair"].label.dtype == tw.int64
    held = list(DataLoader(Holds(), batch_size=4, num_workers=2))     # a Tensor inside the dataset travels too
    assert held[1].tolist() == [[16.0, 18.0], [20.0, 22.0], [24.0, 26.0], [28.0, 30.0]]
    assert held[1].dtype == tw.float64


def test_workers_run_numpy_never_legate_and_know_who_they_are():
    assert get_worker_info() is None
    batches = list(DataLoader(WhereAmI(), batch_size=2, num_workers=2, prefetch_factor=1))
    rows = [dict(zip(b, vals)) for b in as_lists(batches) for vals in zip(*b.values())]
    assert [r["index"] for r in rows] == list(range(8))                   # in the sampler's order
    assert {r["env"] for r in rows} == {"numpy"} and all(r["numpy_backend"] for r in rows)
    assert not any(r["legate_imported"] for r in rows)
    assert {r["worker"] for r in rows} == {0, 1} and os.getpid() not in {r["pid"] for r in rows}
    assert [r["worker"] for r in rows[::2]] == [0, 1, 0, 1]               # batches go round-robin
    seeds = {r["worker"]: r["seed"] for r in rows}
    assert seeds[1] == seeds[0] + 1                                       # base_seed + worker_id


def test_worker_seeds_make_random_transforms_reproducible():
    def epoch(seed):
        tw.manual_seed(seed)
        return as_lists(DataLoader(RandomAugment(), batch_size=3, shuffle=True, num_workers=2))
    a, b, c = epoch(11), epoch(11), epoch(12)
    assert a == b and a != c
    flat = [row for batch in a for row in batch[1]]
    assert len(set(flat)) == len(flat)               # the two workers draw different numbers


def test_persistent_workers_worker_init_fn_and_batch_size_none():
    loader = DataLoader(WhereAmI(), batch_size=4, num_workers=2, persistent_workers=True)
    pids1 = {p for b in loader for p in b["pid"].tolist()}
    pids2 = {p for b in loader for p in b["pid"].tolist()}
    assert pids1 == pids2 and len(pids1) == 2
    it = iter(loader)
    next(it)                                         # an abandoned epoch does not leak into the next
    assert [i for b in loader for i in b["index"].tolist()] == list(range(8))
    marks = list(DataLoader(InitMark(), batch_size=None, num_workers=2, worker_init_fn=record_init))
    assert marks == ["init-0-2", "init-1-2", "init-0-2", "init-1-2"]
    fresh = DataLoader(WhereAmI(), batch_size=8, num_workers=1)
    assert next(iter(fresh))["pid"].tolist()[0] != next(iter(fresh))["pid"].tolist()[0]


def test_worker_errors_are_raised_in_the_main_process():
    with pytest.raises(KeyError, match="sample 3 is missing") as info:
        list(DataLoader(Fails(), batch_size=2, num_workers=2))
    assert "DataLoader worker process 1" in str(info.value)
    with pytest.raises(RuntimeError, match="timed out after 1 seconds"):
        list(DataLoader(Slow(), batch_size=1, num_workers=1, timeout=1))


class Unpicklable(tw.utils.data.Dataset):
    def __init__(self):
        self.transform = lambda x: x

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return self.transform(i)


def test_unpicklable_dataset_and_bad_options_are_clear_errors():
    with pytest.raises(TypeError, match="pickling .*num_workers=0"):
        list(DataLoader(Unpicklable(), batch_size=2, num_workers=2))
    assert list(DataLoader(Unpicklable(), batch_size=2))[0].tolist() == [0, 1]
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified"):
        DataLoader(Structured(), prefetch_factor=2)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(Structured(), persistent_workers=True)
    with pytest.raises(ValueError, match="timeout"):
        DataLoader(Structured(), num_workers=1, timeout=-1)
    loader = DataLoader(Structured(), num_workers=2, persistent_workers=True)
    assert pickle.loads(pickle.dumps(loader)).num_workers == 2


def test_subsets_of_a_tensor_dataset_batch_like_collated_samples():
    # random_split's Subsets (nested too) are batched by one gather through their indices;
    # the batches equal collating the samples one by one.
    x, y = tw.randn(40, 3), tw.arange(40)
    train, _ = tw.utils.data.random_split(tw.utils.data.TensorDataset(x, y), [30, 10],
                                          generator=tw.Generator().manual_seed(3))
    inner = tw.utils.data.Subset(train, [5, 0, 29, 7, 7, -1])
    for ds in (train, inner):
        fast = list(tw.utils.data.DataLoader(ds, batch_size=4))
        slow = list(tw.utils.data.DataLoader(ds, batch_size=4, collate_fn=lambda b: tw.utils.data.default_collate(b)))
        assert len(fast) == len(slow)
        for (fx, fy), (sx, sy) in zip(fast, slow):
            assert np.array_equal(fx.numpy(), sx.numpy()) and np.array_equal(fy.numpy(), sy.numpy())
