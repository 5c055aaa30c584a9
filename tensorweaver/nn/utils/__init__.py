"""``tensorweaver.nn.utils``: gradient clipping and parameter/vector conversion."""
from tensorweaver.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_
from tensorweaver.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters
from tensorweaver.nn.utils import rnn  # noqa: F401  (pad_sequence, pack_padded_sequence, ...)

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]
