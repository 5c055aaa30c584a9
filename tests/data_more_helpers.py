"""Datasets and functions for the DataLoader worker tests (tests/test_data_more.py).

They live in a module of their own, with no torch import, because worker processes are
spawned and import the module that defines what they unpickle."""
import os
import random
import sys
import time
from collections import namedtuple

import numpy as np

import tensorweaver as tw
from tensorweaver.utils.data import Dataset, get_worker_info

Pair = namedtuple("Pair", "image label")


class Structured(Dataset):
    """Each sample is a dict holding a NumPy image, a namedtuple, a number and a string."""

    def __init__(self, n=10):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"image": np.full((2, 3), i, dtype=np.float32), "pair": Pair(tw.full((2,), float(i)), i),
                "weight": 0.5 * i, "name": f"s{i}", "flag": i % 2 == 0, "np_scalar": np.int32(i)}


class WhereAmI(Dataset):
    """Samples that report the process, backend and worker they were made in."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return {"index": i, "pid": os.getpid(), "worker": -1 if info is None else info.id,
                "seed": -1 if info is None else info.seed,
                "env": os.environ.get("TENSORWEAVER_BACKEND", ""),
                "numpy_backend": tw.backend.is_numpy,
                "legate_imported": any(m.split(".")[0] in ("legate", "cupynumeric") for m in sys.modules)}


class RandomAugment(Dataset):
    """A 'random transform': noise from tw, numpy.random and random, per sample."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        return [tw.randn(3) + i, float(np.random.rand()), random.random()]


class Holds(Dataset):
    """A dataset carrying a Tensor (it travels to the workers as a host array)."""

    def __init__(self):
        self.table = tw.arange(20).reshape(10, 2).double()

    def __len__(self):
        return 10

    def __getitem__(self, i):
        return self.table[i] * 2


class Slow(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(4)
        return i


class Fails(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 3:
            raise KeyError(f"sample {i} is missing")
        return i


def record_init(worker_id):
    """A worker_init_fn: leaves a mark the samples can read."""
    os.environ["INIT_MARK"] = f"init-{worker_id}-{get_worker_info().num_workers}"


class InitMark(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return os.environ.get("INIT_MARK", "none")
