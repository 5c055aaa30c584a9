"""RNN, LSTM, GRU and their cells against PyTorch (float64): forward, input, state and
parameter gradients for every option that changes the computation, state dicts both
ways, packed sequences, torch's initialisation and errors; gradcheck of the Functions."""
import warnings

import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver import nn
from tensorweaver.nn.utils import rnn as rnn_utils
from tensorweaver.ops import rnn as rnn_ops

torch = pytest.importorskip(
    "torch", reason="PyTorch is the test-only oracle (extra 'torch'); the CPU image omits it "
                    "and CI's venv stage runs these tests")
pytestmark = pytest.mark.torch

rng = np.random.default_rng(7)


def _flat(out):
    """Flatten nested tuples of outputs (LSTM returns (out, (h, c)))."""
    if isinstance(out, rnn_utils.PackedSequence) or type(out).__name__ == "PackedSequence":
        return [out.data]
    if isinstance(out, (tuple, list)):
        return [x for o in out for x in _flat(o)]
    return [out]


def _close(a, b, what, tol=1e-10):
    b = b.detach().numpy()
    assert tuple(a.shape) == b.shape, f"{what}: shape {tuple(a.shape)} vs torch {b.shape}"
    np.testing.assert_allclose(a.detach().numpy(), b, rtol=tol, atol=tol, err_msg=what)


def compare(ours, theirs, inputs, state=None, train=False):
    """Load torch's weights into ours, run both on the same inputs (and initial state), backprop
    a random projection of every output, and compare outputs and all gradients."""
    theirs = theirs.double().train(train)
    ours = ours.double().train(train)
    ours.load_state_dict(theirs.state_dict())
    x_tw = tw.tensor(inputs, requires_grad=True)
    x_t = torch.tensor(inputs, requires_grad=True)
    args_tw, args_t = [x_tw], [x_t]
    s_tw = s_t = None
    if state is not None:
        s_tw = [tw.tensor(s, requires_grad=True) for s in state]
        s_t = [torch.tensor(s, requires_grad=True) for s in state]
        args_tw.append(tuple(s_tw) if len(state) == 2 else s_tw[0])
        args_t.append(tuple(s_t) if len(state) == 2 else s_t[0])
    outs, refs = _flat(ours(*args_tw)), _flat(theirs(*args_t))
    assert len(outs) == len(refs)
    loss_tw, loss_t = 0, 0
    for i, (o, r) in enumerate(zip(outs, refs)):
        _close(o, r, f"output {i}")
        seed = rng.standard_normal(tuple(r.shape))
        loss_tw = loss_tw + (o * tw.tensor(seed)).sum()
        loss_t = loss_t + (r * torch.tensor(seed)).sum()
    loss_tw.backward()
    loss_t.backward()
    _close(x_tw.grad, x_t.grad, "input grad")
    for i, (a, b) in enumerate(zip(s_tw or [], s_t or [])):
        _close(a.grad, b.grad, f"state {i} grad")
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad, theirs_params[name].grad, f"{name} grad")


def _make(kind, *args, **kwargs):
    tw_cls, t_cls = getattr(nn, kind), getattr(torch.nn, kind)
    return tw_cls(*args, **kwargs), t_cls(*args, **kwargs)


OPTIONS = [
    {},
    {"num_layers": 2},
    {"bias": False},
    {"batch_first": True},
    {"bidirectional": True},
    {"num_layers": 3, "bidirectional": True, "batch_first": True},
]


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
@pytest.mark.parametrize("with_state", [False, True])
def test_layer_matches_torch(kind, opts, with_state):
    ours, theirs = _make(kind, 5, 4, **opts)
    t, n = 6, 3
    x = rng.standard_normal((n, t, 5) if opts.get("batch_first") else (t, n, 5))
    d = 2 if opts.get("bidirectional") else 1
    state = None
    if with_state:
        shape = (d * opts.get("num_layers", 1), n, 4)
        state = [rng.standard_normal(shape) for _ in range(2 if kind == "LSTM" else 1)]
    compare(ours, theirs, x, state)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_unbatched_input(kind):
    ours, theirs = _make(kind, 3, 4, num_layers=2, bidirectional=True)
    state = [rng.standard_normal((4, 4)) for _ in range(2 if kind == "LSTM" else 1)]
    compare(ours, theirs, rng.standard_normal((5, 3)), state)


def test_relu_rnn():
    ours, theirs = _make("RNN", 3, 4, num_layers=2, nonlinearity="relu")
    compare(ours, theirs, rng.standard_normal((5, 2, 3)))
    ours, theirs = _make("RNN", 3, 4, 2, "relu")          # positional nonlinearity, as torch allows
    assert ours.nonlinearity == "relu" and ours.mode == "RNN_RELU"


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_dropout_between_layers(kind):
    # Eval: dropout is off and the result is torch's. Train: dropped units differ from torch's
    # (different generators), so check the statistics: outputs change, last layer undropped.
    ours, theirs = _make(kind, 3, 6, num_layers=2, dropout=0.5)
    compare(ours, theirs, rng.standard_normal((4, 2, 3)), train=False)
    ours.train()
    x = tw.tensor(rng.standard_normal((4, 2, 3)))
    tw.manual_seed(0)
    a = ours(x)[0]
    b = ours(x)[0]
    assert not np.allclose(a.detach().numpy(), b.detach().numpy())
    ours.eval()
    assert np.allclose(ours(x)[0].detach().numpy(), ours(x)[0].detach().numpy())


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch(kind, bias, batched):
    ours, theirs = _make(kind, 5, 4, bias=bias)
    n_states = 2 if kind == "LSTMCell" else 1
    shape = (3, 4) if batched else (4,)
    state = [rng.standard_normal(shape) for _ in range(n_states)]
    compare(ours, theirs, rng.standard_normal((3, 5) if batched else (5,)), state)
    compare(ours, theirs, rng.standard_normal((3, 5) if batched else (5,)))      # zero state


def test_relu_cell():
    ours, theirs = _make("RNNCell", 3, 4, nonlinearity="relu")
    compare(ours, theirs, rng.standard_normal((2, 3)), [rng.standard_normal((2, 4))])


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"])
def test_state_dict_both_ways_and_init(kind):
    args = (5, 8) if "Cell" in kind else (5, 8, 2)
    kwargs = {} if "Cell" in kind else {"bidirectional": True}
    ours, theirs = _make(kind, *args, **kwargs)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
           [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    # torch's initialisation: every weight from U(-1/sqrt(H), 1/sqrt(H)).
    for p in ours.parameters():
        a = p.detach().numpy()
        assert np.abs(a).max() <= 1 / np.sqrt(8) and a.std() > 0.1
    theirs.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in ours.state_dict().items()})
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), ours.state_dict()[k].detach().numpy())
    assert repr(ours) == repr(theirs)


def test_all_weights_layout():
    ours, theirs = _make("LSTM", 3, 4, num_layers=2, bidirectional=True)
    assert [[tuple(w.shape) for w in ws] for ws in ours.all_weights] == \
           [[tuple(w.shape) for w in ws] for ws in theirs.all_weights]


# ---------------------------------------------------------------- packed sequences
def test_pad_sequence_matches_torch():
    seqs = [rng.standard_normal((n, 3)) for n in (4, 2, 5)]
    for kwargs in ({}, {"batch_first": True}, {"padding_value": -1.0, "padding_side": "left"}):
        ours = rnn_utils.pad_sequence([tw.tensor(s) for s in seqs], **kwargs)
        ref = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], **kwargs)
        _close(ours, ref, str(kwargs))


@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_and_unpack_match_torch(enforce_sorted, batch_first):
    lengths = [5, 3, 3, 1] if enforce_sorted else [3, 5, 1, 3]
    x = rng.standard_normal((4, 5, 2) if batch_first else (5, 4, 2))
    x_tw, x_t = tw.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    p_tw = rnn_utils.pack_padded_sequence(x_tw, lengths, batch_first, enforce_sorted)
    p_t = torch.nn.utils.rnn.pack_padded_sequence(x_t, lengths, batch_first, enforce_sorted)
    _close(p_tw.data, p_t.data, "data")
    np.testing.assert_array_equal(p_tw.batch_sizes.numpy(), p_t.batch_sizes.numpy())
    if enforce_sorted:
        assert p_tw.sorted_indices is None and p_t.sorted_indices is None
    else:
        np.testing.assert_array_equal(p_tw.sorted_indices.numpy(), p_t.sorted_indices.numpy())
        np.testing.assert_array_equal(p_tw.unsorted_indices.numpy(), p_t.unsorted_indices.numpy())
    y_tw, len_tw = rnn_utils.pad_packed_sequence(p_tw, batch_first, padding_value=-2.0, total_length=6)
    y_t, len_t = torch.nn.utils.rnn.pad_packed_sequence(p_t, batch_first, padding_value=-2.0, total_length=6)
    _close(y_tw, y_t, "padded")
    np.testing.assert_array_equal(len_tw.numpy(), len_t.numpy())
    seed = rng.standard_normal(tuple(y_t.shape))
    (y_tw * tw.tensor(seed)).sum().backward()
    (y_t * torch.tensor(seed)).sum().backward()
    _close(x_tw.grad, x_t.grad, "grad through pack/unpack")
    for a, b in zip(rnn_utils.unpack_sequence(p_tw), torch.nn.utils.rnn.unpack_sequence(p_t)):
        _close(a, b, "unpack_sequence")


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_layers_on_packed_sequences(kind, enforce_sorted):
    ours, theirs = _make(kind, 3, 4, num_layers=2, bidirectional=True)
    theirs, ours = theirs.double(), ours.double()
    ours.load_state_dict(theirs.state_dict())
    lengths = [6, 4, 4, 1] if enforce_sorted else [4, 6, 1, 4]
    x = rng.standard_normal((6, 4, 3))
    state = [rng.standard_normal((4, 4, 4)) for _ in range(2 if kind == "LSTM" else 1)]
    x_tw, x_t = tw.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    s_tw = [tw.tensor(s, requires_grad=True) for s in state]
    s_t = [torch.tensor(s, requires_grad=True) for s in state]
    p_tw = rnn_utils.pack_padded_sequence(x_tw, lengths, enforce_sorted=enforce_sorted)
    p_t = torch.nn.utils.rnn.pack_padded_sequence(x_t, lengths, enforce_sorted=enforce_sorted)
    out_tw = ours(p_tw, tuple(s_tw) if kind == "LSTM" else s_tw[0])
    out_t = theirs(p_t, tuple(s_t) if kind == "LSTM" else s_t[0])
    assert isinstance(out_tw[0], rnn_utils.PackedSequence)
    outs, refs = _flat(out_tw), _flat(out_t)
    loss_tw, loss_t = 0, 0
    for i, (o, r) in enumerate(zip(outs, refs)):
        _close(o, r, f"output {i}")
        seed = rng.standard_normal(tuple(r.shape))
        loss_tw, loss_t = loss_tw + (o * tw.tensor(seed)).sum(), loss_t + (r * torch.tensor(seed)).sum()
    loss_tw.backward()
    loss_t.backward()
    _close(x_tw.grad, x_t.grad, "input grad")
    for a, b in zip(s_tw, s_t):
        _close(a.grad, b.grad, "state grad")
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad, tp[name].grad, name)


def test_packing_errors():
    x = tw.randn(4, 3, 2)
    with pytest.raises(RuntimeError, match="enforce_sorted=False"):
        rnn_utils.pack_padded_sequence(x, [2, 4, 1])
    with pytest.raises(RuntimeError, match="greater than 0"):
        rnn_utils.pack_padded_sequence(x, [4, 2, 0])
    with pytest.raises(ValueError, match="batch_size"):
        rnn_utils.pack_padded_sequence(x, [4, 2])
    p = rnn_utils.pack_padded_sequence(x, [4, 2, 1])
    with pytest.raises(ValueError, match="total_length"):
        rnn_utils.pad_packed_sequence(p, total_length=3)


# ---------------------------------------------------------------- errors and options
def test_errors_are_torchs():
    with pytest.raises(NotImplementedError, match="proj_size"):
        nn.LSTM(4, 8, proj_size=2)
    with pytest.raises(ValueError, match="only supported for LSTM"):
        nn.GRU(4, 8, proj_size=2)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(4, 8, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        nn.LSTM(4, 8, dropout=1.5)
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.GRU(4, 8, dropout=0.2)
    m = nn.LSTM(4, 8, num_layers=2)
    with pytest.raises(RuntimeError, match="input_size"):
        m(tw.randn(5, 3, 6))
    with pytest.raises(ValueError, match="2D or 3D"):
        m(tw.randn(5, 3, 4, 1))
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(2, 3, 8\)"):
        m(tw.randn(5, 3, 4), (tw.zeros(1, 3, 8), tw.zeros(2, 3, 8)))
    with pytest.raises(TypeError, match="tuple"):
        m(tw.randn(5, 3, 4), tw.zeros(2, 3, 8))
    with pytest.raises(ValueError, match="float64"):
        m(tw.randn(5, 3, 4, dtype=tw.float64))
    with pytest.raises(ValueError, match="1D or 2D"):
        nn.GRUCell(4, 8)(tw.randn(2, 3, 4))


def test_gradients_accumulate_and_dtype_float32():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = nn.LSTM(3, 4)
    x = tw.randn(5, 2, 3)
    out, (h, c) = m(x)
    assert out.dtype == tw.float32 and h.shape == (1, 2, 4) and c.shape == (1, 2, 4)
    (out.sum() + c.sum()).backward()
    g = m.weight_hh_l0.grad.numpy().copy()
    out, (h, c) = m(x)
    (out.sum() + c.sum()).backward()
    np.testing.assert_allclose(m.weight_hh_l0.grad.numpy(), 2 * g, rtol=1e-5)


# ---------------------------------------------------------------- gradcheck of the Functions
def _arr(*shape):
    return tw.tensor(rng.standard_normal(shape), requires_grad=True)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, [4, 2, 1]])
@pytest.mark.parametrize("op", ["tanh", "relu", "lstm", "gru"])
def test_gradcheck_layer_functions(op, reverse, lengths):
    t, n, i, h = 4, 3, 2, 3
    gates = {"tanh": 1, "relu": 1, "lstm": 4, "gru": 3}[op]
    x, h0, c0 = _arr(t, n, i), _arr(n, h), _arr(n, h)
    w_ih, w_hh, b_ih, b_hh = _arr(gates * h, i), _arr(gates * h, h), _arr(gates * h), _arr(gates * h)
    if op == "lstm":
        fn = lambda *a: rnn_ops.LSTMLayer.apply(*a, reverse=reverse, lengths=lengths)  # noqa: E731
        inputs = (x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    elif op == "gru":
        fn = lambda *a: rnn_ops.GRULayer.apply(*a, reverse=reverse, lengths=lengths)  # noqa: E731
        inputs = (x, h0, w_ih, w_hh, b_ih, b_hh)
    else:
        fn = lambda *a: rnn_ops.RNNLayer.apply(*a, nonlinearity=op, reverse=reverse, lengths=lengths)  # noqa: E731
        inputs = (x, h0, w_ih, w_hh, b_ih, b_hh)
    assert tw.autograd.gradcheck(fn, inputs)


def test_gradcheck_without_bias_or_state():
    x, w_ih, w_hh = _arr(3, 2, 2), _arr(12, 2), _arr(12, 3)
    assert tw.autograd.gradcheck(lambda *a: rnn_ops.LSTMLayer.apply(a[0], None, None, a[1], a[2], None, None),
                                 (x, w_ih, w_hh))
