"""Tests of nsp_helpers.variance_depth (Fig. 6a/6d) and its figure."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import torch

import nsp_helpers.data as data
from nsp_helpers import storage, theory
from nsp_helpers import variance_depth as vd
from nsp_helpers.errors import InvalidParameterError
from nsp_helpers.noise import AdditiveGaussian, Dropout, MultiplicativeGaussian, NoNoise


def _inputs(n=6, d=50, seed=0):
    return torch.rand((n, d), generator=torch.Generator().manual_seed(seed))


def test_paper_grid():
    assert vd.PAPER_SIGMA_W2.shape == (25,)
    assert vd.PAPER_SIGMA_W2[0] == pytest.approx(0.1) and vd.PAPER_SIGMA_W2[-1] == pytest.approx(2.5)
    assert np.any(np.isclose(vd.PAPER_SIGMA_W2, 1.2))  # the critical value 2 * keep_prob is on the grid


def test_layer_caps_follow_the_larger_failure_depth():
    noise = Dropout(keep_prob=0.6)
    sw = np.array([0.3, 1.2, 2.2])
    caps = vd.layer_caps(sw, noise, q_in=0.1, max_layers=1000, depth_factor=1.1)
    expected = np.minimum(
        1000, np.ceil(1.1 * np.maximum(theory.failure_depth(noise, sw, q0=1.0), theory.failure_depth(noise, sw, q0=0.2)))
    )
    np.testing.assert_array_equal(caps, expected)
    assert caps[1] == 1000  # criticality: L* is infinite
    assert vd.layer_caps(sw, noise, 0.1, max_layers=7).tolist() == [7, 7, 7]


def test_mean_field_slope_and_first_layer():
    """Width 1000, fixed seeds: q^1 = sigma_w2 mu2 q_in and the per-layer growth ln(sigma_w2 mu2 / 2).

    One network's q^1 over these (strongly correlated) inputs deviates by about sqrt(2/N) = 4.5 % at width
    1000, so q^1 is averaged over four networks (seeds): standard error about 2.2 %.
    """
    noise = Dropout(keep_prob=0.6)
    sw = np.array([0.6, 1.2, 2.0])
    runs = [vd.run_variance_depth(_inputs(n=64, d=200), noise, sw, width=1000, max_layers=40, seed=s, device="cpu")
            for s in (1, 2, 3, 4)]
    r = runs[0]
    assert r.q.shape == (3, 41)
    np.testing.assert_allclose(np.mean([run.q[:, 1] for run in runs], axis=0), sw * noise.mu2 * r.q_in, rtol=0.05)
    slopes = np.polyfit(np.arange(1, 41), r.log_q[:, 1:].T, 1)[0]
    np.testing.assert_allclose(slopes, np.log(sw * noise.mu2 / 2), atol=0.02)
    np.testing.assert_allclose(r.log_q[:, 1:], r.theory_log_q()[:, 1:], atol=1.0)


def test_failure_layer_matches_theory_with_the_data_q0():
    """Far from criticality the measured float32 failure layer is L* for q0 = 2 q_in, within 5 layers.

    The measured layer is an integer (the first one past L*), and at width 300 the finite-width drift
    of ln q^l (E[ln q] < ln E[q]) delays an overflow by a few layers, hence the tolerance.
    """
    noise = Dropout(keep_prob=0.6)
    sw = np.array([0.1, 0.3, 2.3, 2.5])
    images = 0.3 * _inputs(n=8, d=100)
    r = vd.run_variance_depth(images, noise, sw, width=300, seed=2, device="cpu")
    predicted = r.theory_failure_depth()
    assert r.q0_data == pytest.approx(2 * float((images.double() ** 2).mean()))
    assert np.all(np.abs(r.failure_layer - predicted) <= 5), (r.failure_layer, predicted)
    assert r.failure_kind == ["underflow", "underflow", "overflow", "overflow"]
    # the run stops at 1.1 L*, and q is nan beyond
    assert np.all(np.isnan(r.q[np.arange(r.q.shape[1])[None, :] > r.n_layers[:, None]]))
    np.testing.assert_array_equal(r.n_layers, vd.layer_caps(sw, noise, r.q_in))


def test_weights_are_shared_across_batches_and_weight_variances():
    """Without noise, batch size changes nothing, and q scales exactly as (sigma_a / sigma_b)^(2l)."""
    x = _inputs(n=10, d=40)
    sw = np.array([0.5, 2.0])
    kwargs = dict(width=60, max_layers=12, seed=3, device="cpu")
    one = vd.run_variance_depth(x, NoNoise(), sw, batch_size=10, **kwargs)
    many = vd.run_variance_depth(x, NoNoise(), sw, batch_size=3, **kwargs)
    np.testing.assert_allclose(one.q, many.q, rtol=1e-4)
    layers = np.arange(1, 13)
    np.testing.assert_allclose(one.log_q[1, 1:] - one.log_q[0, 1:], layers * np.log(4.0), atol=1e-3)


def test_seed_reproducible_and_noise_matters():
    x = _inputs()
    a = vd.run_variance_depth(x, Dropout(0.6), [1.0], width=40, max_layers=10, seed=5, device="cpu")
    b = vd.run_variance_depth(x, Dropout(0.6), [1.0], width=40, max_layers=10, seed=5, device="cpu")
    c = vd.run_variance_depth(x, Dropout(0.6), [1.0], width=40, max_layers=10, seed=6, device="cpu")
    np.testing.assert_array_equal(a.q, b.q)
    assert not np.allclose(a.q[:, 1:], c.q[:, 1:])


def test_other_multiplicative_noise():
    noise = MultiplicativeGaussian(std=1.0)  # mu2 = 2: critical sigma_w2 = 1
    r = vd.run_variance_depth(_inputs(n=8, d=100), noise, [0.5, 1.0, 2.0], width=400, max_layers=30, device="cpu")
    slopes = np.polyfit(np.arange(1, 31), r.log_q[:, 1:].T, 1)[0]
    np.testing.assert_allclose(slopes, np.log([0.5, 1.0, 2.0]), atol=0.03)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(noise=AdditiveGaussian(1.0)), "multiplicative"),
        (dict(noise=Dropout([0.5, 0.6])), "single"),
        (dict(noise=0.6), "NoiseModel"),
        (dict(sigma_w2=[0.0, 1.0]), "sigma_w2"),
        (dict(width=0), "width"),
        (dict(batch_size=1.5), "batch_size"),
        (dict(max_layers=0), "max_layers"),
        (dict(depth_factor=-1), "depth_factor"),
        (dict(images=torch.zeros(3, 4)), "all zero"),
        (dict(images=torch.ones(3)), "shape"),
        (dict(images=torch.full((2, 2), float("nan"))), "finite"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = dict(images=_inputs(n=2, d=4), noise=Dropout(0.6), sigma_w2=[1.0], width=4, max_layers=2, device="cpu")
    args.update(kwargs)
    with pytest.raises(InvalidParameterError, match=match):
        vd.run_variance_depth(**args)


def test_save_and_load_round_trip(tmp_path):
    r = vd.run_variance_depth(_inputs(n=4, d=20), Dropout(0.6), [0.1, 1.2, 2.5], width=30, max_layers=80,
                              seed=7, device="cpu", dataset="demo")
    r.q[2, 5] = np.inf  # non-finite values must survive JSON
    r.q[0, 3] = 0.0
    path = vd.save_result(r, tmp_path / "out" / "demo.json", wall_s=1.25, command="pytest")
    assert sorted(p.name for p in path.parent.iterdir()) == ["demo.json"]  # no temporary file left
    payload = json.loads(path.read_text())  # strict JSON (no NaN/Infinity literals)
    prov = payload["provenance"]
    assert {"code_version", "device", "date_utc", "wall_s", "command", "torch"} <= set(prov)
    assert prov["wall_s"] == 1.25 and prov["code_version"] == storage.code_version()
    assert payload["config"]["sigma_w2"] == [0.1, 1.2, 2.5]
    back = vd.load_result(path)
    np.testing.assert_array_equal(back.q, r.q)
    np.testing.assert_array_equal(back.n_layers, r.n_layers)
    assert back.noise == r.noise and back.dataset == "demo" and back.q_in == r.q_in
    assert back.config["provenance"]["command"] == "pytest"
    np.testing.assert_array_equal(back.failure_layer, r.failure_layer)


def test_load_rejects_other_files(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(InvalidParameterError, match="not a variance-depth result"):
        vd.load_result(tmp_path / "x.json")
    with pytest.raises(InvalidParameterError, match="cannot read"):
        vd.load_result(tmp_path / "missing.json")


def test_command_line_on_a_small_mnist(tmp_path, monkeypatch):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte": np.array([0x0803, 5, 28, 28], ">u4").tobytes()
        + rng.integers(0, 256, 5 * 784).astype(np.uint8).tobytes(),
        "train-labels-idx1-ubyte": np.array([0x0801, 5], ">u4").tobytes() + bytes([0, 1, 2, 3, 4]),
    }
    for name, payload in files.items():
        (raw / name).write_bytes(payload)
        monkeypatch.setitem(data.CHECKSUMS, name, hashlib.md5(payload).hexdigest())
    out = tmp_path / "results"
    path = vd.main(["--dataset", "mnist", "--data-root", str(tmp_path / "data"), "--n-images", "3",
                    "--n-sigma-w2", "3", "--width", "20", "--max-layers", "6", "--device", "cpu", "--out", str(out)])
    assert path.parent == out and path.name.startswith("mnist_train_3img_")  # readable prefix + config hash
    r = vd.load_result(path)
    assert r.n_images == 3 and r.width == 20 and r.q.shape == (3, 7)
    np.testing.assert_allclose(r.sigma_w2, [0.1, 1.3, 2.5])
    assert r.config["provenance"]["command"].startswith("python -m nsp_helpers.variance_depth --dataset mnist")


def test_figure():
    from matplotlib.figure import Figure

    from nsp_helpers import plots

    r = vd.run_variance_depth(_inputs(n=3, d=10), Dropout(0.6), [0.2, 1.2, 2.4], width=30, max_layers=60,
                              device="cpu", dataset="demo")
    fig = plots.variance_depth_figure([r, r], titles=["one", "two"])
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 6  # 2 rows x (map, colour bar, curves)
    assert fig.axes[0].get_title() == "(a) one"
    with pytest.raises(InvalidParameterError, match="titles"):
        plots.variance_depth_figure(r, titles=["a", "b"])
    with pytest.raises(InvalidParameterError, match="VarianceDepthResult"):
        plots.variance_depth_figure([])


def test_layer_figure():
    """Slider of *Variance depth*: one weight variance of a finished run, fixed axes, L* marked."""
    from nsp_helpers import plots

    r = vd.run_variance_depth(_inputs(n=3, d=10), Dropout(0.6), [0.2, 1.2, 2.4], width=30, max_layers=200,
                              device="cpu", dataset="demo")
    limits = set()
    for sw in r.sigma_w2:
        ax = plots.variance_depth_layer_figure(r, sw).axes[0]
        limits.add((ax.get_xlim(), ax.get_ylim()))
    assert len(limits) == 1 and limits.pop()[0] == (0.0, 200.0)
    ax = plots.variance_depth_layer_figure(r, 2.4).axes[0]
    l_star = float(r.theory_failure_depth()[2])
    assert l_star < 200
    assert any(line.get_xdata()[0] == pytest.approx(l_star) for line in ax.get_lines() if len(line.get_xdata()) == 2)
    with pytest.raises(InvalidParameterError, match="simulated values"):
        plots.variance_depth_layer_figure(r, 0.7)


# --- the real MNIST (fetched when absent) -------------------------------------------------------------------
def _real_mnist():
    return data.load_mnist(split="test", download=True)[0]  # fetched when absent (fails, never skips, offline)


def test_real_mnist_failure_depth():
    """MNIST's q_in is about 0.11, not the paper's 1; the measured failure layer follows q0 = 2 q_in."""
    images = _real_mnist()[:16]
    r = vd.run_variance_depth(images, Dropout(0.6), [0.1, 2.5], device="cpu", dataset="mnist")
    assert 0.09 < r.q_in < 0.13
    assert np.all(np.abs(r.failure_layer - r.theory_failure_depth()) <= 2)
    assert math.isclose(float(theory.failure_depth(Dropout(0.6), 2.5, q0=1.0)), 120.9, abs_tol=0.05)
