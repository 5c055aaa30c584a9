"""In-place ops and version counters, with PyTorch as the oracle: the same program runs on
both, and values, gradients and the class of error must agree."""
import warnings

import numpy as np
import pytest

import tensorweaver as tw

torch = pytest.importorskip("torch", reason="PyTorch is the oracle here; install the torch extra")
pytestmark = pytest.mark.torch


def both(program):
    """Run ``program(lib)`` on tensorweaver and torch; return (tw result, torch result),
    each either a value or the exception it raised."""
    out = []
    for lib in (tw, torch):
        try:
            out.append(program(lib))
        except (RuntimeError, TypeError, IndexError, ValueError, AssertionError) as exc:
            out.append(exc)
    return out


def to_np(x):
    if isinstance(x, (list, tuple)):
        return [to_np(v) for v in x]
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    if isinstance(x, tw.Tensor):
        return x.detach().numpy()
    return np.asarray(x)


def _flatten(x):
    if isinstance(x, list):
        return [y for v in x for y in _flatten(v)]
    return [x]


def assert_same(program, atol=1e-12):
    got, want = both(program)
    if isinstance(want, Exception):
        assert isinstance(got, Exception), f"torch raised {want!r}, tensorweaver returned {got!r}"
        assert isinstance(got, type(want)) or isinstance(got, RuntimeError), (got, want)
        return got
    assert not isinstance(got, Exception), f"torch computed, tensorweaver raised {got!r}"
    flat_got, flat_want = _flatten(to_np(got)), _flatten(to_np(want))
    assert len(flat_got) == len(flat_want)
    for g, w in zip(flat_got, flat_want):
        if w is None:
            assert g is None
        else:
            np.testing.assert_allclose(g, w, atol=atol, rtol=1e-10)
    return got


def leaf(lib, values, requires_grad=True):
    return lib.tensor(values, dtype=lib.float64, requires_grad=requires_grad)


# ---------------------------------------------------------------- the cases
def test_tutorial_update_under_no_grad_keeps_the_tensor():
    def program(lib):
        w = leaf(lib, [1.0, -2.0, 3.0])
        same = w
        for _ in range(3):
            loss = (w * w).sum()
            loss.backward()
            with lib.no_grad():
                w -= 0.1 * w.grad
                w *= 1.0
            w.grad.zero_()
        assert w is same
        return w, w._version
    got = assert_same(program)
    assert got[0].requires_grad and got[0].is_leaf


def test_writing_a_saved_input_then_backward_raises():
    def program(lib):
        w, x = leaf(lib, [1.0, 2.0, 3.0]), leaf(lib, [1.0, 2.0, 3.0], False)
        y = (w * x).sum()
        x[0] = 100
        y.backward()
        return w.grad
    err = assert_same(program)
    assert "modified by an inplace operation" in str(err) and "MulBackward0" in str(err)
    assert "version 1; expected version 0" in str(err) and "clone()" in str(err)


def test_changing_a_leaf_under_no_grad_after_forward_raises_at_backward():
    def program(lib):
        w = leaf(lib, [1.0, 2.0, 3.0])
        y = (w * w).sum()
        with lib.no_grad():
            w[0] = 5
        y.backward()
        return w.grad
    assert isinstance(assert_same(program), RuntimeError)


def test_zero_on_a_saved_output_raises():
    def program(lib):
        x = leaf(lib, [1.0, 2.0, 3.0])
        y = x.exp()
        y.zero_()
        y.sum().backward()
        return x.grad
    assert isinstance(assert_same(program), RuntimeError)


def test_optimizer_step_between_two_backwards_raises():
    def program(lib):
        lib.manual_seed(0)
        w = leaf(lib, [[1.0, 2.0], [3.0, 4.0]])
        opt = lib.optim.SGD([w], lr=0.1)
        loss = (w * w).sum()
        loss.backward(retain_graph=True)
        opt.step()
        loss.backward()
        return w.grad
    assert isinstance(assert_same(program), RuntimeError)


def test_in_place_on_a_leaf_that_requires_grad_is_refused_in_grad_mode():
    for op in (lambda w: w.add_(1), lambda w: w.zero_(), lambda w: w.__setitem__(0, 2.0),
               lambda w: w.mul_(2), lambda w: w.__isub__(1.0)):
        err = assert_same(lambda lib: op(leaf(lib, [1.0, 2.0])))
        assert "leaf Variable that requires grad" in str(err)


def test_view_of_a_leaf_that_requires_grad_is_refused_in_grad_mode_allowed_under_no_grad():
    err = assert_same(lambda lib: leaf(lib, [1.0, 2.0, 3.0])[1:].mul_(2))
    assert "view of a leaf Variable" in str(err)

    def allowed(lib):
        w = leaf(lib, [1.0, 2.0, 3.0])
        with lib.no_grad():
            w[1:].mul_(2)
            w[0].add_(10)
        return w, w._version
    assert_same(allowed)


# ---------------------------------------------------------------- rebase in grad mode
@pytest.mark.parametrize("name, op", [
    ("add_", lambda h, o: h.add_(o)),
    ("sub_ alpha", lambda h, o: h.sub_(o, alpha=2.0)),
    ("mul_", lambda h, o: h.mul_(o)),
    ("div_", lambda h, o: h.div_(o + 3.0)),
    ("pow_", lambda h, o: h.pow_(2)),
    ("clamp_", lambda h, o: h.clamp_(min=-0.5, max=2.5)),
    ("exp_", lambda h, o: h.exp_()),
    ("relu_", lambda h, o: h.relu_()),
    ("sigmoid_", lambda h, o: h.sigmoid_()),
    ("tanh_", lambda h, o: h.tanh_()),
    ("iadd", lambda h, o: h.__iadd__(o)),
    ("isub", lambda h, o: h.__isub__(o)),
    ("imul", lambda h, o: h.__imul__(o)),
    ("itruediv", lambda h, o: h.__itruediv__(2.0)),
    ("fill_", lambda h, o: h.fill_(0.5)),
    ("fill_ tensor", lambda h, o: h.fill_(o.sum())),
    ("zero_", lambda h, o: h.zero_()),
    ("copy_", lambda h, o: h.copy_(o * 3)),
    ("masked_fill_", lambda h, o: h.masked_fill_(o > 0, 7.0)),
    ("setitem slice", lambda h, o: h.__setitem__(slice(1, 3), o[:2] * 2)),
    ("setitem int", lambda h, o: h.__setitem__(0, o.sum())),
    ("setitem mask", lambda h, o: h.__setitem__(o > 0, 1.5)),
])
def test_in_place_on_a_non_leaf_is_recorded(name, op):
    def program(lib):
        x = leaf(lib, [0.5, -1.0, 2.0, 0.25])
        o = leaf(lib, [1.0, -2.0, 0.5, 3.0])
        h = x * 2                       # a non-leaf whose op saved only constants
        out = op(h, o)
        assert out is h and not h.is_leaf
        (h * lib.tensor([1.0, 2.0, 3.0, 4.0], dtype=lib.float64)).sum().backward()
        return h, x.grad, o.grad
    assert_same(program)


def test_a_leaf_that_does_not_require_grad_becomes_part_of_the_graph():
    def program(lib):
        w = leaf(lib, [1.0, 2.0])
        out = lib.zeros(3, dtype=lib.float64)
        out[0] = w.sum()
        out[1:] = w * 3
        assert out.requires_grad and not out.is_leaf
        (out * out).sum().backward()
        return out, w.grad
    assert_same(program)


def test_views_of_a_rebased_tensor_follow_it():
    def program(lib):
        x = leaf(lib, [1.0, 2.0, 3.0])
        h = x * 2
        v = h[1:]
        t = h.view(3, 1)
        h.mul_(3)
        (v.sum() + (t * t).sum()).backward()
        return v, t, x.grad
    assert_same(program)


def test_in_place_on_a_view_of_a_graph_tensor_is_a_clear_error():
    # The documented difference: torch rebases the base, this engine refuses.
    def program(lib):
        h = leaf(lib, [1.0, 2.0, 3.0]) * 2
        h[1:].mul_(2)
        return h
    got, want = both(program)
    assert not isinstance(want, Exception)
    assert isinstance(got, RuntimeError) and "view" in str(got) and "base tensor itself" in str(got)


def test_in_place_rejects_wrong_dtype_and_shape_like_torch():
    assert_same(lambda lib: lib.tensor([1, 2]).__iadd__(0.5))
    assert_same(lambda lib: lib.tensor([True, False]).__iadd__(1))
    assert_same(lambda lib: lib.zeros(3).add_(lib.ones(2, 3)))
    assert_same(lambda lib: lib.zeros(2, 3, dtype=lib.float64).add_(lib.ones(3, dtype=lib.float32)))
    assert_same(lambda lib: lib.ones(3, dtype=lib.float64).expand(2, 3).add_(1))


def test_setitem_and_copy_cast_like_torch():
    def program(lib):
        a = lib.zeros(4, dtype=lib.int64)
        a[1] = 2.7
        a[2:] = lib.tensor([5.5, -1.5])
        b = lib.zeros(2, 2)
        b.copy_(lib.tensor([1, 2]))
        return a, b
    assert_same(program)


# ---------------------------------------------------------------- version counters
def test_version_counters_are_shared_like_torch():
    def program(lib):
        a = lib.zeros(4, dtype=lib.float64)
        v, d, r = a[1:], a.detach(), a.view(2, 2)
        c = a.clone()
        a.add_(1)
        v.mul_(2)
        d[0] = 3
        r.zero_()
        return [t._version for t in (a, v, d, r, c)]
    got, want = both(program)
    assert got == want


def test_engine_writes_bump_the_version():
    w = tw.nn.Linear(3, 2)
    before = w.weight._version
    tw.nn.init.zeros_(w.weight)
    w.load_state_dict(tw.nn.Linear(3, 2).state_dict())
    bn = tw.nn.BatchNorm1d(3)
    bn(tw.randn(4, 3))
    assert w.weight._version == before + 2
    assert bn.running_mean._version > 0 and bn.running_var._version > 0


def test_in_place_under_no_grad_leaves_earlier_graph_untouched_when_nothing_was_saved():
    # Add saves nothing: changing an input afterwards is harmless (as in torch).
    def program(lib):
        w = leaf(lib, [1.0, 2.0])
        x = lib.tensor([3.0, 4.0], dtype=lib.float64)
        y = (w + x).sum()
        x.add_(10)
        y.backward()
        return w.grad
    assert_same(program)


def test_mul_by_a_constant_saves_only_what_the_gradient_needs():
    def program(lib):
        w = leaf(lib, [1.0, 2.0])
        c = lib.tensor([3.0, 4.0], dtype=lib.float64)
        y = (c * w).sum()
        with lib.no_grad():
            w.add_(1)              # w itself was not saved: torch computes
        y.backward()
        return w.grad
    assert_same(program)


# ---------------------------------------------------------------- graph introspection
def test_next_functions_are_node_index_pairs_with_accumulate_grad():
    def program(lib):
        w, x = leaf(lib, [1.0, 2.0]), leaf(lib, [3.0, 4.0], False)
        y = (w * x).exp()
        mul, idx = y.grad_fn.next_functions[0]
        acc, _ = mul.next_functions[0]
        none, _ = mul.next_functions[1]
        return (y.grad_fn.name(), mul.name(), idx, type(acc).__name__, acc.variable is w, none,
                acc is mul.next_functions[0][0])
    got, want = both(program)
    assert got == want


def test_node_hooks_and_prehooks_like_torch():
    def program(lib):
        seen = []
        x = leaf(lib, [1.0, 2.0, 3.0])
        y = x * 2
        z = y.exp()
        z.grad_fn.register_prehook(lambda grad_outputs: (grad_outputs[0] * 10,))
        y.grad_fn.register_hook(lambda grad_inputs, grad_outputs: seen.append(to_np(grad_outputs[0])))
        y.grad_fn.register_hook(lambda grad_inputs, grad_outputs: (grad_inputs[0] + 1, None))
        z.sum().backward()
        return x.grad, seen[0]
    assert_same(program)


def test_post_accumulate_grad_hook():
    def program(lib):
        seen = []
        w = leaf(lib, [1.0, 2.0])
        w.register_post_accumulate_grad_hook(lambda p: seen.append(to_np(p.grad).copy()))
        (w * w).sum().backward()
        return seen[0]
    assert_same(program)


def test_hook_changing_the_shape_or_dtype_raises():
    def leaf_hook(lib):
        w = leaf(lib, [1.0, 2.0])
        w.register_hook(lambda g: g.sum())
        (w * 2).sum().backward()
        return w.grad
    def nonleaf_hook(lib):
        w = leaf(lib, [1.0, 2.0])
        h = w * 2
        h.register_hook(lambda g: lib.ones(3, dtype=lib.float64))
        h.sum().backward()
        return w.grad
    def dtype_hook(lib):
        w = leaf(lib, [1.0, 2.0])
        h = w * 2
        h.register_hook(lambda g: g.float())
        h.sum().backward()
        return w.grad
    for program in (leaf_hook, nonleaf_hook, dtype_hook):
        err = assert_same(program)
        assert isinstance(err, RuntimeError)


def test_reading_grad_of_a_non_leaf_warns_and_retain_grad_silences_it():
    x = tw.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.sum().backward(retain_graph=True)
    with pytest.warns(UserWarning, match="retain_grad"):
        assert h.grad is None
    h2 = x * 3
    h2.retain_grad()
    h2.sum().backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(h2.grad.numpy(), [1.0, 1.0])
    assert h2.retains_grad


def test_needs_input_grad_is_set_before_forward():
    seen = []

    class Probe(tw.autograd.Function):
        def forward(self, a, b):
            seen.append(self.needs_input_grad)
            return a + b

        def backward(self, grad):
            return grad, grad

    x = tw.tensor([1.0], requires_grad=True)
    Probe.apply(x, tw.tensor([2.0]))
    Probe.apply(tw.tensor([2.0]), x)
    assert seen == [(True, False), (False, True)]


# ---------------------------------------------------------------- nn inplace flags
def test_relu_and_dropout_inplace_flags_match_torch():
    def program(lib):
        lib.manual_seed(0)
        model = lib.nn.Sequential(lib.nn.Linear(4, 5), lib.nn.ReLU(inplace=True), lib.nn.Linear(5, 2),
                                  lib.nn.LeakyReLU(0.1, inplace=True)).double()
        with lib.no_grad():
            for i, p in enumerate(model.parameters()):
                p.copy_(lib.tensor(np.cos(np.arange(p.numel()) + i).reshape(p.shape), dtype=lib.float64))
        x = lib.tensor(np.sin(np.arange(12.0)).reshape(3, 4), dtype=lib.float64)
        out = model(x)
        out.sum().backward()
        return out, [p.grad for p in model.parameters()]
    assert_same(program)
    x = tw.ones(4, 3)
    y = tw.nn.functional.dropout(x, 0.5, training=True, inplace=True)
    assert y is x and x._version == 1 and set(np.unique(x.numpy())) <= {0.0, 2.0}


# ---------------------------------------------------------------- other in-place ops
def test_index_add_scatter_and_fills_match_torch():
    def program(lib):
        base = lib.tensor(np.arange(12.0).reshape(3, 4), dtype=lib.float64)
        a = base.clone()
        a.index_add_(1, lib.tensor([0, 3, 0]), lib.ones(3, 3, dtype=lib.float64), alpha=2)
        b = base.clone()
        b.scatter_(0, lib.tensor([[2, 1, 0, 2]]), lib.full((1, 4), -1.0, dtype=lib.float64))
        c = base.clone()
        c.scatter_add_(1, lib.tensor([[0, 0], [1, 1], [3, 3]]), lib.ones(3, 2, dtype=lib.float64))
        d = base.clone().fill_(2.5)
        e = base.clone()
        e.scatter_(1, lib.tensor([[1], [2], [3]]), value=9.0)
        return a, b, c, d, e
    assert_same(program)


def test_normal_and_uniform_fill_in_place_from_the_seeded_generator():
    a = tw.zeros(2000, dtype=tw.float64)
    tw.manual_seed(3)
    a.normal_(2.0, 0.5)
    b = tw.empty(2000, dtype=tw.float64)
    tw.manual_seed(3)
    b.normal_(2.0, 0.5)
    assert np.array_equal(a.numpy(), b.numpy()) and abs(a.numpy().mean() - 2.0) < 0.05
    u = tw.zeros(2000).uniform_(-1, 3)
    assert u.numpy().min() >= -1 and u.numpy().max() < 3 and u._version == 1
    w = tw.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w.normal_()
    with tw.no_grad():
        w.uniform_()
    assert w.requires_grad and w.is_leaf
