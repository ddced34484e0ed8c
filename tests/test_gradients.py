"""Tests of gradient statistics with tied weights (nsp_helpers.simulate.gradients, nsp_helpers.plots.gradients).

The manual references below are written from the backward recursion of the chapter,
delta^L = h^L, delta^l = eps^l * phi'(h^l) * (W^{l+1})^T delta^{l+1}, in float64 and independently
of the module (which uses autograd). Monte Carlo checks use width >= 500 and fixed seeds; their
tolerances are stated where they are used.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nsp_helpers import analysis, simulate, theory
from nsp_helpers.errors import InvalidParameterError
from nsp_helpers.noise import AdditiveGaussian, Dropout, MultiplicativeGaussian, NoNoise

CPU = "cpu"


def manual_backward(stats, activation):
    """Forward and backward by hand from the kept tensors of network 0: lists of h^{l-1}, x^{l-1}, delta^l."""
    t = stats.tensors
    act = {"tanh": (torch.tanh, lambda h: 1 - torch.tanh(h) ** 2),
           "relu": (torch.relu, lambda h: (h > 0).to(h.dtype)),
           "linear": (lambda h: h, lambda h: torch.ones_like(h))}[activation]
    n_layers = len(t["weights"])
    h, hs, xs = t["inputs"][0].double(), [], []
    for layer in range(n_layers):
        x = t["noise"][layer][0].double() * act[0](h)
        hs.append(h)
        xs.append(x)
        h = x @ t["weights"][layer][0].double().T + t["biases"][layer][0].double()
    deltas = [h]
    for layer in range(n_layers - 1, 0, -1):
        deltas.insert(0, t["noise"][layer][0].double() * act[1](hs[layer]) * (deltas[0] @ t["weights"][layer][0].double()))
    return hs, xs, deltas


@pytest.mark.parametrize("activation, noise", [("tanh", Dropout(keep_prob=0.7)), ("relu", MultiplicativeGaussian(std=0.5)),
                                               ("linear", NoNoise())])
def test_tied_statistics_match_a_manual_backward_pass(activation, noise):
    stats = simulate.gradient_statistics(noise, 1.3, 0.2, activation, n_layers=5, width=30, n_networks=2, n_pairs=2, seed=4,
                                          device=CPU, dtype=torch.float64, keep_tensors=True)
    _, xs, deltas = manual_backward(stats, activation)
    ia, ib = [0, 2], [1, 3]
    g_aa = np.array([((d**2).mean(-1) * (x**2).mean(-1)).numpy() for d, x in zip(deltas, xs)])
    g_ab = np.array([((d[ia] * d[ib]).mean(-1) * (x[ia] * x[ib]).mean(-1)).numpy() for d, x in zip(deltas, xs)])
    abs_ab = np.array([((d[ia] * d[ib]).abs().mean(-1) * (x[ia] * x[ib]).abs().mean(-1)).numpy()
                       for d, x in zip(deltas, xs)])
    np.testing.assert_allclose(stats.g_aa[:, 0], g_aa, rtol=1e-10)
    np.testing.assert_allclose(stats.g_ab[:, 0], g_ab, rtol=1e-10, atol=1e-12 * np.abs(g_aa).max())
    np.testing.assert_allclose(stats.abs_ab[:, 0], abs_ab, rtol=1e-10)


def test_outer_product_factorisation_matches_autograd_weight_gradients():
    stats = simulate.gradient_statistics(Dropout(keep_prob=0.8), 1.4, 0.1, "tanh", n_layers=4, width=25, n_networks=1, seed=1,
                                          device=CPU, dtype=torch.float64, keep_tensors=True)
    t = stats.tensors
    grads = []
    for i in (0, 1):  # input a alone, then input b alone
        weights = [w[0].clone().requires_grad_(True) for w in t["weights"]]
        h = t["inputs"][0][i]
        for layer in range(4):
            h = weights[layer] @ (t["noise"][layer][0][i] * torch.tanh(h)) + t["biases"][layer][0]
        grads.append(torch.autograd.grad(0.5 * (h**2).sum(), weights))
    for layer in range(4):
        ga, gb = grads[0][layer], grads[1][layer]
        assert (ga**2).mean().item() == pytest.approx(stats.g_aa[layer, 0, 0], rel=1e-10)
        assert (ga * gb).mean().item() == pytest.approx(stats.g_ab[layer, 0, 0], rel=1e-9, abs=1e-14)
        assert (ga * gb).abs().mean().item() == pytest.approx(stats.abs_ab[layer, 0, 0], rel=1e-10)


def test_independent_backward_uses_fresh_weights_and_same_forward():
    kwargs = dict(width=30, n_networks=2, seed=9, device=CPU, dtype=torch.float64)
    tied = simulate.gradient_statistics(Dropout(keep_prob=0.8), 1.4, 0.1, "tanh", n_layers=5, **kwargs)
    gia = simulate.gradient_statistics(Dropout(keep_prob=0.8), 1.4, 0.1, "tanh", n_layers=5, backward="independent", **kwargs)
    np.testing.assert_array_equal(tied.q_aa, gia.q_aa)  # same forward pass
    np.testing.assert_array_equal(tied.g_aa[-1], gia.g_aa[-1])  # same output layer (delta^L = h^L)
    assert not np.allclose(tied.g_aa[:-1], gia.g_aa[:-1])  # different weights below


def test_reproducible_and_seed_dependent():
    args = (Dropout(keep_prob=0.9), 1.4, 0.1, "tanh")
    a = simulate.gradient_statistics(*args, n_layers=6, width=40, n_networks=3, seed=2, device=CPU)
    b = simulate.gradient_statistics(*args, n_layers=6, width=40, n_networks=3, seed=2, device=CPU)
    c = simulate.gradient_statistics(*args, n_layers=6, width=40, n_networks=3, seed=3, device=CPU)
    for name in ("g_aa", "g_ab", "abs_ab", "q_aa", "delta_ab"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.g_aa, c.g_aa)
    # one network per chunk: same shapes, same forward statistics of the inputs' distribution
    d = simulate.gradient_statistics(*args, n_layers=6, width=40, n_networks=3, seed=2, device=CPU, chunk_bytes=1)
    assert d.g_aa.shape == a.g_aa.shape and np.all(np.isfinite(d.g_aa))


def test_linear_network_closed_forms_by_simulation():
    """Forward fixed points and the per-layer factor sigma_w2 / rho of g_aa (independent backward weights).

    8 networks x 4 inputs of width 500 over the 20 deepest of 40 layers: the standard error of the mean
    q is about 2 %, hence rtol 0.08.
    """
    noise = Dropout(keep_prob=0.9)
    closed = theory.linear_network_closed_forms(noise, 0.8, 0.1)
    assert closed.q_star == pytest.approx(0.1 / (1 - 0.8 / 0.9))
    assert closed.q_ab_star == pytest.approx(0.1 / (1 - 0.8))
    assert closed.chi_single == pytest.approx(0.8 / 0.9)
    # agrees with the general theory
    assert closed.q_star == pytest.approx(theory.variance_fixed_point(noise, 0.8, 0.1, "linear"), rel=1e-9)
    assert closed.chi_single == pytest.approx(theory.gradient_slope(noise, 0.8, 0.1, "linear"), rel=1e-12)
    stats = simulate.gradient_statistics(noise, 0.8, 0.1, "linear", n_layers=40, width=500, n_networks=8, n_pairs=2,
                                          seed=0, device=CPU, backward="independent")
    assert stats.q_aa[20:].mean() == pytest.approx(closed.q_star, rel=0.08)
    assert stats.q_ab[20:].mean() == pytest.approx(closed.q_ab_star, rel=0.08)
    fit = stats.fit("g_aa", 1, 35)
    assert fit.slope == pytest.approx(-math.log(closed.chi_single), abs=0.015)


def test_tanh_gradients_decay_at_chi1():
    """Huang et al.'s tanh setting, rho = 0.9, 60 layers of width 500, 3 networks: slope within 0.015 of -ln chi_1."""
    noise = Dropout(keep_prob=0.9)
    slopes = theory.gradient_slopes(noise, 1.4, 0.1, "tanh")
    stats = simulate.gradient_statistics(noise, 1.4, 0.1, "tanh", n_layers=60, width=500, n_networks=3, seed=1, device=CPU)
    assert stats.fit("g_aa").slope == pytest.approx(-math.log(slopes.chi_single), abs=0.015)
    assert stats.fit("abs_ab").slope == pytest.approx(-math.log(slopes.chi_single), abs=0.015)


def _log_slope(values):
    """Least-squares slope of ln(values) against the layer index."""
    return float(np.polyfit(np.arange(values.size), np.log(values), 1)[0])


def test_critical_relu_gives_flat_single_input_gradients():
    """chi_1 = 1: flat backward moments and g_aa under independent backward weights (width 500, 30 layers).

    10 networks x 8 inputs. A mis-initialised network (sigma_w2 15 % above critical) changes the
    backward moment by ln(1.15) = 0.14 per layer; the critical one stays within 0.03 per layer (at
    width 500 the sample mean of the heavy-tailed per-input moments drifts by about 0.01 per layer).
    For ReLU without biases g_aa stays flat even off criticality (forward growth and backward decay
    cancel), so the off-critical contrast uses the backward moment. With tied weights g_aa grows
    towards the input, but over the lower layers far slower than the mis-initialised 0.14.
    """
    noise = Dropout(keep_prob=0.6)
    assert theory.gradient_slope(noise) == 1.0
    kwargs = dict(width=500, n_networks=10, n_pairs=4, seed=0, device=CPU)
    gia = simulate.gradient_statistics(noise, 1.2, 0.0, "relu", n_layers=30, backward="independent", **kwargs)
    assert abs(_log_slope(gia.delta_aa.mean(axis=(1, 2)))) < 0.03
    assert abs(gia.fit("g_aa").slope) < 0.03
    off = simulate.gradient_statistics(noise, 1.2 * 1.15, 0.0, "relu", n_layers=30, backward="independent", **kwargs)
    assert _log_slope(off.delta_aa.mean(axis=(1, 2))) == pytest.approx(-math.log(1.15), abs=0.03)
    tied = simulate.gradient_statistics(noise, 1.2, 0.0, "relu", n_layers=30, **kwargs)
    assert abs(tied.fit("g_aa", 1, 15).slope) < 0.07


def test_pair_correlation_follows_gia_for_independent_weights():
    """Independent backward weights: r decays by chi(c*)/chi_1 per layer (tanh, rho = 0.9, width 500)."""
    noise = Dropout(keep_prob=0.9)
    s = theory.gradient_slopes(noise, 1.4, 0.1, "tanh")
    stats = simulate.gradient_statistics(noise, 1.4, 0.1, "tanh", n_layers=8, width=500, n_networks=4, n_pairs=8, seed=0,
                                          device=CPU, backward="independent")
    r = stats.pair_correlation().reshape(8, -1).mean(1)[::-1]
    assert r[0] == pytest.approx(s.c_star, abs=0.05)  # the output layer holds the forward correlation
    predicted = r[0] * (s.chi_pair / s.chi_single) ** np.arange(8)
    np.testing.assert_allclose(r, predicted, atol=0.06)


def test_gradient_slopes():
    s = theory.gradient_slopes(Dropout(keep_prob=0.6))
    assert s.chi_single == 1.0 and s.depth_scale_single == math.inf
    c = theory.correlation_fixed_point(Dropout(keep_prob=0.6))
    assert s.chi_pair == pytest.approx(0.6 * (0.5 + math.asin(c) / math.pi), rel=1e-12)
    assert s.depth_scale_pair == pytest.approx(theory.depth_scale(Dropout(keep_prob=0.6)), rel=1e-12)
    t = theory.gradient_slopes(NoNoise(), 1.4, 0.1, "tanh")
    assert t.chi_pair == pytest.approx(t.chi_single, rel=1e-9)  # c* = 1 without noise (ordered phase)


def test_universality_exponent_two_for_exact_power_law():
    stats = simulate.gradient_statistics(Dropout(keep_prob=0.9), 1.4, 0.1, "tanh", n_layers=3, width=20, n_networks=3,
                                          device=CPU)
    scale = np.exp(-np.arange(3))[:, None, None]
    noise = np.array([1.0, 2.0, 4.0])[None, :, None]
    stats.g_aa = scale * noise * np.ones_like(stats.g_aa)
    fit = simulate.universality(stats)
    assert fit.exponent == pytest.approx(2.0, abs=1e-9)
    assert fit.prefactor == pytest.approx(np.var([1, 2, 4], ddof=1) / np.mean([1, 2, 4]) ** 2, rel=1e-9)


def test_preactivation_second_moments_of_a_critical_model():
    from nsp_helpers import init

    dropout = torch.nn.Dropout(p=0.4)
    layers = []
    for _ in range(10):
        layers += [torch.nn.Linear(500, 500), torch.nn.ReLU(), dropout]
    model = torch.nn.Sequential(*layers)
    init.critical_init_(model, dropout, generator=torch.Generator().manual_seed(0))
    q = simulate.preactivation_second_moments(model, torch.randn(64, 500, generator=torch.Generator().manual_seed(1)),
                                               seed=0)
    assert q.shape == (10,)
    assert q[-1] / q[0] == pytest.approx(1.0, abs=0.35)  # He init would give (5/3)^9 = 99
    assert model.training  # mode restored
    model.eval()
    simulate.preactivation_second_moments(model, torch.ones(2, 500), seed=0)
    assert not model.training


def test_trainable_depth_rules():
    cells = [{"depth": d, "keep_prob": p, "train_loss": [0.01 if d <= 6 * theory.depth_scale(Dropout(keep_prob=p)) else 0.1]}
             for d in (1, 3, 6, 12, 24) for p in (0.3, 0.6, 0.9)]
    cmp = analysis.trainable_depth_rules({"cells": cells})
    assert cmp.agreement["6·xi_c"] == 1.0
    assert cmp.best == "6·xi_c"
    assert np.all(np.isinf(cmp.rules["xi_1"]))  # critical ReLU: chi_1 = 1
    assert cmp.agreement["xi_1"] == pytest.approx(cmp.trainable.mean())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_layers=0), "n_layers must be an integer >= 1"),
        (dict(sigma_w2=0.0), "sigma_w2 must be in"),
        (dict(sigma_b2=-1.0), "sigma_b2 must be in"),
        (dict(width=1), "width must be an integer >= 2"),
        (dict(n_networks=0), "n_networks"),
        (dict(n_pairs=1.5), "n_pairs"),
        (dict(noise=0.9), "noise must be a NoisyNetwork or a nsp_helpers.noise.NoiseModel"),
        (dict(noise=Dropout(keep_prob=[0.5, 0.9])), "must describe a single network"),
        (dict(backward="gia"), "backward must be"),
        (dict(dtype=torch.int32), "dtype must be"),
        (dict(activation="sigmoid"), "activation must be"),
        (dict(cpu_threads=0), "cpu_threads"),
    ],
)
def test_bad_input(kwargs, match):
    args = dict(n_layers=2, sigma_w2=1.0, sigma_b2=0.0, noise=NoNoise(), activation="tanh", width=4, device=CPU)
    args.update(kwargs)
    with pytest.raises(InvalidParameterError, match=match):
        simulate.gradient_statistics(**args)


def test_bad_input_elsewhere():
    stats = simulate.gradient_statistics(NoNoise(), 1.0, 0.0, "relu", n_layers=3, width=4, device=CPU)
    with pytest.raises(InvalidParameterError, match="statistic must be one of"):
        stats.mean("g_ba")
    with pytest.raises(InvalidParameterError, match="last_layer must be in"):
        stats.fit("g_aa", 1, 10)
    with pytest.raises(InvalidParameterError, match="at least 2 networks"):
        simulate.universality(stats)
    with pytest.raises(InvalidParameterError, match="sigma_w2 must be in"):
        theory.linear_network_closed_forms(Dropout(keep_prob=0.5), 0.6, 0.1)
    with pytest.raises(InvalidParameterError, match="sigma_b2 must be in"):
        theory.linear_network_closed_forms(Dropout(keep_prob=0.5), 0.4, 0.0)
    with pytest.raises(InvalidParameterError, match="multiplicative"):
        theory.linear_network_closed_forms(AdditiveGaussian(std=1.0), 0.4, 0.1)
    with pytest.raises(InvalidParameterError, match="torch.nn.Module"):
        simulate.preactivation_second_moments("model", torch.ones(1))


def test_plots_return_figures():
    from matplotlib.figure import Figure

    from nsp_helpers import plots

    noise = Dropout(keep_prob=0.9)
    stats = simulate.gradient_statistics(noise, 1.4, 0.1, "tanh", n_layers=6, width=30, n_networks=3, device=CPU)
    slopes = theory.gradient_slopes(noise, 1.4, 0.1, "tanh")
    assert isinstance(plots.gradient_depth_figure(stats, slopes), Figure)
    assert isinstance(plots.pair_correlation_figure({"a": ({"tied": stats}, slopes)}), Figure)
    assert isinstance(plots.universality_figure({"a": simulate.universality(stats)}), Figure)
    with pytest.raises(InvalidParameterError, match="stats must be a GradientStatistics"):
        plots.gradient_depth_figure("stats", slopes)
    with pytest.raises(InvalidParameterError, match="one slope per keep probability"):
        plots.gradient_decay_rate_figure([0.8, 0.9], {"g_aa": [0.1]}, [0.9, 0.9], [0.5, 0.5])


def test_gradient_statistics_too_large_names_n_pairs():
    """The forward pass sees 2 n_pairs inputs; the refusal names n_pairs, as the caller spelled it."""
    for n_pairs in (10**12, 10**9):
        with pytest.raises(InvalidParameterError, match=f"n_pairs={n_pairs}") as info:
            simulate.gradient_statistics(Dropout(0.9), 1.4, 0.1, "tanh", n_layers=2, width=4, n_networks=2, n_pairs=n_pairs,
                                         device="cpu")
        assert "n_inputs" not in str(info.value)
