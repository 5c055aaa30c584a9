"""The graph under construction, and the view of one traced call that symbolic functions get.

``Graph`` collects nodes (in the order the symbolic functions add them, which is
the traced, hence topological, order) and initializers, and names values after the
module path that made them (``/encoder/attn/MatMul_output_0``). ``Call`` is one
traced op: its Function, its inputs as value names, and its output's shape, dtype
and dynamic axes.
"""
from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper

from tensorweaver import backend
from tensorweaver.onnx.errors import ExportError
from tensorweaver.tensor import Tensor

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min

# Reductions whose ``axes`` moved from an attribute to an input in opset 18 (ReduceSum: 13).
_AXES_INPUT_SINCE = {"ReduceSum": 13}


def onnx_dtype(dtype) -> int:
    """NumPy dtype -> ONNX TensorProto element type."""
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


class Graph:
    def __init__(self, opset: int):
        self.opset = opset
        self.nodes = []
        self.initializers = {}      # name -> TensorProto
        self.scope = ""             # module path of the call being exported
        self._used = set()
        self._small_consts = {}     # (dtype, shape, bytes) -> name: shared small constants

    # -- names ---------------------------------------------------------------
    def unique(self, base: str) -> str:
        name, k = base, 0
        while name in self._used:
            k += 1
            name = f"{base}_{k}"
        self._used.add(name)
        return name

    def reserve(self, name: str) -> None:
        if name in self._used:
            raise ExportError(f"ONNX export: the value name {name!r} is used twice; "
                              "give distinct input_names/output_names")
        self._used.add(name)

    def _prefix(self) -> str:
        return "/" + self.scope.replace(".", "/") + "/" if self.scope else "/"

    # -- nodes -----------------------------------------------------------------
    def op(self, op_type: str, *inputs, outputs: int = 1, **attrs):
        """Add a node; returns its output name (a list when ``outputs`` > 1).

        ``None`` or ``""`` inputs are omitted optional inputs (trailing ones are dropped:
        ONNX Runtime 1.32 crashes on a LayerNormalization whose bias is named ``""``);
        ``None`` attributes are left out.
        """
        name = self.unique(self._prefix() + op_type)
        outs = [self.unique(f"{name}_output_{i}") for i in range(outputs)]
        ins = ["" if i is None else i for i in inputs]
        while ins and not ins[-1]:      # omit trailing optional inputs rather than name them ""
            ins.pop()
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, ins, outs, name=name, **attrs))
        return outs[0] if outputs == 1 else outs

    # -- constants -------------------------------------------------------------
    def initializer(self, array, name: str | None = None) -> str:
        """Store ``array`` as an initializer; small unnamed ones are shared."""
        array = np.asarray(array)
        key = None
        if name is None and array.size <= 16:
            key = (array.dtype.str, array.shape, array.tobytes())
            if key in self._small_consts:
                return self._small_consts[key]
        if name is None:
            name = self.unique((self.scope + "." if self.scope else "") + "constant")
        else:
            self.reserve(name)
        self.initializers[name] = numpy_helper.from_array(np.ascontiguousarray(array), name)
        if key is not None:
            self._small_consts[key] = name
        return name

    def const(self, value, dtype) -> str:
        return self.initializer(np.asarray(value, dtype=dtype))

    def ints(self, values) -> str:
        """A 1-D int64 constant (shapes, axes, starts/ends)."""
        return self.initializer(np.asarray(list(values), dtype=np.int64).reshape(-1))

    # -- opset-dependent helpers ---------------------------------------------------
    def reduce(self, op_type: str, x: str, axes, keepdims: bool) -> str:
        axes = list(axes)
        if self.opset >= _AXES_INPUT_SINCE.get(op_type, 18):
            return self.op(op_type, x, self.ints(axes), keepdims=int(keepdims))
        return self.op(op_type, x, axes=axes, keepdims=int(keepdims))

    def unsqueeze(self, x: str, axes) -> str:
        return self.op("Unsqueeze", x, self.ints(axes))

    def squeeze(self, x: str, axes) -> str:
        return self.op("Squeeze", x, self.ints(axes))

    def slice(self, x: str, starts, ends, axes, steps=None) -> str:
        steps = None if steps is None or all(s == 1 for s in steps) else self.ints(steps)
        return self.op("Slice", x, self.ints(starts), self.ints(ends), self.ints(axes), steps)

    def dim_sizes(self, x: str, axes, dtype=np.int64) -> str:
        """The sizes of ``x`` along ``axes`` at run time, as a 1-D tensor (for dynamic dims)."""
        sizes = self.op("Gather", self.op("Shape", x), self.ints(axes), axis=0)
        return sizes if np.dtype(dtype) == np.int64 else self.op("Cast", sizes, to=onnx_dtype(dtype))


class Values:
    """Tensor -> value name, for inputs, traced outputs, parameters and constants.

    Tensors are matched by identity (``id``), which the trace keeps stable by holding
    every tensor alive. Each traced value also carries its dynamic axes: the dims
    whose size differed between the two traces.
    """

    def __init__(self, graph: Graph, param_names: dict):
        self.graph = graph
        self.param_names = param_names          # id(tensor) -> "fc1.weight"
        self._names = {}                        # id(tensor or array) -> name
        self._shapes = {}                       # name -> (shape in trace 1, shape in trace 2)

    def add(self, t1: Tensor, t2: Tensor, name: str) -> None:
        self._names[id(t1)] = name
        self._names[id(t1.data)] = name         # GetItem sees index tensors as their arrays
        self._shapes[name] = (tuple(t1.shape), tuple(t2.shape))

    def shapes(self, name: str):
        return self._shapes[name]

    def dynamic(self, name: str) -> frozenset:
        s1, s2 = self._shapes[name]
        return frozenset(i for i, (a, b) in enumerate(zip(s1, s2)) if a != b)

    def lookup(self, x1, x2, what) -> str:
        """The value name of a tensor/array, making an initializer if it is a constant.

        ``x2`` is the same argument in the second trace; ``what()`` describes the use
        for error messages.
        """
        known = self._names.get(id(x1))
        if known is None and isinstance(x1, Tensor):
            known = self._names.get(id(x1.data))   # x.detach() and views share the traced array
        if known is not None:
            return known
        if id(x1) in self.param_names:
            name = self.graph.initializer(backend.to_host(x1.data), self.param_names[id(x1)])
        else:
            a1 = backend.to_host(x1.data if isinstance(x1, Tensor) else x1)
            a2 = backend.to_host(x2.data if isinstance(x2, Tensor) else x2)
            _check_constant(a1, a2, what)
            name = self.graph.initializer(np.array(a1))
        self._names[id(x1)] = name
        self._shapes[name] = (tuple(x1.shape), tuple(x1.shape))
        return name


def _check_constant(a1, a2, what) -> None:
    if a1.shape != a2.shape:
        raise ExportError(
            f"ONNX export: {what()} has shape {a1.shape} for the given input but {a2.shape} when "
            "the dynamic axes change size: it was made from the input's shape (e.g. "
            "tw.zeros(x.shape[0], ...)), which a trace bakes in. Derive it from the input with "
            "traced ops, or leave that axis static.")
    if not np.array_equal(a1, a2, equal_nan=a1.dtype.kind in "fc"):
        raise ExportError(
            f"ONNX export: {what()} changes with the input values: it was computed by an "
            "operation the tracer does not record (a comparison such as x > 0, argmax, .item(), "
            ".numpy() or .data arithmetic), so its value would be frozen into the graph. Compute "
            "it with traced ops, or pass it as a model input.")


class Call:
    """One traced op call, as a symbolic function sees it.

    ``fn`` is the Function instance (its parameters are attributes), ``args`` and
    ``kwargs`` the original arguments; ``shape``, ``dtype`` and ``dynamic`` describe
    the output (``dynamic``: the axes whose size follows a dynamic input axis).
    """

    def __init__(self, values: Values, record, twin):
        self.values, self.fn, self.args, self.kwargs = values, record.fn, record.args, record.kwargs
        self.scope, self.out, self.twin = record.scope, record.out, twin
        self.shape, self.dtype = tuple(record.out.shape), record.out.dtype
        self.dynamic = frozenset(i for i, (a, b) in enumerate(zip(record.out.shape, twin.out.shape))
                                 if a != b)

    @property
    def name(self) -> str:
        return self.fn.op_name

    def input(self, i: int, dtype=None) -> str:
        """Value name of argument ``i``; Python numbers become constants of ``dtype``
        (default: the output's dtype); ``None`` is an omitted optional input."""
        return self.value(self.args[i], self.twin.args[i], dtype)

    def value(self, x1, x2, dtype=None) -> str:
        if x1 is None:
            return ""
        if isinstance(x1, (Tensor, backend.ndarray)):
            return self.values.lookup(x1, x2, self._describe_input)
        if isinstance(x1, (bool, int, float, np.generic)):
            return self.values.graph.const(x1, self.dtype if dtype is None else dtype)
        raise ExportError(f"ONNX export: {self.name} got an argument of type {type(x1).__name__}, "
                          "which cannot be a graph value")

    def _describe_input(self) -> str:
        where = f"module '{self.scope}'" if self.scope else "the model's own forward"
        return f"a constant input of {self.name} (in {where})"

    def in_shape(self, i: int) -> tuple:
        return tuple(self.args[i].shape)

    def in_dtype(self, i: int):
        a = self.args[i]
        return a.dtype if isinstance(a, (Tensor, backend.ndarray)) else None

    def in_dynamic(self, i: int) -> frozenset:
        name = self.input(i)
        return self.values.dynamic(name)

    def same_size(self, i: int, in_axis: int, out_axis: int) -> bool:
        """True if input ``i``'s ``in_axis`` has the output's ``out_axis`` size in both traces."""
        s1, s2 = self.values.shapes(self.input(i))
        return (s1[in_axis] == self.shape[out_axis] and s2[in_axis] == self.twin.out.shape[out_axis])

    def fail(self, why: str) -> ExportError:
        where = f"module '{self.scope}'" if self.scope else "the model's own forward"
        return ExportError(f"ONNX export: {self.name} (in {where}): {why}")
