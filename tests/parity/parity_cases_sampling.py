"""Parity cases for random sampling with ``tw.Generator`` (ops/sampling.py): every draw is
made on the host, so both backends must hold exactly the same numbers."""
from __future__ import annotations

import tensorweaver as tw
from parity_cases import case


@case("sampling.generator")
def generator_draws(dtype):
    g = tw.Generator().manual_seed(4)
    d = getattr(tw, dtype)
    x = tw.zeros(6, dtype=d)
    return {
        "randn": tw.randn(3, 4, generator=g, dtype=d).numpy(),
        "randperm": tw.randperm(9, generator=g).numpy(),
        "normal": tw.normal(tw.zeros(5, dtype=d), tw.ones(5, dtype=d), generator=g).numpy(),
        "poisson": tw.poisson(tw.full((5,), 3.0, dtype=d), generator=g).numpy(),
        "bernoulli": tw.bernoulli(tw.full((7,), 0.4, dtype=d), generator=g).numpy(),
        "multinomial": tw.multinomial(tw.tensor([[1.0, 2.0, 3.0]], dtype=d), 2, generator=g).numpy(),
        "fills": (x.exponential_(generator=g) + x.clone().cauchy_(generator=g)
                  + x.clone().uniform_(generator=g) + x.clone().normal_(generator=g)).numpy(),
    }
