"""Course-style programs for the convolution family, trained a few steps on tensorweaver and
on PyTorch from the same weights (float64): losses and parameters must follow the same
trajectory, and the weights go back to torch with ``load_state_dict``.

1. A DCGAN-style generator (ConvTranspose2d + BatchNorm2d + ReLU, Tanh output) regressed onto
   fixed 16x16 images with Adam.
2. A Conv1d sequence classifier (Embedding, two Conv1d with ReLU, MaxPool1d, global
   adaptive max pooling over time, dropout-free head) trained with SGD + momentum on
   cross-entropy.
"""
import numpy as np
import pytest

import tensorweaver as tw

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle (extra 'torch')")
pytestmark = pytest.mark.torch


def generator(nn, z_dim=8, width=8):
    """z (N, z_dim, 1, 1) -> (N, 3, 16, 16), DCGAN's layer pattern at a small size."""
    return nn.Sequential(
        nn.ConvTranspose2d(z_dim, width * 2, 4, 1, 0, bias=False), nn.BatchNorm2d(width * 2), nn.ReLU(True),   # 4x4
        nn.ConvTranspose2d(width * 2, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),       # 8x8
        nn.ConvTranspose2d(width, 3, 4, 2, 1, bias=False), nn.Tanh(),                                         # 16x16
    )


class TextCNN:
    """The same classifier for both libraries: ``build(nn)`` returns a module."""

    @staticmethod
    def build(nn, vocab=30, emb=8, classes=4):
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(vocab, emb)
                self.conv1 = nn.Conv1d(emb, 12, 3, padding=1)
                self.pool = nn.MaxPool1d(2)
                self.conv2 = nn.Conv1d(12, 16, 3, padding=2, dilation=2, padding_mode="reflect")
                self.gpool = nn.AdaptiveMaxPool1d(1)
                self.head = nn.Linear(16, classes)

            def forward(self, ids):
                h = self.embed(ids).transpose(1, 2)               # (N, L, E) -> (N, E, L)
                h = self.pool(nn.functional.relu(self.conv1(h)))
                h = nn.functional.relu(self.conv2(h))
                return self.head(self.gpool(h).flatten(1))
        return Net()


def _same_weights(ours, theirs):
    theirs.double()
    ours.double()
    ours.load_state_dict(theirs.state_dict())


def _compare_params(ours, theirs, rtol=1e-9, atol=1e-11):
    for (name, p), (_, q) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=rtol, atol=atol, err_msg=name)


def test_dcgan_generator_trains_like_torch():
    torch.manual_seed(0)
    ours, theirs = generator(tw.nn), generator(torch.nn)
    _same_weights(ours, theirs)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 8, 1, 1))
    target = np.tanh(rng.standard_normal((6, 3, 16, 16)))
    opt_tw = tw.optim.Adam(ours.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_t = torch.optim.Adam(theirs.parameters(), lr=2e-3, betas=(0.5, 0.999))
    losses = []
    for _ in range(5):
        opt_tw.zero_grad()
        opt_t.zero_grad()
        loss_tw = tw.nn.functional.mse_loss(ours(tw.tensor(z)), tw.tensor(target))
        loss_t = torch.nn.functional.mse_loss(theirs(torch.tensor(z)), torch.tensor(target))
        loss_tw.backward()
        loss_t.backward()
        opt_tw.step()
        opt_t.step()
        np.testing.assert_allclose(loss_tw.item(), loss_t.item(), rtol=1e-10)
        losses.append(loss_tw.item())
    assert losses[-1] < losses[0]
    _compare_params(ours, theirs)                                 # weights and BatchNorm running stats
    ours.eval()
    theirs.eval()
    with tw.no_grad(), torch.no_grad():
        np.testing.assert_allclose(ours(tw.tensor(z)).numpy(), theirs(torch.tensor(z)).numpy(), rtol=1e-9, atol=1e-11)
    back = generator(torch.nn).double()
    back.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    _compare_params(ours, back, rtol=0, atol=0)


def test_conv1d_text_classifier_trains_like_torch():
    torch.manual_seed(1)
    ours, theirs = TextCNN.build(tw.nn), TextCNN.build(torch.nn)
    _same_weights(ours, theirs)
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 30, (8, 20))
    labels = rng.integers(0, 4, 8)
    opt_tw = tw.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(6):
        opt_tw.zero_grad()
        opt_t.zero_grad()
        loss_tw = tw.nn.functional.cross_entropy(ours(tw.tensor(ids)), tw.tensor(labels))
        loss_t = torch.nn.functional.cross_entropy(theirs(torch.tensor(ids)), torch.tensor(labels))
        loss_tw.backward()
        loss_t.backward()
        opt_tw.step()
        opt_t.step()
        np.testing.assert_allclose(loss_tw.item(), loss_t.item(), rtol=1e-10)
        losses.append(loss_tw.item())
    assert losses[-1] < losses[0]
    _compare_params(ours, theirs)
