"""``tensorweaver.utils.data``: datasets, samplers and the DataLoader, as ``torch.utils.data``."""
from tensorweaver.utils.data._worker import WorkerInfo, get_worker_info
from tensorweaver.utils.data.collate import default_collate, default_convert
from tensorweaver.utils.data.dataloader import DataLoader
from tensorweaver.utils.data.dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from tensorweaver.utils.data.sampler import (
    BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler, WeightedRandomSampler,
)

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
           "default_collate", "default_convert", "get_worker_info", "WorkerInfo", "Sampler", "SequentialSampler",
           "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler"]
