"""nsp_helpers.theory.finite_width: the finite-width random walk of ln q, checked three ways.

1. closed forms: the exact cumulants against the binomial-chi-square mixture (no noise, dropout) and the
   chi-square law (linear network), the leading order as the limit of the exact result;
2. high precision: the noise expectation inside the Laplace transform against mpmath;
3. Monte Carlo: a small, self-contained torch simulation of whole networks (independent of
   nsp_helpers.simulate and of the theory): one input per network, each layer sampled exactly from the
   previous one (given x^{l-1}, the h^l_i are i.i.d. N(0, sigma_w^2 mean_j (x^{l-1}_j)^2): N normals per
   layer and no weight matrix), in float64.

Tolerances are in standard errors of the simulated statistic (fixed seeds; 4 in the fast tests, 4.5 for
the 560 comparisons of the slow grid). The fast tests take about ten seconds; the full grid (widths
32-2048, depths to 200, four noise models, 2000 networks each; about ten minutes on one CPU core) is
marked slow. Set NSP_FINITE_WIDTH_TABLE=path.json to have it write its agreement table.
"""

import json
import math
import os
import time

import numpy as np
import pytest
import torch
from scipy import special, stats

from nsp_helpers.theory import finite_width as fw
from nsp_helpers.errors import InvalidParameterError
from nsp_helpers.noise import (
    AdditiveGaussian,
    Dropout,
    MultiplicativeGaussian,
    MultiplicativeLaplace,
    MultiplicativePoisson,
    NoNoise,
)

# the three mean-field-equivalent noise models of the chapter (mu2 = 2) and no noise
SAME_MU2 = {
    "none": NoNoise(),
    "dropout 0.5": Dropout(keep_prob=0.5),
    "Gaussian 1": MultiplicativeGaussian(std=1.0),
    "Poisson 1": MultiplicativePoisson(rate=1.0),
}


# --- the simulation -------------------------------------------------------------------------------------
def simulate_log_q(noise, width, depths, n_networks, sigma_w2=None, *, seed=0, inputs="fixed_norm"):
    """ln(q_hat^L / q^0) of ``n_networks`` independent ReLU networks at each depth in ``depths``.

    Dead networks (every unit of some layer silenced) give -inf.
    """
    gen = torch.Generator().manual_seed(seed)
    sw2 = 2.0 / noise.mu2 if sigma_w2 is None else sigma_w2
    z = torch.randn((n_networks, width), generator=gen, dtype=torch.float64)
    h = z * torch.rsqrt((z * z).mean(1, keepdim=True)) if inputs == "fixed_norm" else z  # q^0 = 1
    out = {}
    for layer in range(1, max(depths) + 1):
        x = noise.apply(h.clamp_min(0), generator=gen)                      # x^{l-1} = eps * relu(h^{l-1})
        v = sw2 * (x * x).mean(1, keepdim=True)                              # Var(h^l_i | x^{l-1})
        h = torch.randn((n_networks, width), generator=gen, dtype=torch.float64) * v.sqrt()
        if layer in depths:
            out[layer] = torch.log((h * h).mean(1)).numpy()
    return out


def _compare(sample, n_layers, width, noise, sigma_w2=None, probs=(0.05, 0.5, 0.95), **kwargs):
    """Simulated vs exact mean, variance and quantiles of ln q, as z-scores (in standard errors)."""
    alive = sample[np.isfinite(sample)]
    n = alive.size
    theory = fw.log_q_cumulants(n_layers, width, noise, sigma_w2, **kwargs)
    quantiles = fw.log_q_quantiles(probs, n_layers, width, noise, sigma_w2, **kwargs)
    mean, var = alive.mean(), alive.var(ddof=1)
    m4 = np.mean((alive - mean) ** 4)
    out = {
        "mean": (mean - theory.mean) / math.sqrt(var / n),
        "variance": (var - theory.variance) / math.sqrt((m4 - var**2) / n),
    }
    std = math.sqrt(theory.variance)
    for p, q in zip(probs, quantiles):
        # standard error of a sample quantile: sqrt(p (1 - p) / n) / density, the density taken as normal
        density = stats.norm.pdf(stats.norm.ppf(p)) / std
        out[f"q{p:g}"] = (np.quantile(alive, p) - q) / (math.sqrt(p * (1 - p) / n) / density)
    return out, theory, quantiles


# --- closed forms -----------------------------------------------------------------------------------------
def _mixture_cumulants(width, active_prob):
    """Exact cumulants of ln(Ybar / E Ybar) given Ybar > 0 when Ybar = c chi2_K / N, K ~ Binomial(N, r)."""
    k = np.arange(1, width + 1)
    pk = stats.binom.pmf(k, width, active_prob)
    pk = pk / pk.sum()
    m = special.digamma(k / 2) + np.log(2.0) - np.log(width * active_prob)
    v, t = special.polygamma(1, k / 2), special.polygamma(2, k / 2)
    mean = np.sum(pk * m)
    d = m - mean
    return mean, np.sum(pk * (v + d**2)), np.sum(pk * (t + 3 * v * d + d**3))


@pytest.mark.parametrize("width", [1, 2, 5, 32, 128, 2048])
@pytest.mark.parametrize("keep_prob", [1.0, 0.5, 0.1])
def test_exact_cumulants_match_the_binomial_chi_square_mixture(width, keep_prob):
    # no noise / dropout: Ybar = chi2_K / (N p^2) with K ~ Bin(N, p/2) active, kept units
    exact = fw.layer_log_cumulants(width, Dropout(keep_prob=keep_prob))
    mixture = _mixture_cumulants(width, keep_prob / 2)
    np.testing.assert_allclose(exact, mixture, rtol=1e-8, atol=1e-11)


def test_linear_network_without_noise_is_a_chi_square_walk():
    widths = np.array([1, 3, 10, 100, 10000])
    exact = fw.layer_log_cumulants(widths, NoNoise(), activation="linear")
    n = widths / 2
    np.testing.assert_allclose(exact.mean, special.digamma(n) - np.log(n), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(exact.variance, special.polygamma(1, n), rtol=1e-9)
    np.testing.assert_allclose(exact.third, special.polygamma(2, n), rtol=1e-7, atol=1e-13)
    # and the first step of a fixed-norm input is ln(Ybar/G) = 0 exactly: no spread at all
    one = fw.log_q_cumulants(1, widths, NoNoise(), activation="linear", measure="conditional")
    np.testing.assert_allclose(one.variance, 0.0, atol=1e-10)


@pytest.mark.parametrize("noise", list(SAME_MU2.values()) + [MultiplicativeLaplace(scale=0.7), Dropout(0.8)])
def test_leading_order_is_the_large_width_limit_of_the_exact_result(noise):
    kappa = fw.unit_relative_variance(noise)
    widths = np.array([1000, 10000, 100000])
    exact = fw.layer_log_cumulants(widths, noise)
    # the corrections are O(1/N^2): N * (cumulant) approaches its leading value like 1/N
    np.testing.assert_allclose(widths * exact.variance, kappa, rtol=40 * kappa / widths.min())
    np.testing.assert_allclose(widths * exact.mean, -kappa / 2, rtol=40 * kappa / widths.min())
    err = np.abs(widths * exact.variance - kappa)
    assert err[2] < err[1] < err[0]
    assert np.all(np.abs(widths**2 * exact.third) < 50 * kappa**2)


def test_unit_relative_variance_closed_forms():
    assert [fw.unit_relative_variance(m) for m in SAME_MU2.values()] == [5.0, 11.0, 14.0, 21.5]
    np.testing.assert_allclose(fw.unit_relative_variance(Dropout(keep_prob=[0.2, 0.5, 1.0])), [29.0, 11.0, 5.0])
    assert fw.unit_relative_variance(MultiplicativeLaplace(scale=0.5)) == pytest.approx(6 * 5.5 / 1.5**2 - 1)
    assert fw.unit_relative_variance(NoNoise(), activation="linear") == 2.0


# --- high precision ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", [("gaussian", 1.0), ("gaussian", 0.05), ("laplace", 0.7)])
def test_noise_expectation_in_the_laplace_transform_matches_mpmath(key):
    import mpmath as mp

    mp.mp.dps = 30
    s = mp.mpf(key[1])
    pdf = (lambda e: mp.npdf(e, 1, s)) if key[0] == "gaussian" else (lambda e: mp.exp(-abs(e - 1) / s) / (2 * s))
    for a in [1e-6, 0.3, 50.0, 1e8, 1e30]:
        c = 1 / mp.sqrt(2 * a)
        ref = mp.quad(lambda e: pdf(e) * (1 - 1 / mp.sqrt(1 + 2 * a * e * e)), sorted({-mp.inf, -c, 0, c, 1 - s, 1, 1 + s, mp.inf}))
        assert fw._expect_continuous(np.array([a]), key)[0] == pytest.approx(float(ref), rel=1e-12)


# --- Monte Carlo: one layer ---------------------------------------------------------------------------------
@pytest.mark.parametrize("noise", [MultiplicativeGaussian(std=1.0), MultiplicativeLaplace(scale=0.7), MultiplicativePoisson(rate=1.0)])
@pytest.mark.parametrize("width", [4, 64])
def test_exact_layer_cumulants_match_sampled_average(noise, width):
    # 10^5 draws of ln(Ybar) with Ybar = mean of N terms eps^2 relu(z)^2, directly (not through a network)
    gen = torch.Generator().manual_seed(width)
    n = 100_000
    eps = noise.sample((n, width), generator=gen, dtype=torch.float64)
    z = torch.randn((n, width), generator=gen, dtype=torch.float64)
    ybar = (eps**2 * z.clamp_min(0) ** 2).mean(1).numpy()
    log = np.log(2.0 / noise.mu2 * ybar[ybar > 0])
    exact = fw.layer_log_cumulants(width, noise)
    sd = log.std()
    assert abs(log.mean() - exact.mean) < 4 * sd / math.sqrt(log.size)
    assert abs(log.var() - exact.variance) < 4 * math.sqrt(np.mean((log - log.mean()) ** 4) - sd**4) / math.sqrt(log.size)
    assert stats.kstat(log, 3) == pytest.approx(exact.third, rel=0.1, abs=0.02 * exact.variance)
    assert np.mean(ybar == 0) == pytest.approx(fw.layer_death_probability(width, noise), abs=4 * math.sqrt(1e-6 + fw.layer_death_probability(width, noise) / n))


# --- Monte Carlo: whole networks ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(SAME_MU2))
@pytest.mark.parametrize("width, n_layers, n_networks", [(32, 50, 1500), (128, 20, 1000)])
def test_network_simulation_matches_exact_theory(name, width, n_layers, n_networks):
    noise = SAME_MU2[name]
    sample = simulate_log_q(noise, width, [n_layers], n_networks, seed=width + n_layers)[n_layers]
    z, _, _ = _compare(sample, n_layers, width, noise)
    assert max(abs(v) for v in z.values()) < 4, z


def test_gaussian_inputs_and_conditional_variance_conventions():
    noise, width, n_layers = Dropout(keep_prob=0.5), 64, 10
    sample = simulate_log_q(noise, width, [n_layers], 4000, seed=3, inputs="gaussian")[n_layers]
    z, theory, _ = _compare(sample, n_layers, width, noise, inputs="gaussian")
    assert max(abs(v) for v in z.values()) < 4, z
    fixed = fw.log_q_cumulants(n_layers, width, noise)
    conditional = fw.log_q_cumulants(n_layers, width, noise, measure="conditional")
    # the gaussian input adds one chi2_N/N factor, the conditional variance removes the last one
    assert theory.variance - fixed.variance == pytest.approx(special.polygamma(1, width / 2))
    assert fixed.variance - conditional.variance == pytest.approx(special.polygamma(1, width / 2))


def test_death_rate_and_conditional_cumulants_at_small_width():
    # width 8, dropout 1/2: a layer silences every unit with probability 0.75^8 = 10 %
    noise, width, n_layers = Dropout(keep_prob=0.5), 8, 10
    sample = simulate_log_q(noise, width, [n_layers], 20000, seed=8)[n_layers]
    survival = fw.survival_probability(n_layers, width, noise)
    assert survival == pytest.approx((1 - 0.75**8) ** 10)
    alive = np.isfinite(sample).mean()
    assert abs(alive - survival) < 4 * math.sqrt(survival * (1 - survival) / sample.size)
    mean, var = (fw.log_q_cumulants(n_layers, width, noise)[k] for k in (0, 1))
    ok = sample[np.isfinite(sample)]
    assert abs(ok.mean() - mean) < 4 * math.sqrt(var / ok.size)
    assert ok.var() == pytest.approx(var, rel=0.06)
    # the leading order misses this badly: its variance is 10 * 11/8 = 13.75
    assert fw.log_q_cumulants(n_layers, width, noise, method="leading").variance < 0.75 * var


def test_mean_is_stable_while_the_median_decays():
    # width 512, depth 20, no noise: Var[q_hat^L / q^0] = (1 + 5/512)^20 - 1 ~ 0.2, so the sample mean converges
    width, n_layers, n = 512, 20, 3000
    q = np.exp(simulate_log_q(NoNoise(), width, [n_layers], n, seed=20)[n_layers])
    assert abs(q.mean() - 1.0) < 4 * q.std() / math.sqrt(n)                  # E[q_hat^L] = q^0 exactly
    median = fw.log_q_quantiles(0.5, n_layers, width, NoNoise())
    assert median == pytest.approx(-n_layers * 5 / (2 * width), rel=0.05)    # ~ -0.1: the median decays
    se = math.sqrt(math.pi / 2 / n) * np.log(q).std()
    assert abs(np.median(np.log(q)) - median) < 4 * se
    assert np.median(q) < 1 - 10 * se


def test_median_stable_weight_variance_keeps_the_median_and_inflates_the_mean():
    noise, width, n_layers, n = Dropout(keep_prob=0.5), 64, 100, 2000
    sw2 = fw.median_stable_sigma_w2(width, noise)
    leading = fw.median_stable_sigma_w2(width, noise, method="leading")    # exp(11/128) = 1.0897
    assert leading < sw2 < 1.01 * leading                                     # the O(1/N^2) terms add 0.6 %
    assert leading == pytest.approx(1.0 + 11 / 128, rel=4e-3)
    assert fw.layer_log_cumulants(width, noise, sw2).mean == pytest.approx(0.0, abs=1e-12)
    sample = simulate_log_q(noise, width, [n_layers], n, sigma_w2=sw2, seed=64)[n_layers]
    sd = sample.std()
    assert abs(np.median(sample)) < 4 * math.sqrt(math.pi / 2 / n) * sd      # the median stays at q^0
    z, _, _ = _compare(sample, n_layers, width, noise, sw2)
    assert max(abs(v) for v in z.values()) < 4, z
    # the price: E[q_hat^L] / q^0 = (sigma_w^2 mu_2 / 2)^L
    assert (sw2 * noise.mu2 / 2) ** n_layers > 2.3


def test_width_for_spread_delivers_the_spread():
    noise, n_layers, target = Dropout(keep_prob=0.5), 20, 0.5
    width = fw.width_for_spread(target, n_layers, noise, method="exact")
    assert fw.width_for_spread(target, n_layers, noise) == 880                 # 20 * 11 / 0.25
    assert 880 <= width < 900                                                    # the O(1/N^2) terms add a little
    assert fw.log_q_cumulants(n_layers, width, noise).variance <= target**2 < fw.log_q_cumulants(n_layers, width - 1, noise).variance
    sample = simulate_log_q(noise, width, [n_layers], 2000, seed=21)[n_layers]
    assert sample.std(ddof=1) == pytest.approx(target, abs=4 * target / math.sqrt(2 * 2000))


# --- the API -------------------------------------------------------------------------------------------------
def test_families_broadcast():
    family = Dropout(keep_prob=[0.5, 0.8])
    c = fw.layer_log_cumulants(np.array([[32], [128], [512]]), family)
    assert np.shape(c.mean) == (3, 2)
    assert c.variance[1, 0] == pytest.approx(fw.layer_log_cumulants(128, Dropout(0.5)).variance)
    q = fw.log_q_quantiles([0.1, 0.9], np.array([10, 100]), 256, NoNoise())
    assert q.shape == (2, 2) and np.all(q[0] < q[1])
    lead = fw.log_q_cumulants(np.arange(1, 5), 100, Dropout(keep_prob=[[0.5], [0.8]]), method="leading")
    assert np.shape(lead.mean) == (2, 4)
    assert fw.median_stable_sigma_w2([32, 64], NoNoise()).shape == (2,)
    assert np.shape(fw.survival_probability([1, 10], 8, family[:1])) == (2,)


def test_a_noisy_network_can_stand_for_noise_and_sigma_w2():
    from nsp_helpers.network import NoisyNetwork

    net = NoisyNetwork(Dropout(keep_prob=0.5), width=128, n_layers=10)
    assert fw.layer_log_cumulants(128, net) == fw.layer_log_cumulants(128, Dropout(0.5), 1.0)
    with pytest.raises(InvalidParameterError, match="omit them"):
        fw.layer_log_cumulants(128, net, sigma_w2=1.0)
    data_inputs = NoisyNetwork(Dropout(keep_prob=0.5), input_activation=False)
    with pytest.raises(InvalidParameterError, match="input_activation=False"):
        fw.log_q_cumulants(10, 128, data_inputs)
    assert fw.layer_log_cumulants(128, data_inputs) == fw.layer_log_cumulants(128, net)   # one step is unaffected


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: fw.layer_log_cumulants(0, NoNoise()), r"width must be >= 1"),
        (lambda: fw.layer_log_cumulants(12.5, NoNoise()), r"width must be an integer"),
        (lambda: fw.layer_log_cumulants(True, NoNoise()), r"width must be an integer"),
        (lambda: fw.layer_log_cumulants(32, AdditiveGaussian(std=1.0)), r"noise must be multiplicative"),
        (lambda: fw.layer_log_cumulants(32, NoNoise(), sigma_b2=0.1), r"sigma_b2 must be 0"),
        (lambda: fw.layer_log_cumulants(32, NoNoise(), sigma_w2=-1.0), r"sigma_w2 must be in \(0, inf\)"),
        (lambda: fw.layer_log_cumulants(32, NoNoise(), activation="tanh"), r"activation must be 'relu' or 'linear'"),
        (lambda: fw.layer_log_cumulants(32, NoNoise(), method="exactly"), r"method must be one of 'exact', 'leading'"),
        (lambda: fw.log_q_cumulants(-1, 32, NoNoise()), r"n_layers must be >= 0"),
        (lambda: fw.log_q_cumulants(0, 32, NoNoise(), measure="conditional"), r"n_layers must be >= 1"),
        (lambda: fw.log_q_cumulants(5, 32, NoNoise(), inputs="normal"), r"inputs must be one of"),
        (lambda: fw.log_q_quantiles(1.0, 5, 32, NoNoise()), r"probabilities must be in \(0, 1\)"),
        (lambda: fw.width_for_spread(0.0, 5, NoNoise()), r"max_std must be in \(0, inf\)"),
        (lambda: fw.width_for_spread(0.1, 5, Dropout([0.5, 0.6])), r"single noise level"),
        (lambda: fw.width_for_spread(0.1, [5, 6], NoNoise()), r"n_layers must be a single integer"),
        (lambda: fw.unit_relative_variance(0.5), r"bare number is ambiguous"),
    ],
)
def test_bad_input_names_the_parameter_and_range(call, match):
    with pytest.raises(InvalidParameterError, match=match):
        call()


# --- the full agreement grid (slow) -----------------------------------------------------------------------------
GRID_WIDTHS = [32, 64, 128, 256, 512, 1024, 2048]
GRID_DEPTHS = [10, 50, 100, 200]
GRID_NETWORKS = 2000


@pytest.mark.slow
def test_agreement_grid_widths_32_to_2048_depths_to_200():
    """Simulated mean, variance and 5/50/95 % quantiles of ln q against the exact theory, in standard errors.

    112 cells (4 noise models x 7 widths x 4 depths) x 5 statistics = 560 comparisons: each within 4.5
    standard errors (a family-wise false-alarm rate of about 0.5 % if the theory is right), and no
    statistic biased on average by more than one standard error (the average z-score of a statistic over
    the cells has a standard error of about 0.25, the four depths of a network being correlated).
    """
    rows, started = [], time.time()
    for k, (name, noise) in enumerate(SAME_MU2.items()):
        for width in GRID_WIDTHS:
            samples = simulate_log_q(noise, width, GRID_DEPTHS, GRID_NETWORKS, seed=100 * width + k)
            for depth in GRID_DEPTHS:
                sample = samples[depth]
                z, theory, quantiles = _compare(sample, depth, width, noise)
                lead = fw.log_q_cumulants(depth, width, noise, method="leading")
                alive = sample[np.isfinite(sample)]
                rows.append({
                    "noise": name, "width": width, "depth": depth, "n_networks": GRID_NETWORKS,
                    "alive": int(alive.size), "survival_theory": fw.survival_probability(depth, width, noise),
                    "sim_mean": float(alive.mean()), "sim_variance": float(alive.var(ddof=1)),
                    "sim_quantiles": [float(np.quantile(alive, p)) for p in (0.05, 0.5, 0.95)],
                    "exact_mean": theory.mean, "exact_variance": theory.variance,
                    "exact_quantiles": [float(q) for q in quantiles],
                    "leading_mean": lead.mean, "leading_variance": lead.variance,
                    "z_scores": {k: float(v) for k, v in z.items()},
                })
    path = os.environ.get("NSP_FINITE_WIDTH_TABLE")
    if path:
        with open(path, "w") as f:
            json.dump({"wall_time_s": round(time.time() - started, 1), "torch": torch.__version__, "rows": rows}, f, indent=1)
    worst = max(rows, key=lambda r: max(abs(v) for v in r["z_scores"].values()))
    assert max(abs(v) for v in worst["z_scores"].values()) < 4.5, worst
    for stat in rows[0]["z_scores"]:
        assert abs(np.mean([r["z_scores"][stat] for r in rows])) < 1.0, stat
