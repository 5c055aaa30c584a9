"""Indexing, slicing and joining ops (ops/joining.py): forward and backward against torch,
float64 gradcheck, Tensor methods, nonzero/argwhere/where(condition), and the errors."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver.autograd import gradcheck

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle")
pytestmark = pytest.mark.torch

rng = np.random.default_rng(51)


def r(*shape):
    return rng.standard_normal(shape)


def I(*values):
    return np.array(values, dtype=np.int64)


# (name, differentiable arrays, other args (numpy int arrays become int tensors), kwargs)
CASES = [
    ("index_select", [r(3, 4)], (1, I(2, 0, 2)), {}), ("index_select", [r(3, 4)], (0, I(1)), {}),
    ("masked_select", [r(3, 4)], (r(3, 4) > 0,), {}), ("masked_select", [r(3, 4)], (r(4) > 0,), {}),
    ("narrow", [r(3, 5)], (1, 1, 3), {}), ("narrow", [r(3, 5)], (0, -2, 2), {}),
    ("take", [r(3, 4)], (I(0, 5, 11, 5),), {}), ("take_along_dim", [r(3, 4)], (I(0, 3, 1).reshape(3, 1), 1), {}),
    ("take_along_dim", [r(3, 4)], (I(3, 0, 7),), {}), ("take_along_dim", [r(3, 4)], (I(0, 2, 1, 1).reshape(1, 4), 0), {}),
    ("movedim", [r(2, 3, 4)], (0, 2), {}), ("movedim", [r(2, 3, 4)], ((0, 1), (2, 0)), {}),
    ("moveaxis", [r(2, 3, 4)], (-1, 0), {}), ("swapaxes", [r(2, 3, 4)], (0, 2), {}), ("swapdims", [r(2, 3)], (0, 1), {}),
    ("tile", [r(2, 3)], ((2, 1, 2),), {}), ("tile", [r(2, 3)], ((2,),), {}),
    ("hstack", [[r(2, 3), r(2, 1)]], (), {}), ("hstack", [[r(3), r(2)]], (), {}),
    ("vstack", [[r(3), r(2, 3)]], (), {}), ("row_stack", [[r(3), r(3)]], (), {}),
    ("dstack", [[r(3), r(3)]], (), {}), ("dstack", [[r(2, 3), r(2, 3, 2)]], (), {}),
    ("column_stack", [[r(3), r(3, 2)]], (), {}),
]


def _lib_args(args, lib):
    return [lib.tensor(a) if isinstance(a, np.ndarray) else a for a in args]


def _leaves(arrays, lib):
    out = []
    for a in arrays:
        out.append([lib.tensor(x, requires_grad=True) for x in a] if isinstance(a, list)
                   else lib.tensor(a, requires_grad=True))
    return out


def _flat(leaves):
    return [x for a in leaves for x in (a if isinstance(a, list) else [a])]


@pytest.mark.parametrize("name, arrays, args, kw", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_matches_torch(name, arrays, args, kw):
    ours, theirs = _leaves(arrays, tw), _leaves(arrays, torch)
    out = getattr(tw, name)(*ours, *_lib_args(args, tw), **kw)
    ref = getattr(torch, name)(*theirs, *_lib_args(args, torch), **kw)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())
    seed = r(*ref.shape)
    out.backward(tw.tensor(seed))
    ref.backward(torch.tensor(seed))
    for o, t in zip(_flat(ours), _flat(theirs)):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-12)
    if not isinstance(arrays[0], list) and hasattr(torch.Tensor, name):
        method = getattr(tw.tensor(arrays[0]), name)(*_lib_args(args, tw), **kw)
        np.testing.assert_array_equal(method.numpy(), ref.detach().numpy())


@pytest.mark.parametrize("name, arrays, args, kw", CASES[::2], ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES[::2])])
def test_gradcheck(name, arrays, args, kw):
    leaves = _leaves(arrays, tw)
    flat = _flat(leaves)
    if isinstance(arrays[0], list):
        fn = lambda *xs: getattr(tw, name)(list(xs), *_lib_args(args, tw), **kw)  # noqa: E731
    else:
        fn = lambda x: getattr(tw, name)(x, *_lib_args(args, tw), **kw)  # noqa: E731
    assert gradcheck(fn, tuple(flat))


def test_repeat_and_unbind_match_torch():
    x = r(2, 3)
    for sizes in ((2, 1), (1, 3, 2), ((2, 2),)):
        o, t = tw.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, ref = o.repeat(*sizes), t.repeat(*sizes)
        np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())
        seed = r(*ref.shape)
        out.backward(tw.tensor(seed))
        ref.backward(torch.tensor(seed))
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-12)
    o = tw.tensor(x, requires_grad=True)
    parts = tw.unbind(o, 1)
    assert len(parts) == 3 and all(p.shape == (2,) for p in parts)
    (parts[0] * 2 + parts[2]).sum().backward()
    np.testing.assert_array_equal(o.grad.numpy(), [[2, 0, 1], [2, 0, 1]])
    assert [p.tolist() for p in o.unbind()] == [p.tolist() for p in torch.tensor(x).unbind()]
    assert gradcheck(lambda t: t.repeat(2, 2), (tw.tensor(x, requires_grad=True),))


def test_nonzero_argwhere_and_where_condition_match_torch():
    x = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    np.testing.assert_array_equal(tw.nonzero(tw.tensor(x)).numpy(), torch.nonzero(torch.tensor(x)).numpy())
    np.testing.assert_array_equal(tw.tensor(x).argwhere().numpy(), torch.argwhere(torch.tensor(x)).numpy())
    for ours, ref in zip(tw.nonzero(tw.tensor(x), as_tuple=True), torch.nonzero(torch.tensor(x), as_tuple=True)):
        np.testing.assert_array_equal(ours.numpy(), ref.numpy())
    for ours, ref in zip(tw.where(tw.tensor(x) > 0), torch.where(torch.tensor(x) > 0)):
        np.testing.assert_array_equal(ours.numpy(), ref.numpy())
    assert tw.nonzero(tw.tensor(x)).dtype == np.int64
    assert tw.nonzero(tw.tensor(3.0)).shape == tuple(torch.nonzero(torch.tensor(3.0)).shape)
    np.testing.assert_array_equal(tw.where(tw.tensor(x) > 0, tw.tensor(x), 0.0).numpy(), np.maximum(x, 0))


def test_bad_input_errors_name_the_problem():
    x = tw.randn(3, 4)
    with pytest.raises(IndexError, match="narrow: start \\(3\\) \\+ length \\(2\\) exceeds dim 0 of size 3"):
        tw.narrow(x, 0, 3, 2)
    with pytest.raises(TypeError, match="index_select: the index must be an integer tensor"):
        tw.index_select(x, 0, tw.tensor([0.0]))
    with pytest.raises(TypeError, match="masked_select: the mask must be a bool tensor"):
        tw.masked_select(x, tw.ones(3, 4))
    with pytest.raises(IndexError, match="take: an index is out of range"):
        tw.take(x, tw.tensor([12]))
    with pytest.raises(RuntimeError, match="movedim: source .* must have the same length"):
        tw.movedim(x, (0, 1), 0)
    with pytest.raises(RuntimeError, match="repeat: 1 repeat counts for a tensor with 2 dims"):
        x.repeat(2)
    with pytest.raises(TypeError, match="give both input and other"):
        tw.where(x > 0, x)


SPLITS = [("select", (r(4, 6),), (1, -2)), ("tensor_split", (r(10, 2),), (3,)), ("tensor_split", (r(10, 2),), ([2, 7, 4, 12],)),
          ("tensor_split", (r(2, 7),), (2, 1)), ("hsplit", (r(4, 6),), (3,)), ("hsplit", (r(6),), ([1, 4],)),
          ("vsplit", (r(4, 6),), ([1],)), ("dsplit", (r(2, 3, 4),), (2,)), ("ravel", (r(3, 4),), ()),
          ("unflatten", (r(3, 12),), (1, (2, -1, 3))), ("t", (r(3, 4),), ()), ("t", (r(4),), ()),
          ("adjoint", (r(2, 3, 4),), ()), ("concat", ([r(2, 3), r(1, 3)],), ())]


@pytest.mark.parametrize("name, arrays, args", SPLITS, ids=[f"{c[0]}-{i}" for i, c in enumerate(SPLITS)])
def test_splits_and_views_match_torch(name, arrays, args):
    ours, theirs = _leaves(list(arrays), tw), _leaves(list(arrays), torch)
    out, ref = getattr(tw, name)(*ours, *args), getattr(torch, name)(*theirs, *args)
    outs, refs = (out, ref) if isinstance(ref, tuple) else ((out,), (ref,))
    assert len(outs) == len(refs)
    total_o, total_t = 0, 0
    for k, (o, t) in enumerate(zip(outs, refs)):
        assert o.shape == tuple(t.shape)
        np.testing.assert_array_equal(o.detach().numpy(), t.detach().numpy())
        total_o, total_t = total_o + (o * (k + 1)).sum(), total_t + (t * (k + 1)).sum()
    total_o.backward()
    total_t.backward()
    for o, t in zip(_flat(ours), _flat(theirs)):
        np.testing.assert_array_equal(o.grad.numpy(), t.grad.numpy())
    if hasattr(torch.Tensor, name) and not isinstance(arrays[0], list):
        method = getattr(tw.tensor(arrays[0]), name)(*args)
        np.testing.assert_array_equal((method if isinstance(method, tuple) else (method,))[0].numpy(),
                                      refs[0].detach().numpy())


def test_split_errors_name_the_problem():
    with pytest.raises(RuntimeError, match="hsplit: dim 1 of size 5 is not divisible into 2 equal sections"):
        tw.hsplit(tw.randn(2, 5), 2)
    with pytest.raises(IndexError, match="select: index 4 is out of range for dim 0 of size 4"):
        tw.select(tw.randn(4), 0, 4)
    with pytest.raises(RuntimeError, match="unflatten: sizes \\(2, 4\\) do not multiply"):
        tw.unflatten(tw.randn(3, 6), 1, (2, 4))
