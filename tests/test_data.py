"""``tensorweaver.utils.data`` (datasets, samplers, DataLoader, collate, random_split) and
the bundled datasets (digits, spirals, regression lines)."""
from collections import OrderedDict, namedtuple

import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver import datasets
from tensorweaver.utils.data import (
    BatchSampler, ConcatDataset, DataLoader, Dataset, SequentialSampler, Subset, TensorDataset, default_collate,
    random_split,
)

pytestmark = pytest.mark.unit


def make_ds(n=10):
    return TensorDataset(tw.arange(n * 2).reshape(n, 2).float(), tw.arange(n))


def test_tensor_dataset_indexing_and_size_check():
    ds = make_ds()
    x, y = ds[3]
    assert x.tolist() == [6.0, 7.0] and y.item() == 3 and len(ds) == 10
    with pytest.raises(ValueError, match="Size mismatch between tensors"):
        TensorDataset(tw.zeros(3, 2), tw.zeros(4))
    with pytest.raises(TypeError, match="not a Tensor"):
        TensorDataset(np.zeros(3))


@pytest.mark.parametrize("drop_last,expected", [(False, [4, 4, 2]), (True, [4, 4])])
def test_batches_in_order(drop_last, expected):
    loader = DataLoader(make_ds(), batch_size=4, drop_last=drop_last)
    batches = list(loader)
    assert [len(b[1]) for b in batches] == expected == [4] * (len(expected) - 1) + expected[-1:]
    assert len(loader) == len(expected)
    assert batches[0][1].tolist() == [0, 1, 2, 3] and batches[0][0].shape == (4, 2)
    assert batches[0][0].dtype == tw.float32 and batches[0][1].dtype == tw.int64
    assert not batches[0][0].requires_grad


def test_shuffle_is_a_permutation_reproducible_from_the_seed():
    loader = DataLoader(make_ds(20), batch_size=6, shuffle=True)

    def epoch():
        return [i for _, y in loader for i in y.tolist()]
    tw.manual_seed(7)
    a1, a2 = epoch(), epoch()
    tw.manual_seed(7)
    b1, b2 = epoch(), epoch()
    assert a1 == b1 and a2 == b2
    assert a1 != a2 and sorted(a1) == list(range(20))
    gen = np.random.default_rng(3)
    c = [i for _, y in DataLoader(make_ds(20), batch_size=6, shuffle=True, generator=gen) for i in y.tolist()]
    assert c == [i for i in np.random.default_rng(3).permutation(20)]


def test_fast_tensor_dataset_path_equals_sample_collation():
    ds = make_ds(9)
    tw.manual_seed(1)
    fast = [tuple(t.tolist() for t in b) for b in DataLoader(ds, batch_size=4, shuffle=True)]
    tw.manual_seed(1)
    slow = [tuple(t.tolist() for t in b)
            for b in DataLoader(ds, batch_size=4, shuffle=True, collate_fn=lambda s: default_collate(s))]
    assert fast == slow


def test_default_collate_structures():
    Point = namedtuple("Point", "x y")
    batch = default_collate([{"a": tw.ones(2), "b": 1.5, "c": "s", "d": 3, "e": True, "f": np.zeros(2)},
                             {"a": tw.zeros(2), "b": 2.5, "c": "t", "d": 4, "e": False, "f": np.ones(2)}])
    assert batch["a"].tolist() == [[1, 1], [0, 0]]
    assert batch["b"].dtype == tw.float64 and batch["d"].dtype == tw.int64 and batch["e"].dtype == tw.bool
    assert batch["c"] == ["s", "t"] and batch["f"].shape == (2, 2)
    pts = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(pts, Point) and pts.x.tolist() == [1, 3]
    assert isinstance(default_collate([OrderedDict(k=1)]), OrderedDict)
    pairs = default_collate([[tw.ones(1), 0], [tw.ones(1), 1]])
    assert isinstance(pairs, list) and pairs[1].tolist() == [0, 1]
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([tw.ones(2), tw.ones(3)])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object()])


def test_custom_dataset_collate_fn_and_batch_size_none():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"x": float(i), "y": i * i}
    batches = list(DataLoader(Squares(), batch_size=2))
    assert batches[-1]["y"].tolist() == [16]
    assert list(DataLoader(Squares(), batch_size=None))[2] == {"x": 2.0, "y": 4}
    assert list(DataLoader(Squares(), batch_size=3, collate_fn=len)) == [3, 2]
    sampler = BatchSampler(SequentialSampler(range(5)), 2, drop_last=True)
    assert [b["y"].tolist() for b in DataLoader(Squares(), batch_sampler=sampler)] == [[0, 1], [4, 9]]


def test_loader_argument_errors():
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(make_ds(), num_workers=-1)
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        DataLoader(make_ds(), batch_size=0)
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(make_ds(), shuffle=True, sampler=range(3))


def test_random_split_seeded_counts_and_fractions():
    ds = make_ds(10)
    tw.manual_seed(0)
    a, b = random_split(ds, [7, 3])
    tw.manual_seed(0)
    a2, _ = random_split(ds, [7, 3])
    assert a.indices == a2.indices and len(a) == 7 and len(b) == 3
    assert sorted(a.indices + b.indices) == list(range(10))
    parts = random_split(ds, [0.5, 0.3, 0.2], generator=np.random.default_rng(1))
    assert [len(p) for p in parts] == [5, 3, 2]
    assert isinstance(parts[0], Subset) and parts[0][0][1].item() == parts[0].indices[0]
    with pytest.raises(ValueError, match="does not equal the length"):
        random_split(ds, [5, 4])


def test_concat_dataset():
    cat = make_ds(3) + make_ds(2)
    assert isinstance(cat, ConcatDataset) and len(cat) == 5
    assert cat[3][1].item() == 0 and cat[-1][1].item() == 1


def test_digits_helper():
    x, y = datasets.load_digits()
    assert x.shape == (1797, 64) and x.dtype == tw.float32 and y.dtype == tw.int64
    assert 0.0 <= x.numpy().min() and x.numpy().max() == 1.0 and sorted(set(y.tolist())) == list(range(10))
    train, test = datasets.digits(images=True)
    assert len(train) == 1438 and len(test) == 359 and train[0][0].shape == (1, 8, 8)
    counts = np.bincount(test.tensors[1].numpy(), minlength=10)
    assert counts.min() >= 35                           # stratified: every class in the test set
    train2, test2 = datasets.digits(images=True)
    np.testing.assert_array_equal(test.tensors[0].numpy(), test2.tensors[0].numpy())


def test_synthetic_sets():
    ds = datasets.spirals(50, 3, seed=0)
    x, y = ds.tensors
    assert x.shape == (150, 2) and y.tolist() == [0] * 50 + [1] * 50 + [2] * 50
    np.testing.assert_array_equal(x.numpy(), datasets.spirals(50, 3, seed=0).tensors[0].numpy())
    line = datasets.regression_line(200, slope=3.0, intercept=0.5, noise=0.01, seed=1)
    xs, ys = (t.numpy()[:, 0] for t in line.tensors)
    slope, intercept = np.polyfit(xs, ys, 1)
    assert abs(slope - 3.0) < 0.01 and abs(intercept - 0.5) < 0.01
    tw.manual_seed(5)
    a = datasets.regression_line(5).tensors[0].numpy()
    tw.manual_seed(5)
    np.testing.assert_array_equal(a, datasets.regression_line(5).tensors[0].numpy())
