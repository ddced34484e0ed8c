"""nsp_helpers.simulate.finite_width: ln q of many simulated networks against the finite-width theory, and the
claims of the chapter ``book/finite_width.md`` in a reduced form (fixed seeds, the chapter's tolerance).

The chapter compares the package's simulator (one fixed-norm input per network, the exact Gram-matrix sampler)
with :mod:`nsp_helpers.theory.finite_width` and states: every simulated quantile (5/25/50/75/95 %) and mean of
ln(q_hat^L/q^0), at depths 10-200, widths 32-2048, four noise models, lies within 4 standard errors of the exact
theory. The tests below run the same comparison with fewer networks and depths (about a minute on one core),
check that the tolerance can fail (the leading order does fail it), and check the statistics of the
comparison itself against independent formulas.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats

from nsp_helpers import simulate
from nsp_helpers.errors import InvalidParameterError
from nsp_helpers.noise import AdditiveGaussian, Dropout, MultiplicativeGaussian, MultiplicativePoisson, NoNoise
from nsp_helpers.simulate import finite_width as sfw
from nsp_helpers.theory import finite_width as fw

TOLERANCE = 4.0  # standard errors, as the chapter states


# --- the simulation -------------------------------------------------------------------------------------------
def test_one_fixed_norm_input_per_network_and_the_exact_sampler():
    sim = simulate.simulate_log_q(5, Dropout(keep_prob=0.5), width=40, n_networks=30, q0=2.5, seed=3, device="cpu")
    assert sim.log_q.shape == (6, 30) and sim.method == "gram" and sim.width == 40 and sim.n_layers == 5
    assert np.all(sim.log_q[0] == 0.0)
    assert sim.network.sigma_w2 == 1.0                    # critical for mu2 = 2
    # the same seed gives the same numbers; another seed others
    again = simulate.simulate_log_q(5, Dropout(keep_prob=0.5), width=40, n_networks=30, q0=2.5, seed=3, device="cpu")
    np.testing.assert_array_equal(sim.log_q, again.log_q)
    other = simulate.simulate_log_q(5, Dropout(keep_prob=0.5), width=40, n_networks=30, q0=2.5, seed=4, device="cpu")
    assert not np.allclose(sim.log_q[1:], other.log_q[1:])


def test_networks_are_independent_without_noise():
    # a shared input would make the first step of every noiseless network almost the same; one input each does not
    sim = simulate.simulate_log_q(1, NoNoise(), width=64, n_networks=3000, seed=5, device="cpu")
    exact = fw.log_q_cumulants(1, 64, NoNoise())
    sample = sim.log_q[1]
    assert sample.var(ddof=1) == pytest.approx(exact.variance, rel=4 * math.sqrt(2 / 3000) + 0.02)


def test_weights_and_gram_methods_agree_in_distribution():
    noise, width, depth = MultiplicativeGaussian(std=1.0), 48, 20
    gram = simulate.simulate_log_q(depth, noise, width=width, n_networks=1500, seed=6, device="cpu", method="gram")
    weights = simulate.simulate_log_q(depth, noise, width=width, n_networks=1500, seed=7, device="cpu", method="weights")
    assert gram.method == "gram" and weights.method == "weights"
    a, b = gram.log_q[-1], weights.log_q[-1]
    assert stats.ks_2samp(a, b).pvalue > 1e-3
    assert abs(a.mean() - b.mean()) < TOLERANCE * math.sqrt(a.var() / a.size + b.var() / b.size)


def test_dtype_is_float64_where_float32_would_underflow():
    # Poisson noise at width 32, depth 200: the lowest half per cent of ln q lies beyond float32's normal numbers
    deep = sfw._auto_dtype(sfw._network(MultiplicativePoisson(rate=1.0), None, None, None, width=32, input_width=32,
                                        n_layers=200), 200, 1.0)
    shallow = sfw._auto_dtype(sfw._network(NoNoise(), None, None, None, width=512, input_width=512, n_layers=50), 50, 1.0)
    tanh = sfw._auto_dtype(sfw._network(NoNoise(), None, None, "tanh", width=512, input_width=512, n_layers=50), 50, 1.0)
    assert (deep, shallow, tanh) == (torch.float64, torch.float32, torch.float64)
    sim = simulate.simulate_log_q(200, MultiplicativePoisson(rate=1.0), width=32, n_networks=200, seed=8, device="cpu")
    assert sim.dtype == "float64"
    assert fw.log_q_quantiles(0.005, 200, 32, MultiplicativePoisson(rate=1.0)) < math.log(np.finfo(np.float32).tiny)
    assert np.isfinite(sim.log_q[-1]).mean() > 0.99   # no underflow posing as a dead network


def test_dead_networks_stay_dead_and_are_counted():
    # width 4, dropout 1/2: a layer silences every unit with probability 0.75^4 = 0.32
    sim = simulate.simulate_log_q(6, Dropout(keep_prob=0.5), width=4, n_networks=4000, seed=9, device="cpu")
    dead = ~np.isfinite(sim.log_q)
    assert np.all(dead[1:] >= dead[:-1])                    # once dead, dead for good
    survival = fw.survival_probability(np.arange(7), 4, Dropout(keep_prob=0.5))
    se = np.sqrt(survival * (1 - survival) / 4000)
    assert np.all(np.abs(sim.alive - survival) <= TOLERANCE * se + 1e-12)
    mean, se_mean = sim.mean_ratio()                        # dead networks count 0 in the mean, which stays q0
    assert np.all(np.abs(mean[1:] - 1.0) < TOLERANCE * se_mean[1:])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: simulate.simulate_log_q(0, NoNoise(), width=8, device="cpu"), "n_layers must be"),
        (lambda: simulate.simulate_log_q(3, NoNoise(), width=8, n_networks=1, device="cpu"), "n_networks must be"),
        (lambda: simulate.simulate_log_q(3, NoNoise(), width=8, q0=0.0, device="cpu"), r"q0 must be in \(0, inf\)"),
        (lambda: simulate.simulate_log_q(3, Dropout([0.5, 0.8]), width=8, device="cpu"), "single noise level"),
        (lambda: simulate.simulate_log_q(3, NoNoise(), width=8, dtype="float16", device="cpu"), "dtype must be"),
        (lambda: simulate.log_q_agreement("not a simulation"), "LogQSimulation"),
        # sizes beyond memory: refused before numpy or torch allocates, naming the caller's parameter
        (lambda: simulate.simulate_log_q(5.520868745069588e16, NoNoise(), width=8, n_networks=16, device="cpu"),
         "reduce n_layers=55208687450695880, n_networks=16 or width=8$"),
        (lambda: simulate.simulate_log_q(4, NoNoise(), width=8, n_networks=10**15, device="cpu"),
         "reduce n_layers=4, n_networks=1000000000000000 or width=8$"),
        # n_networks as a dict needs every width
        (lambda: simulate.agreement_table([8, 16], [2], {8: 16}, noises={"none": NoNoise()}, device="cpu"),
         "n_networks must be an int or a dict with an entry for every width, got a dict without width 16"),
        (lambda: simulate.agreement_table([8], [2], {8: 1}, noises={"none": NoNoise()}, device="cpu"),
         r"n_networks\[8\] must be an integer >= 2"),
    ],
)
def test_bad_input_names_the_parameter(call, match):
    with pytest.raises(InvalidParameterError, match=match) as info:
        call()
    assert "needs" not in str(info.value) and "n_inputs" not in str(info.value)


@pytest.fixture(scope="module")
def short_run():
    return simulate.simulate_log_q(4, Dropout(keep_prob=0.8), width=8, n_networks=16, seed=0, device="cpu")


@pytest.mark.parametrize("depths, match", [
    ([[1], [1, 2]], r"depths\[0\] must be an integer in \[1, 4\], got a list"),   # ragged: not numpy's message
    ([1, 5], r"depths\[1\] must be an integer in \[1, 4\], got 5"),
    ([2.0], r"depths\[0\] must be an integer"),
    (2**63, r"depths\[0\] must be an integer in \[1, 4\]"),
    ([], "depths must hold at least 1 integer"),
    (True, "depths must be a sequence of integers, got the bool True"),
])
def test_log_q_agreement_checks_depths(short_run, depths, match):
    with pytest.raises(InvalidParameterError, match=match):
        simulate.log_q_agreement(short_run, depths)


def test_log_q_agreement_takes_one_depth_or_an_array(short_run):
    one = simulate.log_q_agreement(short_run, 4)
    assert one.depths.tolist() == [4] and one.depths.dtype == np.int64
    several = simulate.log_q_agreement(short_run, np.array([2, 4]))
    assert several.depths.tolist() == [2, 4]
    np.testing.assert_array_equal(several.simulated[1], one.simulated[0])


def test_inputs_that_skip_the_noise_are_refused():
    from nsp_helpers.network import NoisyNetwork

    net = NoisyNetwork(Dropout(keep_prob=0.5), width=16, n_layers=3, input_activation=False)
    with pytest.raises(InvalidParameterError, match="input_activation=True"):
        simulate.simulate_log_q(3, net, device="cpu")


# --- the comparison ---------------------------------------------------------------------------------------------
def test_agreement_statistics_match_independent_formulas():
    sim = simulate.simulate_log_q(30, Dropout(keep_prob=0.5), width=64, n_networks=600, seed=10, device="cpu")
    agree = simulate.log_q_agreement(sim, depths=[5, 30], probabilities=[0.1, 0.5, 0.9])
    sample = sim.log_q[30][np.isfinite(sim.log_q[30])]
    theory = fw.log_q_cumulants(30, 64, Dropout(keep_prob=0.5))
    sd = math.sqrt(theory.variance)
    assert agree.sim_mean[1] == pytest.approx(sample.mean())
    assert agree.z_mean[1] == pytest.approx((sample.mean() - theory.mean) / (sample.std(ddof=1) / math.sqrt(sample.size)))
    # the standard error of the median of a normal sample: sqrt(pi / 2 / n) sd
    assert agree.stderr[1, 1] == pytest.approx(math.sqrt(math.pi / 2 / sample.size) * sd)
    assert agree.simulated[1, 2] == pytest.approx(np.quantile(sample, 0.9))
    assert agree.theory[1, 0] == pytest.approx(fw.log_q_quantiles(0.1, 30, 64, Dropout(keep_prob=0.5)))
    assert agree.max_error_in_sd == pytest.approx(max(
        np.max(np.abs(agree.simulated - agree.theory) / agree.theory_std[:, None]),
        np.max(np.abs(agree.sim_mean - agree.theory_mean) / agree.theory_std)))
    rows = agree.to_rows()
    assert [r["depth"] for r in rows] == [5, 30] and json.dumps(rows)


def _reduced_chapter_comparison(noises, widths, n_layers, n_networks, depths, seed=0, method="exact"):
    out = {}
    for k, (name, noise) in enumerate(noises.items()):
        for width in widths:
            sim = simulate.simulate_log_q(n_layers, noise, width=width, n_networks=n_networks, device="cpu",
                                          seed=1000 * k + width + seed)
            agree = simulate.log_q_agreement(sim, depths=depths)
            if method == "leading":  # the same comparison against the leading order's normal quantiles
                agree.theory = np.asarray(fw.log_q_quantiles(agree.probabilities, agree.depths, width, noise,
                                                             method="leading")).T
            out[name, width] = agree
    return out


@pytest.mark.parametrize("widths", [[32, 128], [512]])
def test_chapter_claim_every_statistic_within_four_standard_errors(widths):
    """The chapter's claim, reduced: the four noise models, 400 networks, depths to 100, fixed seeds."""
    agreement = _reduced_chapter_comparison(sfw.SAME_MU2, widths, 100, 400, [10, 50, 100])
    worst = max(agreement.items(), key=lambda kv: kv[1].max_abs_z)
    assert worst[1].max_abs_z <= TOLERANCE, (worst[0], worst[1].to_rows())
    # and no statistic is biased on average (the mean z over cells has a standard error of about 1/sqrt(n_cells))
    z = np.array([a.z_quantiles[:, 2] for a in agreement.values()])   # the medians
    assert abs(z.mean()) < 3.0 * 1.5 / math.sqrt(z.shape[0])
    for a in agreement.values():
        assert np.all(np.abs(a.std_ratio - 1) < 0.25)


def test_the_tolerance_can_fail_the_leading_order():
    """The same comparison rejects the leading order where kappa/N is not small (dropout at N = 32)."""
    noises = {"dropout 0.5": Dropout(keep_prob=0.5)}
    exact = _reduced_chapter_comparison(noises, [32], 100, 1000, [50, 100])["dropout 0.5", 32]
    lead = _reduced_chapter_comparison(noises, [32], 100, 1000, [50, 100], method="leading")["dropout 0.5", 32]
    assert np.max(np.abs(exact.z_quantiles)) <= TOLERANCE
    assert np.max(np.abs(lead.z_quantiles)) > 2 * TOLERANCE


def test_chapter_claim_mean_stable_median_decays_and_median_stable_init():
    noise, width, depth, n = Dropout(keep_prob=0.5), 512, 60, 1500
    crit = simulate.simulate_log_q(depth, noise, width=width, n_networks=n, seed=11, device="cpu")
    mean, se = crit.mean_ratio()
    assert abs(mean[-1] - 1.0) < TOLERANCE * se[-1]                    # E[q_hat^L] = q^0 exactly
    median = crit.quantiles(0.5)[0, -1]
    se_median = math.sqrt(math.pi / 2 / n) * crit.log_q[-1].std()
    assert median < -10 * se_median                                     # the typical network decays
    sw2 = fw.median_stable_sigma_w2(width, noise)
    stable = simulate.simulate_log_q(depth, noise, sw2, width=width, n_networks=n, seed=12, device="cpu")
    assert abs(stable.quantiles(0.5)[0, -1] - fw.log_q_quantiles(0.5, depth, width, noise, sw2)) < TOLERANCE * se_median
    assert abs(fw.log_q_quantiles(0.5, depth, width, noise, sw2)) < 0.02  # within O(1/N) of q^0
    smean, sse = stable.mean_ratio()
    growth = (sw2 * noise.mu2 / 2) ** depth
    assert abs(smean[-1] - growth) < TOLERANCE * sse[-1] and growth > 1.3   # the mean grows: the price


# --- the stored table ---------------------------------------------------------------------------------------------
def test_agreement_table_and_command_line(tmp_path, capsys):
    out = tmp_path / "table.json"
    assert sfw.main(["--widths", "16,24", "--depths", "3,6", "--n-networks", "60", "--device", "cpu", "--out", str(out)]) == 0
    table = sfw.load_agreement_table(out)
    assert len(table["rows"]) == 4 * 2 * 2 and len(table["summary"]) == 8
    assert table["settings"]["widths"] == [16, 24] and table["settings"]["n_networks"] == {"16": 60, "24": 60}
    assert table["provenance"]["command"].endswith(f"--out {out}")
    assert table["provenance"]["code_version"].startswith(("git ", "nsp_helpers "))
    # seeds differ between cells: no two cells share their random numbers
    seeds = {sfw._seed(1, k, w) for k in range(4) for w in (16, 24)}
    assert len(seeds) == 8
    assert "wrote" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(InvalidParameterError, match=r"^path='.*bad\.json' is not an agreement table of nsp_helpers\.simulate\."
                                                     r"finite_width: its 'format' is 'something else'"):
        sfw.load_agreement_table(bad)


def test_stored_chapter_table_if_present():
    """The stored run (results/finite_width/agreement_chapter.json) meets the chapter's tolerance."""
    table = sfw.load_agreement_table()
    if table is None:
        pytest.skip("results/finite_width/agreement_chapter.json is not stored")
    assert table["settings"]["widths"][0] <= 32 and table["settings"]["widths"][-1] >= 2048
    assert max(table["settings"]["depths"]) >= 200
    assert len(table["summary"]) == len(table["settings"]["widths"]) * 4
    assert max(s["max_abs_z"] for s in table["summary"]) <= 4.5   # 7 widths x 4 models x 5 depths x 6 statistics
    z = np.array([r["z_quantiles"][2] for r in table["rows"]])
    assert abs(z.mean()) < 1.0


def test_additive_noise_is_simulated_but_has_no_theory():
    sim = simulate.simulate_log_q(3, AdditiveGaussian(std=0.5), 1.0, width=16, n_networks=10, seed=0, device="cpu")
    assert sim.dtype == "float64"
    with pytest.raises(InvalidParameterError, match="multiplicative"):
        simulate.log_q_agreement(sim)
