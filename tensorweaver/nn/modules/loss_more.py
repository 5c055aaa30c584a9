"""More loss modules: ``SmoothL1Loss``, ``HuberLoss``, ``KLDivLoss``, ``PoissonNLLLoss``,
``GaussianNLLLoss``, ``MarginRankingLoss``, ``HingeEmbeddingLoss``, ``CosineEmbeddingLoss``,
``TripletMarginLoss``, ``MultiLabelSoftMarginLoss``. Each stores its options and calls
``nn.functional``; ``reduction`` is 'mean' (default), 'sum' or 'none'."""
from __future__ import annotations

from tensorweaver.nn import functional as F
from tensorweaver.nn.modules.loss import _Loss, _WeightedLoss
from tensorweaver.nn.modules.module import Module


class SmoothL1Loss(_Loss):
    r"""Quadratic below ``beta`` (:math:`0.5 d^2 / \beta`), linear above (:math:`|d| - 0.5 \beta`).

    Shape: input and target :math:`(*)`; output scalar or :math:`(*)` ('none').
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
        super().__init__(_legacy(size_average, reduce, reduction))
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    r"""Quadratic below ``delta`` (:math:`0.5 d^2`), linear above (:math:`\delta (|d| - 0.5 \delta)`).

    Shape: input and target :math:`(*)`; output scalar or :math:`(*)` ('none').
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class KLDivLoss(Module):
    r"""Kullback-Leibler divergence :math:`y (\log y - x)` of log-probabilities ``input``
    from probabilities ``target`` (log-probabilities with ``log_target=True``).
    ``reduction='batchmean'`` gives the mathematical KL divergence.

    Shape: input and target :math:`(*)`; output scalar or :math:`(*)` ('none').
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False):
        super().__init__()
        reduction = _legacy(size_average, reduce, reduction, extra=("batchmean",))
        self.reduction, self.log_target = reduction, log_target

    def forward(self, input, target):
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class PoissonNLLLoss(_Loss):
    r"""Poisson negative log-likelihood: :math:`e^{x} - y x` (``log_input``) or
    :math:`x - y \log(x + \text{eps})`; ``full`` adds Stirling's term.

    Shape: input and target :math:`(*)`; output scalar or :math:`(*)` ('none').
    """

    def __init__(self, log_input: bool = True, full: bool = False, size_average=None, eps: float = 1e-8,
                 reduce=None, reduction: str = "mean"):
        super().__init__(_legacy(size_average, reduce, reduction))
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input, target):
        return F.poisson_nll_loss(log_input, target, log_input=self.log_input, full=self.full, eps=self.eps,
                                  reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    r"""Gaussian negative log-likelihood :math:`\frac12 (\log \max(\sigma^2, \text{eps}) +
    (x - y)^2 / \max(\sigma^2, \text{eps}))` (+ :math:`\frac12 \log 2\pi` with ``full``).

    Shape: input and target :math:`(N, *)`; var the same, or without the last dim, or with
    a last dim of 1; output scalar or :math:`(N, *)` ('none').
    """

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(reduction)
        self.full, self.eps = full, eps

    def forward(self, input, target, var):
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps, reduction=self.reduction)


class MarginRankingLoss(_Loss):
    r""":math:`\max(0, -y (x_1 - x_2) + \text{margin})`, :math:`y \in \{1, -1\}`.

    Shape: input1, input2, target :math:`(N)` or :math:`()`; output scalar or :math:`(N)`.
    """

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(_legacy(size_average, reduce, reduction))
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.margin_ranking_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)


class HingeEmbeddingLoss(_Loss):
    r""":math:`x` where :math:`y = 1`, :math:`\max(0, \text{margin} - x)` where :math:`y = -1`.

    Shape: input and target :math:`(*)`; output scalar or :math:`(*)` ('none').
    """

    def __init__(self, margin: float = 1.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(_legacy(size_average, reduce, reduction))
        self.margin = margin

    def forward(self, input, target):
        return F.hinge_embedding_loss(input, target, margin=self.margin, reduction=self.reduction)


class CosineEmbeddingLoss(_Loss):
    r""":math:`1 - \cos(x_1, x_2)` where :math:`y = 1`, :math:`\max(0, \cos(x_1, x_2) - \text{margin})`
    where :math:`y = -1`.

    Shape: input1, input2 :math:`(N, D)` or :math:`(D)`; target :math:`(N)` or :math:`()`.
    """

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(_legacy(size_average, reduce, reduction))
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.cosine_embedding_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)


class TripletMarginLoss(_Loss):
    r""":math:`\max(d(a, p) - d(a, n) + \text{margin}, 0)`, :math:`d` the p-norm distance.

    Shape: anchor, positive, negative :math:`(N, D)` or :math:`(D)`; output scalar or :math:`(N)`.
    """

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(_legacy(size_average, reduce, reduction))
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: expected margin to be greater than 0, got {margin} instead")
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p, eps=self.eps,
                                     swap=self.swap, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    r"""Multi-label one-versus-all logistic loss, averaged over the classes:
    :math:`-\frac1C \sum_i w_i (y_i \log \sigma(x_i) + (1 - y_i) \log \sigma(-x_i))`.

    Shape: input and target :math:`(N, C)` or :math:`(C)`; output scalar or :math:`(N)`.
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(weight, _legacy(size_average, reduce, reduction))

    def forward(self, input, target):
        return F.multilabel_soft_margin_loss(input, target, weight=self.weight, reduction=self.reduction)


def _legacy(size_average, reduce, reduction, extra=()):
    """torch's deprecated ``size_average``/``reduce`` arguments: not supported, say what to use."""
    if size_average is not None or reduce is not None:
        raise ValueError("size_average and reduce are deprecated (in torch too); pass reduction='mean', 'sum' "
                         "or 'none' instead")
    if reduction not in ("mean", "sum", "none") + tuple(extra):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction
