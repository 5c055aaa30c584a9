"""Course-style programs, trained a few steps on tensorweaver and on PyTorch from the same
weights (float64); losses and parameters must agree at every step:

- a word-level LSTM language model on a tiny text (embedding, 2-layer LSTM with dropout off,
  tied-size decoder, truncated BPTT with the hidden state carried and detached between
  batches, gradient clipping, SGD), as in the classic word-language-model example;
- a character-level GRU name classifier (packed variable-length names, Adam);
- a Transformer-encoder sequence classifier (embedding + positions, key-padding mask,
  mean pooling, Adam).
"""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver import nn, optim
from tensorweaver.nn import functional as F
from tensorweaver.nn.utils import rnn as rnn_utils

torch = pytest.importorskip(
    "torch", reason="PyTorch is the test-only oracle (extra 'torch'); the CPU image omits it "
                    "and CI's venv stage runs these tests")
pytestmark = pytest.mark.torch

TEXT = ("shall i compare thee to a summers day thou art more lovely and more temperate "
        "rough winds do shake the darling buds of may and summers lease hath all too short a date")


def _same_params(ours, theirs, what, tol=1e-9):
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.detach().numpy(), tp[name].detach().numpy(), rtol=tol, atol=tol,
                                   err_msg=f"{what}: {name}")


def _lm(lib):
    n = lib.nn

    class LanguageModel(n.Module):
        def __init__(self, vocab, emb=12, hidden=16, layers=2):
            super().__init__()
            self.encoder = n.Embedding(vocab, emb)
            self.rnn = n.LSTM(emb, hidden, layers)
            self.decoder = n.Linear(hidden, vocab)

        def forward(self, x, hidden):
            out, hidden = self.rnn(self.encoder(x), hidden)
            return self.decoder(out), hidden

    return LanguageModel


def test_lstm_language_model_trains_like_torch():
    words = TEXT.split()
    vocab = sorted(set(words))
    ids = np.array([vocab.index(w) for w in words])
    batch, bptt = 3, 5
    n_steps = len(ids) // batch
    data = ids[:n_steps * batch].reshape(batch, n_steps).T          # (steps, batch), as batchify does
    theirs = _lm(torch)(len(vocab)).double()
    ours = _lm(tw)(len(vocab)).double()
    ours.load_state_dict(theirs.state_dict())
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.5)
    opt = optim.SGD(ours.parameters(), lr=0.5)
    h_t = h = None
    losses = []
    for epoch in range(2):
        for i in range(0, data.shape[0] - 1, bptt):
            seq = min(bptt, data.shape[0] - 1 - i)
            x, y = data[i:i + seq], data[i + 1:i + 1 + seq].reshape(-1)
            # Truncated BPTT: keep the state's values, cut its history.
            h_t = None if h_t is None else tuple(s.detach() for s in h_t)
            h = None if h is None else tuple(s.detach() for s in h)
            out_t, h_t = theirs(torch.tensor(x), h_t)
            out, h = ours(tw.tensor(x), h)
            loss_t = torch.nn.functional.cross_entropy(out_t.reshape(-1, len(vocab)), torch.tensor(y))
            loss = F.cross_entropy(out.reshape(-1, len(vocab)), tw.tensor(y))
            opt_t.zero_grad()
            opt.zero_grad()
            loss_t.backward()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(theirs.parameters(), 0.25)
            nn.utils.clip_grad_norm_(ours.parameters(), 0.25)
            opt_t.step()
            opt.step()
            np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-10)
            losses.append(loss.item())
    _same_params(ours, theirs, "after training")
    assert losses[-1] < losses[0]


def _names():
    rng = np.random.default_rng(3)
    letters = "abcdefghijklmnopqrstuvwxyz"
    names, labels = [], []
    for k in range(12):
        label = k % 3
        length = int(rng.integers(3, 9))
        # Each class prefers its own third of the alphabet, so the task is learnable.
        pool = letters[label * 8:label * 8 + 10]
        names.append([letters.index(c) for c in rng.choice(list(pool), length)])
        labels.append(label)
    return names, np.array(labels)


def _classifier(lib):
    n = lib.nn
    utils = lib.nn.utils.rnn

    class CharGRU(n.Module):
        def __init__(self, n_chars=26, emb=8, hidden=10, classes=3):
            super().__init__()
            self.embed = n.Embedding(n_chars, emb)
            self.rnn = n.GRU(emb, hidden, batch_first=True, bidirectional=True)
            self.out = n.Linear(2 * hidden, classes)

        def forward(self, padded, lengths):
            packed = utils.pack_padded_sequence(self.embed(padded), lengths, batch_first=True,
                                                enforce_sorted=False)
            _, h = self.rnn(packed)                                   # (2, N, H): both directions
            return self.out(lib.cat([h[0], h[1]], 1))

    return CharGRU


def test_char_gru_classifier_trains_like_torch():
    names, labels = _names()
    lengths = [len(s) for s in names]
    padded = np.zeros((len(names), max(lengths)), dtype=np.int64)
    for i, s in enumerate(names):
        padded[i, :len(s)] = s
    theirs = _classifier(torch)().double()
    ours = _classifier(tw)().double()
    ours.load_state_dict(theirs.state_dict())
    opt_t = torch.optim.Adam(theirs.parameters(), lr=0.02)
    opt = optim.Adam(ours.parameters(), lr=0.02)
    losses = []
    for step in range(8):
        loss_t = torch.nn.functional.cross_entropy(theirs(torch.tensor(padded), lengths), torch.tensor(labels))
        loss = F.cross_entropy(ours(tw.tensor(padded), lengths), tw.tensor(labels))
        opt_t.zero_grad()
        opt.zero_grad()
        loss_t.backward()
        loss.backward()
        opt_t.step()
        opt.step()
        np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-9)
        losses.append(loss.item())
    _same_params(ours, theirs, "after training", tol=1e-8)
    assert losses[-1] < losses[0]


def _encoder_classifier(lib):
    n = lib.nn

    class EncoderClassifier(n.Module):
        def __init__(self, vocab=20, d=16, heads=2, classes=2, max_len=12):
            super().__init__()
            self.embed = n.Embedding(vocab, d)
            self.pos = n.Embedding(max_len, d)
            layer = n.TransformerEncoderLayer(d, heads, 32, dropout=0.0, batch_first=True, norm_first=True)
            self.encoder = n.TransformerEncoder(layer, 2, n.LayerNorm(d), enable_nested_tensor=False)
            self.head = n.Linear(d, classes)

        def forward(self, tokens, positions, padding, keep):
            h = self.encoder(self.embed(tokens) + self.pos(positions), src_key_padding_mask=padding)
            return self.head((h * keep).sum(1) / keep.sum(1))      # mean over real tokens

    return EncoderClassifier


def test_transformer_encoder_classifier_trains_like_torch():
    rng = np.random.default_rng(5)
    tokens = rng.integers(1, 20, (6, 10))
    lengths = np.array([10, 7, 9, 4, 10, 6])
    padding = np.arange(10)[None, :] >= lengths[:, None]
    tokens[padding] = 0
    labels = (tokens[:, 0] > 10).astype(np.int64)
    positions = np.broadcast_to(np.arange(10), (6, 10)).copy()
    keep = (~padding)[..., None].astype(np.float64)
    theirs = _encoder_classifier(torch)().double()
    ours = _encoder_classifier(tw)().double()
    ours.load_state_dict(theirs.state_dict())
    opt_t = torch.optim.Adam(theirs.parameters(), lr=0.01)
    opt = optim.Adam(ours.parameters(), lr=0.01)
    args_t = [torch.tensor(a) for a in (tokens, positions, padding, keep)]
    args = [tw.tensor(a) for a in (tokens, positions, padding, keep)]
    losses = []
    for step in range(6):
        loss_t = torch.nn.functional.cross_entropy(theirs(*args_t), torch.tensor(labels))
        loss = F.cross_entropy(ours(*args), tw.tensor(labels))
        opt_t.zero_grad()
        opt.zero_grad()
        loss_t.backward()
        loss.backward()
        opt_t.step()
        opt.step()
        np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-9)
        losses.append(loss.item())
    _same_params(ours, theirs, "after training", tol=1e-8)
    assert losses[-1] < losses[0]
