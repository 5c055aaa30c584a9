"""``Optimizer``: the base class holding parameter groups and per-parameter state.

- ``param_groups`` is a list of dicts; each has ``"params"`` (a list of Parameters) and
  every hyper-parameter (``lr``, ...), filled from the optimizer's defaults.
- ``state`` maps each Parameter to a dict of its buffers (``momentum_buffer``,
  ``exp_avg``, ``step``, ...), created lazily on its first update.

Subclasses implement ``step()``: they read ``p.grad`` and update ``p.data`` in place
under ``no_grad``. They never write into ``p.grad`` (a new array is made where the
gradient is modified, e.g. by weight decay).
"""
from __future__ import annotations

from collections import defaultdict

from tensorweaver import backend
from tensorweaver.autograd.grad_mode import enable_grad
from tensorweaver.tensor import Tensor, _make_tensor


class _RequiredParameter:
    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


class Optimizer:
    """Base class for all optimizers.

    Args:
        params: an iterable of Parameters, or of dicts defining parameter groups
            (``{"params": [...], "lr": 0.1}``); group keys override ``defaults``.
        defaults: the default hyper-parameters of a group.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got a {type(params).__name__}; pass model.parameters() or [tensor]")
        if isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        param_groups = list(params)
        if not param_groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters (e.g. new layers to fine-tune) with its own options."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor (one computed by an op); optimize the leaf "
                                 "parameters it was computed from")
        group = dict(param_group, params=params)
        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {key}")
            group.setdefault(key, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every optimized parameter: to None (default) or zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    def step(self, closure=None):
        raise NotImplementedError

    def _closure_loss(self, closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # ---------------------------------------------------------------- state_dict
    def state_dict(self) -> dict:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``, torch's
        layout: parameters are numbered in order across the groups, and only their
        indices are stored, never the parameters themselves."""
        index, groups = {}, []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore ``state_dict()``'s output: hyper-parameters per group and per-parameter
        state (tensors are copied and cast to their parameter's dtype). The groups must
        have the same sizes as this optimizer's."""
        groups, saved_groups = self.param_groups, state_dict["param_groups"]
        if len(groups) != len(saved_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, but the optimizer has "
                             f"{len(groups)}")
        for i, (g, sg) in enumerate(zip(groups, saved_groups)):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(f"loaded state dict contains a parameter group ({i}) with {len(sg['params'])} "
                                 f"parameters, but the optimizer's group has {len(g['params'])}")
        id_map = {}
        for g, sg in zip(groups, saved_groups):
            for saved_index, p in zip(sg["params"], g["params"]):
                id_map[saved_index] = p
        new_state = defaultdict(dict)
        for key, values in state_dict["state"].items():
            key = int(key)
            if key not in id_map:
                raise ValueError(f"loaded state dict has state for parameter index {key}, which no group lists")
            p = id_map[key]
            new_state[p] = {name: self._restore(name, value, p) for name, value in values.items()}
        self.state = new_state
        self.param_groups = [dict(sg, params=g["params"]) for g, sg in zip(groups, saved_groups)]

    @staticmethod
    def _restore(name, value, param):
        if name == "step":
            return int(float(value.item() if isinstance(value, Tensor) else value))
        if isinstance(value, Tensor) or hasattr(value, "__array__"):
            arr = value.data if isinstance(value, Tensor) else backend.from_host(backend.host_numpy().asarray(value))
            if tuple(arr.shape) != param.shape:
                raise ValueError(f"loaded optimizer state {name!r} has shape {tuple(arr.shape)}, but its parameter "
                                 f"has shape {param.shape}")
            return _make_tensor(arr.astype(param.dtype if arr.dtype.kind == "f" else arr.dtype), False, None)
        return value


def lerp_(a, b, weight):
    """``a += weight * (b - a)`` in place, with torch's two-sided formula (exact at both ends)."""
    if abs(weight) < 0.5:
        a += weight * (b - a)
    else:
        a[...] = b - (b - a) * (1 - weight)


def scalar_state(value) -> float:
    """Round a scalar piece of optimizer state (NAdam's ``mu_product``, ASGD's ``eta`` and
    ``mu``) the way torch stores it: a 0-d tensor of float32, or of float64 when the
    default dtype is float64. Keeping the same rounding keeps trajectories identical."""
    from tensorweaver import dtypes
    np = backend.host_numpy()
    if isinstance(value, Tensor) or hasattr(value, "item"):
        value = value.item()
    if dtypes.get_default_dtype() == dtypes.float64:
        return float(value)
    return float(np.float32(value))
