"""Huang et al.'s gradient experiments at full size (nsp_helpers.gradient_runs), the trainable-length fits
(nsp_helpers.analysis) and the stored results the chapters load."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nsp_helpers import analysis, gradient_runs as gr, theory, trainable_length
from nsp_helpers.errors import InvalidParameterError
from nsp_helpers.noise import Dropout

TINY = dict(n_layers=8, width=40, n_networks=4, block=2, stride=2)


def _synthetic_run(curve, per_network_factor, n_layers=40, stride=4):
    """A GradientRun whose per-network g values are curve(layer) * factor(network)."""
    cfg = gr.GradientRunConfig("tanh", 1.4, 0.1, 0.9, n_layers=n_layers, width=50, n_networks=per_network_factor.size,
                               block=per_network_factor.size, stride=stride)
    layers = np.arange(1, n_layers + 1)
    values = curve(layers)[:, None] * per_network_factor[None, :]
    arrays = {k: values for k in ("g_aa", "g_ab", "abs_ab")} | {"r": np.zeros_like(values)}
    arrays |= {k: np.ones_like(values) for k in ("q_aa", "q_ab", "delta_aa", "delta_ab")}
    kept = cfg.kept_layers - 1
    raw = {"format": gr.FORMAT, "config": cfg.to_dict(), "layers": layers.tolist(), "summary": gr._summary(arrays),
           "per_network": {"layers": cfg.kept_layers.tolist(), **{k: [gr._encode(row) for row in arrays[k][kept]]
                                                                  for k in gr.PER_NETWORK}}}
    return gr.GradientRun(raw)


def test_config_names_hashes_and_groups():
    cfg = gr.GradientRunConfig("tanh", 1.4, 0.1, 0.9)
    assert cfg.name() == gr.GradientRunConfig.from_dict(cfg.to_dict()).name()
    assert cfg.kept_layers[-1] == 200 and np.all(np.diff(cfg.kept_layers) == 5)
    names = [c.name() for group in gr.RUN_SETS.values() for c in group]
    assert len(names) == len(set(names))
    assert {(c.activation, c.sigma_w2) for c in gr.RUN_SETS["paper"]} == {("relu", 1.0), ("tanh", 1.4), ("hard_tanh", 1.4)}
    assert sorted({c.keep_prob for c in gr.RUN_SETS["paper"]}) == [0.6, 0.7, 0.8, 0.9, 1.0]
    assert all(c.n_layers == 200 and c.n_networks == 100 and c.sigma_b2 == 0.1 for c in gr.RUN_SETS["paper"])
    with pytest.raises(InvalidParameterError, match="backward"):
        gr.GradientRunConfig("tanh", 1.4, 0.1, 0.9, backward="transposed")


def test_blocks_are_the_gradient_statistics_of_their_seeds():
    from nsp_helpers.simulate import gradient_statistics

    cfg = gr.GradientRunConfig("tanh", 1.4, 0.1, 0.8, **TINY)
    res = gr.compute_run(cfg)
    block1 = gradient_statistics(cfg.network(), n_networks=2, n_pairs=1, seed=gr.block_seed(0, 1), device="cpu")
    run = gr.GradientRun(res)
    np.testing.assert_allclose(run.per_network["g_aa"][:, 2:], block1.g_aa[cfg.kept_layers - 1, :, 0], rtol=1e-6)
    np.testing.assert_allclose(run.summary["g_ab"]["mean"][-1],
                               np.mean([*gr.GradientRun(res).per_network["g_ab"][-1]]), rtol=1e-6)


def test_interrupted_run_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    cfg = gr.GradientRunConfig("relu", 1.0, 0.1, 0.9, **TINY)
    full = gr.compute_run(cfg)
    original = gr._block_arrays
    calls = []

    def failing(config, index, device="cpu"):
        calls.append(index)
        if index == 1 and len(calls) == 2:
            raise KeyboardInterrupt
        return original(config, index, device)

    monkeypatch.setattr(gr, "_block_arrays", failing)
    ckpt = tmp_path / "c.npz"
    with pytest.raises(KeyboardInterrupt):
        gr.compute_run(cfg, checkpoint=ckpt)
    assert ckpt.exists()
    resumed = gr.compute_run(cfg, checkpoint=ckpt)
    assert calls == [0, 1, 1] and resumed["summary"] == full["summary"] and resumed["per_network"] == full["per_network"]


def test_run_writes_reads_back_and_keeps_existing_results(tmp_path):
    cfg = gr.GradientRunConfig("linear", 0.5, 0.1, 0.9, **TINY)
    path = gr.run(cfg, tmp_path, checkpoint_dir=tmp_path, progress=False, version="git test")
    loaded = gr.load_run(path)
    assert loaded.config == cfg and loaded.provenance["code_version"] == "git test"
    assert loaded.provenance["cpu_time_s"] >= 0 and "command" in loaded.provenance
    mtime = path.stat().st_mtime_ns
    assert gr.run(cfg, tmp_path, checkpoint_dir=tmp_path, progress=False) == path and path.stat().st_mtime_ns == mtime
    assert [r.config for r in gr.stored_runs(root=tmp_path)] == [cfg]
    path.write_text('{"format": "nsp_helpers.gradient_runs/1", "config": {}}')
    with pytest.raises(Exception, match="not a valid"):
        gr.load_run(path)


def test_rate_fit_recovers_an_exponential_and_its_error_reflects_the_spread():
    rng = np.random.default_rng(1)
    run = _synthetic_run(lambda l: np.exp(0.3 * l), np.exp(rng.normal(0, 0.2, 50)))
    fit = run.fit_rate("g_aa", 2, 39, n_boot=50)
    assert fit.rate == pytest.approx(0.3, abs=1e-6) and fit.stderr < 1e-6  # a common factor moves no slope (7 digits stored)
    # per-network slopes that differ: the bootstrap error is the spread of the mean's slope
    slopes = rng.normal(0.3, 0.05, 60)
    layers = np.arange(1, 41)
    values = np.exp(np.outer(layers, slopes))
    run2 = _synthetic_run(lambda l: np.ones_like(l, dtype=float), np.ones(60))
    for key in ("g_aa",):
        run2.summary[key]["mean"] = values.mean(axis=1)
        run2.per_network[key] = values[run2.kept_layers - 1]
    fit2 = run2.fit_rate("g_aa", 2, 39, n_boot=200)
    assert 0.003 < fit2.stderr < 0.05


def test_universality_exponent_two_for_a_common_lognormal_factor():
    rng = np.random.default_rng(2)
    run = _synthetic_run(lambda l: np.exp(-0.5 * l), np.exp(rng.normal(0, 0.3, 80)))
    u = run.universality("g_aa", n_boot=50)
    assert u.exponent == pytest.approx(2.0, abs=1e-6)


def test_significant_layers_counts_from_the_output():
    factors = np.array([1.0, 1.1, 0.9, 1.05, 0.95])
    run = _synthetic_run(lambda l: np.where(l > 35, 1.0, 0.0), factors)
    assert run.significant_layers("g_ab") == 5


def test_tanh_rates_follow_chi1_in_a_small_run():
    cfg = gr.GradientRunConfig("tanh", 1.4, 0.1, 0.9, n_layers=150, width=200, n_networks=4, block=2, stride=3)
    run = gr.GradientRun(gr.compute_run(cfg))
    target = -math.log(run.theory().chi_single)
    for name in ("g_aa", "abs_ab", "g_ab_rms"):
        assert run.fit_rate(name, n_boot=30).rate == pytest.approx(target, abs=0.02)


def test_linear_tied_excess():
    e = theory.linear_tied_excess(Dropout(keep_prob=0.9), 0.5, 200)
    chi, rho = 0.5 / 0.9, 0.9
    assert e[0] == 1.0 and e[1] == pytest.approx(1 + chi / rho)
    assert e[-1] == pytest.approx(1 + chi / (rho * (1 - chi)), rel=1e-12)
    with pytest.raises(InvalidParameterError, match="sigma_w2"):
        theory.linear_tied_excess(Dropout(keep_prob=0.5), 0.6, 3)
    with pytest.raises(InvalidParameterError, match="n_back"):  # refused before allocating anything
        theory.linear_tied_excess(Dropout(keep_prob=0.9), 0.5, 10**18)


def test_fit_depth_scale_multiple_recovers_a_known_rule():
    rng = np.random.default_rng(3)
    L = rng.integers(5, 200, 300).astype(float)
    xi = rng.uniform(2, 30, 300)
    fit = analysis.fit_depth_scale_multiple(L, xi, L <= 7.0 * xi, n_boot=100)
    assert fit.agreement == 1.0 and fit.best_range[0] <= 7.0 <= fit.best_range[1]
    assert abs(fit.multiple - 7.0) < 3 * fit.stderr + 0.5
    assert fit.interval[0] <= fit.multiple <= fit.interval[1]
    # infinite depth scales (chi = 1) are predicted trainable for every multiple
    fit_inf = analysis.fit_depth_scale_multiple([10, 20], [np.inf, np.inf], np.array([True, True]), n_boot=10)
    assert fit_inf.agreement == 1.0
    with pytest.raises(InvalidParameterError, match="trainable"):
        analysis.fit_depth_scale_multiple([1, 2], [1, 1], [1, 0])
    with pytest.raises(InvalidParameterError, match="depth_scale"):
        analysis.fit_depth_scale_multiple([1, 2], [1, -1], np.array([True, False]))


def test_trainable_length_rules_on_a_grid_made_by_a_rule():
    sws = [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
    depths = list(range(10, 251, 20))
    xi = analysis.huang_depth_scales(sws, 0.95)["xi_2"]
    cells = [{"depth": d, "keep_prob": 0.95, "sigma_w2": s, "val_accuracy": [0.95 if d <= 6 * x else 0.1]}
             for d in depths for s, x in zip(sws, xi)]
    res = {"config": {"sigma_w2s": sws, "sigma_b2": 0.05, "activation": "tanh"}, "cells": cells,
           "baselines": {"most frequent class (accuracy)": 0.11}}
    cmp = analysis.trainable_length_rules(res, n_boot=50)
    assert cmp.agreement["6·xi_2"] == 1.0 and cmp.best_scale == "xi_2"
    lo, hi = cmp.fits["xi_2"].best_range
    assert lo <= 6.0 <= hi


def test_trainable_length_profiles():
    paper = trainable_length.profile_config("paper")
    assert (paper.width, paper.lr, paper.batch_size, paper.sigma_b2, paper.activation) == (400, 0.003, 1000, 0.05, "tanh")
    assert paper.depths == tuple(range(10, 251, 10)) and len(paper.sigma_w2s) == 31 and paper.sigma_w2s[-1] == 4.0
    assert paper.keep_probs == (1.0, 0.99, 0.98, 0.95)
    cpu = trainable_length.profile_config("cpu")
    assert cpu.lr * cpu.n_epochs * cpu.steps_per_epoch == pytest.approx(paper.lr * paper.n_epochs * paper.steps_per_epoch)
    with pytest.raises(InvalidParameterError, match="overrides"):
        trainable_length.profile_config("cpu", task="reconstruct")


# ------------------------------------------------------------------------------------------------
# the stored results the chapters load
# ------------------------------------------------------------------------------------------------
STORED = {group: gr.stored_runs(group) for group in gr.RUN_SETS}


@pytest.mark.skipif(not STORED["paper"], reason="no stored gradient runs")
def test_stored_gradient_runs_are_complete_and_carry_provenance():
    for group, configs in gr.RUN_SETS.items():
        assert sorted(r.config.name() for r in STORED[group]) == sorted(c.name() for c in configs), group
    for run in (r for runs in STORED.values() for r in runs):
        prov = run.provenance
        assert prov["command"].startswith("python -m nsp_helpers.gradient_runs")
        assert prov["code_version"].startswith("git ") and "modified" not in prov["code_version"]
        assert prov["config_hash"] == run.config.hash() and prov["cpu_time_s"] > 0


@pytest.mark.skipif(not STORED["paper"], reason="no stored gradient runs")
def test_stored_runs_support_the_chapter():
    """What book/tied_gradients.md states: the statistics decay at -ln chi_1 (g_aa always within 5 %, nearly all
    others too), and no pair statistic decays at the GIA pair rate -ln chi(c*) when there is dropout."""
    rel, gap = [], []
    for run in STORED["paper"]:
        th = run.theory()
        rate1, rate2 = -math.log(th.chi_single), -math.log(th.chi_pair)
        for name in gr.CURVES:
            rate = run.fit_rate(name, n_boot=20).rate
            if abs(rate1) > 0.05:
                rel.append(abs(rate - rate1) / abs(rate1))
                if name == "g_aa":
                    assert rel[-1] < 0.05, run
            if run.config.keep_prob < 1:
                gap.append(abs(rate - rate2) / abs(rate2))
    assert np.mean(np.array(rel) < 0.05) > 0.9
    assert min(gap) > 0.2


def test_fit_published_reads_their_layout(tmp_path):
    """A fake copy of Huang et al.'s repository: maps made by the rule 8 xi_2 are fitted back."""
    sws = np.round(np.linspace(1.0, 4.0, 31), 10)
    scales = {}
    for panel, (folder, prefix, keep, _, every) in trainable_length.PUBLISHED_PANELS.items():
        base = tmp_path / "data" / "heatmap" / folder
        base.mkdir(parents=True, exist_ok=True)
        xi = scales.setdefault(keep, analysis.huang_depth_scales(sws, keep)["xi_2"])
        for depth in range(10, 251, 10):
            lines = [f"{s} {0.9 if depth - 1 <= 8 * x else 0.1}" for s, x in zip(sws, xi)]
            if every > 1:
                lines = [line for line in lines for _ in range(every)]
            (base / f"{prefix}{depth}.csv").write_text("\n".join(lines) + "\n")
    fits = trainable_length.fit_published(tmp_path, n_boot=20)
    assert sorted(fits) == list("abcdefgh")
    for entry in fits.values():
        assert entry["fits"]["xi_2"]["agreement"] == 1.0
    path = trainable_length.write_published_fits(tmp_path, tmp_path / "out", commit="abc")
    assert path.parent == tmp_path / "out"
    assert trainable_length.stored_published_fits(root=tmp_path / "out")["provenance"]["source"].endswith("abc/data/heatmap")
    with pytest.raises(InvalidParameterError, match="root"):
        trainable_length.read_published_heatmap(tmp_path / "nothing", "a")


PUBLISHED = trainable_length.stored_published_fits()


@pytest.mark.skipif(PUBLISHED is None, reason="no stored fits of the published maps")
def test_stored_published_fits_cover_every_panel():
    assert sorted(PUBLISHED["panels"]) == list("abcdefgh")
    assert PUBLISHED["provenance"]["source"].startswith(trainable_length.PUBLISHED_REPOSITORY)
    assert "modified" not in PUBLISHED["provenance"]["code_version"]


def test_log_spread_of_log_normal_gradients_predicts_the_exponent():
    rng = np.random.default_rng(4)
    n_layers, n_networks, width = 80, 3000, 50
    run = _synthetic_run(lambda l: np.ones_like(l, dtype=float), np.ones(n_networks), n_layers=n_layers, stride=4)
    n_back = n_layers - run.kept_layers
    v = (1.0 + 0.2 * n_back) / width  # Var ln g grows by 0.2/N per layer
    ln_m = -0.05 * n_back
    z = rng.standard_normal((n_back.size, n_networks))
    run.per_network["g_aa"] = np.exp(ln_m[:, None] - v[:, None] / 2 + np.sqrt(v)[:, None] * z)
    fit = run.log_spread("g_aa", n_boot=20)
    assert fit.per_layer == pytest.approx(0.2 / width, rel=0.15)
    measured = run.universality("g_aa", n_boot=20)
    assert fit.predicted_exponent == pytest.approx(measured.exponent, abs=0.05)
    assert measured.exponent < 1.9  # V/m^2 grows while m shrinks: k < 2


def test_log_spread_leaves_out_resamples_of_one_network():
    """With 4 networks, a bootstrap resample draws the same network 4 times with probability 1/64: it has no
    spread at any layer, and used to crash np.polyfit ("expected non-empty vector for x"). Seed 310135 draws
    one at its 9th resample; it is left out, and the standard error comes from the other resamples."""
    rng = np.random.default_rng(5)
    run = _synthetic_run(lambda l: np.exp(-0.05 * l), np.ones(4), n_layers=12, stride=1)
    run.per_network["g_aa"] = np.exp(rng.normal(0.0, 0.5, run.per_network["g_aa"].shape))
    draws = np.random.default_rng(310135)
    assert any(np.unique(draws.integers(0, 4, 4)).size == 1 for _ in range(10))   # the seed does draw one
    fit = run.log_spread("g_aa", n_boot=10, seed=310135)
    assert np.isfinite(fit.per_layer_stderr) and fit.per_layer_stderr > 0
    assert np.isfinite(fit.predicted_exponent_stderr)
    assert fit.per_layer == run.log_spread("g_aa", n_boot=10, seed=0).per_layer   # the fit itself needs no resample


@pytest.mark.parametrize("method", ["log_spread", "universality", "fit_rate"])
def test_bootstraps_refuse_more_than_a_million_resamples(method):
    run = _synthetic_run(lambda l: np.exp(-0.05 * l), np.exp(np.random.default_rng(6).normal(0, 0.3, 8)), n_layers=12,
                         stride=1)
    with pytest.raises(InvalidParameterError, match=r"n_boot must be an integer in \[2, 1000000\], got 1000001"):
        getattr(run, method)("g_aa", n_boot=10**6 + 1)
