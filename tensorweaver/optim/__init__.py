"""``tensorweaver.optim``: optimizers and learning-rate schedulers, as ``torch.optim``."""
from tensorweaver.optim import lr_scheduler  # noqa: F401
from tensorweaver.optim.adadelta import Adadelta
from tensorweaver.optim.adagrad import Adagrad
from tensorweaver.optim.adam import Adam, AdamW
from tensorweaver.optim.adamax import Adamax
from tensorweaver.optim.asgd import ASGD
from tensorweaver.optim.lbfgs import LBFGS
from tensorweaver.optim.nadam import NAdam
from tensorweaver.optim.optimizer import Optimizer
from tensorweaver.optim.radam import RAdam
from tensorweaver.optim.rmsprop import RMSprop
from tensorweaver.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam",
           "ASGD", "LBFGS", "lr_scheduler"]
