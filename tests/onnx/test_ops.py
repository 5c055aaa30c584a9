"""Every differentiable op of the engine, exported alone and run in ONNX Runtime at two
batch sizes (axis 0 dynamic), against the engine's forward (float32, atol 1e-5)."""
import pytest

import tensorweaver as tw
from tensorweaver.ops.linalg import linear

pytestmark = pytest.mark.onnx

tw.manual_seed(0)
W = tw.randn(4, 6)              # constants captured by the traced functions
B = tw.randn(4)
MASK = tw.tensor([True, False, True, False, False, True])
IDX = tw.tensor([0, 2, 2, 5])


def x(batch, *rest):
    return tw.randn(batch, *rest)


def pos(batch, *rest):
    return tw.rand(batch, *rest) + 0.5


# (id, function, make_args(batch), keyword arguments for roundtrip)
CASES = [
    # arithmetic, with tensors, broadcasting and Python scalars on either side
    ("add", lambda a, b: a + b, lambda n: (x(n, 6), x(n, 6)), {}),
    ("add_broadcast", lambda a: a + B[:, None].T.reshape(4)[0], lambda n: x(n, 6), {}),
    ("sub_scalar_left", lambda a: 2.0 - a, lambda n: x(n, 6), {}),
    ("mul_const", lambda a: a * W[0], lambda n: x(n, 6), {}),
    ("div", lambda a, b: a / b, lambda n: (x(n, 6), pos(n, 6)), {}),
    ("div_scalar_left", lambda a: 1 / a, lambda n: pos(n, 6), {}),
    ("neg", lambda a: -a, lambda n: x(n, 6), {}),
    ("pow_int", lambda a: a ** 2, lambda n: x(n, 6), {}),
    ("pow_float", lambda a: a ** 0.5, lambda n: pos(n, 6), {}),
    ("pow_scalar_base", lambda a: 2.0 ** a, lambda n: x(n, 6), {}),
    ("pow_tensors", lambda a, b: a ** b, lambda n: (pos(n, 6), x(n, 6)), {}),
    # unary math and activations
    ("exp", tw.exp, lambda n: x(n, 6), {}),
    ("log", tw.log, lambda n: pos(n, 6), {}),
    ("sqrt", tw.sqrt, lambda n: pos(n, 6), {}),
    ("abs", tw.abs, lambda n: x(n, 6), {}),
    ("sin", tw.sin, lambda n: x(n, 6), {}),
    ("cos", tw.cos, lambda n: x(n, 6), {}),
    ("tanh", tw.tanh, lambda n: x(n, 6), {}),
    ("sigmoid", tw.sigmoid, lambda n: 10 * x(n, 6), {}),
    ("relu", tw.relu, lambda n: x(n, 6), {}),
    ("leaky_relu", lambda a: tw.leaky_relu(a, 0.2), lambda n: x(n, 6), {}),
    ("gelu_erf", tw.gelu, lambda n: 3 * x(n, 6), {}),
    ("gelu_tanh", lambda a: tw.gelu(a, approximate="tanh"), lambda n: 3 * x(n, 6), {}),
    ("gelu_erf_op20", tw.gelu, lambda n: 3 * x(n, 6), {"opset": 20}),
    ("gelu_tanh_op20", lambda a: tw.gelu(a, approximate="tanh"), lambda n: 3 * x(n, 6), {"opset": 20}),
    # selection
    ("clamp_both", lambda a: a.clamp(-0.5, 0.5), lambda n: x(n, 6), {}),
    ("clamp_min", lambda a: a.clamp(min=0.1), lambda n: x(n, 6), {}),
    ("clamp_max", lambda a: a.clamp(max=0.1), lambda n: x(n, 6), {}),
    ("where_const_mask", lambda a, b: tw.where(MASK, a, b), lambda n: (x(n, 6), x(n, 6)), {}),
    ("masked_fill", lambda a: a.masked_fill(MASK, -1e9), lambda n: x(n, 6), {}),
    ("masked_fill_softmax", lambda a: a.masked_fill(MASK, float("-inf")).softmax(-1), lambda n: x(n, 6), {}),
    ("maximum", tw.maximum, lambda n: (x(n, 6), x(n, 6)), {}),
    ("minimum_scalar", lambda a: tw.minimum(a, 0.25), lambda n: x(n, 6), {}),
    # casts
    ("to_double", lambda a: a.double() * 3, lambda n: x(n, 6), {}),
    ("to_long", lambda a: (a * 10).long() + 1, lambda n: x(n, 6), {"exact": True}),
    ("long_to_float", lambda a: a.float() / 2, lambda n: tw.randint(0, 9, (n, 6)), {}),
    ("clone", lambda a: a.clone(), lambda n: x(n, 6), {}),
    # reductions
    ("sum_all", lambda a: a.sum(), lambda n: x(n, 6), {"batch_out": False}),
    ("sum_dim", lambda a: a.sum(1), lambda n: x(n, 6, 3), {}),
    ("sum_keepdim", lambda a: a.sum((1, 2), keepdim=True), lambda n: x(n, 6, 3), {}),
    ("sum_over_batch", lambda a: a.sum(0), lambda n: x(n, 6), {"batch_out": False}),
    ("mean_dim", lambda a: a.mean(-1), lambda n: x(n, 6), {}),
    ("mean_all", lambda a: a.mean(), lambda n: x(n, 6), {"batch_out": False}),
    ("amax", lambda a: a.amax(1), lambda n: x(n, 6), {}),
    ("amin_keepdim", lambda a: a.amin(1, keepdim=True), lambda n: x(n, 6), {}),
    ("max_all", lambda a: a.max(), lambda n: x(n, 6), {"batch_out": False}),
    ("max_dim_values", lambda a: a.max(1).values, lambda n: x(n, 6), {}),
    ("min_dim_keepdim", lambda a: a.min(-1, keepdim=True)[0], lambda n: x(n, 6), {}),
    ("var", lambda a: a.var(1), lambda n: x(n, 6), {}),
    ("var_keepdim_biased", lambda a: a.var(1, unbiased=False, keepdim=True), lambda n: x(n, 6), {}),
    ("var_over_batch", lambda a: a.var(0), lambda n: x(n, 6), {"batch_out": False}),
    ("std", lambda a: a.std(-1), lambda n: x(n, 6), {}),
    ("logsumexp", lambda a: a.logsumexp(1), lambda n: 30 * x(n, 6), {}),
    ("logsumexp_keepdim", lambda a: a.logsumexp(-1, keepdim=True), lambda n: x(n, 6), {}),
    ("softmax", lambda a: a.softmax(-1), lambda n: 5 * x(n, 6), {}),
    ("log_softmax", lambda a: a.log_softmax(1), lambda n: 5 * x(n, 6), {}),
    # shape
    ("reshape_keep_batch", lambda a: a.reshape(a.shape[0], 3, 2), lambda n: x(n, 6), {}),
    ("flatten", lambda a: a.flatten(1), lambda n: x(n, 3, 2, 2), {}),
    ("view_minus_one", lambda a: a.view(-1, 3), lambda n: x(n, 6), {}),
    ("flatten_all", lambda a: a.flatten(), lambda n: x(n, 6), {}),
    ("permute", lambda a: a.permute(0, 2, 1), lambda n: x(n, 6, 3), {}),
    ("transpose_batch", lambda a: a.transpose(0, 1), lambda n: x(n, 6), {"batch_out": False}),
    ("unsqueeze_squeeze", lambda a: a.unsqueeze(1).squeeze(1).unsqueeze(-1), lambda n: x(n, 6), {}),
    ("expand", lambda a: a[:, None, :].expand(-1, 4, 6), lambda n: x(n, 6), {}),
    ("expand_const", lambda a: a + B.reshape(1, 4, 1).expand(1, 4, 6), lambda n: x(n, 4, 6), {}),
    ("cat_features", lambda a, b: tw.cat([a, b, a], dim=1), lambda n: (x(n, 6), x(n, 2)), {}),
    ("cat_batch", lambda a: tw.cat([a, a], dim=0), lambda n: x(n, 6), {}),
    ("stack", lambda a, b: tw.stack([a, b], dim=1), lambda n: (x(n, 6), x(n, 6)), {}),
    ("split", lambda a: a.split([2, 4], dim=1)[1], lambda n: x(n, 6), {}),
    ("chunk_sum", lambda a: sum(a.chunk(3, dim=-1)), lambda n: x(n, 6), {}),
    ("tril", lambda a: a.tril(), lambda n: x(n, 6, 6), {}),
    ("triu_diag", lambda a: a.triu(1), lambda n: x(n, 6, 6), {}),
    ("tril_neg_diag", lambda a: a.tril(-2), lambda n: x(n, 6, 6), {}),
    # indexing
    ("index_int", lambda a: a[:, 1], lambda n: x(n, 6, 3), {}),
    ("index_negative_int", lambda a: a[:, -1, 2], lambda n: x(n, 6, 3), {}),
    ("index_batch_int", lambda a: a[0], lambda n: x(n, 6), {"batch_out": False}),
    ("index_slice", lambda a: a[:, 1:4], lambda n: x(n, 6), {}),
    ("index_slice_neg", lambda a: a[:, -3:-1], lambda n: x(n, 6), {}),
    ("index_step", lambda a: a[:, ::2], lambda n: x(n, 6), {}),
    ("index_reverse", lambda a: a[:, ::-1], lambda n: x(n, 6), {}),
    ("index_reverse_part", lambda a: a[:, 4:0:-2], lambda n: x(n, 6), {}),
    ("index_ellipsis_none", lambda a: a[..., None, 0], lambda n: x(n, 6, 3), {}),
    ("index_none", lambda a: a[:, None, 1:], lambda n: x(n, 6), {}),
    ("index_int_list", lambda a: a[:, [0, 2, 2]], lambda n: x(n, 6), {}),
    ("index_int_tensor", lambda a: a[:, IDX], lambda n: x(n, 6, 2), {}),
    ("index_negative_list", lambda a: a[:, [-1, 0]], lambda n: x(n, 6), {}),
    ("index_two_lists", lambda a: a[:, [0, 1, 5], [1, 0, 2]], lambda n: x(n, 6, 3), {}),
    ("index_int_and_list", lambda a: a[:, 2, [1, 0]], lambda n: x(n, 6, 3), {}),
    ("index_lists_apart", lambda a: a[[0, 1], :, [1, 2]], lambda n: x(n, 6, 3), {"batch_out": False}),
    ("index_const_mask", lambda a: a[:, MASK], lambda n: x(n, 6), {}),
    ("gather_traced_index", lambda a, i: a[i], lambda n: (x(n, 4), tw.randint(0, n, (n,))), {}),
    ("embedding_style", lambda i: W[i], lambda n: tw.randint(0, 4, (n, 3)), {}),
    # matrix products
    ("matmul", lambda a: a @ W.T, lambda n: x(n, 6), {}),
    ("matmul_batched", lambda a, b: a @ b, lambda n: (x(n, 3, 6), x(n, 6, 2)), {}),
    ("matmul_broadcast", lambda a: a @ W.T, lambda n: x(n, 3, 6), {}),
    ("linear_2d", lambda a: linear(a, W, B), lambda n: x(n, 6), {}),
    ("linear_3d", lambda a: linear(a, W, B), lambda n: x(n, 3, 6), {}),
    ("linear_no_bias", lambda a: linear(a, W), lambda n: x(n, 6), {}),
]


@pytest.mark.parametrize("fn, make_args, options", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_op_round_trip(roundtrip, fn, make_args, options):
    roundtrip(fn, make_args, **options)


@pytest.mark.parametrize("opset", [18, 21])
def test_newer_opsets(roundtrip, opset):
    """Reductions take their axes as an input from opset 18 on; newer opsets keep working."""
    def f(a):
        return (a - a.mean(1, keepdim=True)).amax(1) + a.logsumexp(1) + a.var(1) + tw.gelu(a).sum(1)
    roundtrip(f, lambda n: x(n, 6), opset=opset)


def test_linear_maps_to_gemm_and_matmul(roundtrip):
    two_d = roundtrip(lambda a: linear(a, W, B), lambda n: x(n, 6))
    assert [node.op_type for node in two_d.graph.node] == ["Gemm"]
    three_d = roundtrip(lambda a: linear(a, W, B), lambda n: x(n, 3, 6))
    assert [node.op_type for node in three_d.graph.node] == ["Transpose", "MatMul", "Add"]


def test_gelu_opset_choice(roundtrip):
    old = roundtrip(tw.gelu, lambda n: x(n, 6))
    assert "Erf" in [node.op_type for node in old.graph.node]
    new = roundtrip(tw.gelu, lambda n: x(n, 6), opset=20)
    assert [node.op_type for node in new.graph.node] == ["Gelu"]


def test_float64_graph(roundtrip):
    w, b = W.double(), B.double()
    proto = roundtrip(lambda a: tw.tanh(linear(a, w, b)).softmax(-1) * 2.0,
                      lambda n: tw.randn(n, 6, dtype=tw.float64), atol=1e-12, rtol=1e-12)
    types = {t.data_type for t in proto.graph.initializer}
    assert types == {11}        # TensorProto.DOUBLE: no float32 constant slipped in
    assert proto.graph.input[0].type.tensor_type.elem_type == 11



@pytest.mark.parametrize("dim, keepdim", [(None, False), (None, True), (1, False), (0, True)])
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin_are_traced_and_export(name, dim, keepdim):
    """An index computed inside forward (argmax/argmin) is a recorded op, so it exports."""
    class Model(tw.nn.Module):
        def forward(self, x):
            idx = getattr(x, name)(keepdim=keepdim) if dim is None else getattr(x, name)(dim=dim, keepdim=keepdim)
            return idx

    report = tw.onnx.verify(Model(), tw.randn(4, 5))
    assert report.passed
