"""``tw.backends.cuda``: ``matmul.allow_tf32`` and friends, accepted with no effect.

cuPyNumeric decides its own matmul precision; the parity suite runs with TF32 off.
"""
import types

#: ``tw.backends.cuda.matmul.allow_tf32 = True`` is accepted (torch's default is False).
matmul = types.SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True,
                               allow_bf16_reduced_precision_reduction=True)


def is_built() -> bool:
    """Whether CUDA is usable in this process (cuPyNumeric in Legate GPU mode)."""
    from tensorweaver import _device
    return _device.is_cuda_available()
