"""``Module``: the base class of every layer and model.

A module owns three ordered registries, filled automatically by attribute
assignment (``__setattr__``):

- ``_parameters``: ``Parameter`` attributes (learnable),
- ``_buffers``: tensors registered with ``register_buffer`` (state such as
  BatchNorm's running statistics, saved in ``state_dict`` but not learned),
- ``_modules``: sub-module attributes.

Python dicts keep insertion order, so ``parameters()``, ``named_modules()`` and
``state_dict()`` list things in the order the model's ``__init__`` assigned them,
which is deterministic, as in torch.
"""
from __future__ import annotations

import itertools
from collections import OrderedDict, namedtuple

from tensorweaver.ops.inplace import bump_version
from tensorweaver import backend, dtypes
from tensorweaver.autograd.grad_mode import no_grad
from tensorweaver.nn.parameter import Parameter
from tensorweaver._device import check_cuda
from tensorweaver.tensor import Tensor, parse_to_args

_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
_hook_ids = itertools.count()


class RemovableHandle:
    """Returned by ``register_*_hook``; ``remove()`` unregisters the hook. Also a
    context manager that removes the hook on exit."""

    def __init__(self, *registries):
        self.id = next(_hook_ids)
        self._registries = registries

    def remove(self) -> None:
        for registry in self._registries:
            if isinstance(registry, set):       # the with_kwargs ids
                registry.discard(self.id)
            else:
                registry.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _addindent(text, spaces):
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


def _as_state_array(value, key):
    """A state_dict value (a Tensor, or anything array-like such as a NumPy array or
    a torch tensor) -> backend array."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, backend.ndarray):
        return value
    try:
        return backend.from_host(backend.host_numpy().asarray(value))
    except Exception as exc:
        raise TypeError(f"state_dict[{key!r}] is a {type(value).__name__}, not a tensor or array: {exc}") from exc


class Module:
    r"""Base class for all neural network modules.

    Subclasses set layers as attributes in ``__init__`` (after calling
    ``super().__init__()``) and define ``forward``::

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(4, 8)
                self.fc2 = nn.Linear(8, 2)

            def forward(self, x):
                return self.fc2(self.fc1(x).relu())

    Calling the module runs its forward pre-hooks, ``forward`` and its forward hooks.
    """

    training: bool

    def __init__(self):
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = {}
        d["_forward_pre_hooks"] = {}
        d["_forward_hooks"] = {}
        d["_hooks_with_kwargs"] = set()

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    # ---------------------------------------------------------------- calling
    def __call__(self, *args, **kwargs):
        if not (self._forward_pre_hooks or self._forward_hooks):
            return self.forward(*args, **kwargs)
        with_kwargs = self._hooks_with_kwargs
        for hid, hook in list(self._forward_pre_hooks.items()):
            if hid in with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError("a forward pre-hook registered with with_kwargs=True must return "
                                           f"None or a tuple (new_args, new_kwargs), got {type(result).__name__}")
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hid, hook in list(self._forward_hooks.items()):
            result = hook(self, args, kwargs, output) if hid in with_kwargs else hook(self, args, output)
            if result is not None:
                output = result
        return output

    def _register_hook(self, registry, hook, prepend, with_kwargs):
        handle = RemovableHandle(registry, self._hooks_with_kwargs)
        if prepend:
            items = list(registry.items())
            registry.clear()
            registry[handle.id] = hook
            registry.update(items)
        else:
            registry[handle.id] = hook
        if with_kwargs:
            self._hooks_with_kwargs.add(handle.id)
        return handle

    def register_forward_pre_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False):
        """``hook(module, args)`` runs before ``forward``; it may return new args (a tuple,
        or a single value that is wrapped in one). With ``with_kwargs=True`` it is called as
        ``hook(module, args, kwargs)`` and may return ``(args, kwargs)``.
        Returns a handle whose ``remove()`` unregisters it."""
        return self._register_hook(self._forward_pre_hooks, hook, prepend, with_kwargs)

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False):
        """``hook(module, args, output)`` runs after ``forward``; it may return a
        replacement output. With ``with_kwargs=True``: ``hook(module, args, kwargs, output)``.
        Returns a handle whose ``remove()`` unregisters it."""
        return self._register_hook(self._forward_hooks, hook, prepend, with_kwargs)

    # ---------------------------------------------------------------- registration
    def register_parameter(self, name: str, param) -> None:
        """Add a parameter (or ``None``, a placeholder that is skipped) under ``name``."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(tensorweaver.nn.Parameter or None required); wrap it: nn.Parameter(tensor)")
        if param is not None and param.grad_fn is not None:
            raise ValueError(f"cannot assign a non-leaf Tensor to parameter '{name}'; compute it in forward() "
                             "instead, or register a detached copy")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Add a buffer: module state that is not learned (e.g. BatchNorm's running mean).
        Persistent buffers are part of ``state_dict``."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' (Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module) -> None:
        """Add a child module under ``name`` (same as assigning it as an attribute)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    @staticmethod
    def _check_name(name, kind):
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f'{kind} name can\'t be empty or contain ".", got {name!r}')

    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(tensorweaver.nn.Parameter or None expected)")
            params[name] = None
        else:
            modules = d.get("_modules")
            if isinstance(value, Module):
                if modules is None:
                    raise AttributeError("cannot assign module before Module.__init__() call")
                self._forget(name)
                modules[name] = value
            elif modules is not None and name in modules:
                if value is not None:
                    raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                    "(Module or None expected)")
                modules[name] = None
            else:
                buffers = d.get("_buffers")
                if buffers is not None and name in buffers:
                    if value is not None and not isinstance(value, Tensor):
                        raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                        "(Tensor or None expected)")
                    buffers[name] = value
                else:
                    object.__setattr__(self, name, value)

    def _forget(self, name):
        d = self.__dict__
        d.pop(name, None)
        for key in ("_parameters", "_buffers", "_modules"):
            d[key].pop(name, None)
        d["_non_persistent_buffers_set"].discard(name)

    def __getattr__(self, name):
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            registry = d.get(key)
            if registry is not None and name in registry:
                return registry[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for key in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__[key]:
                del self.__dict__[key][name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    # ---------------------------------------------------------------- traversal
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        """Yield ``(dotted_name, module)`` for this module (name ``prefix``) and every
        descendant, depth-first in registration order; each module once."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if self in memo:
                return
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            yield from module.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and module not in seen:
                seen.add(module)
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry, prefix, recurse, remove_duplicate=True):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """Yield ``(dotted_name, Parameter)``, e.g. ``("fc1.weight", ...)``; a parameter
        shared by two modules is listed once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str):
        """The descendant named by a dotted path such as ``"encoder.layers.0"``."""
        if target == "":
            return self
        module = self
        for i, part in enumerate(target.split(".")):
            if part not in module._modules or module._modules[part] is None:
                where = ".".join(target.split(".")[:i]) or type(self).__name__
                raise AttributeError(f"{where} has no submodule {part!r} (looking up {target!r})")
            module = module._modules[part]
        return module

    # ---------------------------------------------------------------- modes and utilities
    def train(self, mode: bool = True):
        """Set training mode (Dropout active, BatchNorm uses batch statistics) on this
        module and every descendant. Returns ``self``."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for module in self.modules():
            module.__dict__["training"] = mode
        return self

    def eval(self):
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters (to None by default, as torch does)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def apply(self, fn):
        """Call ``fn(module)`` on every child (recursively), then on ``self``; e.g. custom init."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def _apply(self, convert):
        """Replace the data of every parameter (and its grad) and buffer by ``convert(array)``."""
        for module in self.modules():
            for p in module._parameters.values():
                if p is None:
                    continue
                with no_grad():
                    p.data = convert(p.data)
                    p.shape = tuple(p.data.shape)
                    if p.grad is not None:
                        p.grad.data = convert(p.grad.data)
            for b in module._buffers.values():
                if b is not None:
                    b.data = convert(b.data)
        return self

    def to(self, *args, **kwargs):
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or ``to(tensor)``: floating
        point parameters and buffers take the dtype (integer buffers keep theirs), in place.
        The device is checked; a process has one device, so nothing moves."""
        dtype = parse_to_args(args, kwargs)
        if dtype is None:
            return self
        if dtype.kind != "f":
            raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dtype}")
        return self._apply(lambda a: a.astype(dtype) if a.dtype.kind == "f" else a)

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    def cpu(self):
        """``self``: in a GPU-mode process the data stays where Legate placed it."""
        return self

    def cuda(self, device=None):
        """``self`` when CUDA is available (cuPyNumeric in Legate GPU mode, where parameters
        already live on the GPUs); torch's error otherwise."""
        check_cuda(device, "Module.cuda()")
        return self

    # ---------------------------------------------------------------- state_dict
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()

    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False):
        """An ordered dict from dotted names (``"fc1.weight"``, ``"bn.running_mean"``) to
        tensors: every parameter and persistent buffer. The tensors share memory with
        the module (clone or save them to keep a snapshot)."""
        if destination is None:
            destination = OrderedDict()
        for name, module in self.named_modules(prefix=prefix.rstrip(".") if prefix else ""):
            own = name + "." if name else ""
            module._save_to_state_dict(destination, own, keep_vars)
        return destination

    def _local_state(self):
        state = {name: p for name, p in self._parameters.items() if p is not None}
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                state[name] = b
        return state

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy tensors from ``state_dict`` into this module's parameters and buffers.

        With ``strict=True`` the keys must match ``state_dict()``'s exactly. Shapes must
        always match. Nothing is copied unless every check passes; the error lists
        the missing, unexpected and mis-shaped keys. Values may be Tensors or
        array-likes (NumPy arrays, or torch tensors from ``torch_model.state_dict()``);
        they are cast to each parameter's dtype. Returns ``(missing_keys, unexpected_keys)``.
        With ``assign=True`` the module takes the loaded data as its own (no copy into
        the existing arrays).
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
        missing, unexpected, errors, copies = [], [], [], []
        expected = set()
        for prefix, module in self.named_modules():
            own = prefix + "." if prefix else ""
            for name, target in module._local_state().items():
                key = own + name
                expected.add(key)
                if key not in state_dict:
                    missing.append(key)
                    continue
                value = _as_state_array(state_dict[key], key)
                if tuple(value.shape) != target.shape:
                    errors.append(f"size mismatch for {key}: copying a param with shape {tuple(value.shape)} "
                                  f"from checkpoint, the shape in current model is {target.shape}.")
                    continue
                copies.append((target, value))
        unexpected = [k for k in state_dict.keys() if k not in expected]
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors)
                               + "\n(Keys are the dotted names of named_parameters() and named_buffers(); "
                                 "pass strict=False to ignore missing/unexpected keys.)")
        with no_grad():
            for target, value in copies:
                if assign:
                    target.data = value.astype(target.dtype)     # astype copies: never aliases the source
                else:
                    target.data[...] = value                    # in place, cast to the target's dtype
                bump_version(target)
        return _IncompatibleKeys(missing, unexpected)

    # ---------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The module's own settings, shown inside its repr; layers override it."""
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _addindent(repr(module), 2) for name, module in self._modules.items()]
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"
