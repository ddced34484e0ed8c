"""Tests of nsp_helpers.theory: closed forms, mpmath references, Monte Carlo, properties, errors.

Theory is tested three ways (CONTRIBUTING.md): against closed forms, against a high-precision
reference (mpmath) and against a Monte Carlo simulation of wide networks with a fixed seed.
The numbers the chapters show are pinned against independent computations (scipy.optimize.brentq).
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from nsp_helpers import errors, theory
from nsp_helpers.activations import get_activation
from nsp_helpers.errors import InvalidParameterError, NoCriticalPointError
from nsp_helpers.network import NoisyNetwork
from nsp_helpers.noise import (
    AdditiveGaussian,
    AdditiveLaplace,
    Dropout,
    MultiplicativeGaussian,
    MultiplicativeLaplace,
    MultiplicativePoisson,
    NoNoise,
)

HYPOTHESIS = settings(max_examples=40, deadline=None)


def relu_kernel(c):
    """Arc-cosine kernel E[relu(u_a) relu(u_b)] / q, written out independently of the module."""
    return (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c) / (2 * math.pi)


def critical_relu_c_star(mu2):
    """c* of critical ReLU by brentq on c = 2 kappa(c) / mu2."""
    return brentq(lambda c: 2 * relu_kernel(c) / mu2 - c, -1.0, 1.0, xtol=1e-15, rtol=1e-15)


# ------------------------------------------------------------------------------------------------
# closed forms
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("noise", "expected"),
    [
        (Dropout(keep_prob=0.5), 1.0),  # Xavier
        (Dropout(keep_prob=1.0), 2.0),  # He
        (Dropout(keep_prob=0.6), 1.2),
        (MultiplicativePoisson(rate=1.0), 1.0),
        (MultiplicativeGaussian(std=0.25), 2.0 / 1.0625),
        (MultiplicativeLaplace(scale=0.5), 2.0 / 1.5),
        (NoNoise(), 2.0),
        (AdditiveGaussian(std=0.0), 2.0),  # zero additive noise is no noise
    ],
)
def test_critical_weight_variance(noise, expected):
    assert theory.critical_weight_variance(noise) == pytest.approx(expected, rel=1e-15)
    assert isinstance(theory.critical_weight_variance(noise), float)


def test_critical_weight_variance_linear_and_family():
    keep = np.linspace(0.1, 1.0, 10)
    np.testing.assert_allclose(theory.critical_weight_variance(Dropout(keep)), 2 * keep, rtol=1e-15)
    np.testing.assert_allclose(theory.critical_weight_variance(Dropout(keep), activation="linear"), keep, rtol=1e-15)


@pytest.mark.parametrize("noise", [AdditiveGaussian(std=1.0), AdditiveLaplace(scale=0.3), AdditiveGaussian(std=[0.0, 1.0])])
def test_additive_noise_has_no_critical_point(noise):
    assert theory.NoCriticalPointError is errors.NoCriticalPointError
    with pytest.raises(NoCriticalPointError, match="additive noise") as info:
        theory.critical_weight_variance(noise)
    assert isinstance(info.value, ValueError)
    assert "sigma_w2 = 2" in str(info.value) and "grows without bound" in str(info.value)
    for fn in (theory.correlation_fixed_point, theory.depth_scale, theory.gradient_slope):
        with pytest.raises(NoCriticalPointError):
            fn(noise)  # sigma_w2=None asks for the critical point


def test_variance_map_closed_forms():
    q = np.array([0.0, 0.5, 3.0])
    np.testing.assert_allclose(theory.variance_map(q, Dropout(0.6), 1.2, 0.0), q, rtol=1e-15)
    np.testing.assert_allclose(theory.variance_map(q, Dropout(0.6), 1.5, 0.3), 1.5 * q / 2 / 0.6 + 0.3)
    np.testing.assert_allclose(theory.variance_map(q, AdditiveGaussian(2.0), 1.5, 0.3), 1.5 * (q / 2 + 4.0) + 0.3)
    np.testing.assert_allclose(theory.variance_map(q, Dropout(0.8), 0.7, 0.1, "linear"), 0.7 * q / 0.8 + 0.1)


def test_variance_fixed_point_closed_forms():
    # below criticality: q* = b / (1 - a)
    a = 1.5 / 2 / 0.9
    assert theory.variance_fixed_point(Dropout(0.9), 1.5, 0.2) == pytest.approx(0.2 / (1 - a), rel=1e-14)
    assert theory.variance_fixed_point(AdditiveGaussian(1.0), 1.0, 0.0) == pytest.approx(2.0, rel=1e-15)
    # at criticality with no offset every q is fixed; with an offset q diverges
    assert theory.variance_fixed_point(Dropout(0.6), None, 0.0, q0=7.0) == 7.0
    assert theory.variance_fixed_point(Dropout(0.6), 1.2, 0.1) == np.inf
    assert theory.variance_fixed_point(AdditiveGaussian(0.5), 2.0, 0.0) == np.inf
    # above criticality: diverges, unless q stays exactly at 0
    assert theory.variance_fixed_point(Dropout(0.6), 1.3, 0.0) == np.inf
    assert theory.variance_fixed_point(Dropout(0.6), 1.3, 0.0, q0=0.0) == 0.0
    assert theory.variance_fixed_point(Dropout(0.6), 1.1, 0.0) == 0.0


@pytest.mark.parametrize("keep_prob", [0.6, 0.8, 0.95])
def test_linear_network_fixed_points(keep_prob):
    """Huang et al.: q* = sigma_b2 / (1 - sigma_w2 / rho), q_ab* = sigma_b2 / (1 - sigma_w2)."""
    sigma_w2, sigma_b2 = 0.5, 0.1
    q_star = sigma_b2 / (1 - sigma_w2 / keep_prob)
    q_ab = sigma_b2 / (1 - sigma_w2)
    noise = Dropout(keep_prob)
    assert theory.variance_fixed_point(noise, sigma_w2, sigma_b2, "linear") == pytest.approx(q_star, rel=1e-14)
    assert theory.correlation_fixed_point(noise, sigma_w2, sigma_b2, "linear") == pytest.approx(q_ab / q_star, rel=1e-14)
    assert theory.gradient_slope(noise, sigma_w2, sigma_b2, "linear") == pytest.approx(sigma_w2 / keep_prob, rel=1e-15)


def test_iterate_variance_relu_is_geometric():
    sigma_w2 = np.array([0.85, 1.0, 1.15]) * 1.2
    out = theory.iterate_variance(1.0, 20, Dropout(0.6), sigma_w2, 0.0)
    assert out.shape == (21, 3)
    expected = (sigma_w2 / 1.2)[None, :] ** np.arange(21)[:, None]
    np.testing.assert_allclose(out, expected, rtol=1e-13)
    np.testing.assert_array_equal(out[:, 1], 1.0)  # critical: exactly preserved


def test_iterate_variance_overflows_to_inf_without_warning():
    out = theory.iterate_variance(1.0, 2000, Dropout(0.5), 2.0, 0.0)
    assert np.isinf(out[-1]) and np.all(np.isfinite(out[:1000]))


@pytest.mark.parametrize("noise", [NoNoise(), Dropout(0.6), Dropout(0.8), MultiplicativeGaussian(0.25), MultiplicativeGaussian(2.0), MultiplicativePoisson()])
def test_critical_correlation_map_at_one_is_one_over_mu2(noise):
    assert theory.correlation_map(1.0, noise, theory.critical_weight_variance(noise), 0.0, q=1.7) == pytest.approx(1 / noise.mu2, rel=1e-14)


def test_correlation_map_is_the_arccos_kernel():
    c = np.linspace(-1, 1, 41)
    for noise in (Dropout(0.7), MultiplicativeGaussian(0.5)):
        sigma_w2 = theory.critical_weight_variance(noise)
        expected = [2 * relu_kernel(x) / noise.mu2 for x in c]
        np.testing.assert_allclose(theory.correlation_map(c, noise, sigma_w2, 0.0, q=2.3), expected, rtol=1e-13, atol=1e-15)
    # with biases and additive noise, from the definition
    q, sw, sb, noise = 1.7, 1.4, 0.2, AdditiveGaussian(0.8)
    q_next = sw * (q / 2 + 0.64) + sb
    expected = [(sw * q * relu_kernel(x) + sb) / q_next for x in c]
    np.testing.assert_allclose(theory.correlation_map(c, noise, sw, sb, q=q), expected, rtol=1e-13)


def test_critical_correlation_slope_formula():
    c = np.linspace(-1, 1, 41)
    for keep in (0.3, 0.6, 1.0):
        expected = keep * (0.5 + np.arcsin(c) / np.pi)
        np.testing.assert_allclose(theory.correlation_slope(c, Dropout(keep)), expected, rtol=1e-14, atol=1e-16)
    assert theory.correlation_slope(1.0, NoNoise()) == 1.0


@pytest.mark.parametrize(
    ("activation", "sigma_w2", "sigma_b2", "noise", "q"),
    [("relu", 1.4, 0.2, Dropout(0.7), 1.3), ("relu", 1.4, 0.0, AdditiveGaussian(0.5), 0.8), ("tanh", 1.4, 0.1, Dropout(0.9), 0.6)],
)
def test_correlation_slope_is_the_derivative_of_the_map(activation, sigma_w2, sigma_b2, noise, q):
    c = np.array([-0.6, 0.0, 0.4, 0.8])
    h = 1e-5
    numeric = (
        theory.correlation_map(c + h, noise, sigma_w2, sigma_b2, activation, q=q)
        - theory.correlation_map(c - h, noise, sigma_w2, sigma_b2, activation, q=q)
    ) / (2 * h)
    slope = theory.correlation_slope(c, noise, sigma_w2, sigma_b2, activation, q=q)
    np.testing.assert_allclose(slope, numeric, rtol=1e-7)


def test_variance_slope_is_the_derivative_of_the_map():
    q = np.array([0.1, 0.6, 2.0, 15.0])
    h = 1e-6 * q
    numeric = (theory.variance_map(q + h, Dropout(0.9), 1.4, 0.1, "tanh") - theory.variance_map(q - h, Dropout(0.9), 1.4, 0.1, "tanh")) / (2 * h)
    np.testing.assert_allclose(theory.variance_slope(Dropout(0.9), 1.4, 0.1, "tanh", q=q), numeric, rtol=1e-7)
    assert theory.variance_slope(Dropout(0.6), None, 0.0) == 1.0
    assert theory.variance_slope(Dropout(0.6), 1.38, 0.0, q=5.0) == pytest.approx(1.15, rel=1e-14)


def test_failure_depth_matches_float32_iteration():
    """L* predicts the layer at which q0 * a^L leaves the float32 range (inf or subnormal)."""
    noise = Dropout(0.6)
    for sigma_w2 in (0.3, 0.9, 1.5, 2.5):
        depth = theory.failure_depth(noise, sigma_w2)
        a = np.float32(sigma_w2 * noise.mu2 / 2)
        q, layer = np.float32(1.0), 0
        with np.errstate(over="ignore", under="ignore"):
            while np.isfinite(q) and q >= np.finfo(np.float32).tiny:
                q, layer = q * a, layer + 1
        assert layer == pytest.approx(math.ceil(depth), abs=1), (sigma_w2, depth, layer)
    assert theory.failure_depth(noise, 1.2) == np.inf
    np.testing.assert_allclose(
        theory.failure_depth(noise, np.array([0.6, 2.0]), q0=0.1),
        [np.log(theory.FLOAT32_TINY / 0.1) / np.log(0.5), np.log(theory.FLOAT32_MAX / 0.1) / np.log(2 / 1.2)],
        rtol=1e-14,
    )


def test_failure_depth_with_additive_noise():
    noise = AdditiveGaussian(1.0)
    assert theory.failure_depth(noise, 1.5) == np.inf  # settles at a finite fixed point
    assert theory.failure_depth(noise, 2.0) == pytest.approx(theory.FLOAT32_MAX / 2.0)  # grows by 2 per layer
    depth = theory.failure_depth(noise, 3.0)  # q^L = 1.5^L (q0 + 6) - 6
    assert 1.5**depth * 7.0 - 6.0 == pytest.approx(theory.FLOAT32_MAX, rel=1e-10)


# ------------------------------------------------------------------------------------------------
# the numbers the chapters show
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("keep_prob", [0.6, 0.8])
def test_dropout_fixed_point_slope_and_depth_scale(keep_prob):
    noise = Dropout(keep_prob)
    c_star = critical_relu_c_star(1 / keep_prob)
    chi = keep_prob * (0.5 + math.asin(c_star) / math.pi)
    assert theory.critical_weight_variance(noise) == pytest.approx(2 * keep_prob, rel=1e-15)
    assert theory.correlation_fixed_point(noise) == pytest.approx(c_star, abs=1e-14)
    assert theory.correlation_slope(c_star, noise) == pytest.approx(chi, rel=1e-13)
    assert theory.depth_scale(noise) == pytest.approx(-1 / math.log(chi), rel=1e-12)


def test_pinned_chapter_numbers():
    """Values quoted in the book (keep 0.6 and 0.8), rounded as printed."""
    c = theory.correlation_fixed_point(Dropout([0.6, 0.8]))
    np.testing.assert_allclose(c, [0.283909, 0.472799], atol=5e-7)
    np.testing.assert_allclose(theory.depth_scale(Dropout([0.6, 0.8])), [0.9655, 1.5538], atol=5e-5)
    assert theory.critical_weight_variance(Dropout(0.6)) == pytest.approx(1.2)


def test_huang_tanh_gradient_decay_rate():
    """Huang et al.'s stored runs (tanh, sigma_w2 = 1.4, sigma_b2 = 0.1, rho = 0.9) decay at 0.112-0.114
    per layer; PAPERS.md records -ln chi_1 = 0.1124."""
    chi1 = theory.gradient_slope(Dropout(0.9), 1.4, 0.1, "tanh")
    assert -math.log(chi1) == pytest.approx(0.1124, abs=2e-4)
    assert theory.gradient_depth_scale(Dropout(0.9), 1.4, 0.1, "tanh") == pytest.approx(-1 / math.log(chi1))


def test_gradient_slope_relu():
    keep = np.linspace(0.1, 1.0, 10)
    np.testing.assert_array_equal(theory.gradient_slope(Dropout(keep)), 1.0)  # exactly 1 at criticality
    assert np.all(np.isinf(theory.gradient_depth_scale(Dropout(keep))))
    assert theory.gradient_slope(Dropout(0.6), sigma_w2=1.0) == pytest.approx(1 / 1.2)
    # exploding and vanishing gradients have the same depth scale magnitude convention 1/|ln chi|
    assert theory.gradient_depth_scale(Dropout(0.5), sigma_w2=1.5) == pytest.approx(1 / math.log(1.5))
    assert theory.gradient_depth_scale(Dropout(0.5), sigma_w2=0.5) == pytest.approx(1 / math.log(2.0))


@pytest.mark.parametrize("keep_prob", [0.6, 0.9, 0.99])
def test_tanh_correlation_fixed_point_against_brentq(keep_prob):
    noise, sw, sb = Dropout(keep_prob), 1.4, 0.1
    q_star = theory.variance_fixed_point(noise, sw, sb, "tanh")
    assert theory.variance_map(q_star, noise, sw, sb, "tanh") == pytest.approx(q_star, rel=1e-13)
    q_ref = brentq(lambda q: theory.variance_map(q, noise, sw, sb, "tanh") - q, 1e-6, 10.0, xtol=1e-15)
    assert q_star == pytest.approx(q_ref, rel=1e-12)
    c_ref = brentq(lambda c: theory.correlation_map(c, noise, sw, sb, "tanh", q=q_star) - c, -1.0, 1.0, xtol=1e-15)
    assert theory.correlation_fixed_point(noise, sw, sb, "tanh") == pytest.approx(c_ref, abs=1e-12)


def test_noise_free_fixed_points():
    assert theory.correlation_fixed_point(NoNoise()) == 1.0  # exactly, degenerate root
    assert theory.depth_scale(NoNoise()) == np.inf
    assert theory.correlation_fixed_point(Dropout(1.0)) == 1.0
    assert theory.correlation_fixed_point(NoNoise(), 0.9, 0.05, "tanh") == 1.0  # ordered phase
    c_chaos = theory.correlation_fixed_point(NoNoise(), 2.5, 0.05, "tanh")  # chaotic phase: c* < 1 is stable
    assert 0 < c_chaos < 0.9
    q_chaos = theory.variance_fixed_point(NoNoise(), 2.5, 0.05, "tanh")
    assert theory.correlation_map(c_chaos, NoNoise(), 2.5, 0.05, "tanh", q=q_chaos) == pytest.approx(c_chaos, abs=1e-12)
    assert abs(theory.correlation_fixed_point(NoNoise(), 2.0, 0.0, "tanh")) < 1e-12  # odd, no bias: c* = 0


def test_tanh_variance_fixed_point_phases():
    assert theory.variance_fixed_point(NoNoise(), 0.8, 0.0, "tanh") == 0.0  # ordered: q decays to 0
    q_star = theory.variance_fixed_point(NoNoise(), 2.0, 0.0, "tanh")
    assert q_star > 0.1 and theory.variance_map(q_star, NoNoise(), 2.0, 0.0, "tanh") == pytest.approx(q_star, rel=1e-13)
    # reached from below and from above; q = 0 is an (unstable) fixed point
    assert theory.variance_fixed_point(NoNoise(), 2.0, 0.0, "tanh", q0=50.0) == pytest.approx(q_star, rel=1e-13)
    assert theory.variance_fixed_point(NoNoise(), 2.0, 0.0, "tanh", q0=0.0) == 0.0


def test_callable_relu_agrees_with_closed_form():
    relu = lambda x: np.maximum(x, 0.0)  # noqa: E731 - quadrature path, kinked integrand
    args = (Dropout(0.7), 1.3, 0.1)
    assert theory.variance_map(2.0, *args, relu) == pytest.approx(theory.variance_map(2.0, *args), rel=1e-12)
    assert theory.correlation_map(0.3, *args, relu, q=2.0) == pytest.approx(theory.correlation_map(0.3, *args, q=2.0), rel=2e-3)
    assert theory.variance_fixed_point(*args, relu) == pytest.approx(theory.variance_fixed_point(*args), rel=1e-10)
    assert theory.variance_fixed_point(Dropout(0.7), 3.0, 0.1, relu) == np.inf


# ------------------------------------------------------------------------------------------------
# high-precision references (mpmath)
# ------------------------------------------------------------------------------------------------
def _mp_expect1(f, q, dps=20):
    with mp.workdps(dps):
        sq = mp.sqrt(mp.mpf(q))
        return float(mp.quad(lambda z: f(sq * z) * mp.npdf(z), [-mp.inf, -4, 0, 4, mp.inf]))


def _mp_expect2(f, g, q, c, dps=15):
    with mp.workdps(dps):
        q, c = mp.mpf(q), mp.mpf(c)
        sq, s = mp.sqrt(q), mp.sqrt(1 - c * c)
        integrand = lambda z1, z2: f(sq * z1) * g(sq * (c * z1 + s * z2)) * mp.exp(-(z1 * z1 + z2 * z2) / 2) / (2 * mp.pi)  # noqa: E731
        pts = [-9, 0, 9]
        return float(mp.quad(integrand, pts, pts, method="gauss-legendre"))


TANH2 = lambda x: mp.tanh(x) ** 2  # noqa: E731
SECH2 = lambda x: mp.sech(x) ** 2  # noqa: E731


@pytest.mark.parametrize("q", [1e-3, 0.1, 1.0, 5.0, 20.0])
def test_tanh_1d_quadrature_against_mpmath(q):
    assert theory.gaussian_expectation(lambda x: np.tanh(x) ** 2, q) == pytest.approx(_mp_expect1(TANH2, q), rel=1e-8)
    sech4 = lambda x: (1 - np.tanh(x) ** 2) ** 2  # noqa: E731
    assert theory.gaussian_expectation(sech4, q) == pytest.approx(_mp_expect1(lambda x: SECH2(x) ** 2, q), rel=1e-8)
    # the maps use their own (coarser, pole-limited) grid for tanh: same accuracy
    kern, qa = theory._kernel("tanh"), np.array([q])
    assert theory.variance_map(q, NoNoise(), 1.0, 0.0, "tanh") == pytest.approx(_mp_expect1(TANH2, q), rel=1e-8)
    assert kern.grad2(qa)[0] == pytest.approx(_mp_expect1(lambda x: SECH2(x) ** 2, q), rel=1e-8)
    u_tanh_sech2 = _mp_expect1(lambda x: x * mp.tanh(x) * SECH2(x), q) / q
    assert kern.d_second(qa)[0] == pytest.approx(u_tanh_sech2, rel=1e-8)


@pytest.mark.parametrize("q", [1e-3, 1.0, 20.0])
def test_tanh_2d_quadrature_reduces_to_mpmath_1d(q):
    """At c = +-1 the pair is (u, +-u); at c = 0 the expectation factorises."""
    e2 = _mp_expect1(TANH2, q)
    assert theory.bivariate_gaussian_expectation("tanh", "tanh", q, 1.0) == pytest.approx(e2, rel=1e-8)
    assert theory.bivariate_gaussian_expectation("tanh", "tanh", q, -1.0) == pytest.approx(-e2, rel=1e-8)
    d = get_activation("tanh").grad
    assert theory.bivariate_gaussian_expectation(d, d, q, 0.0) == pytest.approx(_mp_expect1(SECH2, q) ** 2, rel=1e-8)


def test_tanh_2d_quadrature_against_mpmath_2d():
    q, c = 0.5, 0.6
    ref = _mp_expect2(mp.tanh, mp.tanh, q, c)
    scale = _mp_expect1(TANH2, q)
    assert abs(theory.bivariate_gaussian_expectation("tanh", "tanh", q, c) - ref) <= 1e-8 * scale
    cross, _ = theory._kernel("tanh").cross_both(np.array([q]), np.array([c]))
    assert abs(cross[0] - ref) <= 1e-8 * scale


@pytest.mark.slow
@pytest.mark.parametrize(("q", "c"), [(1e-3, -0.7), (1.0, 0.5), (5.0, 0.99), (20.0, 0.3), (20.0, -0.95)])
def test_tanh_2d_quadrature_against_mpmath_2d_grid(q, c):
    ref = _mp_expect2(mp.tanh, mp.tanh, q, c)
    scale = _mp_expect1(TANH2, q)
    assert abs(theory.bivariate_gaussian_expectation("tanh", "tanh", q, c) - ref) <= 1e-8 * scale
    dref = _mp_expect2(SECH2, SECH2, q, c)
    d = lambda x: 1 - np.tanh(x) ** 2  # noqa: E731
    assert theory.bivariate_gaussian_expectation(d, d, q, c) == pytest.approx(dref, rel=1e-8)
    cross, cross_prime = theory._kernel("tanh").cross_both(np.array([q]), np.array([c]))
    assert abs(cross[0] - ref) <= 1e-8 * scale
    assert cross_prime[0] == pytest.approx(dref, rel=1e-8)


HARD_TANH2 = lambda x: min(max(x, -1), 1) ** 2  # noqa: E731


@pytest.mark.parametrize("q", [1e-3, 0.3, 1.0, 5.0, 20.0])
def test_hard_tanh_1d_closed_forms_against_mpmath(q):
    kern = theory._kernel("hard_tanh")
    with mp.workdps(20):
        t = 1 / mp.sqrt(q)
        ref = float(mp.quad(lambda z: HARD_TANH2(mp.sqrt(q) * z) * mp.npdf(z), [-mp.inf, -t, 0, t, mp.inf]))
        ref_grad2 = float(mp.ncdf(t) - mp.ncdf(-t))
    assert theory.variance_map(q, NoNoise(), 1.0, 0.0, "hard_tanh") == pytest.approx(ref, rel=1e-12)
    assert kern.grad2(np.array([q]))[0] == pytest.approx(ref_grad2, rel=1e-12)
    h = 1e-6 * q
    numeric = (kern.second(np.array([q + h])) - kern.second(np.array([q - h]))) / (2 * h)
    assert kern.d_second(np.array([q]))[0] == pytest.approx(numeric[0], rel=1e-7)


def test_hard_tanh_2d_panels():
    """Reductions at c = -1, 0, 1, Price's theorem, and a fine trapezoidal rule (error ~4e-6)."""
    kern = theory._kernel("hard_tanh")
    q = np.array([1e-3, 0.3, 1.0, 5.0, 20.0])
    one = np.ones_like(q)
    np.testing.assert_allclose(kern.cross(q, one), kern.second(q), rtol=1e-12)
    np.testing.assert_allclose(kern.cross(q, -one), -kern.second(q), rtol=1e-12)
    np.testing.assert_allclose(kern.cross(q, 0 * one), 0.0, atol=1e-15)
    np.testing.assert_allclose(kern.cross_prime(q, one), kern.grad2(q), rtol=1e-12)
    np.testing.assert_allclose(kern.cross_prime(q, 0 * one), kern.grad2(q) ** 2, rtol=1e-12)
    for c in (-0.9, 0.2, 0.7, 0.99, 0.9999):
        h = 1e-6
        numeric = (kern.cross(q, one * (c + h)) - kern.cross(q, one * (c - h))) / (2 * h)
        np.testing.assert_allclose(numeric, q * kern.cross_prime(q, one * c), rtol=1e-6, atol=1e-9)
    clip = lambda x: np.clip(x, -1.0, 1.0)  # noqa: E731 - a plain callable takes the trapezoidal rule
    fine = theory.bivariate_gaussian_expectation(clip, clip, 5.0, 0.9, n_nodes=2001)
    assert kern.cross(np.array([5.0]), np.array([0.9]))[0] == pytest.approx(fine, abs=1e-5)
    sw, sb, noise = 1.4, 0.1, Dropout(0.9)
    assert theory.correlation_map(0.9, noise, sw, sb, "hard_tanh", q=5.0) == pytest.approx(
        (sw * fine + sb) / theory.variance_map(5.0, noise, sw, sb, "hard_tanh"), abs=1e-5
    )


# ------------------------------------------------------------------------------------------------
# far from the usual scale (issue 15): the right number (checked against mpmath), or a clear refusal
# ------------------------------------------------------------------------------------------------
BIG_Q = [2e3, 1e4, 1e6, 1e20, 1e300]
_U_POINTS = [-mp.inf, -20, -5, 0, 5, 20, mp.inf]


def _mp_expect_u(f, q, dps=30):
    """E[f(u)], u ~ N(0, q), integrated in u for large q (f must decay away from u = 0)."""
    with mp.workdps(dps):
        sq = mp.sqrt(mp.mpf(q))
        return mp.quad(lambda u: f(u) * mp.npdf(u / sq) / sq, _U_POINTS)


def _mp_sech2_pair(q, c, dps=15):
    """E[sech^2(u_a) sech^2(u_b)], (u_a, u_b) with variance q and correlation c, nested in u (large q)."""
    with mp.workdps(dps):
        q, c = mp.mpf(q), mp.mpf(c)
        sq, s = mp.sqrt(q), mp.sqrt(1 - c * c)

        def inner(ua):  # E[sech^2(u_b) | u_a], u_b ~ N(c u_a, q s^2)
            return mp.quad(lambda v: mp.sech(v) ** 2 * mp.npdf((v - c * ua) / (sq * s)) / (sq * s), _U_POINTS)

        return mp.quad(lambda ua: mp.sech(ua) ** 2 * inner(ua) * mp.npdf(ua / sq) / sq, _U_POINTS)


@pytest.mark.parametrize("q", BIG_Q)
def test_tanh_quadrature_adapts_to_large_q(q):
    """Above q ~ 1700 the trapezoidal grid would be too coarse for tanh(sqrt(q) z): graded panels take over."""
    kern, qa = theory._kernel("tanh"), np.array([q])
    tanh2 = 1 - float(_mp_expect_u(SECH2, q))  # E[tanh^2] = 1 - E[sech^2], no cancellation in the reference
    assert theory.variance_map(q, NoNoise(), 1.0, 0.0, "tanh") == pytest.approx(tanh2, rel=1e-13)
    assert theory.gaussian_expectation(lambda x: np.tanh(x) ** 2, q) == pytest.approx(tanh2, rel=1e-13)
    assert kern.grad2(qa)[0] == pytest.approx(float(_mp_expect_u(lambda u: SECH2(u) ** 2, q)), rel=1e-10)
    ref = float(_mp_expect_u(lambda u: u * mp.tanh(u) * SECH2(u), q) / q)
    assert kern.d_second(qa)[0] == pytest.approx(ref, rel=1e-10)
    # the two-dimensional rule at c = +-1 (one dimension) and c = 0 (a product)
    assert theory.bivariate_gaussian_expectation("tanh", "tanh", q, 1.0) == pytest.approx(tanh2, rel=1e-12)
    assert theory.bivariate_gaussian_expectation("tanh", "tanh", q, -1.0) == pytest.approx(-tanh2, rel=1e-12)
    sech2 = float(_mp_expect_u(SECH2, q))
    d = get_activation("tanh").grad
    assert theory.bivariate_gaussian_expectation(d, d, q, 0.0) == pytest.approx(sech2**2, rel=1e-10)


def test_tanh_correlation_slope_at_large_q_against_mpmath():
    """The issue's example: chi(0.5) of critical-weight dropout tanh at q = 1e6 is about 0.441 (2.40 before)."""
    noise, sw, c, q = Dropout(0.6), 1.2, 0.5, 1e6
    pair = _mp_sech2_pair(q, c)
    with mp.workdps(30):
        q_next = sw / 0.6 * (1 - _mp_expect_u(SECH2, q))
        ref = float(sw * q * pair / q_next)
    chi = theory.correlation_slope(c, noise, sw, 0.0, "tanh", q=q)
    assert chi == pytest.approx(ref, rel=1e-9)
    assert round(chi, 3) == 0.441


@pytest.mark.parametrize("q", [1e20, 1e300])
@pytest.mark.parametrize("c", [-0.9, 0.0, 0.5, 0.99])
def test_tanh_correlation_slope_in_the_large_q_limit(q, c):
    """Over |u| < 40, where sech^2 lives, the bivariate density is 1/(2 pi q s) to a relative 1/q, so
    E[sech^2(u_a) sech^2(u_b)] = 2/(pi q s) (the integral of sech^2 is 2) and chi(c) = 2 sigma_w2/(pi s q')."""
    noise, sw = Dropout(0.6), 1.2
    q_next = theory.variance_map(q, noise, sw, 0.0, "tanh")
    assert q_next == pytest.approx(sw / 0.6, rel=1e-9)
    ref = 2 * sw / (math.pi * math.sqrt(1 - c * c) * q_next)
    assert theory.correlation_slope(c, noise, sw, 0.0, "tanh", q=q) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("q", BIG_Q)
def test_hard_tanh_closed_forms_at_large_q_against_mpmath(q):
    """E[clip(u)^2] = E[u^2; |u| < 1] + P(|u| > 1), without the cancellation that gave -489.7 at q = 1e20."""
    kern, qa = theory._kernel("hard_tanh"), np.array([q])
    with mp.workdps(40):
        sq = mp.sqrt(mp.mpf(q))
        inside = mp.quad(lambda u: u * u * mp.npdf(u / sq) / sq, [-1, 0, 1])  # E[u^2; |u| < 1]
        second = inside + 2 * mp.ncdf(-1 / sq)
        grad2 = mp.erf(1 / (sq * mp.sqrt(2)))
        ref_second, ref_d, ref_grad2 = float(second), float(inside / q), float(grad2)
    assert kern.second(qa)[0] == pytest.approx(ref_second, rel=1e-14)
    assert kern.d_second(qa)[0] == pytest.approx(ref_d, rel=1e-12)
    assert kern.grad2(qa)[0] == pytest.approx(ref_grad2, rel=1e-14)
    noise, sw = Dropout(0.6), 1.2
    v = theory.variance_map(q, noise, sw, 0.0, "hard_tanh")
    assert v == pytest.approx(sw / 0.6 * ref_second, rel=1e-14) and 0 < v <= 2.0  # bounded by sw mu2 = 2
    assert 0 <= theory.variance_slope(noise, sw, 0.0, "hard_tanh", q=q) == pytest.approx(sw / 0.6 * ref_d, rel=1e-12)  # 1e-451: 0


def test_hard_tanh_pair_at_large_q_against_mpmath():
    q, c = 1e6, 0.5
    kern = theory._kernel("hard_tanh")
    with mp.workdps(20):
        sq, s = mp.sqrt(mp.mpf(q)), mp.sqrt(1 - mp.mpf(c) ** 2)

        def both_inside(ua):  # P(|u_b| < 1 | u_a) on |u_a| < 1
            m, sd = c * ua, sq * s
            return mp.ncdf((1 - m) / sd) - mp.ncdf((-1 - m) / sd)

        ref = float(mp.quad(lambda ua: both_inside(ua) * mp.npdf(ua / sq) / sq, [-1, 0, 1]))
    assert kern.cross_prime(np.array([q]), np.array([c]))[0] == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("q", [1e9, 1e20, 1e300])
@pytest.mark.parametrize("c", [-0.9, 0.3, 0.99])
def test_hard_tanh_pair_in_the_large_q_limit(q, c):
    """clip(u) -> sign(u): E[clip(u_a) clip(u_b)] -> (2/pi) arcsin c, q E[1{|u_a| < 1} 1{|u_b| < 1}] -> 2/(pi s)
    (up to O(1/(q s^2)))."""
    kern = theory._kernel("hard_tanh")
    cross, cross_prime = kern.cross_both(np.array([q]), np.array([c]))
    rel = 1e-12 + 100 / (q * (1 - c * c))
    assert cross[0] == pytest.approx(2 / math.pi * math.asin(c), rel=rel)
    assert q * cross_prime[0] == pytest.approx(2 / (math.pi * math.sqrt(1 - c * c)), rel=rel)


@pytest.mark.parametrize("sd", [30.0, 5e3, 2e4, 1e8])
@pytest.mark.parametrize("centre", [-3.0, 0.2, 2.0])
def test_hard_tanh_conditional_moments_against_mpmath(sd, centre):
    """P(|X| < 1) and E[X; |X| < 1] of X ~ N(m, sd^2), m = -centre sd, on both sides of the series' threshold."""
    m = -centre * sd
    below, above, inside, e_inside = theory._kernel("hard_tanh")._conditional(np.array([m]), np.array([sd]))
    with mp.workdps(40):
        dens = lambda x: mp.npdf((x - m) / sd) / sd  # noqa: E731
        ref_inside = mp.quad(dens, [-1, 1])
        ref_e = mp.quad(lambda x: x * dens(x), [-1, 1])
        ref_above = mp.ncdf((m - 1) / sd)
    assert inside[0] == pytest.approx(float(ref_inside), rel=1e-9)
    assert e_inside[0] == pytest.approx(float(ref_e), rel=1e-6, abs=1e-13)  # E[clip(X)] is O(1): 1e-13 absolute
    assert above[0] == pytest.approx(float(ref_above), rel=1e-12)


def _mp_relu_depth_scale(mu2_minus_1, dps):
    """xi_c of critical ReLU with mu2 = 1 + mu2_minus_1 (exact): tan(theta) - theta = pi (mu2 - 1)."""
    with mp.workdps(dps):
        e = mp.mpf(mu2_minus_1)
        s = mp.pi * e
        if s > 1e6:  # theta = pi/2 - x/s with x = O(1): cot(x/s) + x/s - pi/2 = s, scaled to O(1)
            x = mp.findroot(lambda x: (mp.cot(x / s) + x / s - mp.pi / 2) / s - 1, 1)
            theta = mp.pi / 2 - x / s
        else:
            start = min(mp.cbrt(3 * s), mp.atan(s + mp.pi / 2))
            theta = mp.findroot(lambda t: mp.tan(t) - t - s, start, solver="newton", df=lambda t: mp.tan(t) ** 2)
        return float(-1 / (mp.log(1 - theta / mp.pi) - mp.log(1 + e)))


@pytest.mark.parametrize(("noise", "mu2_minus_1"), [
    (Dropout(1e-300), (1 - mp.mpf(1e-300)) / mp.mpf(1e-300)),  # NaN before
    (MultiplicativeGaussian(std=1e150), mp.mpf(1e150) ** 2),  # NaN before
    (MultiplicativeGaussian(std=1e-8), mp.mpf(1e-8) ** 2),  # inf before: mu2 = 1 + 1e-16 rounds to 1
    (Dropout(0.6), mp.mpf(0.4) / mp.mpf(0.6)),
])
def test_relu_depth_scale_of_extreme_noise_against_mpmath(noise, mu2_minus_1):
    ref = _mp_relu_depth_scale(mu2_minus_1, dps=700)
    assert theory.depth_scale(noise) == pytest.approx(ref, rel=1e-12)
    assert 0 <= theory.correlation_fixed_point(noise) <= 1


def test_depth_scale_of_extreme_noise_other_activations():
    # linear networks: xi_c = 1/ln(mu2) exactly, also for mu2 - 1 = 1e-16 (1e16 layers, not inf)
    assert theory.depth_scale(MultiplicativeGaussian(std=1e-8), activation="linear") == pytest.approx(1e16, rel=1e-12)
    assert theory.linear_network_depth_scale(MultiplicativeGaussian(std=1e-8)) == pytest.approx(1e16, rel=1e-12)
    # tanh with mu2 = 1e300: q* = sigma_w2 mu2 E[tanh^2] + sigma_b2 ~ 1.4e300, c* ~ 0 and
    # chi(c*) = sigma_w2 q E[sech^2(u_a) sech^2(u_b)] / q* -> 2 sigma_w2 / (pi q*)
    sw, sb = 1.4, 0.1
    for noise in (Dropout(1e-300), MultiplicativeGaussian(std=1e150)):
        q_star = sw * float(noise.mu2) + sb
        assert theory.variance_fixed_point(noise, sw, sb, "tanh") == pytest.approx(q_star, rel=1e-12)
        assert theory.depth_scale(noise, sw, sb, "tanh") == pytest.approx(-1 / math.log(2 * sw / (math.pi * q_star)), rel=1e-9)
    # parameters whose second moment overflows float64 are refused where they are made (no OverflowError later)
    with pytest.raises(InvalidParameterError, match="std"):
        MultiplicativeGaussian(std=1e155)


def test_failure_depth_refuses_inputs_outside_float32_and_is_never_negative():
    for q0 in (1e300, 1e39, 1e-39, 1e-300):
        with pytest.raises(InvalidParameterError, match=r"q0 must be in \[1.17549e-38, 3.40282e\+38\]"):
            theory.failure_depth(Dropout(0.6), 2.0, q0=q0)
    q0 = np.geomspace(theory.FLOAT32_TINY, theory.FLOAT32_MAX, 41)
    for sw in (0.3, 1.0, 1.2, 1.5, 3.0):
        for sb in (0.0, 0.2):
            depth = theory.failure_depth(Dropout(0.6), sw, sb, q0=q0)
            assert np.all(depth >= 0), (sw, sb)


# ------------------------------------------------------------------------------------------------
# Monte Carlo
# ------------------------------------------------------------------------------------------------
def test_bivariate_expectation_monte_carlo():
    """10^6 Gaussian pairs, seed 0: agreement within 5 standard errors."""
    rng = np.random.default_rng(0)
    q, c = 2.0, 0.4
    z1, z2 = rng.standard_normal((2, 10**6))
    ua, ub = np.sqrt(q) * z1, np.sqrt(q) * (c * z1 + np.sqrt(1 - c * c) * z2)
    for act in ("tanh", "hard_tanh"):
        f = get_activation(act)
        samples = f(ua) * f(ub)
        se = samples.std() / np.sqrt(samples.size)
        assert abs(theory.bivariate_gaussian_expectation(act, act, q, c) - samples.mean()) < 5 * se


def _simulate(keep_prob, sigma_w2, sigma_b2, act, q0, c0, width, n_layers, n_nets, n_pairs, rng):
    """Empirical q^l and c^l of finite-width dropout networks, averaged over input pairs and networks.

    Each pair (a, b) has variance q0 and cosine c0; dropout masks are independent per unit, input
    and layer; c^l is the cosine q_ab / sqrt(q_aa q_bb) of the pre-activations. Given the layer's
    noisy activations x (one row per input), the pre-activations h = W x + b of a layer with fresh
    Gaussian weights and biases are, unit by unit, independent Gaussian vectors with covariance
    sigma_w2 x x^T / width + sigma_b2, so they are drawn exactly from that covariance instead of
    through a width x width weight matrix.
    """
    qs, cs = np.zeros((n_nets, n_layers + 1)), np.zeros((n_nets, n_layers + 1))
    for net in range(n_nets):
        za, zb = rng.standard_normal((2, n_pairs, width))
        h = np.concatenate([za, c0 * za + np.sqrt(1 - c0**2) * zb]) * np.sqrt(q0)  # (2 n_pairs, width)
        for layer in range(n_layers + 1):
            qaa, qbb = (h[:n_pairs] ** 2).mean(1), (h[n_pairs:] ** 2).mean(1)
            qab = (h[:n_pairs] * h[n_pairs:]).mean(1)
            qs[net, layer], cs[net, layer] = 0.5 * (qaa + qbb).mean(), (qab / np.sqrt(qaa * qbb)).mean()
            if layer == n_layers:
                break
            x = act(h) * (rng.random(h.shape) < keep_prob) / keep_prob
            cov = sigma_w2 * (x @ x.T) / width + sigma_b2
            h = np.linalg.cholesky(cov) @ rng.standard_normal(h.shape)
    return qs.mean(0), cs.mean(0)


@pytest.mark.parametrize(
    ("activation", "sigma_w2", "sigma_b2"),
    [("relu", 1.6, 0.0), ("tanh", 1.4, 0.1), ("hard_tanh", 1.4, 0.1)],
)
def test_wide_network_monte_carlo(activation, sigma_w2, sigma_b2):
    """Width 1000, 6 layers, 64 networks x 8 input pairs, seed 1: q within 5 % and c within 0.01.

    Over seeds 0-19 the largest deviations were 3.8 % in q (ReLU at criticality, where log q does a
    random walk across layers) and 0.007 in c.
    """
    keep, q0, c0 = 0.8, 1.0, 0.3
    rng = np.random.default_rng(1)
    q_sim, c_sim = _simulate(keep, sigma_w2, sigma_b2, get_activation(activation), q0, c0, 1000, 6, 64, 8, rng)
    noise = Dropout(keep)
    q_th = theory.iterate_variance(q0, 6, noise, sigma_w2, sigma_b2, activation)
    c_th = theory.iterate_correlation(c0, 6, noise, sigma_w2, sigma_b2, activation, q0=q0)
    np.testing.assert_allclose(q_sim, q_th, rtol=0.05)
    np.testing.assert_allclose(c_sim, c_th, atol=0.01)


# ------------------------------------------------------------------------------------------------
# properties (hypothesis)
# ------------------------------------------------------------------------------------------------
keep_probs = st.floats(0.02, 0.999)
noises = st.one_of(
    keep_probs.map(Dropout),
    st.floats(0.01, 3.0).map(MultiplicativeGaussian),
    st.floats(0.01, 2.0).map(MultiplicativeLaplace),
    st.floats(0.1, 10.0).map(MultiplicativePoisson),
)


@HYPOTHESIS
@given(noise=noises, q=st.floats(0.0, 50.0), dq=st.floats(1e-3, 10.0), sigma_w2=st.floats(0.1, 4.0), sigma_b2=st.floats(0.0, 1.0))
def test_variance_map_increasing_in_q(noise, q, dq, sigma_w2, sigma_b2):
    for act in ("relu", "tanh"):
        assert theory.variance_map(q + dq, noise, sigma_w2, sigma_b2, act) > theory.variance_map(q, noise, sigma_w2, sigma_b2, act)


@HYPOTHESIS
@given(noise=noises, c=st.floats(-1.0, 0.99), dc=st.floats(1e-3, 1.0), q=st.floats(0.01, 10.0), sigma_b2=st.floats(0.0, 1.0))
def test_correlation_map_increasing_in_c(noise, c, dc, q, sigma_b2):
    c2 = min(c + dc, 1.0)
    sigma_w2 = theory.critical_weight_variance(noise)
    assert theory.correlation_map(c2, noise, sigma_w2, sigma_b2, q=q) > theory.correlation_map(c, noise, sigma_w2, sigma_b2, q=q)
    assert theory.correlation_map(c2, noise, 1.5, sigma_b2, "tanh", q=q) > theory.correlation_map(c, noise, 1.5, sigma_b2, "tanh", q=q)


@HYPOTHESIS
@given(noise=noises)
def test_critical_relu_fixed_point_properties(noise):
    c_star = theory.correlation_fixed_point(noise)
    assert 0 < c_star < 1
    assert theory.correlation_map(c_star, noise, theory.critical_weight_variance(noise), 0.0, q=1.0) == pytest.approx(c_star, abs=1e-13)
    chi = theory.correlation_slope(c_star, noise)
    assert 0 < chi < 1
    xi = theory.depth_scale(noise)
    assert 0 < xi < np.inf and xi == pytest.approx(-1 / math.log(chi), rel=1e-12)


# ------------------------------------------------------------------------------------------------
# broadcasting
# ------------------------------------------------------------------------------------------------
def test_broadcasting_over_noise_families():
    family = Dropout(keep_prob=np.linspace(0.1, 1.0, 10))
    c = np.linspace(-1, 1, 51)[:, None]
    assert theory.correlation_map(c, family, family.keep_prob * 2, 0.0, q=1.0).shape == (51, 10)
    assert theory.correlation_slope(c, family).shape == (51, 10)
    assert theory.correlation_fixed_point(family).shape == (10,)
    assert theory.depth_scale(family).shape == (10,)
    assert theory.gradient_slope(family).shape == (10,)
    assert theory.variance_map(np.ones((3, 1)), family, 1.0, 0.0).shape == (3, 10)
    assert theory.variance_fixed_point(family, np.array([[1.0], [2.0]]), 0.1).shape == (2, 10)
    assert theory.iterate_variance(1.0, 4, family, None, 0.0).shape == (5, 10)
    assert theory.iterate_correlation(c, 3, family).shape == (4, 51, 10)
    assert theory.failure_depth(family, np.linspace(0.1, 2.5, 25)[:, None]).shape == (25, 10)
    tanh_family = theory.correlation_fixed_point(Dropout([0.6, 0.9]), np.array([[1.2], [1.4]]), 0.1, "tanh")
    assert tanh_family.shape == (2, 2)
    # each member equals the scalar computation
    assert tanh_family[1, 1] == pytest.approx(theory.correlation_fixed_point(Dropout(0.9), 1.4, 0.1, "tanh"), abs=1e-14)
    np.testing.assert_allclose(theory.depth_scale(family)[:3], [theory.depth_scale(n) for n in list(family)[:3]], rtol=1e-14)


def test_scalars_give_floats():
    for value in (
        theory.variance_map(1.0, NoNoise(), 2.0, 0.0),
        theory.correlation_map(0.5, NoNoise(), 2.0, 0.0, q=1.0),
        theory.correlation_fixed_point(Dropout(0.8)),
        theory.depth_scale(Dropout(0.8)),
        theory.variance_fixed_point(Dropout(0.8), 1.0, 0.1),
        theory.correlation_slope(0.2, Dropout(0.8)),
        theory.gradient_slope(Dropout(0.8)),
        theory.failure_depth(Dropout(0.8), 1.0),
        theory.gaussian_expectation(np.tanh, 1.0),
    ):
        assert type(value) is float


def test_shapes_that_do_not_broadcast():
    with pytest.raises(InvalidParameterError, match=r"c \(5,\).*noise \(3,\)"):
        theory.correlation_map(np.linspace(0, 1, 5), Dropout([0.5, 0.6, 0.7]), 1.0, 0.0, q=1.0)


# ------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: theory.variance_map(-1.0, NoNoise(), 1.0, 0.0), r"q must be in \[0, inf\)"),
        (lambda: theory.variance_map(float("nan"), NoNoise(), 1.0, 0.0), "q must be finite"),
        (lambda: theory.variance_map(1.0, NoNoise(), 0.0, 0.0), r"sigma_w2 must be in \(0, inf\)"),
        (lambda: theory.variance_map(1.0, NoNoise(), float("inf"), 0.0), "sigma_w2 must be finite"),
        (lambda: theory.variance_map(1.0, NoNoise(), 1.0, -0.1), r"sigma_b2 must be in \[0, inf\)"),
        (lambda: theory.variance_map(1.0, 0.5, 1.0, 0.0), "noise must be a nsp_helpers.noise.NoiseModel"),
        (lambda: theory.variance_map(1.0, NoNoise(), 1.0, 0.0, "sigmoid"), "activation must be one of"),
        (lambda: theory.variance_map("one", NoNoise(), 1.0, 0.0), "q must be a real number"),
        (lambda: theory.correlation_map(1.5, NoNoise(), 1.0, 0.0, q=1.0), r"c must be in \[-1, 1\]"),
        (lambda: theory.correlation_map(0.5, NoNoise(), 1.0, 0.0, q=0.0), r"q must be in \(0, inf\)"),
        (lambda: theory.correlation_slope(0.5, NoNoise(), q=-1.0), r"q must be in \(0, inf\)"),
        (lambda: theory.correlation_fixed_point(Dropout(0.8), None, 0.1), r"sigma_b2 must be 0 or None for activation='relu' with sigma_w2=None"),
        (lambda: theory.variance_map(1.0, NoisyNetwork(Dropout(0.6)), 1.0), "sigma_w2 must be left out"),
        (lambda: theory.depth_scale(NoisyNetwork(Dropout(0.6)), sigma_b2=0.0), "sigma_b2 must be left out"),
        (lambda: theory.depth_scale(NoisyNetwork(Dropout(0.6)), activation="tanh"), "activation must be left out"),
        (lambda: theory.failure_depth(Dropout(0.5), 1.0, activation="tanh"), "activation must be 'relu' or 'linear'"),
        (lambda: theory.depth_scale_map(NoisyNetwork(Dropout(0.6)), [1.0], [0.0]), "not a NoisyNetwork"),
        (lambda: theory.linear_network_closed_forms(Dropout(0.5)), "sigma_w2 and sigma_b2 must be given"),
        (lambda: theory.gradient_slopes(Dropout([0.5, 0.6])), "single network"),
        (lambda: theory.depth_scale(Dropout(0.8), sigma_w2=-1.0), "sigma_w2 must be in"),
        (lambda: theory.variance_fixed_point(NoNoise(), 1.0, 0.0, q0=-1.0), r"q0 must be in \[0, inf\)"),
        (lambda: theory.iterate_variance(1.0, -1, NoNoise(), 1.0, 0.0), "n_layers must be an integer >= 0"),
        (lambda: theory.iterate_variance(1.0, 2.5, NoNoise(), 1.0, 0.0), "n_layers must be an integer >= 0"),
        (lambda: theory.iterate_correlation(0.5, True, NoNoise()), "n_layers must be an integer >= 0"),
        (lambda: theory.iterate_correlation(-2.0, 3, NoNoise()), r"c0 must be in \[-1, 1\]"),
        (lambda: theory.iterate_correlation(0.5, 3, NoNoise(), q0=0.0), r"q0 must be in \(0, inf\)"),
        (lambda: theory.failure_depth(Dropout(0.5), 1.0, q0=0.0), r"q0 must be in \[1.17549e-38, 3.40282e\+38\]"),
        (lambda: theory.gaussian_expectation(np.tanh, -1.0), r"q must be in \[0, inf\)"),
        (lambda: theory.gaussian_expectation(np.tanh, 1.0, n_nodes=2), "n_nodes must be None"),
        (lambda: theory.bivariate_gaussian_expectation(np.tanh, np.tanh, 1.0, -1.01), r"c must be in \[-1, 1\]"),
    ],
)
def test_bad_input_names_the_parameter(call, message):
    with pytest.raises(InvalidParameterError, match=message):
        call()


def test_imports_neither_torch_nor_matplotlib():
    import subprocess
    import sys

    code = "import sys, nsp_helpers.theory; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


# ------------------------------------------------------------------------------------------------
# regressions from the cross-check against an independent implementation (degenerate limits)
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["tanh", "hard_tanh"])
@pytest.mark.parametrize("sigma_w2", [0.5, 1.0])
def test_q_star_zero_without_noise_is_critical(activation, sigma_w2):
    # sigma_w2 <= 1, no bias: q* = 0 exactly, the map is c' = c, chi = 1 (was -7.5e14 for tanh)
    assert theory.variance_fixed_point(NoNoise(), sigma_w2, 0.0, activation) == 0.0
    assert theory.correlation_fixed_point(NoNoise(), sigma_w2, 0.0, activation) == 1.0
    assert theory.correlation_slope(0.3, NoNoise(), sigma_w2, 0.0, activation) == 1.0
    assert theory.depth_scale(NoNoise(), sigma_w2, 0.0, activation) == math.inf


@pytest.mark.parametrize("activation", ["tanh", "hard_tanh"])
def test_q_star_zero_with_noise_is_linear_limit(activation):
    # sigma_w2 mu2 <= 1: q* = 0 and c' = c / mu2, so c* = 0 and xi_c = 1 / ln mu2
    keep = np.array([0.5, 0.8])  # sigma_w2 mu2 = 1 and 0.625
    noise = Dropout(keep_prob=keep)
    assert np.all(theory.variance_fixed_point(noise, 0.5, 0.0, activation) == 0.0)
    np.testing.assert_array_equal(theory.correlation_fixed_point(noise, 0.5, 0.0, activation), [0.0, 0.0])
    np.testing.assert_allclose(theory.depth_scale(noise, 0.5, 0.0, activation), 1 / np.log(1 / keep), rtol=1e-14)


def test_hard_tanh_q_star_zero_at_sigma_w2_mu2_one():
    # V(q) - q ~ -exp(-1/(2q)) underflows against q: an iteration stalls near q = 0.012; the limit is 0
    assert theory.variance_fixed_point(NoNoise(), 1.0, 0.0, "hard_tanh") == 0.0
    assert theory.variance_fixed_point(Dropout(keep_prob=0.6), 0.6, 0.0, "hard_tanh", q0=5.0) == 0.0


@pytest.mark.parametrize("sigma_w2", [2.0, 3.0])
@pytest.mark.parametrize("sigma_b2", [0.0, 0.1])
def test_additive_noise_infinite_q_star_limit(sigma_w2, sigma_b2):
    # q* = inf: additive noise and biases are negligible, the map is the noise-free one (mu2 = 1)
    noise = AdditiveGaussian(std=[0.5, 1.0])
    assert np.all(np.isinf(theory.variance_fixed_point(noise, sigma_w2, sigma_b2)))
    np.testing.assert_array_equal(theory.correlation_fixed_point(noise, sigma_w2, sigma_b2), [1.0, 1.0])
    np.testing.assert_array_equal(theory.depth_scale(noise, sigma_w2, sigma_b2), [math.inf, math.inf])
    np.testing.assert_array_equal(theory.correlation_fixed_point(noise, sigma_w2, sigma_b2, "linear"), [1.0, 1.0])
    np.testing.assert_array_equal(theory.depth_scale(noise, sigma_w2, sigma_b2, "linear"), [math.inf, math.inf])


def test_additive_noise_limit_is_continuous():
    # just below sigma_w2 = 2, q* = 4 sigma_eps^2 / delta is huge and c* -> 1, xi_c -> inf
    c_star = theory.correlation_fixed_point(AdditiveGaussian(std=1.0), 2.0 - 1e-9, 0.0)
    assert 1.0 - 1e-5 < c_star < 1.0
    assert theory.depth_scale(AdditiveGaussian(std=1.0), 2.0 - 1e-9, 0.0) > 1e3


def test_depth_scale_never_negative_or_nan():
    noises = [NoNoise(), Dropout(keep_prob=np.linspace(0.05, 1, 6)), AdditiveGaussian(std=[0.0, 0.5]),
              MultiplicativeGaussian(std=[0.25, 2.0])]
    for activation in ["relu", "linear", "tanh", "hard_tanh"]:
        for noise in noises:
            for sigma_w2 in [0.5, 1.0, 2.0, 3.0]:
                for sigma_b2 in [0.0, 0.1]:
                    xi = np.asarray(theory.depth_scale(noise, sigma_w2, sigma_b2, activation))
                    c_star = np.asarray(theory.correlation_fixed_point(noise, sigma_w2, sigma_b2, activation))
                    where = (activation, noise, sigma_w2, sigma_b2)
                    assert np.all(xi > 0) and not np.any(np.isnan(xi)), where
                    assert np.all(np.abs(c_star) <= 1.0), where


@pytest.mark.parametrize("mu2_minus_1", [1e-12, 1e-8, 1e-4, 0.1, 3.0])
def test_relu_fixed_point_near_mu2_one_against_mpmath(mu2_minus_1):
    # tan(theta) - theta = pi (mu2 - 1) for theta* = arccos c*; xi_c ~ pi / theta* as mu2 -> 1
    # the reference is the noise model itself, mu2 = 1 + std^2 in exact arithmetic (not float(mu2), which
    # rounds mu2 - 1 = 1e-12 by 9e-5 relative): the theory reads mu2 - 1 = std^2 from the model (mu2_excess)
    noise = MultiplicativeGaussian(std=math.sqrt(mu2_minus_1))
    with mp.workdps(50):
        mu2 = 1 + mp.mpf(float(noise.std)) ** 2
        s = mp.pi * (mu2 - 1)
        # Newton from an upper bound of the root of the convex increasing tan(t) - t - s
        start = min(mp.cbrt(3 * s), mp.atan(s + mp.pi / 2))
        theta = mp.findroot(lambda t: mp.tan(t) - t - s, start, solver="newton", df=lambda t: mp.tan(t) ** 2)
        xi_ref = -1 / (mp.log(1 - theta / mp.pi) - mp.log(mu2))
        c_ref = mp.cos(theta)
    assert abs(theory.correlation_fixed_point(noise) - float(c_ref)) <= 2e-16
    assert theory.depth_scale(noise) == pytest.approx(float(xi_ref), rel=1e-13)


@pytest.mark.parametrize("q", [0.1, 1.7, 20.0])
def test_tanh_slope_at_c_minus_one_against_mpmath(q):
    # at c = -1, u_b = -u_a: chi = sigma_w2 q E[sech^4(sqrt(q) z)] / q' (one-dimensional reference)
    sigma_w2 = 1.4
    with mp.workdps(30):
        sech4 = mp.quad(lambda z: mp.sech(mp.sqrt(q) * z) ** 4 * mp.npdf(z), [-mp.inf, -2, 0, 2, mp.inf])
        tanh2 = mp.quad(lambda z: mp.tanh(mp.sqrt(q) * z) ** 2 * mp.npdf(z), [-mp.inf, -2, 0, 2, mp.inf])
        ref = float(sigma_w2 * q * sech4 / (sigma_w2 * tanh2))
    got = theory.correlation_slope(-1.0, NoNoise(), sigma_w2, 0.0, "tanh", q=q)
    assert got == pytest.approx(ref, rel=1e-13)


# ------------------------------------------------------------------------------------------------
# one argument order: a NoisyNetwork in place of (noise, sigma_w2, sigma_b2, activation)
# ------------------------------------------------------------------------------------------------
NETWORK_SETTINGS = [
    (Dropout(0.6), None, None, "relu"),
    (Dropout(keep_prob=[0.5, 0.9]), None, None, "linear"),
    (Dropout(0.8), 1.5, 0.1, "tanh"),
    (AdditiveGaussian(0.5), 1.2, 0.05, "relu"),
    (MultiplicativeGaussian(0.3), 0.9, 0.0, "hard_tanh"),
    (NoNoise(), 2.0, 0.2, "tanh"),
    (Dropout(0.9), None, None, "tanh"),  # critical: the noisy edge of chaos at DEFAULT_SIGMA_B2
]


@pytest.mark.parametrize(("noise", "sigma_w2", "sigma_b2", "activation"), NETWORK_SETTINGS)
def test_network_methods_equal_the_theory_functions(noise, sigma_w2, sigma_b2, activation):
    net = NoisyNetwork(noise, sigma_w2, sigma_b2, activation, n_layers=4)
    sw, sb = net.sigma_w2, net.sigma_b2
    # the same network given loose, given whole, and its methods: bit-identical
    loose = (noise, sw, sb, activation)
    q = np.array([0.2, 1.0, 3.0]).reshape((-1,) + (1,) * len(net.shape))
    c = np.array([-0.5, 0.3, 0.9]).reshape((-1,) + (1,) * len(net.shape))
    same = np.testing.assert_array_equal
    same(net.variance_map(q), theory.variance_map(q, *loose))
    same(theory.variance_map(q, net), theory.variance_map(q, *loose))
    same(net.variance_slope(q), theory.variance_slope(*loose, q=q))
    same(net.variance_slope(), theory.variance_slope(*loose))
    same(net.variance_fixed_point(), theory.variance_fixed_point(*loose))
    same(net.variance_fixed_point(q0=2.5), theory.variance_fixed_point(*loose, q0=2.5))
    same(net.iterate_variance(1.5), theory.iterate_variance(1.5, 4, *loose))
    same(net.iterate_variance(1.5, 2), theory.iterate_variance(1.5, 2, *loose))
    same(net.correlation_map(c), theory.correlation_map(c, *loose))
    same(net.correlation_map(c, q=1.3), theory.correlation_map(c, *loose, q=1.3))
    c_star = theory.correlation_fixed_point(*loose)
    same(net.correlation_fixed_point(), c_star)
    same(net.correlation_slope(), theory.correlation_slope(c_star, *loose))
    same(net.correlation_slope(c, q=0.7), theory.correlation_slope(c, *loose, q=0.7))
    same(net.iterate_correlation(0.2), theory.iterate_correlation(0.2, 4, *loose))
    same(net.iterate_correlation(0.2, 3, q0=0.5), theory.iterate_correlation(0.2, 3, *loose, q0=0.5))
    same(net.depth_scale(), theory.depth_scale(*loose))
    same(net.gradient_slope(), theory.gradient_slope(*loose))
    same(net.gradient_depth_scale(), theory.gradient_depth_scale(*loose))
    # sigma_w2=None resolves through critical_parameters, exactly as the network does
    if sigma_w2 is None:
        same(theory.depth_scale(noise, activation=activation), net.depth_scale())
        same(theory.variance_map(q, noise, activation=activation), net.variance_map(q))
    if activation in ("relu", "linear"):
        if np.all(noise.additive_variance == 0) or sigma_w2 is not None:
            same(theory.failure_depth(net), theory.failure_depth(*loose))
    if net.shape == ():
        assert theory.gradient_slopes(net) == theory.gradient_slopes(*loose)


def test_critical_sigma_w2_is_resolved_once_by_critical_parameters():
    noise = Dropout(keep_prob=[0.3, 0.6, 0.9])
    sw, sb = theory.critical_parameters(noise)
    np.testing.assert_array_equal(sw, 2 * noise.keep_prob)  # exactly 2p, not 2 / (1/p)
    assert sb == 0.0
    np.testing.assert_array_equal(theory.variance_slope(noise), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(theory.depth_scale(noise), theory.depth_scale(noise, sw, sb))
    # other activations: the noisy edge of chaos, with a bias variance
    one = Dropout(0.9)
    sw_t, sb_t = theory.critical_parameters(one, "tanh")
    assert sb_t == theory.DEFAULT_SIGMA_B2
    assert theory.gradient_slope(one, activation="tanh") == theory.gradient_slope(one, sw_t, sb_t, "tanh")
    assert theory.critical_weight_variance(one, "tanh") == sw_t
    sw_t2, _ = theory.critical_parameters(one, "tanh", 0.2)
    assert theory.depth_scale(one, None, 0.2, "tanh") == theory.depth_scale(one, sw_t2, 0.2, "tanh")


def test_failure_depth_with_biases_and_linear_networks():
    # the affine recursion q' = a q + b with b = sigma_w2 sigma_eps^2 + sigma_b2
    noise = Dropout(0.5)
    assert theory.failure_depth(noise, 0.75, 0.1) == math.inf  # a = 0.75 < 1: finite fixed point
    depth = theory.failure_depth(noise, 3.0, 0.3, q0=1.0)  # a = 3, q^L = 3^L (q0 + 0.15) - 0.15
    assert 3.0**depth * 1.15 - 0.15 == pytest.approx(theory.FLOAT32_MAX, rel=1e-10)
    # linear: a = sigma_w2 mu2
    assert theory.failure_depth(noise, 0.25, activation="linear") == pytest.approx(
        math.log(theory.FLOAT32_TINY) / math.log(0.5), rel=1e-14
    )
    assert theory.failure_depth(noise, activation="linear") == math.inf  # critical: 1 / mu2
