"""Tests of nsp_helpers.depth (straight-line fits, the fit window rule) and of the depth scales over
initialisations in nsp_helpers.theory.edge_of_chaos.

Everything here is deterministic (synthetic data with a fixed seed, or mean-field theory), so the
tolerances are tight; Monte Carlo checks of fitted depth scales live in tests/test_correlation_sim.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from nsp_helpers import theory
from nsp_helpers.fits import fit_depth_scale, fit_log_decay, fit_window
from nsp_helpers.simulate import simulate_depth_scale
from nsp_helpers.errors import InvalidParameterError
from nsp_helpers.noise import Dropout, MultiplicativeGaussian, NoNoise
from nsp_helpers.theory import (
    DepthScaleRidge,
    depth_scale_map,
    linear_network_depth_scale,
    maximise_depth_scale,
    noiseless_edge_of_chaos,
)


# --- independent references -----------------------------------------------------------------------
def _gh(n=80):
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return z, w / w.sum()


def tanh_chi1_reference(sigma_w2, sigma_b2):
    """chi_1 = sigma_w2 E[tanh'(sqrt(q*) z)^2] without noise, q* by plain fixed-point iteration."""
    z, w = _gh()
    q = 1.0
    for _ in range(2000):
        q = sigma_w2 * np.sum(w * np.tanh(np.sqrt(q) * z) ** 2) + sigma_b2
    return sigma_w2 * np.sum(w * (1 - np.tanh(np.sqrt(q) * z) ** 2) ** 2)


# --- fit_log_decay ----------------------------------------------------------------------------------
def test_fit_log_decay_recovers_an_exact_geometric_decay():
    layers = np.arange(1, 9)
    fit = fit_log_decay(layers, 0.7 * np.exp(-layers / 2.5))
    assert fit.depth_scale == pytest.approx(2.5, rel=1e-12)
    assert fit.intercept == pytest.approx(np.log(0.7), rel=1e-12)
    assert fit.slope_stderr == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(fit(layers), 0.7 * np.exp(-layers / 2.5), rtol=1e-12)


def test_fit_log_decay_error_bar_propagates_sigma_log():
    # two points: slope = (y2 - y1) / 1, so its variance is sigma1^2 + sigma2^2
    fit = fit_log_decay([3, 4], [0.2, 0.1], sigma_log=[0.3, 0.4])
    assert fit.slope == pytest.approx(np.log(0.5))
    assert fit.slope_stderr == pytest.approx(0.5)
    assert fit.depth_scale_stderr == pytest.approx(0.5 / np.log(0.5) ** 2)


def test_fit_log_decay_needs_two_points_and_valid_input():
    assert np.isnan(fit_log_decay([1], [0.1]).depth_scale)
    with pytest.raises(InvalidParameterError, match="deviation"):
        fit_log_decay([1, 2], [0.1, 0.0])
    with pytest.raises(InvalidParameterError, match="same length"):
        fit_log_decay([1, 2, 3], [0.1, 0.05])
    with pytest.raises(InvalidParameterError, match="distinct"):
        fit_log_decay([2, 2], [0.1, 0.05])


# --- the fit window rule ---------------------------------------------------------------------------
def test_fit_window_stops_at_the_noise_floor_and_at_the_first_increase():
    dev = np.array([0.9, 0.3, 0.2, 0.1, 0.05, 0.06, 0.02])
    sem = np.full(7, 0.005)
    assert fit_window(dev, sem).tolist() == [1, 2, 3, 4]  # 0.06 > 0.05: not decreasing
    assert fit_window(dev, sem, z=15).tolist() == [1, 2, 3]  # 0.05 < 15 * 0.005
    assert fit_window(dev, sem, first_layer=2).tolist() == [2, 3, 4]


def test_fit_window_skips_the_initial_transient():
    dev = np.array([0.9, 0.8, 0.5, 0.3, 0.1, 0.03])
    sem = np.full(6, 0.001)
    assert fit_window(dev, sem).tolist() == [3, 4, 5]  # first layer with d <= 0.9 / e = 0.331
    assert fit_window(dev, sem, start_fraction=0.1).tolist() == [4, 5]
    assert fit_window(dev, sem, start_fraction=1.0).tolist() == [1, 2, 3, 4, 5]
    # a deviation that never settles: the window starts at first_layer
    assert fit_window(np.array([0.9, 0.8, 0.7]), np.full(3, 0.001)).tolist() == [1, 2]


def test_fit_window_prepends_earlier_layers_when_too_few_qualify():
    dev = np.array([0.9, 0.05, 0.001, 0.0005])
    sem = np.array([0.0, 0.002, 0.002, 0.002])
    assert fit_window(dev, sem).tolist() == [0, 1]
    dev = np.array([0.9, 0.3, 0.05, 0.001])
    assert fit_window(dev, sem, min_points=3, first_layer=2).tolist() == [0, 1, 2]
    assert fit_window(dev, sem, min_points=2, first_layer=2).tolist() == [1, 2]


@pytest.mark.parametrize(
    "kwargs, match",
    [({"z": 0.0}, "z"), ({"first_layer": -1}, "first_layer"), ({"min_points": 1}, "min_points"),
     ({"first_layer": 9}, "first_layer"), ({"start_fraction": 0.0}, "start_fraction")],
)
def test_fit_window_rejects_bad_parameters(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        fit_window([0.5, 0.2, 0.1], [0.0, 0.01, 0.01], **kwargs)


def test_fit_depth_scale_on_synthetic_noisy_decay():
    rng = np.random.default_rng(1)
    chi, c_star = 0.6, 0.3
    layers = np.arange(15)
    clean = c_star + (1 - c_star) * chi**layers
    noise_sd = 0.01  # per pair; 8 networks x 20 pairs: s.e. of the mean 0.0008
    c = clean[:, None, None] + noise_sd * rng.standard_normal((15, 8, 20))
    fit = fit_depth_scale(c, c_star)
    assert fit.window[0] == 2  # d^1 = 0.42 > d^0 / e = 0.26 >= d^2
    # the last fitted layer is the last one above 3 s.e. (about 0.0024): 0.7 * 0.6^l > 0.0024 up to l = 11
    assert 8 <= fit.window[-1] <= 12
    assert fit.depth_scale == pytest.approx(-1 / np.log(chi), rel=0.05)
    assert fit.depth_scale_stderr < 0.1 * fit.depth_scale
    np.testing.assert_allclose(fit.mean, c.mean(axis=(1, 2)))


def test_fit_depth_scale_rejects_bad_shapes():
    with pytest.raises(InvalidParameterError, match="shape"):
        fit_depth_scale(np.ones((5, 4)), 0.2)
    with pytest.raises(InvalidParameterError, match="2 networks"):
        fit_depth_scale(np.ones((5, 1, 4)), 0.2)
    with pytest.raises(InvalidParameterError, match="c_star"):
        fit_depth_scale(np.ones((5, 2, 4)), 1.5)


# --- depth scales beyond the paper -----------------------------------------------------------------
@pytest.mark.parametrize("noise", [Dropout(keep_prob=0.5), Dropout(keep_prob=0.9), MultiplicativeGaussian(std=1.5)])
def test_linear_network_depth_scale_matches_the_theory_module(noise):
    expected = 1.0 / np.log(noise.mu2)
    assert linear_network_depth_scale(noise) == pytest.approx(expected, rel=1e-12)
    for sigma_w2 in (0.3, 1.0, 3.0):  # independent of sigma_w2 when sigma_b2 = 0
        assert theory.depth_scale(noise, sigma_w2, 0.0, "linear") == pytest.approx(expected, rel=1e-9)


def test_linear_network_depth_scale_family_and_no_noise():
    fam = Dropout(keep_prob=[0.5, 1.0])
    out = linear_network_depth_scale(fam)
    assert out[0] == pytest.approx(1 / np.log(2)) and np.isinf(out[1])
    with pytest.raises(InvalidParameterError, match="noise"):
        linear_network_depth_scale(0.5)


def test_relu_at_criticality_stays_below_the_linear_network_value():
    fam = Dropout(keep_prob=np.linspace(0.05, 0.99, 40))
    assert np.all(theory.depth_scale(fam) < linear_network_depth_scale(fam))


def test_tanh_approaches_the_linear_value_in_the_small_signal_limit():
    noise = MultiplicativeGaussian(std=0.5)  # mu2 = 1.25
    xi = theory.depth_scale(noise, 1 / noise.mu2, 1e-8, "tanh")
    assert xi == pytest.approx(linear_network_depth_scale(noise), rel=0.01)


def test_depth_scale_map_agrees_with_pointwise_theory_and_has_a_family_axis():
    sw, sb = np.array([0.8, 1.6, 3.0]), np.array([0.02, 0.2])
    fam = MultiplicativeGaussian(std=[0.3, 0.7])
    maps = depth_scale_map(fam, sw, sb, "tanh")
    assert maps.shape == (2, 2, 3)
    for k, member in enumerate(fam):
        for i, b in enumerate(sb):
            for j, w in enumerate(sw):
                assert maps[k, i, j] == pytest.approx(theory.depth_scale(member, w, b, "tanh"), rel=1e-12)
    # more noise, shorter depth scales, everywhere on the grid
    assert np.all(maps[1] < maps[0])
    with pytest.raises(InvalidParameterError, match="1-D"):
        depth_scale_map(fam, np.ones((2, 2)), sb, "tanh")


@pytest.mark.parametrize("sigma_b2", [0.0, 0.05, 0.3])
def test_noiseless_edge_of_chaos_has_chi1_equal_to_one(sigma_b2):
    sw = noiseless_edge_of_chaos(sigma_b2, "tanh")
    if sigma_b2 == 0.0:  # q* = 0 and tanh'(0) = 1: the edge is sigma_w2 = 1 exactly
        assert sw == pytest.approx(1.0, abs=1e-9)
    else:
        assert tanh_chi1_reference(sw, sigma_b2) == pytest.approx(1.0, abs=1e-6)
    # without noise the depth scale diverges there (it is large just beside it)
    assert theory.depth_scale(NoNoise(), sw * 1.01, sigma_b2, "tanh") > 50


def test_noiseless_edge_of_chaos_needs_a_bracket():
    with pytest.raises(InvalidParameterError, match="sigma_w2_bounds"):
        noiseless_edge_of_chaos(0.05, "tanh", sigma_w2_bounds=(2.5, 5.0))


def test_maximise_depth_scale_finds_the_maximum_of_a_fine_scan():
    noise = MultiplicativeGaussian(std=0.5)
    sb = np.array([0.02, 0.1])
    ridge = maximise_depth_scale(noise, sb, "tanh", n_grid=16, n_iter=14)
    assert isinstance(ridge, DepthScaleRidge) and ridge.sigma_w2.shape == (2,)
    fine = np.linspace(0.5, 4.0, 141)
    for i, b in enumerate(sb):
        scan = theory.depth_scale(noise, fine, b, "tanh")
        assert ridge.depth_scale[i] >= scan.max() - 1e-6
        assert ridge.sigma_w2[i] == pytest.approx(fine[np.argmax(scan)], abs=0.05)
        assert ridge.depth_scale[i] < linear_network_depth_scale(noise)
    assert not ridge.at_bound.any()
    # a larger bias variance moves the ridge to larger weights and lowers it
    assert ridge.sigma_w2[1] > ridge.sigma_w2[0] and ridge.depth_scale[1] < ridge.depth_scale[0]


def test_maximise_depth_scale_flags_a_maximum_on_the_bound():
    ridge = maximise_depth_scale(MultiplicativeGaussian(std=0.5), [0.1], "tanh", sigma_w2_bounds=(0.5, 1.0), n_grid=5,
                                 n_iter=4)
    assert ridge.at_bound.tolist() == [True]


def test_simulate_depth_scale_rejects_noise_without_a_finite_depth_scale():
    with pytest.raises(InvalidParameterError, match="mu2 > 1"):
        simulate_depth_scale(NoNoise(), n_layers=2, n_pairs=2, n_networks=2, width=20, device="cpu")
    c_star = theory.correlation_fixed_point(Dropout(0.6))
    with pytest.raises(InvalidParameterError, match="fixed point"):
        simulate_depth_scale(Dropout(0.6), c0=c_star, n_layers=2, n_pairs=2, n_networks=2, width=20, device="cpu")


def test_depth_scale_curve_figure_smoke():
    """Slider of *Beyond the paper*: fixed axes, finite noisy peaks below 1/ln(mu2)."""
    from nsp_helpers import plots

    sw = np.linspace(0.5, 3.0, 8)
    noise = Dropout(0.9)
    fig = plots.depth_scale_curve_figure(noise, sigma_b2=[0.05], sigma_w2=sw)
    ax = fig.axes[0]
    assert ax.get_ylim() == pytest.approx((0.5, 200.0)) and ax.get_xlim() == pytest.approx((0.5, 3.0))
    solid = [line for line in ax.get_lines() if line.get_label() == r"$\sigma_b^2 = 0.05$"][0]  # the noisy curve
    np.testing.assert_allclose(solid.get_ydata(), depth_scale_map(noise, sw, [0.05], "tanh")[0])
    assert solid.get_ydata().max() < linear_network_depth_scale(noise)
    assert len(plots.depth_scale_curve_figure(NoNoise(), sigma_b2=[0.05], sigma_w2=sw).axes) == 1
    with pytest.raises(InvalidParameterError, match="single"):
        plots.depth_scale_curve_figure(Dropout([0.5, 0.9]))


@pytest.mark.parametrize("shared_reference", [False, True])
def test_depth_scale_simulation_too_large_names_n_pairs(shared_reference):
    """The forward pass sees 2 n_pairs inputs (or 1 + n_pairs); the refusal names what the caller passed."""
    with pytest.raises(InvalidParameterError, match=r"reduce n_pairs=1000000000000, n_networks=2, width=32 or n_layers=3$") as info:
        simulate_depth_scale(Dropout(0.6), n_layers=3, n_pairs=10**12, n_networks=2, width=32, device="cpu",
                             shared_reference=shared_reference)
    assert "n_inputs" not in str(info.value) and "n_partners" not in str(info.value)
