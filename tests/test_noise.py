"""nsp_helpers.noise: moments, sampling, families, conversions and errors."""

import numpy as np
import pytest
import torch

from nsp_helpers.errors import InvalidParameterError
from nsp_helpers.noise import (
    AdditiveGaussian,
    AdditiveLaplace,
    Dropout,
    MultiplicativeGaussian,
    MultiplicativeLaplace,
    MultiplicativePoisson,
    NoNoise,
)

MULTIPLICATIVE = [
    (Dropout(keep_prob=0.6), 1 / 0.6),
    (Dropout(keep_prob=0.1), 10.0),
    (MultiplicativeGaussian(std=0.25), 1.0625),
    (MultiplicativeGaussian(std=2.0), 5.0),
    (MultiplicativeLaplace(scale=0.5), 1.5),
    (MultiplicativePoisson(), 2.0),
    (MultiplicativePoisson(rate=4.0), 1.25),
    (NoNoise(), 1.0),
]
ADDITIVE = [(AdditiveGaussian(std=1.0), 1.0), (AdditiveGaussian(std=0.5), 0.25), (AdditiveLaplace(scale=1.0), 2.0)]


@pytest.mark.parametrize("model, mu2", MULTIPLICATIVE)
def test_multiplicative_moments_closed_form_and_sampled(model, mu2):
    assert model.mu2 == pytest.approx(mu2)
    assert model.additive_variance == 0.0
    eps = model.sample((1000, 1000), generator=torch.Generator().manual_seed(0)).double()
    # 10^6 draws; relative standard error of E[eps^2] is sqrt(Var[eps^2])/mu2/1000 (Dropout 0.1 is the worst, ~0.3 %)
    assert eps.mean().item() == pytest.approx(1.0, abs=0.01)
    assert (eps**2).mean().item() == pytest.approx(mu2, rel=0.015)


@pytest.mark.parametrize("model, variance", ADDITIVE)
def test_additive_moments_closed_form_and_sampled(model, variance):
    assert model.variance == pytest.approx(variance)
    assert model.additive_variance == pytest.approx(variance)
    assert model.mu2 == 1.0
    eps = model.sample((1000, 1000), generator=torch.Generator().manual_seed(1)).double()
    assert eps.mean().item() == pytest.approx(0.0, abs=0.01)
    assert eps.var().item() == pytest.approx(variance, rel=0.015)


def test_apply_multiplies_or_adds():
    x = torch.full((200, 500), 3.0)
    g = torch.Generator().manual_seed(2)
    dropped = Dropout(keep_prob=0.5).apply(x, generator=g)
    assert set(dropped.unique().tolist()) == {0.0, 6.0}
    shifted = AdditiveGaussian(std=1.0).apply(x, generator=g)
    assert (shifted - 3.0).std().item() == pytest.approx(1.0, rel=0.02)
    assert NoNoise().apply(x) is x


def test_sampling_is_reproducible():
    a = Dropout(0.7).sample((50, 60), generator=torch.Generator().manual_seed(3))
    b = Dropout(0.7).sample((50, 60), generator=torch.Generator().manual_seed(3))
    c = Dropout(0.7).sample((50, 60), generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_family_shapes_moments_and_indexing():
    family = Dropout(keep_prob=np.linspace(0.1, 1.0, 10))
    assert family.shape == (10,) and len(family) == 10
    np.testing.assert_allclose(family.mu2, 1 / np.linspace(0.1, 1.0, 10))
    assert family[5] == Dropout(keep_prob=0.6)
    assert [m.keep_prob for m in family][-1] == 1.0
    eps = family.sample((400, 500), generator=torch.Generator().manual_seed(5)).double()
    assert eps.shape == (10, 400, 500)
    np.testing.assert_allclose((eps**2).mean(dim=(1, 2)).numpy(), family.mu2, rtol=0.03)
    with pytest.raises(TypeError):
        len(Dropout(0.5))


def test_scalar_parameters_read_back_as_floats():
    assert isinstance(Dropout(0.6).keep_prob, float)
    assert isinstance(MultiplicativeGaussian(0.25).std, float)
    assert f"{Dropout(0.6).keep_prob:.1f}" == "0.6"


def test_keep_and_drop_conventions():
    assert Dropout.from_drop_prob(0.4).keep_prob == pytest.approx(0.6)
    assert Dropout(0.6).drop_prob == pytest.approx(0.4)
    converted = Dropout.from_torch(torch.nn.Dropout(p=0.4))
    assert converted.keep_prob == pytest.approx(0.6) and converted.mu2 == pytest.approx(1 / 0.6)
    module = Dropout(0.6).to_torch()
    assert isinstance(module, torch.nn.Dropout) and module.p == pytest.approx(0.4)
    # torch's train-mode dropout has the same second moment as ours: E[eps^2] = 1/keep_prob
    torch.manual_seed(0)
    eps = module.train()(torch.ones(1000, 1000)).double()
    assert (eps**2).mean().item() == pytest.approx(Dropout(0.6).mu2, rel=0.01)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Dropout(keep_prob=0.0), r"keep_prob must be in \(0, 1\].*KEEPING"),
        (lambda: Dropout(keep_prob=1.5), r"keep_prob must be in \(0, 1\]"),
        (lambda: Dropout(keep_prob=float("nan")), "keep_prob must be finite"),
        (lambda: Dropout.from_drop_prob(1.0), r"drop_prob must be in \[0, 1\)"),
        (lambda: Dropout.from_torch(torch.nn.ReLU()), "torch.nn.Dropout"),
        (lambda: Dropout([0.5, 0.6]).to_torch(), "single keep_prob"),
        (lambda: MultiplicativeGaussian(std=-0.1), r"std must be in \[0, inf\)"),
        (lambda: AdditiveGaussian(std=float("inf")), "std must be finite"),
        (lambda: MultiplicativeLaplace(scale=-1), r"scale must be in \[0, inf\)"),
        (lambda: AdditiveLaplace(scale="big"), "scale must be a real number"),
        (lambda: MultiplicativePoisson(rate=0.0), r"rate must be in \(0, inf\)"),
    ],
)
def test_bad_parameters_name_the_parameter_and_range(make, match):
    with pytest.raises(InvalidParameterError, match=match):
        make()
    assert issubclass(InvalidParameterError, ValueError)


# --- fourth moment mu4 = E[eps^4] (finite-width theory) -------------------------------------------------------
MU4 = [
    (Dropout(keep_prob=0.5), 8.0),
    (Dropout(keep_prob=0.8), 1 / 0.8**3),
    (MultiplicativeGaussian(std=1.0), 10.0),
    (MultiplicativeGaussian(std=0.3), 1 + 6 * 0.09 + 3 * 0.0081),
    (MultiplicativeLaplace(scale=0.5), 5.5),
    (MultiplicativePoisson(), 15.0),
    (MultiplicativePoisson(rate=4.0), 1 + 6 / 4 + 7 / 16 + 1 / 64),
    (NoNoise(), 1.0),
]


def _mu4_mpmath(model):
    """E[eps^4] by high-precision quadrature/summation over the noise distribution (independent of noise.py)."""
    import mpmath as mp

    mp.mp.dps = 30
    if isinstance(model, MultiplicativeGaussian):
        s = mp.mpf(model.std)
        return mp.quad(lambda e: e**4 * mp.npdf(e, 1, s), [-mp.inf, 1, mp.inf])
    if isinstance(model, MultiplicativeLaplace):
        b = mp.mpf(model.scale)
        return mp.quad(lambda x: (1 + x) ** 4 * mp.exp(-abs(x) / b) / (2 * b), [-mp.inf, 0, mp.inf])
    if isinstance(model, MultiplicativePoisson):
        lam = mp.mpf(model.rate)
        return mp.nsum(lambda k: mp.exp(-lam) * lam**k / mp.factorial(k) * (k / lam) ** 4, [0, mp.inf])
    if isinstance(model, Dropout):
        p = mp.mpf(model.keep_prob)
        return p * (1 / p) ** 4
    return mp.mpf(1)


@pytest.mark.parametrize("model, mu4", MU4)
def test_mu4_closed_form_matches_mpmath_and_monte_carlo(model, mu4):
    assert model.mu4 == pytest.approx(mu4, rel=1e-14)
    assert model.mu4 == pytest.approx(float(_mu4_mpmath(model)), rel=1e-12)
    assert isinstance(model.mu4, float)
    # 4 * 10^6 draws in float64. The standard error of the sample mean of eps^4 is sqrt((mu8 - mu4^2) / n);
    # the worst case here (Poisson rate 1: mu8 = Bell number B8 = 4140) gives a relative standard error of 0.21 %,
    # Gaussian std 1 (mu8 = 764) 0.13 %: rel=0.01 is more than 4 standard errors for every model.
    eps = model.sample((2000, 2000), generator=torch.Generator().manual_seed(14), dtype=torch.float64)
    assert (eps**4).mean().item() == pytest.approx(mu4, rel=0.01)


def test_mu4_broadcasts_over_families_and_is_one_for_additive_noise():
    keep = np.array([0.25, 0.5, 1.0])
    np.testing.assert_allclose(Dropout(keep_prob=keep).mu4, 1 / keep**3)
    std = np.array([[0.0], [1.0]])
    np.testing.assert_allclose(MultiplicativeGaussian(std=std).mu4, [[1.0], [10.0]])
    assert MultiplicativePoisson(rate=[1.0, 2.0]).mu4.shape == (2,)
    assert Dropout(keep_prob=keep)[1].mu4 == 8.0
    # additive noise has no multiplicative factor (eps = 1), consistently with mu2 = 1
    assert AdditiveGaussian(std=2.0).mu4 == 1.0 and AdditiveLaplace(scale=1.0).mu4 == 1.0
    # Jensen: mu4 >= mu2^2 for every model, with equality only without noise
    for model, _ in MU4:
        assert model.mu4 >= model.mu2**2 - 1e-12
    assert NoNoise().mu4 == NoNoise().mu2**2
