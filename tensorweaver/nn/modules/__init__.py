"""The layer and loss modules of ``tensorweaver.nn`` (one concept per file, as torch's)."""
from tensorweaver.nn.modules.activation import (
    GELU, LeakyReLU, LogSoftmax, MultiheadAttention, ReLU, Sigmoid, SiLU, Softmax, Tanh,
)
from tensorweaver.nn.modules.activation_more import (
    CELU, ELU, GLU, SELU, Hardsigmoid, Hardswish, Hardtanh, LogSigmoid, Mish, PReLU, ReLU6, Softplus, Softsign,
    Threshold,
)
from tensorweaver.nn.modules.batchnorm import BatchNorm1d, BatchNorm2d
from tensorweaver.nn.modules.container import ModuleDict, ModuleList, Sequential
from tensorweaver.nn.modules.conv import Conv2d
from tensorweaver.nn.modules.conv_family import Conv1d, ConvTranspose1d, ConvTranspose2d
from tensorweaver.nn.modules.distance import Bilinear, CosineSimilarity, PairwiseDistance
from tensorweaver.nn.modules.dropout import Dropout, Dropout2d
from tensorweaver.nn.modules.flatten import Flatten, Unflatten
from tensorweaver.nn.modules.linear import Identity, Linear
from tensorweaver.nn.modules.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from tensorweaver.nn.modules.loss_more import (
    CosineEmbeddingLoss, GaussianNLLLoss, HingeEmbeddingLoss, HuberLoss, KLDivLoss, MarginRankingLoss,
    MultiLabelSoftMarginLoss, PoissonNLLLoss, SmoothL1Loss, TripletMarginLoss,
)
from tensorweaver.nn.modules.module import Module
from tensorweaver.nn.modules.normalization import LayerNorm
from tensorweaver.nn.modules.normalization_more import GroupNorm, InstanceNorm1d, InstanceNorm2d
from tensorweaver.nn.modules.padding import (
    CircularPad1d, CircularPad2d, ConstantPad1d, ConstantPad2d, ReflectionPad1d, ReflectionPad2d, ReplicationPad1d,
    ReplicationPad2d, ZeroPad1d, ZeroPad2d,
)
from tensorweaver.nn.modules.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from tensorweaver.nn.modules.pooling_family import (
    AdaptiveAvgPool1d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d, MaxPool1d,
)
from tensorweaver.nn.modules.resample import (
    Fold, PixelShuffle, PixelUnshuffle, Unfold, Upsample, UpsamplingBilinear2d, UpsamplingNearest2d,
)
from tensorweaver.nn.modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from tensorweaver.nn.modules.sparse import Embedding
from tensorweaver.nn.modules.transformer import (
    Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer,
)

__all__ = [
    "Module", "Identity", "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Dropout", "Dropout2d", "Embedding", "MultiheadAttention",
    "Flatten", "Unflatten", "Sequential", "ModuleList", "ModuleDict",
    "ReLU", "LeakyReLU", "GELU", "Tanh", "Sigmoid", "SiLU", "Softmax", "LogSoftmax",
    "MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
]
__all__ += ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]
__all__ += ["Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
            "TransformerDecoderLayer"]
__all__ += [  # convolution family
    "Conv1d", "ConvTranspose1d", "ConvTranspose2d", "MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
    "PixelShuffle", "PixelUnshuffle", "Unfold", "Fold", "ZeroPad1d", "ZeroPad2d", "ConstantPad1d",
    "ConstantPad2d", "ReflectionPad1d", "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d",
    "CircularPad1d", "CircularPad2d",
]
__all__ += [  # more layers and losses
    "ELU", "SELU", "CELU", "Softplus", "Softsign", "Hardtanh", "ReLU6", "Hardswish", "Hardsigmoid", "Mish",
    "LogSigmoid", "Threshold", "GLU", "PReLU", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "Bilinear",
    "CosineSimilarity", "PairwiseDistance", "SmoothL1Loss", "HuberLoss", "KLDivLoss", "PoissonNLLLoss",
    "GaussianNLLLoss", "MarginRankingLoss", "HingeEmbeddingLoss", "CosineEmbeddingLoss", "TripletMarginLoss",
    "MultiLabelSoftMarginLoss",
]
