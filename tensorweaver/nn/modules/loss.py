"""Loss modules. Each stores its options and calls ``nn.functional``; class weights are
registered as buffers (so they appear in ``state_dict``), as in torch."""
from __future__ import annotations

from tensorweaver.nn import functional as F
from tensorweaver.nn.modules.module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        F._check_reduction(reduction)
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.register_buffer("weight", weight)


class MSELoss(_Loss):
    r"""Mean squared error :math:`(x_n - y_n)^2`, averaged ('mean'), summed ('sum') or
    per element ('none').

    Shape:
        - Input: :math:`(*)`; Target: :math:`(*)`, same shape as the input.
        - Output: scalar, or :math:`(*)` with ``reduction='none'``.
    """

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    r"""Mean absolute error :math:`|x_n - y_n|`.

    Shape:
        - Input: :math:`(*)`; Target: :math:`(*)`, same shape as the input.
        - Output: scalar, or :math:`(*)` with ``reduction='none'``.
    """

    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    r"""Cross entropy between unnormalized logits and targets (``log_softmax`` + NLL, fused).

    Args:
        weight: a rescaling weight given to each class, a tensor of size `C`
        ignore_index: a target value that is ignored and does not contribute to the
            gradient (class-index targets only). Default: -100
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. With class indices, ``'mean'``
            divides by the summed weights of the non-ignored targets. Default: ``'mean'``
        label_smoothing: in [0.0, 1.0]; mixes the targets with a uniform distribution. Default: 0.0

    Shape:
        - Input: :math:`(C)`, :math:`(N, C)` or :math:`(N, C, d_1, ..., d_K)`.
        - Target: class indices :math:`()`, :math:`(N)` or :math:`(N, d_1, ..., d_K)` (integer,
          in :math:`[0, C)`), or class probabilities with the input's shape (float).
        - Output: scalar; with ``reduction='none'`` :math:`()`, :math:`(N)` or
          :math:`(N, d_1, ..., d_K)`.
    """

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(weight, reduction)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    r"""Negative log likelihood of log-probabilities (e.g. from ``LogSoftmax``):
    :math:`-w_{y_n} x_{n, y_n}`.

    Shape:
        - Input: :math:`(C)`, :math:`(N, C)` or :math:`(N, C, d_1, ..., d_K)`.
        - Target: :math:`()`, :math:`(N)` or :math:`(N, d_1, ..., d_K)` integer class indices.
        - Output: scalar, or the target's shape with ``reduction='none'``.
    """

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class BCELoss(_WeightedLoss):
    r"""Binary cross entropy between probabilities and targets:
    :math:`-w_n [y_n \log x_n + (1 - y_n) \log (1 - x_n)]` (logs clamped at -100).

    Shape:
        - Input: :math:`(*)` in [0, 1]; Target: :math:`(*)`, same shape as the input.
        - Output: scalar, or :math:`(*)` with ``reduction='none'``.
    """

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    r"""``Sigmoid`` + binary cross entropy in one numerically stable step:
    :math:`-w_n [p_c y_n \log \sigma(x_n) + (1 - y_n) \log (1 - \sigma(x_n))]`.

    Args:
        weight: a rescaling weight broadcast to the input's shape
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``
        pos_weight: a weight of positive examples per class (broadcast along the last dim)

    Shape:
        - Input: :math:`(*)` logits; Target: :math:`(*)`, same shape as the input.
        - Output: scalar, or :math:`(*)` with ``reduction='none'``.
    """

    def __init__(self, weight=None, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)
