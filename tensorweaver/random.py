"""All randomness, drawn on the host from one seeded PCG64 generator.

Initial weights, dropout masks, shuffles and ``randn`` come from here and are then
moved to the backend, so NumPy and cuPyNumeric runs with one seed start identical.
"""
from __future__ import annotations

import numpy as np

_generator = [np.random.Generator(np.random.PCG64())]
_seed = [None]


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the global generator (like ``torch.manual_seed``); returns it."""
    seed = int(seed)
    _seed[0] = seed
    _generator[0] = np.random.Generator(np.random.PCG64(seed))
    return _generator[0]


def initial_seed():
    return _seed[0]


def generator() -> np.random.Generator:
    """The host generator every random draw uses."""
    return _generator[0]


def get_rng_state() -> dict:
    return _generator[0].bit_generator.state


def set_rng_state(state: dict) -> None:
    _generator[0].bit_generator.state = state
