"""Parity cases of the extra layers and losses (activations, GroupNorm, InstanceNorm,
Bilinear, distances, the extra losses). Imported at the end of ``parity_cases.py``."""
from __future__ import annotations

import tensorweaver as tw
from parity_cases import away_from_zero, case, forward_backward, layer, randn, rows

nn = tw.nn
F = tw.nn.functional


def wide(*shape):
    return lambda dtype: (randn(*shape, dtype=dtype, scale=3.0),)


for _name, _make in [("ELU", lambda: nn.ELU(0.7)), ("SELU", lambda: nn.SELU()), ("CELU", lambda: nn.CELU(1.5)),
                     ("Softplus", lambda: nn.Softplus(2.0, 3.0)), ("Softsign", lambda: nn.Softsign()),
                     ("Hardtanh", lambda: nn.Hardtanh(-0.5, 2.0)), ("ReLU6", lambda: nn.ReLU6()),
                     ("Hardswish", lambda: nn.Hardswish()), ("Hardsigmoid", lambda: nn.Hardsigmoid()),
                     ("Mish", lambda: nn.Mish()), ("LogSigmoid", lambda: nn.LogSigmoid()),
                     ("Threshold", lambda: nn.Threshold(0.3, -1.0)), ("GLU", lambda: nn.GLU()),
                     ("PReLU", lambda: nn.PReLU(3, 0.2))]:
    layer(_name, _make, wide(4, 3, 6))
layer("GroupNorm", lambda: nn.GroupNorm(2, 4), rows(3, 4, 5))
layer("InstanceNorm1d", lambda: nn.InstanceNorm1d(4, affine=True, track_running_stats=True), rows(3, 4, 5))
layer("InstanceNorm2d", lambda: nn.InstanceNorm2d(3), rows(2, 3, 4, 5))
layer("Bilinear", lambda: nn.Bilinear(3, 4, 2), lambda dtype: (randn(5, 3, dtype=dtype), randn(5, 4, dtype=dtype)))
layer("CosineSimilarity", lambda: nn.CosineSimilarity(), lambda dtype: (randn(5, 4, dtype=dtype),
                                                                        randn(5, 4, dtype=dtype)))
layer("PairwiseDistance", lambda: nn.PairwiseDistance(), lambda dtype: (randn(5, 4, dtype=dtype),
                                                                        randn(5, 4, dtype=dtype)))


def _pair(dtype):
    return randn(4, 5, dtype=dtype, scale=2.0), randn(4, 5, dtype=dtype)


def _signs(*shape, dtype):
    return (tw.rand(*shape, dtype=dtype) < 0.5).to(getattr(tw, dtype)) * 2 - 1


def _leaf(t):
    return t.detach().requires_grad_()


LOSSES = {
    "SmoothL1Loss": lambda dtype: (nn.SmoothL1Loss(beta=0.5), _pair(dtype)),
    "HuberLoss": lambda dtype: (nn.HuberLoss(delta=0.7), _pair(dtype)),
    "KLDivLoss": lambda dtype: (nn.KLDivLoss(reduction="batchmean"),
                                (_leaf(tw.log_softmax(randn(4, 5, dtype=dtype), 1)),
                                 _leaf(tw.softmax(randn(4, 5, dtype=dtype), 1)))),
    "PoissonNLLLoss": lambda dtype: (nn.PoissonNLLLoss(full=True),
                                     (randn(4, 5, dtype=dtype), (tw.rand(4, 5, dtype=dtype) * 5).floor())),
    "GaussianNLLLoss": lambda dtype: (nn.GaussianNLLLoss(), _pair(dtype) + (tw.rand(4, 5, dtype=dtype) + 0.1,)),
    "MarginRankingLoss": lambda dtype: (nn.MarginRankingLoss(0.2), (randn(6, dtype=dtype), randn(6, dtype=dtype),
                                                                    _signs(6, dtype=dtype))),
    "HingeEmbeddingLoss": lambda dtype: (nn.HingeEmbeddingLoss(), (randn(4, 5, dtype=dtype), _signs(4, 5, dtype=dtype))),
    "CosineEmbeddingLoss": lambda dtype: (nn.CosineEmbeddingLoss(0.1), (randn(5, 4, dtype=dtype),
                                                                        randn(5, 4, dtype=dtype), _signs(5, dtype=dtype))),
    "TripletMarginLoss": lambda dtype: (nn.TripletMarginLoss(swap=True), (randn(5, 4, dtype=dtype),
                                                                          randn(5, 4, dtype=dtype),
                                                                          randn(5, 4, dtype=dtype))),
    "MultiLabelSoftMarginLoss": lambda dtype: (nn.MultiLabelSoftMarginLoss(),
                                               (randn(4, 5, dtype=dtype, scale=3.0),
                                                (tw.rand(4, 5, dtype=dtype) < 0.5).to(getattr(tw, dtype)))),
}


def _loss_case(name):
    @case(f"loss.{name}")
    def run(dtype):
        module, args = LOSSES[name](dtype)
        result = forward_backward(lambda *a: module(*a), *args)
        module.eval()                    # a loss computes the same in eval mode: check it does
        result["eval_out"] = module(*args).detach().numpy()
        return result


for _loss in LOSSES:
    _loss_case(_loss)


@case("nn.functional.normalize")
def normalize(dtype):
    return forward_backward(lambda x: F.normalize(x, dim=1), away_from_zero(4, 5, dtype=dtype))
