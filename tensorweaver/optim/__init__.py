"""``tensorweaver.optim``: optimizers and learning-rate schedulers, as ``torch.optim``."""
from tensorweaver.optim import lr_scheduler  # noqa: F401
from tensorweaver.optim.adam import Adam, AdamW
from tensorweaver.optim.optimizer import Optimizer
from tensorweaver.optim.rmsprop import RMSprop
from tensorweaver.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "lr_scheduler"]
