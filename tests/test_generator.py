"""tw.Generator and generator= on every random function, samplers and random_split."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver.utils.data import DataLoader, RandomSampler, TensorDataset, random_split

pytestmark = pytest.mark.unit


def _g(seed=5):
    return tw.Generator().manual_seed(seed)


DRAWS = {
    "rand": lambda g: tw.rand(3, 4, generator=g),
    "randn": lambda g: tw.randn(3, 4, generator=g),
    "randint": lambda g: tw.randint(0, 100, (5,), generator=g),
    "randperm": lambda g: tw.randperm(10, generator=g),
    "normal_tensors": lambda g: tw.normal(tw.zeros(4), tw.ones(4) * 2, generator=g),
    "normal_size": lambda g: tw.normal(1.0, 0.5, size=(2, 3), generator=g),
    "poisson": lambda g: tw.poisson(tw.full((6,), 3.0), generator=g),
    "bernoulli": lambda g: tw.bernoulli(tw.full((8,), 0.3), generator=g),
    "multinomial": lambda g: tw.multinomial(tw.tensor([[1.0, 2.0, 3.0, 4.0]]), 3, generator=g),
    "rand_like": lambda g: tw.rand_like(tw.zeros(3), generator=g),
    "randn_like": lambda g: tw.randn_like(tw.zeros(3), generator=g),
    "randint_like": lambda g: tw.randint_like(tw.zeros(3), 0, 9, generator=g),
    "normal_": lambda g: tw.zeros(5).normal_(generator=g),
    "uniform_": lambda g: tw.zeros(5).uniform_(-1, 1, generator=g),
    "bernoulli_": lambda g: tw.zeros(5).bernoulli_(0.5, generator=g),
    "exponential_": lambda g: tw.zeros(5).exponential_(2.0, generator=g),
    "geometric_": lambda g: tw.zeros(5).geometric_(0.3, generator=g),
    "log_normal_": lambda g: tw.zeros(5).log_normal_(generator=g),
    "cauchy_": lambda g: tw.zeros(5).cauchy_(generator=g),
    "random_": lambda g: tw.zeros(5).random_(0, 50, generator=g),
    "random_split": lambda g: tw.tensor([s.indices for s in random_split(range(10), [4, 6], generator=g)][0]),
    "RandomSampler": lambda g: tw.tensor(list(RandomSampler(range(10), generator=g))),
}


@pytest.mark.parametrize("name", DRAWS)
def test_a_seeded_generator_fixes_the_draw_and_leaves_the_default_alone(name):
    tw.manual_seed(0)
    before = tw.get_rng_state()
    first = DRAWS[name](_g()).numpy()
    assert (tw.get_rng_state().numpy() == before.numpy()).all(), "the default generator moved"
    np.testing.assert_array_equal(DRAWS[name](_g()).numpy(), first)
    other = DRAWS[name](_g(6)).numpy()
    assert first.shape == other.shape


def test_state_round_trip_and_torch_interface():
    torch = pytest.importorskip("torch")
    g = tw.Generator()
    assert g.initial_seed() == torch.Generator().initial_seed()
    assert str(g.device) == str(torch.Generator().device)
    assert g.manual_seed(7) is g and g.initial_seed() == 7
    state = g.get_state()
    assert state.dtype == tw.uint8
    a = tw.randn(4, generator=g)
    g.set_state(state)
    np.testing.assert_array_equal(tw.randn(4, generator=g).numpy(), a.numpy())
    s = g.seed()
    assert g.initial_seed() == s
    assert g.manual_seed(-1).initial_seed() == torch.Generator().manual_seed(-1).initial_seed()
    assert isinstance(tw.manual_seed(3), tw.Generator) and tw.initial_seed() == 3
    with pytest.raises(RuntimeError, match="37 bytes"):
        g.set_state(tw.zeros(3, dtype=tw.uint8))
    with pytest.raises(TypeError, match="tw.Generator"):
        tw.rand(2, generator="seed")


def test_default_generator_is_what_manual_seed_seeds():
    tw.manual_seed(11)
    a = tw.rand(3)
    tw.default_generator.manual_seed(11)
    np.testing.assert_array_equal(tw.rand(3).numpy(), a.numpy())
    state = tw.get_rng_state()
    b = tw.randn(2)
    tw.set_rng_state(state)
    np.testing.assert_array_equal(tw.randn(2).numpy(), b.numpy())


def test_dropout_masks_use_the_default_generator():
    tw.manual_seed(1)
    a = tw.nn.functional.dropout(tw.ones(50), 0.5, training=True)
    tw.manual_seed(1)
    g = _g(99)
    tw.rand(3, generator=g)                 # a private generator does not change the mask
    b = tw.nn.functional.dropout(tw.ones(50), 0.5, training=True)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_dataloader_shuffles_with_a_generator():
    data = TensorDataset(tw.arange(20))
    order = [b[0].tolist() for b in DataLoader(data, batch_size=5, shuffle=True, generator=_g())]
    again = [b[0].tolist() for b in DataLoader(data, batch_size=5, shuffle=True, generator=_g())]
    assert order == again and sorted(sum(order, [])) == list(range(20))


def test_distributions_have_the_right_moments():
    g = _g(2)
    n = 200_000
    assert abs(tw.normal(2.0, 3.0, size=(n,), generator=g).mean().item() - 2.0) < 0.05
    assert abs(tw.poisson(tw.full((n,), 4.0), generator=g).mean().item() - 4.0) < 0.05
    assert abs(tw.bernoulli(tw.full((n,), 0.3), generator=g).mean().item() - 0.3) < 0.01
    assert abs(tw.empty(n).exponential_(2.0, generator=g).mean().item() - 0.5) < 0.01
    assert abs(tw.empty(n).geometric_(0.25, generator=g).mean().item() - 4.0) < 0.05
    counts = np.bincount(tw.multinomial(tw.tensor([1.0, 3.0]), n, replacement=True, generator=g).numpy())
    assert abs(counts[1] / n - 0.75) < 0.01
    rows = tw.multinomial(tw.tensor([[1.0, 1.0, 1.0, 0.0]] * 50), 3, generator=g).numpy()
    assert all(sorted(r) == [0, 1, 2] for r in rows)          # without replacement
    perm = tw.randperm(100, generator=g)
    assert perm.dtype == tw.int64 and sorted(perm.tolist()) == list(range(100))


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(RuntimeError, match="n_sample > prob_dist"):
        tw.multinomial(tw.tensor([1.0, 0.0]), 2)
    with pytest.raises(RuntimeError, match="std >= 0"):
        tw.normal(tw.zeros(2), -tw.ones(2))
    with pytest.raises(TypeError, match="size="):
        tw.normal(0.0, 1.0)
    with pytest.raises(RuntimeError, match=r"\[0, 1\]"):
        tw.bernoulli(tw.full((2,), 1.5))
