"""``tensorweaver.nn``: modules, parameters, losses, ``functional`` and ``init``, as ``torch.nn``."""
from tensorweaver.nn import functional, init, utils  # noqa: F401
from tensorweaver.nn.modules import *  # noqa: F401,F403
from tensorweaver.nn.modules import __all__ as _modules_all
from tensorweaver.nn.modules.module import RemovableHandle  # noqa: F401
from tensorweaver.nn.parameter import Parameter

__all__ = ["Parameter", "functional", "init", "utils"] + _modules_all
