"""``tw.backends.mps``: Apple's Metal backend, which tensorweaver never runs on."""


def is_available() -> bool:
    return False


def is_built() -> bool:
    return False
