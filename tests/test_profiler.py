"""tw.autograd.profiler.op_hooks: every op seen once, forward and backward, in order,
with its arguments and results; nesting; removal on exit, even after an error."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver import nn
from tensorweaver.autograd import function as _function
from tensorweaver.autograd.profiler import op_hooks

pytestmark = pytest.mark.unit


def _recorder():
    events, open_ = [], []

    def before(fn, phase):
        open_.append((fn, phase))

    def after(fn, phase, inputs, output):
        assert open_.pop() == (fn, phase), "after() must close the op that before() opened"
        events.append((fn.op_name, phase, inputs, output))
    return before, after, events, open_


def test_forward_and_backward_events_in_order():
    tw.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    x = tw.randn(2, 4)
    before, after, events, open_ = _recorder()
    with op_hooks(before, after):
        loss = model(x).sum()
        loss.backward()
    assert not open_
    assert [(name, phase) for name, phase, _, _ in events] == [
        ("Linear", "forward"), ("ReLU", "forward"), ("Sum", "forward"),
        ("Sum", "backward"), ("ReLU", "backward"), ("Linear", "backward")]
    name, _, args, out = events[0]
    assert args[0] is x and out.shape == (2, 3)                   # the arguments as given
    _, _, (grad_out,), grads = events[-1]                           # Linear's backward
    assert grad_out.shape == (2, 3) and len(grads) == 3            # input, weight, bias
    np.testing.assert_allclose(tw.tensor(grads[1]).numpy(), model[0].weight.grad.numpy())


def test_no_grad_ops_are_seen_and_hooks_are_removed():
    before, after, events, _ = _recorder()
    with tw.no_grad(), op_hooks(before, after):
        (tw.ones(3) * 2).exp()
    assert [e[:2] for e in events] == [("Mul", "forward"), ("Exp", "forward")]
    assert _function._op_hooks[0] is None
    tw.ones(3).exp()
    assert len(events) == 2


def test_in_place_updates_under_no_grad_are_seen():
    # ``W -= lr * W.grad`` has a one-pass path when nothing watches; the profiler must still see it.
    w = tw.ones(3, requires_grad=True)
    w.grad = tw.full((3,), 2.0)
    before, after, events, _ = _recorder()
    with tw.no_grad(), op_hooks(before, after):
        w -= 0.5 * w.grad
        w.add_(w.grad, alpha=-0.25)
    assert [e[:2] for e in events] == [("Mul", "forward"), ("Sub", "forward"), ("Mul", "forward"),
                                       ("Add", "forward")]
    np.testing.assert_allclose(w.detach().numpy(), [-0.5, -0.5, -0.5])


def test_hooks_removed_after_an_error_and_either_may_be_none():
    seen = []
    with pytest.raises(ValueError):
        with op_hooks(after=lambda fn, phase, i, o: seen.append(fn.op_name)):
            tw.ones(3) + tw.ones(4)
    assert _function._op_hooks[0] is None
    with op_hooks(before=lambda fn, phase: seen.append(phase)):
        tw.ones(2).neg()
    assert seen == ["forward"]
    with pytest.raises(TypeError, match="callable"):
        with op_hooks(before=3):
            pass


def test_nested_blocks_outer_opens_first_and_closes_last():
    log = []
    outer = (lambda fn, ph: log.append("outer before"), lambda fn, ph, i, o: log.append("outer after"))
    inner = (lambda fn, ph: log.append("inner before"), lambda fn, ph, i, o: log.append("inner after"))
    with op_hooks(*outer):
        with op_hooks(*inner):
            tw.ones(2).neg()
        assert _function._op_hooks[0] is not None
        tw.ones(2).neg()
    assert log == ["outer before", "inner before", "inner after", "outer after",
                   "outer before", "outer after"]
    assert _function._op_hooks[0] is None


def test_create_graph_backward_nests_the_forward_ops_of_the_rule():
    x = tw.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    depth, max_depth = [0], [0]

    def before(fn, phase):
        depth[0] += 1
        max_depth[0] = max(max_depth[0], depth[0])

    def after(fn, phase, inputs, output):
        depth[0] -= 1
        if phase == "backward":
            assert all(g is None or isinstance(g, tw.Tensor) for g in output)
    with op_hooks(before, after):
        (g,) = tw.autograd.grad(y, x, create_graph=True)
    assert depth[0] == 0 and max_depth[0] == 2
    np.testing.assert_allclose(g.detach().numpy(), [2.0, 4.0])
