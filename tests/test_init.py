"""nsp_helpers.init: noise-aware critical initialisation for torch models."""

import math

import numpy as np
import pytest
import torch

from nsp_helpers import init, theory
from nsp_helpers.errors import InvalidParameterError, NoCriticalPointError
from nsp_helpers.noise import AdditiveGaussian, Dropout, MultiplicativeGaussian, NoNoise


@pytest.mark.parametrize("drop_prob", [0.0, 0.1, 0.4, 0.5, 0.9])
def test_torch_dropout_is_converted_from_drop_to_keep(drop_prob):
    model = init.as_noise_model(torch.nn.Dropout(p=drop_prob))
    assert isinstance(model, Dropout)
    assert model.keep_prob == pytest.approx(1 - drop_prob)
    # the critical variance follows the KEEP probability: 2 * keep_prob, not 2 * drop_prob
    assert init.critical_gain(torch.nn.Dropout(p=drop_prob)) ** 2 == pytest.approx(2 * (1 - drop_prob))


def test_gain_matches_torch_for_noiseless_relu():
    assert init.critical_gain(None) == pytest.approx(torch.nn.init.calculate_gain("relu"))
    assert init.critical_gain(NoNoise()) == pytest.approx(math.sqrt(2))


def test_gain_for_gaussian_noise():
    noise = MultiplicativeGaussian(std=0.25)
    assert init.critical_gain(noise) ** 2 == pytest.approx(2 / 1.0625)


@pytest.mark.parametrize("keep_prob", [0.3, 0.6, 1.0])
def test_empirical_weight_variance(keep_prob):
    weight = torch.empty(2000, 1000)
    out = init.critical_init_(weight, Dropout(keep_prob=keep_prob), generator=torch.Generator().manual_seed(1))
    assert out is weight
    # 2e6 draws: relative standard error of the variance ~ sqrt(2/2e6) = 1e-3
    assert weight.var().item() * 1000 == pytest.approx(2 * keep_prob, rel=5e-3)
    assert abs(weight.mean().item()) < 5 * math.sqrt(2 * keep_prob / 1000 / 2e6)


def test_module_traversal_initialises_linear_layers_only_and_zeroes_biases():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Dropout(p=0.4),
        torch.nn.Linear(500, 800),
        torch.nn.ReLU(),
        torch.nn.Dropout(p=0.4),
        torch.nn.Linear(800, 300),
        torch.nn.LayerNorm(300),
    )
    norm_before = model[5].weight.detach().clone()
    out = init.critical_init_(model, model[0], generator=torch.Generator().manual_seed(2))
    assert out is model
    for layer, fan_in in [(model[1], 500), (model[4], 800)]:
        assert layer.weight.var().item() * fan_in == pytest.approx(1.2, rel=0.02)
        assert torch.count_nonzero(layer.bias) == 0
    assert torch.equal(model[5].weight, norm_before)  # not a Linear layer: untouched


def test_reproducible_with_generator():
    a = init.critical_init_(torch.empty(50, 40), Dropout(0.8), generator=torch.Generator().manual_seed(5))
    b = init.critical_init_(torch.empty(50, 40), Dropout(0.8), generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_tanh_uses_the_noisy_edge_of_chaos():
    noise = Dropout(keep_prob=0.9)
    sigma_w2, sigma_b2 = init.critical_parameters(noise, "tanh")
    assert sigma_b2 == init.DEFAULT_SIGMA_B2
    # it maximises the correlation depth scale: nearby weight variances give a shorter one
    best = theory.depth_scale(noise, sigma_w2=sigma_w2, sigma_b2=sigma_b2, activation="tanh")
    for other in (0.8 * sigma_w2, 1.2 * sigma_w2):
        assert theory.depth_scale(noise, sigma_w2=other, sigma_b2=sigma_b2, activation="tanh") < best
    layer = init.critical_init_(torch.nn.Linear(1000, 1000), noise, "tanh", generator=torch.Generator().manual_seed(3))
    assert layer.weight.var().item() * 1000 == pytest.approx(sigma_w2, rel=0.02)
    assert layer.bias.var().item() == pytest.approx(sigma_b2, rel=0.2)


@pytest.mark.parametrize(
    "bad, match",
    [
        (0.4, "bare number is ambiguous"),
        ("dropout", "noise must be"),
        (Dropout(keep_prob=np.array([0.5, 0.6])), "single noise level"),
    ],
)
def test_bad_noise(bad, match):
    with pytest.raises(InvalidParameterError, match=match):
        init.critical_gain(bad)


def test_bad_inputs():
    with pytest.raises(NoCriticalPointError):
        init.critical_gain(AdditiveGaussian(std=1.0))
    with pytest.raises(InvalidParameterError, match="sigma_b2 must be 0"):
        init.critical_gain(Dropout(0.5), sigma_b2=0.1)
    with pytest.raises(InvalidParameterError, match="at least 2 dimensions"):
        init.critical_init_(torch.empty(10), Dropout(0.5))
    with pytest.raises(InvalidParameterError, match="no torch.nn.Linear"):
        init.critical_init_(torch.nn.ReLU(), Dropout(0.5))
    with pytest.raises(InvalidParameterError, match="torch.Tensor or torch.nn.Module"):
        init.critical_init_([1.0, 2.0], Dropout(0.5))
    with pytest.raises(InvalidParameterError, match="activation"):
        init.critical_gain(Dropout(0.5), activation="sigmoid")
