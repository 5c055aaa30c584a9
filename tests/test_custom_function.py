"""PyTorch-style custom Functions (static forward/backward with ctx), written once and run
on tensorweaver and torch: values, gradients and errors must agree."""
import numpy as np
import pytest

import tensorweaver as tw

torch = pytest.importorskip("torch", reason="PyTorch is the oracle here; install the torch extra")
pytestmark = pytest.mark.torch


def make_cubic(lib):
    """0.5 * (5x^3 - 3x): a polynomial with its hand-written derivative, tutorial style."""
    class Cubic(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return 0.5 * (5 * x ** 3 - 3 * x)

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return grad_output * 1.5 * (5 * x ** 2 - 1)
    return Cubic


def make_scaled_mul(lib):
    """Two tensor inputs and a number; asks needs_input_grad, returns None for the number."""
    class ScaledMul(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a, b, scale):
            ctx.save_for_backward(a, b)
            ctx.scale = scale
            return a * b * scale

        @staticmethod
        def backward(ctx, grad):
            a, b = ctx.saved_tensors
            ga = grad * b * ctx.scale if ctx.needs_input_grad[0] else None
            gb = grad * a * ctx.scale if ctx.needs_input_grad[1] else None
            return ga, gb, None
    return ScaledMul


def make_setup_context(lib):
    class Softsign(lib.autograd.Function):
        @staticmethod
        def forward(x):
            return x / (1 + x.abs())

        @staticmethod
        def setup_context(ctx, inputs, output):
            (x,) = inputs
            ctx.save_for_backward(x)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad / (1 + x.abs()) ** 2
    return Softsign


def make_two_outputs(lib, materialize=True):
    class SinCos(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(materialize)
            ctx.save_for_backward(x)
            return x.sin(), x.cos()

        @staticmethod
        def backward(ctx, g_sin, g_cos):
            (x,) = ctx.saved_tensors
            out = 0
            if g_sin is not None:
                out = out + g_sin * x.cos()
            if g_cos is not None:
                out = out - g_cos * x.sin()
            return out
    return SinCos


def make_sort(lib):
    class Sort(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            order = np.argsort(x.detach().numpy(), kind="stable")
            idx = lib.tensor(order)
            ctx.mark_non_differentiable(idx)
            ctx.save_for_backward(idx)
            return x[idx], idx

        @staticmethod
        def backward(ctx, grad, _):
            (idx,) = ctx.saved_tensors
            out = lib.zeros_like(grad)
            out[idx] = grad
            return out
    return Sort


def make_add_one_inplace(lib):
    class AddOne_(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.add_(1)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad
    return AddOne_


def x_of(lib, values=(0.3, -0.7, 1.1), requires_grad=True):
    return lib.tensor(list(values), dtype=lib.float64, requires_grad=requires_grad)


def run_both(program):
    out = []
    for lib in (tw, torch):
        try:
            out.append(program(lib))
        except RuntimeError as exc:
            out.append(exc)
    return out


def assert_close(got, want):
    got = got if isinstance(got, (list, tuple)) else [got]
    want = want if isinstance(want, (list, tuple)) else [want]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        if w is None:
            assert g is None
            continue
        np.testing.assert_allclose(np.asarray(g.detach().numpy() if hasattr(g, "detach") else g),
                                   np.asarray(w.detach().numpy() if hasattr(w, "detach") else w),
                                   rtol=1e-12, atol=1e-12)


def test_tutorial_style_function_matches_torch_and_passes_gradcheck():
    def program(lib):
        x = x_of(lib)
        y = make_cubic(lib).apply(x)
        (y * lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64)).sum().backward()
        return y, x.grad
    got, want = run_both(program)
    assert_close(got, want)
    Cubic = make_cubic(tw)
    assert tw.autograd.gradcheck(Cubic.apply, (x_of(tw),))
    assert tw.autograd.gradgradcheck(Cubic.apply, (x_of(tw),))
    assert Cubic.apply(x_of(tw)).grad_fn.name() == "CubicBackward"


def test_needs_input_grad_and_non_tensor_arguments():
    def program(lib):
        a, b = x_of(lib), x_of(lib, (1.0, 2.0, 3.0), requires_grad=False)
        out = make_scaled_mul(lib).apply(a, b, 2.5)
        out.sum().backward()
        return out, a.grad, b.grad
    got, want = run_both(program)
    assert_close(got, want)


def test_setup_context_form():
    def program(lib):
        x = x_of(lib)
        y = make_setup_context(lib).apply(x)
        y.sum().backward()
        return y, x.grad
    assert_close(*run_both(program))


@pytest.mark.parametrize("materialize", [True, False])
def test_two_outputs_with_and_without_materialized_grads(materialize):
    def program(lib):
        x = x_of(lib)
        s, c = make_two_outputs(lib, materialize).apply(x)
        (s * 2).sum().backward()                  # only one output gets a gradient
        first = x.grad.clone()
        x.grad = None
        s, c = make_two_outputs(lib, materialize).apply(x)
        (s.sum() + (c * c).sum()).backward()
        return first, x.grad
    assert_close(*run_both(program))


def test_mark_non_differentiable_output():
    def program(lib):
        x = x_of(lib, (3.0, -1.0, 2.0))
        values, idx = make_sort(lib).apply(x)
        (values * lib.tensor([1.0, 10.0, 100.0], dtype=lib.float64)).sum().backward()
        return values, idx.requires_grad, x.grad
    got, want = run_both(program)
    assert got[1] == want[1] is False
    assert_close([got[0], got[2]], [want[0], want[2]])


def test_mark_dirty_in_place_forward():
    def program(lib):
        x = x_of(lib)
        h = x * 2
        out = make_add_one_inplace(lib).apply(h)
        assert out is h
        (out * out).sum().backward()
        return out, x.grad, h._version
    got, want = run_both(program)
    assert_close(got[:2], want[:2])
    assert got[2] == want[2]


def test_saved_tensor_changed_in_place_raises():
    def program(lib):
        x = x_of(lib)
        h = x * 1.0
        y = make_cubic(lib).apply(h)
        with lib.no_grad():
            h.add_(1.0)
        y.sum().backward()
    got, want = run_both(program)
    assert isinstance(want, RuntimeError) and isinstance(got, RuntimeError)
    assert "modified by an inplace operation" in str(got)


def test_once_differentiable_refuses_double_backward():
    def program(lib):
        once = (tw.autograd.function.once_differentiable if lib is tw
                else torch.autograd.function.once_differentiable)

        class Square(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            @once
            def backward(ctx, grad):
                (x,) = ctx.saved_tensors
                return 2 * x * grad

        x = x_of(lib)
        y = Square.apply(x)
        # The gradient reaching Square's backward (2y) requires grad: the result is then
        # marked as not differentiable again.
        (g,) = lib.autograd.grad((y * y).sum(), x, create_graph=True)
        first = g.detach().clone()
        g.sum().backward()
        return first
    got, want = run_both(program)
    assert isinstance(want, RuntimeError) and isinstance(got, RuntimeError)
    assert "once_differentiable" in str(got)


def test_wrong_number_or_shape_of_gradients_raises():
    def wrong_count(lib):
        class Bad(lib.autograd.Function):
            @staticmethod
            def forward(ctx, a, b):
                return a + b

            @staticmethod
            def backward(ctx, grad):
                return grad
        a, b = x_of(lib), x_of(lib)
        Bad.apply(a, b).sum().backward()

    def wrong_shape(lib):
        class Bad(lib.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                return a * 2

            @staticmethod
            def backward(ctx, grad):
                return lib.ones(5, dtype=lib.float64)
        Bad.apply(x_of(lib)).sum().backward()

    for program in (wrong_count, wrong_shape):
        got, want = run_both(program)
        assert isinstance(want, RuntimeError) and isinstance(got, RuntimeError), (got, want)


def test_engine_style_functions_still_work():
    class Double(tw.autograd.Function):
        def forward(self, a):
            return a * 2

        def backward(self, grad):
            return grad * 2

    x = x_of(tw)
    Double.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_custom_function_inside_a_model_exports_to_onnx():
    pytest.importorskip("onnxruntime", reason="ONNX export is checked against ONNX Runtime")
    import tensorweaver.onnx  # noqa: F401

    Softsign = make_setup_context(tw)

    class Model(tw.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = tw.nn.Linear(3, 2)

        def forward(self, x):
            return Softsign.apply(self.fc(x))

    report = tw.onnx.verify(Model(), tw.randn(4, 3))
    assert report.passed
