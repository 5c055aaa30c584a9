"""All randomness, drawn on the host from seeded PCG64 generators.

Initial weights, dropout masks, shuffles and ``randn`` come from here and are then
moved to the backend, so NumPy and cuPyNumeric runs with one seed start identical.

``tw.Generator`` is torch's generator object: ``manual_seed``, ``seed``, ``initial_seed``,
``get_state``/``set_state`` and ``device``. Every random function takes one through
``generator=``; without it they draw from ``tw.default_generator``, the one ``tw.manual_seed``
seeds. The numbers differ from torch's (another bit generator); a seed fixes them all the same.
"""
from __future__ import annotations

import numpy as np

#: torch's default seed of a fresh generator (``torch.Generator().initial_seed()``).
DEFAULT_SEED = 67280421310721


class Generator:
    """A host PCG64 generator (``numpy_generator``) with torch's interface.

    ``get_state()`` returns the state as a uint8 tensor (as torch's ByteTensor state) that
    ``set_state`` takes back: 16 bytes of PCG64 state, 16 of increment, 1 flag, 4 of a
    buffered 32-bit value.
    """

    def __init__(self, device="cpu"):
        from tensorweaver import _device
        self.device = _device.check_device(device) if device is not None else _device.CURRENT
        self._initial_seed = DEFAULT_SEED
        self.numpy_generator = np.random.Generator(np.random.PCG64(DEFAULT_SEED))

    def manual_seed(self, seed):
        seed = int(seed)
        if not -0x8000_0000_0000_0000 <= seed <= 0xFFFF_FFFF_FFFF_FFFF:
            raise RuntimeError(f"Overflow when unpacking long long: seed {seed} must fit in 64 bits")
        seed &= 0xFFFF_FFFF_FFFF_FFFF        # negative seeds wrap, as in torch
        self._initial_seed = seed
        self.numpy_generator = np.random.Generator(np.random.PCG64(seed))
        return self

    def seed(self) -> int:
        """Seed from the operating system's entropy; returns the seed used."""
        seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
        self.manual_seed(seed)
        return seed

    def initial_seed(self) -> int:
        return self._initial_seed

    def get_state(self):
        from tensorweaver.tensor import Tensor
        s = self.numpy_generator.bit_generator.state
        raw = (s["state"]["state"].to_bytes(16, "little") + s["state"]["inc"].to_bytes(16, "little")
               + bytes([int(s["has_uint32"])]) + int(s["uinteger"]).to_bytes(4, "little"))
        return Tensor(np.frombuffer(raw, dtype=np.uint8).copy())

    def set_state(self, new_state):
        raw = bytes(np.asarray(new_state, dtype=np.uint8).tobytes())
        if len(raw) != 37:
            raise RuntimeError(f"set_state: expected a uint8 tensor of 37 bytes from get_state(), got {len(raw)}")
        self.numpy_generator.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": int.from_bytes(raw[:16], "little"), "inc": int.from_bytes(raw[16:32], "little")},
            "has_uint32": raw[32], "uinteger": int.from_bytes(raw[33:], "little")}
        return self

    def __repr__(self):
        return f"<tensorweaver.Generator object at {id(self):#x}>"


default_generator = Generator(None)
default_generator.numpy_generator = np.random.Generator(np.random.PCG64())
default_generator._initial_seed = None


def rng(generator=None) -> np.random.Generator:
    """The NumPy generator a draw uses: ``generator``'s (a ``tw.Generator`` or a NumPy
    ``Generator``), or the default one."""
    if generator is None:
        return default_generator.numpy_generator
    if isinstance(generator, Generator):
        return generator.numpy_generator
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"generator must be a tw.Generator, got {type(generator).__name__}")


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (like ``torch.manual_seed``); returns it."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the default generator non-deterministically; returns the seed."""
    return default_generator.seed()


def initial_seed():
    return default_generator.initial_seed()


def generator() -> np.random.Generator:
    """The host generator every draw without ``generator=`` uses."""
    return default_generator.numpy_generator


def get_rng_state():
    """The default generator's state (a uint8 tensor), as ``torch.get_rng_state``."""
    return default_generator.get_state()


def set_rng_state(state) -> None:
    if isinstance(state, dict):          # the NumPy state dict earlier versions returned
        default_generator.numpy_generator.bit_generator.state = state
        return
    default_generator.set_state(state)
