"""Tracing: run ``model(*args)`` once and record every op it calls.

``Function.apply`` calls ``tensorweaver.autograd.function._trace_hook[0]`` after each
op; while a trace runs, that hook appends a ``Record`` (the Function instance with
its parameters, the original arguments, the output tensor and the module path that
ran it). Module paths come from forward pre-hooks/hooks on ``model.named_modules()``.

The exporter traces twice, the second time with every dynamic axis one longer and
the data rolled along it (``second_inputs``): dims that differ between the two runs
are the dynamic ones, and a constant that differs was computed from the input by
something the tracer cannot see.
"""
from __future__ import annotations

from dataclasses import dataclass

from tensorweaver import backend
from tensorweaver.autograd import function as _function
from tensorweaver.autograd.grad_mode import no_grad
from tensorweaver.onnx.errors import ExportError
from tensorweaver.tensor import Tensor, _make_tensor


@dataclass
class Record:
    """One traced op call."""
    fn: object          # the Function instance (holds its parameters as attributes)
    args: tuple         # the original arguments: Tensors and constants
    kwargs: dict
    out: Tensor
    scope: str          # module path that ran it, "" for the top-level forward


@dataclass
class Trace:
    records: list
    inputs: list        # the Tensor arguments, in order
    outputs: list       # the output Tensors, flattened
    keep: list          # every tensor seen, so that id()s stay unique while the trace lives


def trace(model, args) -> Trace:
    """Run ``model(*args)`` (grad off, modules in eval mode) and record every op."""
    if _function._trace_hook[0] is not None:
        raise ExportError("an ONNX trace is already running in this process; export one model at a time")
    records, scopes = [], []

    def hook(fn, fn_args, kwargs, out):
        records.append(Record(fn, fn_args, kwargs, out, scopes[-1] if scopes else ""))

    handles = _scope_hooks(model, scopes)
    modes = _set_eval(model)
    _function._trace_hook[0] = hook
    try:
        with no_grad():
            result = model(*args)
    finally:
        _function._trace_hook[0] = None
        for h in handles:
            h.remove()
        for module, training in modes:
            module.training = training
    outputs = flatten_outputs(result)
    inputs = [a for a in args if isinstance(a, Tensor)]
    keep = inputs + outputs + [r.out for r in records] + [r.args for r in records]
    return Trace(records, inputs, outputs, keep)


def flatten_outputs(result) -> list:
    """A Tensor, or nested tuples/lists of Tensors, as a flat list."""
    if isinstance(result, Tensor):
        return [result]
    if isinstance(result, (tuple, list)):
        return [t for item in result for t in flatten_outputs(item)]
    raise ExportError(f"ONNX export: forward() returned a {type(result).__name__}; "
                      "return a Tensor or a tuple/list of Tensors")


def _scope_hooks(model, scopes) -> list:
    """Forward pre-hooks push a module's path, forward hooks pop it."""
    named_modules = getattr(model, "named_modules", None)
    if named_modules is None:
        return []
    def pop(module, args, output):
        scopes.pop()            # returns None: a forward hook's result would replace the output

    handles = []
    for path, module in named_modules():
        if not path:
            continue    # the model itself is the root scope ""
        def push(module, args, path=path):
            scopes.append(path)
        # The path is pushed before the module's own pre-hooks run and popped after its hooks.
        handles.append(module.register_forward_pre_hook(push, prepend=True))
        handles.append(module.register_forward_hook(pop))
    return handles


def _set_eval(model) -> list:
    """Export the inference graph (as torch.onnx does): eval mode, restored afterwards."""
    modules = getattr(model, "modules", None)
    if modules is None or not hasattr(model, "eval"):
        return []
    modes = [(m, m.training) for m in modules()]
    model.eval()
    return modes


def second_inputs(args, dynamic):
    """Inputs for the second trace: each dynamic axis one longer, the data rolled along it.

    ``dynamic[i]`` is the set of dynamic axes of the i-th Tensor argument. Rolling (and
    repeating the first slice) keeps every value in the input's own domain, so indices
    stay valid; with no dynamic axis the data is still rolled along axis 0.
    """
    np = backend.host_numpy()
    out, k = [], 0
    for a in args:
        if not isinstance(a, Tensor):
            out.append(a)
            continue
        host = np.array(backend.to_host(a.data))
        axes = sorted(dynamic[k]) or ([0] if host.ndim else [])
        for axis in axes:
            host = np.roll(host, 1, axis=axis)
            if axis in dynamic[k]:
                first = np.take(host, [0], axis=axis)
                host = np.concatenate([host, first], axis=axis)
        out.append(_make_tensor(backend.from_host(host), False, None))
        k += 1
    return tuple(out)


def check_same_path(t1: Trace, t2: Trace) -> None:
    """Both traces must call the same ops in the same order (no data-dependent control flow)."""
    n1, n2 = len(t1.records), len(t2.records)
    for i, (r1, r2) in enumerate(zip(t1.records, t2.records)):
        if type(r1.fn) is not type(r2.fn) or len(r1.args) != len(r2.args) or r1.out.ndim != r2.out.ndim:
            raise ExportError(
                f"ONNX export: forward() took a different path when the dynamic axes changed size "
                f"(op {i}: {r1.fn.op_name} in '{r1.scope}' vs {r2.fn.op_name} in '{r2.scope}'). Tracing "
                "records one fixed sequence of ops; remove data- or shape-dependent Python control "
                "flow, or export without dynamic_axes.")
    if n1 != n2 or len(t1.outputs) != len(t2.outputs):
        raise ExportError(
            f"ONNX export: forward() ran {n1} ops for the given input but {n2} when the dynamic axes "
            "changed size; tracing needs one fixed sequence of ops (no shape-dependent loops)")
