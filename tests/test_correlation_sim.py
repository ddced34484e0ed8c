"""Simulated correlations of noisy ReLU networks against mean-field theory (Pretorius et al. Figs. 4 and 5).

All simulations run at width 1000 (the paper's width) with fixed seeds. Tolerances are stated in
standard errors (s.e.) of the simulated mean, estimated from the samples themselves, plus a small
allowance for finite-width bias (1/N = 0.001):

* one-layer map and dynamics: s.e. of a mean c^l over 4 networks x 20 pairs is 0.002-0.006;
  tolerance 4 s.e. + 0.005;
* depth scales: the fitted -1/slope is compared with the same fit applied to the iterated mean-field
  map (which shares the small bias of a straight line through a curved map) within 4 s.e. (+ 5 %),
  and with the mean-field xi_c within 30 % for single levels (the fit's own s.e. is 5-15 %) and
  10 % on average (slow test).

A wrong theory fails these tests: for example chi = 1/mu2 (the slope at c = 1 instead of at c*)
would predict xi_c = 1.96 instead of 0.97 for dropout keep 0.6.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from nsp_helpers import theory
from nsp_helpers.simulate import simulate_depth_scale
from nsp_helpers.noise import Dropout, MultiplicativeGaussian, NoNoise
from nsp_helpers.simulate import simulate_correlation_dynamics, simulate_correlation_map

CPU = "cpu"
WIDTH = 1000
FIG4_NOISES = [NoNoise(), Dropout(keep_prob=0.6), Dropout(keep_prob=0.8), MultiplicativeGaussian(std=0.25),
               MultiplicativeGaussian(std=2.0)]


def relu_correlation_map_reference(c, mu2):
    """Critical ReLU (sigma_w2 = 2/mu2, sigma_b = 0): c' = (sqrt(1-c^2) + (pi - arccos c) c) / (pi mu2)."""
    c = np.asarray(c, dtype=float)
    return (np.sqrt(1 - c**2) + (np.pi - np.arccos(c)) * c) / (np.pi * mu2)


def _standard_error(samples):
    """s.e. of the mean over the last two axes (networks, pairs).

    The larger of two estimates: networks as replicates (pairs in one network share its weights),
    and every sample as a replicate (every network sees the same input pairs, so the sampling error
    of the inputs is common to all networks and only the second estimate sees it).
    """
    per_network = samples.mean(axis=-1)
    by_network = per_network.std(axis=-1, ddof=1) / np.sqrt(per_network.shape[-1])
    flat = samples.reshape(samples.shape[:-2] + (-1,))
    by_sample = flat.std(axis=-1, ddof=1) / np.sqrt(flat.shape[-1])
    return np.maximum(by_network, by_sample)


@pytest.mark.parametrize("noise", FIG4_NOISES, ids=lambda n: n.label)
def test_one_layer_correlation_map_matches_theory(noise):
    c0 = np.linspace(-0.9, 1.0, 8)
    sw = theory.critical_weight_variance(noise)
    res = simulate_correlation_map(c0, 1.0, noise, sw, 0.0, n_pairs=20, n_networks=4, width=WIDTH, seed=11,
                                   device=CPU)
    predicted = theory.correlation_map(c0, noise, sw, 0.0, q=1.0)
    np.testing.assert_allclose(predicted, relu_correlation_map_reference(c0, noise.mu2), rtol=1e-10, atol=1e-12)
    se = _standard_error(res.c1)
    assert np.all(np.abs(res.mean - predicted) < 4 * se + 0.005), (res.mean - predicted, se)


@pytest.mark.parametrize("noise", [Dropout(keep_prob=0.6), MultiplicativeGaussian(std=0.25),
                                   MultiplicativeGaussian(std=2.0)], ids=lambda n: n.label)
def test_identical_inputs_decorrelate_to_one_over_mu2(noise):
    """Noise is independent across inputs: at criticality c^1 = 1/mu2 for c^0 = 1, not 1."""
    sw = theory.critical_weight_variance(noise)
    res = simulate_correlation_map([1.0], 1.0, noise, sw, 0.0, n_pairs=25, n_networks=4, width=WIDTH, seed=5,
                                   device=CPU)
    se = _standard_error(res.c1)[0]
    assert abs(res.mean[0] - 1 / noise.mu2) < 4 * se + 0.005
    assert res.mean[0] < 1 - 0.04  # clearly away from the noiseless fixed point c = 1


def test_correlation_dynamics_reach_the_theoretical_fixed_point():
    noise = Dropout(keep_prob=0.8)
    res = simulate_correlation_dynamics([0.0, 0.9], 12, 1.0, noise, 1.6, 0.0, n_pairs=20, n_networks=4,
                                        width=WIDTH, seed=2, device=CPU)
    curves = theory.iterate_correlation([0.0, 0.9], 12, noise)
    se = _standard_error(res.c)  # (2, 13)
    assert np.all(np.abs(res.mean - curves.T) < 4 * se + 0.005)
    c_star = theory.correlation_fixed_point(noise)
    # both starting points end at the same c*, which is neither input correlation
    np.testing.assert_allclose(res.mean[:, -1], c_star, atol=0.01)


@pytest.mark.parametrize("shared_reference", [False, True], ids=["pairs", "reference-and-partners"])
def test_fitted_depth_scale_of_dropout_matches_theory(shared_reference):
    sim = simulate_depth_scale(Dropout(keep_prob=[0.6, 0.9]), n_pairs=40, n_networks=8, width=WIDTH, seed=0,
                               device=CPU, shared_reference=shared_reference)
    np.testing.assert_allclose(sim.depth_scale_theory, [0.966, 2.274], atol=1e-3)
    assert np.all(np.abs(sim.relative_error) < 0.30), sim.relative_error
    gap = np.abs(sim.depth_scale_fit - sim.depth_scale_theory_fit)
    assert np.all(gap < 4 * sim.depth_scale_fit_stderr + 0.05 * sim.depth_scale_theory), gap
    assert all(len(f.window) >= 2 for f in sim.fits)


@pytest.mark.slow
@pytest.mark.parametrize(
    "family",
    [Dropout(keep_prob=np.round(np.arange(0.1, 0.95, 0.1), 2)),
     MultiplicativeGaussian(std=np.round(np.arange(0.1, 1.95, 0.15), 2))],
    ids=["dropout", "gaussian"],
)
def test_fitted_depth_scales_of_figure_5_match_theory(family):
    """Pretorius et al. Fig. 5 in simulated networks (16 networks x 50 pairs, about 2 minutes).

    The fit's own standard error is 5-15 %, so single levels are compared in standard errors with
    the same fit applied to the iterated mean-field map (which carries the same curvature bias), and
    with the mean-field xi_c only on average.
    """
    sim = simulate_depth_scale(family, n_pairs=50, n_networks=16, width=WIDTH, seed=0, device=CPU)
    assert np.all(np.isfinite(sim.depth_scale_fit))
    z = (sim.depth_scale_fit - sim.depth_scale_theory_fit) / sim.depth_scale_fit_stderr
    assert np.max(np.abs(z)) < 4, z
    assert np.sqrt(np.mean(z**2)) < 2, z
    assert np.all(np.abs(sim.relative_error) < 0.35), sim.relative_error
    assert abs(np.mean(sim.relative_error)) < 0.10
    # the depth scale falls as the noise grows, in simulation as in theory (at most one swap in the ranks)
    assert spearmanr(sim.depth_scale_fit, sim.depth_scale_theory)[0] > 0.95
