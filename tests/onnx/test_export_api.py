"""export()/verify() behaviour: files and file objects, names, errors that say what to
change (and leave no file behind), dynamic-shape safety checks, the report."""
import io

import numpy as np
import onnx
import pytest

import tensorweaver as tw
import tensorweaver.onnx as twonnx
from tensorweaver.autograd.function import Function
from tensorweaver.ops.linalg import linear

pytestmark = pytest.mark.onnx

tw.manual_seed(1)
W = tw.randn(4, 6)


class Cube(Function):
    """An op the exporter has never heard of."""

    def forward(self, a):
        return a ** 3

    def backward(self, grad):
        raise NotImplementedError


def test_export_to_path_and_file_object(tmp_path):
    x = tw.randn(3, 6)
    path = tmp_path / "f.onnx"
    proto = twonnx.export(lambda a: linear(a, W).relu(), x, path)
    assert isinstance(proto, onnx.ModelProto)
    assert onnx.load(str(path)) == proto
    buffer = io.BytesIO()
    assert twonnx.export(lambda a: linear(a, W).relu(), x, buffer) == proto
    assert onnx.load_from_string(buffer.getvalue()) == proto


def test_unsupported_op_names_the_op_and_writes_no_file(tmp_path):
    path = tmp_path / "never.onnx"
    with pytest.raises(twonnx.UnsupportedOperatorError, match="Cube.*model's own forward") as info:
        twonnx.export(lambda a: Cube.apply(a).relu(), tw.randn(2, 3), path)
    assert info.value.op == "Cube" and info.value.scope == ""
    assert not path.exists()


@pytest.mark.parametrize("opset", [16, 9, "17", 10**4])
def test_opset_out_of_range(tmp_path, opset):
    path = tmp_path / "never.onnx"
    with pytest.raises(ValueError, match="opset_version"):
        twonnx.export(tw.relu, tw.randn(2, 3), path, opset_version=opset)
    assert not path.exists()


def test_untraced_data_dependent_constant_is_refused(tmp_path):
    def model(a):
        mask = tw.Tensor(a.numpy() > 0)         # computed outside the traced ops
        return tw.where(mask, a, 0.0)
    path = tmp_path / "never.onnx"
    with pytest.raises(twonnx.ExportError, match="changes with the input values"):
        twonnx.export(model, tw.randn(4, 3), path)
    assert not path.exists()


def test_constant_shaped_by_a_dynamic_axis_is_refused(tmp_path):
    def model(a):
        return a + tw.ones(a.shape[0], 6)
    with pytest.raises(twonnx.ExportError, match="input's shape"):
        twonnx.export(model, tw.randn(4, 6), tmp_path / "f.onnx", dynamic_axes={"input": [0]})
    # The same model with a static batch exports fine.
    twonnx.export(model, tw.randn(4, 6), tmp_path / "f.onnx")


def test_slice_bound_taken_from_a_dynamic_axis_is_refused(tmp_path):
    # table[:T] with T = x.shape[1] would be frozen at the example's T: ONNX Runtime would
    # then answer (2, 3, 4) for a (2, 1, 4) input.
    table = tw.randn(16, 4)

    def model(x):
        return x + table[: x.shape[1]]
    path = tmp_path / "never.onnx"
    with pytest.raises(twonnx.ExportError, match="slice or index bound depends on the input's dynamic size"):
        twonnx.export(model, tw.randn(2, 3, 4), path, input_names=["x"], dynamic_axes={"x": {0: "b", 1: "t"}})
    assert not path.exists()
    # Only the batch dynamic: the bound is the same in both traces, and it exports.
    twonnx.export(model, tw.randn(2, 3, 4), path, input_names=["x"], dynamic_axes={"x": {0: "b"}})


def test_shape_dependent_loop_is_refused(tmp_path):
    def model(a):
        out = a[0]
        for i in range(1, a.shape[0]):
            out = out + a[i]
        return out
    with pytest.raises(twonnx.ExportError, match="fixed sequence of ops"):
        twonnx.export(model, tw.randn(3, 6), tmp_path / "f.onnx", dynamic_axes={"input": {0: "n"}})


def test_two_inferred_dims_in_one_reshape_are_refused(tmp_path):
    def model(a):
        return a.reshape(a.shape[1], a.shape[0], 4)
    with pytest.raises(twonnx.ExportError, match="ONNX can infer only one"):
        twonnx.export(model, tw.randn(2, 3, 4), tmp_path / "f.onnx", dynamic_axes={"input": [0, 1]})


def test_expand_of_a_size_one_dim_to_the_batch_is_refused(tmp_path):
    def model(a):
        return a + W[None].expand(a.shape[0], 4, 6)
    with pytest.raises(twonnx.ExportError, match="Expand.*dynamic axis"):
        twonnx.export(model, tw.randn(2, 4, 6), tmp_path / "f.onnx", dynamic_axes={"input": [0]})


def test_bad_names_and_dynamic_axes(tmp_path):
    x = tw.randn(2, 6)
    with pytest.raises(ValueError, match="input_names must be 1 distinct"):
        twonnx.export(tw.relu, x, tmp_path / "f.onnx", input_names=["a", "b"])
    with pytest.raises(ValueError, match="output_names must be 1 distinct"):
        twonnx.export(tw.relu, x, tmp_path / "f.onnx", output_names=[])
    with pytest.raises(ValueError, match="neither an input"):
        twonnx.export(tw.relu, x, tmp_path / "f.onnx", dynamic_axes={"inp": [0]})
    with pytest.raises(ValueError, match="out of range"):
        twonnx.export(tw.relu, x, tmp_path / "f.onnx", dynamic_axes={"input": [2]})
    assert not (tmp_path / "f.onnx").exists()


def test_names_dtypes_and_dynamic_dims_of_the_graph_io():
    proto = twonnx.to_model(lambda a, i: (linear(a, W).softmax(-1), W[i].sum(-1)),
                            (tw.randn(2, 6), tw.tensor([1, 3, 0])),
                            input_names=["features", "ids"], output_names=["probs", "picked"],
                            dynamic_axes={"features": {0: "batch"}, "ids": {0: "n"},
                                          "probs": {0: "batch"}})
    io_ = {v.name: v.type.tensor_type for v in list(proto.graph.input) + list(proto.graph.output)}
    dims = {k: [d.dim_param or d.dim_value for d in t.shape.dim] for k, t in io_.items()}
    assert dims == {"features": ["batch", 6], "ids": ["n"], "probs": ["batch", 4], "picked": ["n"]}
    assert io_["ids"].elem_type == onnx.TensorProto.INT64
    assert io_["probs"].elem_type == onnx.TensorProto.FLOAT
    # Undeclared output dims that follow an input's dynamic axis take its name.
    undeclared = twonnx.to_model(lambda a: a * 2, tw.randn(2, 6), dynamic_axes={"input": {0: "B"}})
    assert undeclared.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "B"


def test_outputs_that_are_inputs_or_repeated():
    x = tw.randn(2, 3)
    report = twonnx.verify(lambda a: (a, a.exp(), a.exp() * 1), x)
    assert report.passed and len(report.checks) == 3
    proto = twonnx.to_model(lambda a: (a.relu(), a), x)
    assert [n.op_type for n in proto.graph.node] == ["Relu", "Identity"]


def test_ops_that_no_output_needs_are_pruned():
    def model(a):
        a.exp().sum()                 # computed, then dropped
        return a.relu()
    proto = twonnx.to_model(model, tw.randn(2, 3))
    assert [n.op_type for n in proto.graph.node] == ["Relu"]
    assert len(proto.graph.initializer) == 0


def test_constants_get_generated_names_and_small_ones_are_shared():
    row = W[0]
    proto = twonnx.to_model(lambda a: (a * 2.0 + 2.0) * row, tw.randn(2, 6))
    names = sorted(i.name for i in proto.graph.initializer)
    assert names == ["constant", "constant_1"]           # 2.0 once, the row once


def test_verify_report():
    x = tw.randn(2, 6)
    report = twonnx.verify(lambda a: linear(a, W).tanh(), x, dynamic_axes={"input": [0], "output": [0]},
                           extra_args=[tw.randn(7, 6)])
    assert report.passed and bool(report)
    assert [c.shape for c in report.checks] == [(2, 4), (7, 4)]
    assert report.max_abs < 1e-6 and report.op_types == {"Gemm": 1, "Tanh": 1}
    text = str(report)
    assert "PASSED" in text and "max abs err" in text and "7x4" in text
    assert report._repr_markdown_().count("\n|") >= 3


def test_verify_flags_a_mismatch():
    from tensorweaver.onnx.verify import VerifyReport, _compare
    bad = _compare(0, "y", np.array([1.0, 2.0]), np.array([1.0, 2.1]), 1e-5, 1e-6)
    assert not bad.passed and abs(bad.max_abs - 0.1) < 1e-12
    shape = _compare(0, "y", np.zeros(3), np.zeros(4), 1e-5, 1e-6)
    assert not shape.passed
    report = VerifyReport([bad], 1e-5, 1e-6, 17)
    assert not report.passed and "MISMATCH" in str(report) and "FAILED" in str(report)


def test_a_second_export_while_tracing_is_refused():
    def model(a):
        twonnx.to_model(tw.relu, a)
        return a
    with pytest.raises(twonnx.ExportError, match="already running"):
        twonnx.to_model(model, tw.randn(2, 2))
    assert twonnx.verify(tw.relu, tw.randn(2, 2)).passed      # the hook was reset


def test_detach_in_forward_stays_connected():
    report = twonnx.verify(lambda a: a.detach().exp() + a, tw.randn(3, 2),
                           dynamic_axes={"input": [0], "output": [0]}, extra_args=[tw.randn(6, 2)])
    assert report.passed, report
