"""``export``: trace a model, map each op through the symbolic registry, check, write.

    model ──trace (twice)──► records ──registry──► nodes ──onnx.helper──► ModelProto
                                                                          │ check_model(full_check)
                                                                          ▼
                                                                  f (only if all succeeded)
"""
from __future__ import annotations

import os

import onnx
from onnx import helper

import tensorweaver
from tensorweaver.onnx import registry
from tensorweaver.onnx.errors import ExportError, UnsupportedOperatorError
from tensorweaver.onnx.graph import Call, Graph, Values, onnx_dtype
from tensorweaver.onnx.tracer import check_same_path, second_inputs, trace
from tensorweaver.tensor import Tensor

MIN_OPSET = 17


def export(model, args, f, input_names=None, output_names=None, dynamic_axes=None,
           opset_version=MIN_OPSET):
    """Export ``model`` as an ONNX graph of standard ops, traced from ``model(*args)``.

    Mirrors ``torch.onnx.export``: ``args`` is a Tensor or a tuple of arguments (its
    Tensors become the graph inputs), ``f`` a path or a binary file object,
    ``dynamic_axes`` maps input/output names to the axes that vary in size
    (``{"input": {0: "batch"}, "output": {0: "batch"}}`` or ``{"input": [0]}``).
    The model is exported in eval mode (Dropout is the identity, BatchNorm uses its
    running statistics), and checked with ``onnx.checker.check_model(full_check=True)``.
    ``f`` is written only if everything succeeded. Returns the ``onnx.ModelProto``.

    Raises ``UnsupportedOperatorError`` (naming the op and the module that called it)
    for an op with no mapping, and ``ExportError`` for a model that a trace cannot
    capture faithfully.
    """
    proto = to_model(model, args, input_names, output_names, dynamic_axes, opset_version)
    _write(proto, f)
    return proto


def to_model(model, args, input_names=None, output_names=None, dynamic_axes=None,
             opset_version=MIN_OPSET) -> onnx.ModelProto:
    """``export`` without writing anything: the checked ``onnx.ModelProto``."""
    opset = _check_opset(opset_version)
    args = args if isinstance(args, tuple) else (args,)
    n_inputs = sum(isinstance(a, Tensor) for a in args)
    input_names = _names(input_names, n_inputs, "input", "input_names")

    # Trace 1 gives the graph; trace 2 (dynamic axes one longer) tells dynamic dims apart.
    t1 = trace(model, args)
    output_names = _names(output_names, len(t1.outputs), "output", "output_names")
    axes = _parse_dynamic_axes(dynamic_axes, input_names, output_names, t1)
    t2 = trace(model, second_inputs(args, [set(axes.get(n, {})) for n in input_names]))
    check_same_path(t1, t2)

    graph = Graph(opset)
    values = Values(graph, _param_names(model))
    for name in input_names + output_names:
        graph.reserve(name)
    for name, x1, x2 in zip(input_names, t1.inputs, t2.inputs):
        values.add(x1, x2, name)
    for r1, r2 in zip(t1.records, t2.records):
        symbolic = registry.lookup(type(r1.fn))
        if symbolic is None:
            raise UnsupportedOperatorError(r1.fn.op_name, r1.scope)
        graph.scope = r1.scope
        values.add(r1.out, r2.out, symbolic(graph, Call(values, r1, r2)))
    graph.scope = ""

    outputs = []
    for k, (name, y1, y2) in enumerate(zip(output_names, t1.outputs, t2.outputs)):
        value = values.lookup(y1, y2, lambda k=k: f"output {k} ({name!r})")
        outputs.append((name, value, y1, values.dynamic(value)))
    proto = _assemble(graph, input_names, t1.inputs, values, outputs, axes)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"ONNX export produced a graph that onnx.checker rejects (a bug in an op "
                          f"mapping in tensorweaver/onnx/symbolic/): {exc}") from exc
    return proto


def _assemble(graph, input_names, inputs, values, outputs, axes) -> onnx.ModelProto:
    nodes = list(graph.nodes)
    produced = {o: i for i, node in enumerate(nodes) for o in node.output}
    rename = {}
    for name, value, _, _ in outputs:
        if value in produced and value not in rename:
            rename[value] = name                # the producing node writes the output directly
        else:
            nodes.append(helper.make_node("Identity", [rename.get(value, value)], [name], name=f"/{name}/Identity"))
    for node in nodes:
        node.input[:] = [rename.get(v, v) for v in node.input]
        node.output[:] = [rename.get(v, v) for v in node.output]
    nodes = _prune(nodes, [name for name, *_ in outputs])
    used = {v for node in nodes for v in node.input}

    def dims(name, shape, dynamic, declared):
        return [declared.get(i) or labels.get((name, i)) or d if i in dynamic or i in declared else d
                for i, d in enumerate(shape)]

    labels = _output_labels(input_names, inputs, values, outputs, axes)
    graph_inputs = [helper.make_tensor_value_info(n, onnx_dtype(x.dtype), dims(n, x.shape, (), axes.get(n, {})))
                    for n, x in zip(input_names, inputs)]
    graph_outputs = [helper.make_tensor_value_info(n, onnx_dtype(y.dtype), dims(n, y.shape, dyn, axes.get(n, {})))
                     for n, _, y, dyn in outputs]
    inits = [t for name, t in graph.initializers.items() if name in used]
    g = helper.make_graph(nodes, "tensorweaver", graph_inputs, graph_outputs, inits)
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", graph.opset)],
                              producer_name="tensorweaver", producer_version=tensorweaver.__version__)
    proto.ir_version = _ir_version(graph.opset)
    return proto


def _output_labels(input_names, inputs, values, outputs, axes) -> dict:
    """Names for an output's dynamic dims that dynamic_axes does not name: the name of an
    input axis that has the same size in both traces, else ``<output>_dim<i>``."""
    sources = []
    for name, x in zip(input_names, inputs):
        s1, s2 = values.shapes(name)
        sources += [((s1[i], s2[i]), label) for i, label in axes.get(name, {}).items()]
    labels = {}
    for name, value, y, dyn in outputs:
        s1, s2 = values.shapes(value)
        for i in dyn:
            match = [label for sizes, label in sources if sizes == (s1[i], s2[i])]
            labels[(name, i)] = match[0] if match else f"{name}_dim{i}"
    return labels


def _prune(nodes, output_names) -> list:
    """Drop nodes whose results no output needs (ops traced only for side computations)."""
    needed, kept = set(output_names), []
    for node in reversed(nodes):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(v for v in node.input if v)
    return kept[::-1]


def _check_opset(opset_version) -> int:
    newest = onnx.defs.onnx_opset_version()
    if not isinstance(opset_version, int) or not MIN_OPSET <= opset_version <= newest:
        raise ValueError(f"ONNX export: opset_version={opset_version!r} is not supported; use an "
                         f"int from {MIN_OPSET} (the default) to {newest} (the newest this onnx "
                         f"{onnx.__version__} knows)")
    return opset_version


def _ir_version(opset: int) -> int:
    """The oldest IR version that carries ``opset``: what most runtimes accept."""
    for _, ir, op, *_ in helper.VERSION_TABLE:
        if op >= opset:
            return ir
    return onnx.IR_VERSION


def _names(names, n, base, arg):
    if names is None:
        return [base] if n == 1 else [f"{base}_{i}" for i in range(n)]
    names = list(names)
    if len(names) != n or len(set(names)) != n or not all(isinstance(s, str) and s for s in names):
        raise ValueError(f"ONNX export: {arg} must be {n} distinct non-empty strings (one per "
                         f"{'Tensor argument' if base == 'input' else 'output tensor'}), got {names}")
    return names


def _parse_dynamic_axes(dynamic_axes, input_names, output_names, t1) -> dict:
    """``{name: {axis: label}}``; a list of axes gets torch's labels ``<name>_dynamic_axes_<k>``."""
    if not dynamic_axes:
        return {}
    ndims = {n: x.ndim for n, x in zip(input_names, t1.inputs)}
    ndims.update({n: y.ndim for n, y in zip(output_names, t1.outputs)})
    out = {}
    for name, spec in dynamic_axes.items():
        if name not in ndims:
            raise ValueError(f"ONNX export: dynamic_axes names {name!r}, which is neither an input "
                             f"({input_names}) nor an output ({output_names})")
        if isinstance(spec, dict):
            spec = {int(a): str(label) for a, label in spec.items()}
        else:
            spec = {int(a): f"{name}_dynamic_axes_{k + 1}" for k, a in enumerate(spec)}
        nd = ndims[name]
        for a in spec:
            if not -nd <= a < nd:
                raise ValueError(f"ONNX export: dynamic axis {a} of {name!r} is out of range for "
                                 f"its {nd} dims")
        out[name] = {a % nd: label for a, label in spec.items()}
    return out


def _param_names(model) -> dict:
    """id(tensor) -> module path name, for parameters and buffers."""
    names = {}
    for method in ("named_parameters", "named_buffers"):
        if hasattr(model, method):
            for name, t in getattr(model, method)():
                if t is not None:
                    names.setdefault(id(t), name)
    return names


def _write(proto, f) -> None:
    data = proto.SerializeToString()
    if hasattr(f, "write"):
        f.write(data)
        return
    path = os.fspath(f)
    try:
        with open(path, "wb") as out:
            out.write(data)
    except BaseException:
        if os.path.exists(path):    # e.g. a full disk: leave no truncated model behind
            os.unlink(path)
        raise

