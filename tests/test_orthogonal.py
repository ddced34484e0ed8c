"""Orthogonal weights (NoisyNetwork(weights="orthogonal")): the draw, its use everywhere, and the Gram sampler's refusal."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nsp_helpers.errors import InvalidParameterError
from nsp_helpers.forward import draw_weights_, forward
from nsp_helpers.network import NoisyNetwork
from nsp_helpers.noise import Dropout


@pytest.mark.parametrize("shape", [(40, 40), (60, 25), (25, 60)])
def test_orthogonal_draw_is_scaled_orthonormal(shape):
    std = 0.3
    w = draw_weights_(torch.empty(shape, dtype=torch.float64), 11, 2, std, kind="orthogonal")
    fan_in, fan_out = shape
    gram = w.T @ w if fan_in >= fan_out else w @ w.T
    scale2 = std**2 * max(shape)
    torch.testing.assert_close(gram, torch.eye(min(shape), dtype=torch.float64) * scale2, atol=1e-10, rtol=0)
    assert (w**2).mean().item() == pytest.approx(std**2, rel=1e-10)  # the Gaussian draw's mean square


def test_orthogonal_draw_is_reproducible_and_differs_from_gaussian():
    a = draw_weights_(torch.empty(30, 30), 5, 1, 0.2, kind="orthogonal")
    b = draw_weights_(torch.empty(30, 30), 5, 1, 0.2, kind="orthogonal")
    g = draw_weights_(torch.empty(30, 30), 5, 1, 0.2)
    assert torch.equal(a, b) and not torch.allclose(a, g)
    with pytest.raises(InvalidParameterError, match="kind must be"):
        draw_weights_(torch.empty(3, 3), 5, 1, 0.2, kind="uniform")


def test_default_gaussian_draw_unchanged_by_the_kind_argument():
    a = draw_weights_(torch.empty(20, 30), 3, 4, 0.5)
    b = draw_weights_(torch.empty(20, 30), 3, 4, 0.5, "gaussian")
    assert torch.equal(a, b)


def test_network_field_and_module():
    net = NoisyNetwork(Dropout(keep_prob=0.9), 1.5, 0.05, "tanh", width=32, n_layers=3, weights="orthogonal")
    assert net.weights == "orthogonal" and "orthogonal" in net.label
    assert net.replace(n_layers=5).weights == "orthogonal"
    model = net.module(n_networks=2, seed=1, device="cpu")
    w = model.weights[1][0].detach().double()  # a square hidden layer: norms scaled by sigma_w exactly
    torch.testing.assert_close(w.T @ w, torch.eye(32, dtype=torch.float64) * 1.5, atol=1e-5, rtol=0)
    # the forward pass draws the same weights as the module for the same seed
    x = torch.randn(4, 32)
    out = forward(net, x, seed=1, n_networks=2, train=False, device="cpu", keep_weights=True)
    torch.testing.assert_close(out.weights[1], model.weights[1].detach())
    with pytest.raises(InvalidParameterError, match="weights must be one of"):
        NoisyNetwork(weights="uniform")


def test_gram_sampler_refuses_orthogonal_weights_and_auto_avoids_it():
    net = NoisyNetwork(Dropout(keep_prob=0.9), 1.0, 0.0, "tanh", width=200, n_layers=3, weights="orthogonal")
    x = torch.randn(2, 200)
    with pytest.raises(InvalidParameterError, match="orthogonal weights"):
        forward(net, x, device="cpu", method="gram")
    assert forward(net, x, device="cpu", method="auto").method == "weights"
    assert forward(net.replace(weights="gaussian"), x, device="cpu", method="auto").method == "gram"


def test_orthogonal_square_layers_preserve_norms_without_noise():
    net = NoisyNetwork(None, 1.0, 0.0, "linear", width=64, n_layers=6, weights="orthogonal")
    x = torch.randn(3, 64, dtype=torch.float64)
    out = forward(net, x, n_networks=2, device="cpu", dtype=torch.float64, method="weights")
    torch.testing.assert_close(out.output.norm(dim=-1), x.norm(dim=-1).expand(2, 3))


def test_independent_backward_weights_are_orthogonal_too():
    from nsp_helpers.simulate import gradient_statistics

    net = NoisyNetwork(Dropout(keep_prob=0.9), 1.4, 0.1, "tanh", width=40, n_layers=4, weights="orthogonal")
    a = gradient_statistics(net, n_networks=2, backward="independent", device="cpu")
    b = gradient_statistics(net.replace(weights="gaussian"), n_networks=2, backward="independent", device="cpu")
    assert np.allclose(a.q_aa, a.q_aa) and not np.allclose(a.g_aa, b.g_aa)
    assert math.isfinite(float(a.g_aa.sum()))
