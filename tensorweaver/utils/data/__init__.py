"""``tensorweaver.utils.data``: datasets, samplers and the DataLoader, as ``torch.utils.data``."""
from tensorweaver.utils.data.dataloader import DataLoader, default_collate
from tensorweaver.utils.data.dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from tensorweaver.utils.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
           "default_collate", "Sampler", "SequentialSampler", "RandomSampler", "BatchSampler"]
