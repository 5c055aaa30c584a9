"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict``."""
from __future__ import annotations

import operator
from collections import OrderedDict

from tensorweaver.nn.modules.activation import ReLU as _ReLU
from tensorweaver.nn.modules.conv import Conv2d as _Conv2d
from tensorweaver.nn.modules.module import Module
from tensorweaver.nn.modules.pooling import MaxPool2d as _MaxPool2d


def _has_hooks(module):
    return bool(module._forward_pre_hooks or module._forward_hooks)


def _tiling_pool_kernel(module):
    """(kH, kW) when ``module`` is a plain ``MaxPool2d`` whose windows could be fused
    into the convolution before it (stride == kernel, no padding, dilation or ceil_mode,
    no indices returned, no hooks), else None."""
    if type(module) is not _MaxPool2d or _has_hooks(module) or module.return_indices or module.ceil_mode:
        return None
    pair = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)  # noqa: E731
    kernel = pair(module.kernel_size)
    if pair(module.stride) != kernel or pair(module.padding) != (0, 0) or pair(module.dilation) != (1, 1):
        return None
    return kernel if all(type(k) is int and k >= 1 for k in kernel) else None


def _index(idx, n, kind):
    idx = operator.index(idx)
    if not -n <= idx < n:
        raise IndexError(f"index {idx} is out of range for a {kind} of length {n}")
    return idx % n


class Sequential(Module):
    r"""A chain of modules: ``forward(x)`` feeds ``x`` through each in turn.

    Built from modules (named ``"0"``, ``"1"``, ...) or from an ``OrderedDict`` of
    names to modules::

        model = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.Conv2d(20, 64, 5), nn.ReLU())
        model = nn.Sequential(OrderedDict([("conv1", nn.Conv2d(1, 20, 5)), ("relu1", nn.ReLU())]))
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], dict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[_index(idx, len(self), "Sequential")]

    def __setitem__(self, idx, module):
        key = list(self._modules)[_index(idx, len(self), "Sequential")]
        setattr(self, key, module)

    def __delitem__(self, idx):
        keys = list(self._modules)
        for key in (keys[idx] if isinstance(idx, slice) else [keys[_index(idx, len(self), "Sequential")]]):
            del self._modules[key]
        # renumber, as torch does, so that indices stay 0..n-1
        items = list(self._modules.items())
        self._modules.clear()
        for i, (key, module) in enumerate(items):
            self._modules[str(i) if key.isdigit() else key] = module

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        n = len(self)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        index = index % (n + 1) if index < 0 else index
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(modules):
            self._modules[str(i)] = m
        return self

    def forward(self, input):
        modules = self._modules.values()
        for module in modules:
            if type(module) is _Conv2d:
                return self._forward_fusing(input)
        for module in modules:
            input = module(input)
        return input

    def _forward_fusing(self, input):
        # A Conv2d whose output goes straight into a ReLU, a tiling MaxPool2d, or both,
        # runs as one node, conv + bias (+ ReLU) (+ max-pool) (see ops/conv.py): the
        # intermediate results are never seen by anyone, so this saves their passes over
        # memory and changes nothing else. Modules with hooks (which could see them) and
        # subclasses run one by one, as written.
        modules = list(self._modules.values())
        i, n = 0, len(modules)
        while i < n:
            module = modules[i]
            if type(module) is not _Conv2d or _has_hooks(module):
                input = module(input)
                i += 1
                continue
            j = i + 1
            activation = None
            if j < n and type(modules[j]) is _ReLU and not _has_hooks(modules[j]):
                activation, j = "relu", j + 1
            pool = _tiling_pool_kernel(modules[j]) if j < n else None
            if pool is not None:
                j += 1
            input = module(input) if j == i + 1 else module._forward(input, activation, pool)
            i = j
        return input


class ModuleList(Module):
    r"""Holds sub-modules in a list, registered (so ``parameters()`` finds them), indexable
    like a Python list. It has no ``forward``: iterate over it in your own."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        return self._modules[str(_index(idx, len(self), "ModuleList"))]

    def __setitem__(self, idx, module):
        self.add_module(str(_index(idx, len(self), "ModuleList")), module)

    def __delitem__(self, idx):
        modules = list(self._modules.values())
        del modules[idx if isinstance(idx, slice) else _index(idx, len(self), "ModuleList")]
        self._modules.clear()
        for i, m in enumerate(modules):
            self._modules[str(i)] = m

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        return ModuleList(list(self) + list(other))

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        if isinstance(modules, Module) and not isinstance(modules, (ModuleList, Sequential)):
            raise TypeError("ModuleList.extend should be called with an iterable of modules, but got a "
                            f"{type(modules).__name__}")
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(modules):
            self.add_module(str(i), m)


class ModuleDict(Module):
    r"""Holds sub-modules in an ordered dict, registered, with the usual dict methods.
    Keys are strings; insertion order is kept."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def clear(self):
        self._modules.clear()

    def pop(self, key):
        module = self[key]
        del self[key]
        return module

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def update(self, modules):
        items = modules.items() if hasattr(modules, "items") else modules
        for j, item in enumerate(items):
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise ValueError(f"ModuleDict update sequence element #{j} should be a (key, module) pair")
            self[item[0]] = item[1]
