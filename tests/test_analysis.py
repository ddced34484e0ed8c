"""Tests of nsp_helpers.analysis: agreement of simulated means with theory, the spread of a trainable-depth grid
over seeds and the fitted multiple k of the rule L <= k xi_c, on synthetic grids whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from nsp_helpers import analysis, theory, train
from nsp_helpers.errors import InvalidParameterError
from nsp_helpers.noise import Dropout

DEPTHS = np.array(train.PAPER_DEPTHS)
KEEPS = np.array(train.PAPER_KEEP_PROBS)


# --------------------------------------------------------------------------------------------------
# agreement_test
# --------------------------------------------------------------------------------------------------
def test_agreement_test_has_its_level_and_power():
    """Under an exact prediction p is uniform: about 5 % of 400 experiments reject at 0.05 (binomial s.d. 1.1 %,
    so 2-9 % is about 3 s.d.); correlated quantities do not inflate it; a shift of one s.e. x 4 is found."""
    rng = np.random.default_rng(1)
    shared = rng.standard_normal((400, 1, 30))
    samples = 2.0 + 0.1 * (0.8 * shared + 0.6 * rng.standard_normal((400, 3, 30)))  # correlated quantities
    p = np.array([analysis.agreement_test(s, 2.0).p_value for s in samples])
    assert 0.02 < np.mean(p < 0.05) < 0.09
    shifted = [analysis.agreement_test(s, [2.0 - 4 * 0.1 / np.sqrt(30), 2.0, 2.0]) for s in samples[:50]]
    assert np.mean([not t.consistent() for t in shifted]) > 0.9


def test_agreement_test_of_one_quantity_is_the_t_test():
    from scipy.stats import ttest_1samp

    x = np.random.default_rng(2).normal(0.3, 1.0, size=25)
    test = analysis.agreement_test(x, 0.0)
    reference = ttest_1samp(x, 0.0)
    assert test.p_value == pytest.approx(reference.pvalue, rel=1e-10)
    assert test.z[0] == pytest.approx(reference.statistic, rel=1e-10)
    with pytest.raises(InvalidParameterError, match="more networks"):
        analysis.agreement_test(np.ones((3, 3)), 1.0)


def test_agreement_test_names_per_network_when_the_shapes_disagree():
    """A 1-D per_network is one quantity: three expectations do not fit it, and the message says so (it names
    per_network and how it was read, not only expected)."""
    with pytest.raises(InvalidParameterError, match=r"per_network of shape \(20,\): 1 quantity of 20 networks"):
        analysis.agreement_test(np.random.default_rng(0).normal(1.0, 0.1, 20), [1.0, 1.0, 1.0])
    with pytest.raises(InvalidParameterError, match=r"per_network of shape \(2, 20\): 2 quantities of 20 networks"):
        analysis.agreement_test(np.random.default_rng(0).normal(1.0, 0.1, (2, 20)), [1.0, 1.0, 1.0])


@pytest.mark.parametrize("depths, match", [
    (2**63, r"depths\[0\] must be an integer in \[1, 9223372036854775807\], got 9223372036854775808"),
    ([[2], [2, 5]], r"depths\[0\] must be an integer >= 1, got a list"),     # ragged: not numpy's "inhomogeneous"
    ([2, 0], r"depths\[1\] must be an integer >= 1, got 0"),
    ([2.5], r"depths\[0\] must be an integer >= 1, got 2.5"),
    (np.ones((2, 2), dtype=int), "depths must be a sequence of integers"),
    ("5", "depths must be a sequence of integers, got the string '5'"),
])
def test_finite_width_spread_checks_depths(depths, match):
    with pytest.raises(InvalidParameterError, match=match):
        analysis.finite_width_spread(depths, [0.5, 0.9], 16)


def test_finite_width_spread_takes_one_depth_a_list_or_an_array():
    one = analysis.finite_width_spread(10, [0.5, 0.9], 16)
    listed = analysis.finite_width_spread([2, 10], [0.5, 0.9], 16)
    array = analysis.finite_width_spread(np.array([2, 10]), [0.5, 0.9], 16)
    assert one.depths.tolist() == [10] and listed.depths.tolist() == [2, 10] and listed.depths.dtype == np.int64
    np.testing.assert_array_equal(one.std[0], listed.std[1])
    np.testing.assert_array_equal(array.std, listed.std)
    deepest = analysis.finite_width_spread(2**63 - 1, [0.5], 16)   # the largest accepted depth: finite
    assert np.isfinite(deepest.std).all() and deepest.dead[0, 0] == 1.0


# --------------------------------------------------------------------------------------------------
# grids over seeds and the fitted multiple k
# --------------------------------------------------------------------------------------------------
def synthetic_runs(k_true=8.0, n_seeds=3, noise=0.004, task="reconstruct", seed=0):
    """Results dicts of a paper-sized grid in which exactly the cells with L <= k_true xi_c train.

    Reconstruction: a trainable cell ends at loss 0.02, an untrainable one at the mean-image loss 0.05, plus
    Gaussian scatter per seed; classification: accuracy 0.9 against the majority class's 0.1.
    """
    rng = np.random.default_rng(seed)
    xi = np.atleast_1d(theory.depth_scale(Dropout(keep_prob=KEEPS)))
    trains = DEPTHS[:, None] <= k_true * xi[None, :]
    runs = []
    for s in range(n_seeds):
        if task == "reconstruct":
            values = np.where(trains, 0.02, 0.05) + noise * rng.standard_normal(trains.shape)
            metric, baselines = "val_loss", {"predict the mean image": 0.05, "predict zeros": 0.1}
        else:
            values = np.clip(np.where(trains, 0.9, 0.1) + 25 * noise * rng.standard_normal(trains.shape), 0, 1)
            metric, baselines = "val_accuracy", {"most frequent class (accuracy)": 0.1, "uniform logits (loss)": 2.3}
        cells = [{"depth": int(d), "keep_prob": float(p), metric: [float(values[i, j])]}
                 for i, d in enumerate(DEPTHS) for j, p in enumerate(KEEPS)]
        runs.append({"cells": cells, "config": {"task": task, "seed": s}, "baselines": baselines})
    return runs, trains


@pytest.mark.parametrize("task, metric", [("reconstruct", "val_loss"), ("classify", "val_accuracy")])
@pytest.mark.parametrize("k_true", [4.0, 8.0, 12.0])
def test_fit_depth_multiple_recovers_a_known_boundary(task, metric, k_true):
    runs, trains = synthetic_runs(k_true, task=task, noise=0.002)
    grid = analysis.seed_grid(runs, metric)
    assert grid.values.shape == (3, DEPTHS.size, KEEPS.size) and grid.seeds == [0, 1, 2]
    fit = analysis.fit_depth_multiple(grid, n_boot=300)
    # the scatter (0.002 against a step of 0.03) never crosses the halfway threshold: a perfect separation
    assert fit.errors == 0 and fit.n_cells == 3 * trains.size
    assert fit.k_low <= k_true < fit.k_high
    # the range is exactly the gap between the deepest trainable cell and the shallowest untrainable one
    x = grid.depth_over_xi
    assert fit.k_low == pytest.approx(x[trains & (x > 0)].max())
    assert fit.k_high == pytest.approx(x[~trains].min())
    assert fit.interval[0] <= fit.k <= fit.interval[1]
    assert all(lo <= k_true < hi for lo, hi in fit.per_seed)
    assert fit.errors_at(k_true)[0] == 0


def test_fit_depth_multiple_with_mislabelled_cells_and_bootstrap():
    """Cells that disagree with the rule are counted; the bootstrap interval covers the true k."""
    runs, trains = synthetic_runs(8.0, noise=0.012, seed=5)  # noise ~ half the step: some cells cross
    grid = analysis.seed_grid(runs, "val_loss")
    fit = analysis.fit_depth_multiple(grid, n_boot=500, seed=3)
    trainable, threshold = analysis.trainable_cells(grid)
    assert threshold == pytest.approx(grid.baseline + 0.5 * (np.nanmin(grid.mean) - grid.baseline))
    wrong_at_truth = int(fit.errors_at(8.0)[0])
    assert 0 < wrong_at_truth == int((trainable != trains[None]).sum())
    assert fit.errors <= wrong_at_truth and fit.errors == int(fit.errors_at(fit.k)[0])
    assert fit.interval[0] < 8.0 < fit.interval[1]
    assert fit.errors_at_6 == int(fit.errors_at(6.0)[0]) > fit.errors


def test_seed_grid_spread_and_mean_results():
    runs, _ = synthetic_runs(8.0)
    grid = analysis.seed_grid(runs, "val_loss")
    stacked = np.array([[[c["val_loss"][0] for c in r["cells"]]] for r in runs]).reshape(3, DEPTHS.size, KEEPS.size)
    np.testing.assert_allclose(grid.mean, stacked.mean(axis=0))
    np.testing.assert_allclose(grid.spread, stacked.max(axis=0) - stacked.min(axis=0))
    mean = analysis.mean_results(runs)
    assert mean["seeds"] == [0, 1, 2]
    np.testing.assert_allclose(train.results_grid(mean, "val_loss")[2], stacked.mean(axis=0))
    assert analysis.mean_results(runs[:1]) is runs[0]
    other = dict(runs[1], baselines={"predict the mean image": 0.06})
    with pytest.raises(InvalidParameterError, match="validation split"):
        analysis.seed_grid([runs[0], other], "val_loss")


def test_boundary_summary_and_the_classification_sentence():
    runs, trains = synthetic_runs(8.0, task="classify", noise=0.0)
    grid = analysis.seed_grid(runs, "val_accuracy")
    summary = analysis.boundary_summary(grid.depths, grid.keep_probs, grid.mean, grid.baseline,
                                        higher_is_better=True)
    six = DEPTHS[:, None] <= 6 * np.atleast_1d(theory.depth_scale(Dropout(keep_prob=KEEPS)))[None, :]
    assert summary.n_inside == int(six.sum()) and summary.n_outside == int((~six).sum())
    # the cells between 6 and 8 xi_c train, and they are above the 6 xi_c curve
    between = trains & ~six
    assert summary.n_outside_better_than(0.5) == int(between.sum()) > 0
    text = analysis.classification_sentence(summary, "medium", 20, n_seeds=3)
    assert f"{int(between.sum())} exceed 50 %" in text and "3 seeds, averaged" in text
    assert "chance" not in text


def test_stored_seed_results_finds_every_seed_of_a_profile(tmp_path):
    base = train.profile_config("quick", "synthetic").to_dict()
    assert train.stored_seed_results("synthetic", profile="quick", root=tmp_path) == []

    def store(name, seed, finished, **changes):
        epochs = [0.1] * base["n_epochs"]
        cells = [{"depth": 2, "keep_prob": 0.1, "train_loss": epochs, "val_loss": epochs}]
        results = {"format": train.RESULTS_FORMAT, "config": dict(base, seed=seed, **changes), "cells": cells,
                   "baselines": {"predict the mean image": 0.05}, "provenance": {"finished": finished}}
        train.write_results(results, tmp_path / name)

    store("synthetic_reconstruct_quick.json", 0, "2026-01-01")  # an old file of seed 0 ...
    store("synthetic_reconstruct_quick_0123456789.json", 0, "2026-02-01")  # ... and a newer one
    store("synthetic_reconstruct_quick_aaaaaaaaaa.json", 2, "2026-02-02")
    store("synthetic_reconstruct_quick_bbbbbbbbbb.json", 1, "2026-02-03")
    store("synthetic_reconstruct_quick_cccccccccc.json", 3, "2026-02-04", width=999)  # another configuration
    store("synthetic_classify_quick_dddddddddd.json", 4, "2026-02-05")  # another task
    found = train.stored_seed_results("synthetic", profile="quick", root=tmp_path)
    assert [r["config"]["seed"] for r in found] == [0, 1, 2]
    assert found[0]["path"].endswith("_0123456789.json") and all(r["profile"] == "quick" for r in found)


def test_spread_sentence_with_one_and_three_seeds():
    runs, _ = synthetic_runs(8.0)
    cls_runs, _ = synthetic_runs(8.0, task="classify")
    three = analysis.spread_sentence(analysis.seed_grid(runs, "val_loss"), analysis.seed_grid(cls_runs, "val_accuracy"))
    assert three.startswith("Across the 3 seeds")
    one = analysis.spread_sentence(analysis.seed_grid(runs[:1], "val_loss"),
                                   analysis.seed_grid(cls_runs[:1], "val_accuracy"))
    assert "no spread" in one


def test_both_multiple_fits_share_one_step_function():
    """fit_depth_multiple (seed grids) and fit_depth_scale_multiple (any cells) read k off the same errors."""
    rng = np.random.default_rng(5)
    depths, keeps = np.array([2, 6, 10, 14, 18]), np.array([0.5, 0.7, 0.9, 1.0])
    xi = np.atleast_1d(theory.depth_scale(Dropout(keep_prob=keeps)))
    trained = (depths[:, None] <= 7 * xi[None, :]) ^ (rng.random((depths.size, keeps.size)) < 0.15)
    grid = analysis.SeedGrid(depths, keeps, np.where(trained, 0.01, 0.05)[None], [0], "val_loss", "reconstruct", 0.05, False)
    a = analysis.fit_depth_multiple(grid, n_boot=10)
    L = np.broadcast_to(depths[:, None], trained.shape)
    b = analysis.fit_depth_scale_multiple(L, np.broadcast_to(xi[None, :], L.shape), trained, n_boot=10)
    assert b.agreement == pytest.approx(1 - a.errors / a.n_cells)
    assert a.k_low <= b.best_range[0] < b.best_range[1] <= a.k_high


def test_an_infinite_depth_scale_is_predicted_trainable_for_every_multiple():
    # the cell with xi = inf did not train: no k > 0 classifies it correctly (k = 0 is not a rule)
    fit = analysis.fit_depth_scale_multiple([10, 20], [np.inf, 5.0], np.array([False, False]), n_boot=10)
    assert fit.agreement == 0.5 and fit.multiple == 0.0 and fit.best_range == (0.0, 4.0)
