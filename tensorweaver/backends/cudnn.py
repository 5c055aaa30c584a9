"""``tw.backends.cudnn``: torch's cuDNN flags, accepted with torch's defaults and no effect.

tensorweaver does not use cuDNN (convolutions are im2col + matmul on the array backend), so
``benchmark``, ``deterministic``, ``enabled`` and ``allow_tf32`` change nothing, and
``is_available()`` is False.
"""
benchmark = False
deterministic = False
enabled = True
allow_tf32 = True


def is_available() -> bool:
    return False


def version():
    return None
