"""``tw.backends``: torch's backend switches, accepted so PyTorch code runs unchanged.

``mps`` is never available; the ``cudnn`` and ``cuda.matmul`` flags can be read and set but
change nothing (tensorweaver does not call cuDNN; cuPyNumeric's matmul precision is its own).
Not to be confused with ``tensorweaver.backend``, the NumPy/cuPyNumeric array seam.
"""
from tensorweaver.backends import cuda, cudnn, mps  # noqa: F401
