"""Tests of the Monte Carlo simulator (nsp_helpers.simulate).

Monte Carlo comparisons use width 1000 (the paper's width), fixed seeds and the tolerances stated in
each test. With 30 inputs x 3-5 networks the standard error of a mean q^1 is about 1 % and of a
mean c^1 about 0.005, so rtol 0.05 / atol 0.02 leave room of about 4 standard errors.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nsp_helpers import theory
from nsp_helpers.errors import InvalidParameterError
from nsp_helpers.noise import (
    AdditiveGaussian,
    Dropout,
    MultiplicativeGaussian,
    MultiplicativePoisson,
    NoNoise,
)
from nsp_helpers.simulate import (
    Propagation,
    input_pairs,
    input_partners,
    inputs_with_variance,
    propagate,
    scaled,
    simulate_correlation_dynamics,
    simulate_correlation_map,
    simulate_variance_dynamics,
    simulate_variance_map,
)

CPU = "cpu"
WIDTH = 1000


# --- independent references (closed forms and Gauss-Hermite quadrature) --------------------------
def relu_variance_map(q, sigma_w2, sigma_b2, noise):
    """q' = sigma_w2 (mu2 q / 2 + sigma_eps^2) + sigma_b2 (ReLU closed form)."""
    return sigma_w2 * (noise.mu2 * q / 2 + noise.additive_variance) + sigma_b2


def relu_cross_moment(c, q):
    """E[relu(u_a) relu(u_b)] for u ~ N(0, q [[1, c], [c, 1]])."""
    return q / (2 * np.pi) * (np.sqrt(1 - c**2) + (np.pi - np.arccos(c)) * c)


def gauss_expectation(fn, q, n=120):
    """E_z[fn(sqrt(q) z)] for z ~ N(0, 1), by Gauss-Hermite quadrature (probabilists')."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return np.sum(w * fn(np.sqrt(np.asarray(q, dtype=float))[..., None] * z), axis=-1) / np.sqrt(2 * np.pi)


# --- inputs with exact statistics -----------------------------------------------------------------
def test_inputs_with_variance_is_exact_and_ordered():
    q0 = np.array([0.0, 0.5, 3.0])
    x = inputs_with_variance(q0, n_inputs=4, width=50, seed=3)
    assert x.shape == (12, 50)
    np.testing.assert_allclose((x**2).mean(dim=1).numpy(), np.repeat(q0, 4), rtol=1e-12, atol=0)
    assert torch.equal(x, inputs_with_variance(q0, n_inputs=4, width=50, seed=3))
    assert not torch.equal(x, inputs_with_variance(q0, n_inputs=4, width=50, seed=4))


@pytest.mark.parametrize("c0", [-1.0, -0.3, 0.0, 0.5, 0.99, 1.0])
def test_input_pairs_have_exact_cosine_and_second_moment(c0):
    x, pairs = input_pairs([c0, 0.2], q0=2.5, n_pairs=5, width=64, seed=1)
    assert x.shape == (2 * 5 * 2, 64)
    assert pairs.shape == (10, 2)
    np.testing.assert_array_equal(pairs[:, 1] - pairs[:, 0], 1)
    np.testing.assert_allclose((x**2).mean(dim=1).numpy(), 2.5, rtol=1e-12)
    a, b = x[pairs[:, 0]].numpy(), x[pairs[:, 1]].numpy()
    cos = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
    np.testing.assert_allclose(cos, np.repeat([c0, 0.2], 5), atol=1e-12)


# --- the variance map against theory ---------------------------------------------------------------
@pytest.mark.parametrize(
    "noise, sigma_w2, sigma_b2",
    [
        (NoNoise(), 2.0, 0.0),  # He, critical without noise
        (Dropout(keep_prob=0.6), 1.2, 0.0),  # critical dropout
        (Dropout(keep_prob=0.6), 1.2 * 1.15**2, 0.0),  # above criticality (Fig. 3: 1.15 x critical sigma_w)
        (MultiplicativeGaussian(std=0.25), 2 / 1.0625, 0.1),
        (AdditiveGaussian(std=1.0), 2.0, 0.0),  # Fig. 2, ReLU with additive noise
        (MultiplicativePoisson(rate=1.0), 1.0, 0.0),
    ],
)
def test_variance_map_relu_matches_closed_form(noise, sigma_w2, sigma_b2):
    q0 = np.array([0.5, 4.0, 12.0])
    res = simulate_variance_map(q0, noise, sigma_w2, sigma_b2, n_inputs=30, n_networks=3, width=WIDTH, device=CPU)
    np.testing.assert_allclose(res.mean, relu_variance_map(q0, sigma_w2, sigma_b2, noise), rtol=0.05)
    assert res.q1.shape == (3, 3, 30)
    assert np.all(res.std > 0)


@pytest.mark.parametrize("noise", [NoNoise(), AdditiveGaussian(std=1.0)])
def test_variance_map_tanh_xavier_matches_quadrature(noise):
    q0 = np.array([0.5, 4.0, 12.0])
    res = simulate_variance_map(q0, noise, 1.0, 0.0, "tanh", n_inputs=30, n_networks=3, width=WIDTH, device=CPU)
    expected = 1.0 * (noise.mu2 * gauss_expectation(lambda u: np.tanh(u) ** 2, q0) + noise.additive_variance)
    np.testing.assert_allclose(res.mean, expected, rtol=0.05)


def test_variance_map_agrees_with_theory_module():
    theory = pytest.importorskip("nsp_helpers.theory")
    q0 = np.array([1.0, 6.0])
    for noise, activation, sigma_w2 in [(Dropout(0.6), "relu", 1.2), (AdditiveGaussian(1.0), "tanh", 1.0)]:
        res = simulate_variance_map(q0, noise, sigma_w2, 0.05, activation, n_inputs=30, n_networks=3,
                                    width=WIDTH, device=CPU)
        expected = theory.variance_map(q0, noise, sigma_w2, 0.05, activation)
        np.testing.assert_allclose(res.mean, expected, rtol=0.05)


def test_noise_family_stacks_members_run_with_the_same_seed():
    keep = np.array([0.6, 0.9])
    fam = simulate_variance_map([1.0, 3.0], Dropout(keep), 2 * keep, 0.0, n_inputs=4, n_networks=2, width=100,
                                device=CPU)
    assert fam.mean.shape == (2, 2) and fam.q1.shape == (2, 2, 2, 4)
    for i, k in enumerate(keep):
        one = simulate_variance_map([1.0, 3.0], Dropout(k), 2 * k, 0.0, n_inputs=4, n_networks=2, width=100,
                                    device=CPU)
        np.testing.assert_array_equal(fam.q1[i], one.q1)


# --- variance dynamics -----------------------------------------------------------------------------
def test_variance_dynamics_follow_the_geometric_law():
    """ReLU, sigma_b = 0: q^l = (sigma_w2 mu2 / 2)^l q^0; constant only at criticality."""
    noise = Dropout(keep_prob=0.6)
    n_layers = 6
    critical = simulate_variance_dynamics(4.0, n_layers, noise, 1.2, 0.0, n_inputs=30, n_networks=8, width=WIDTH,
                                          device=CPU)
    assert critical.mean.shape == (n_layers + 1,) and critical.q.shape == (n_layers + 1, 8, 30)
    assert critical.mean[0] == pytest.approx(4.0, rel=1e-6)
    # per-layer fluctuations (~1.4 % per network) add up over depth: the standard error of the mean at
    # layer 6 over 8 networks is about 2.5 % (measured over 8 seeds), so rtol 0.1 is about 4 of them
    np.testing.assert_allclose(critical.mean, 4.0, rtol=0.1)
    # ReLU is positively homogeneous: with the same seed, scaling sigma_w2 by f scales q^l by exactly f^l
    for factor in (0.85, 1.15):
        off = simulate_variance_dynamics(4.0, n_layers, noise, 1.2 * factor, 0.0, n_inputs=30, n_networks=8,
                                         width=WIDTH, device=CPU)
        ratio = off.q / critical.q
        np.testing.assert_allclose(ratio, np.broadcast_to(factor ** np.arange(n_layers + 1)[:, None, None],
                                                          ratio.shape), rtol=1e-4)


def test_float32_overflow_and_underflow_are_reported_not_hidden():
    h0 = inputs_with_variance(1.0, n_inputs=3, width=100)
    up = propagate(h0, sigma_w2=2e6, n_layers=14, pairs=[[0, 1]], device=CPU)  # q grows 1e6-fold per layer
    assert np.isfinite(up.q[3]).all() and np.isfinite(up.c[3]).all()
    assert not np.isfinite(up.q[-1]).any()  # inf (then nan once inf - inf appears)
    assert np.isnan(up.c[-1]).all()  # the cosine of overflowed activations is undefined
    down = propagate(h0, sigma_w2=2e-6, n_layers=14, device=CPU)  # q shrinks 1e6-fold per layer
    assert (down.q[3] > 0).all()
    assert (down.q[-1] == 0).all()
    ok64 = propagate(h0, sigma_w2=2e6, n_layers=14, device=CPU, dtype=torch.float64)
    assert np.isfinite(ok64.q).all()


def test_linear_activation_without_noise():
    """The identity activation returns h itself; the layer must not overwrite its own input."""
    res = simulate_variance_map([2.0], NoNoise(), 1.5, 0.0, "linear", n_inputs=30, n_networks=3, width=WIDTH,
                                device=CPU)
    np.testing.assert_allclose(res.mean, [3.0], rtol=0.05)


# --- correlations ----------------------------------------------------------------------------------
def test_correlation_map_at_criticality_with_dropout_matches_closed_form():
    keep = 0.6
    noise, sigma_w2, q0 = Dropout(keep_prob=keep), 2 * keep, 1.0
    c0 = np.array([-0.5, 0.0, 0.5, 0.9, 1.0])
    res = simulate_correlation_map(c0, q0, noise, sigma_w2, 0.0, n_pairs=50, n_networks=3, width=WIDTH, device=CPU)
    q1 = relu_variance_map(q0, sigma_w2, 0.0, noise)
    expected = sigma_w2 * relu_cross_moment(c0, q0) / q1  # independent noise on the two inputs
    np.testing.assert_allclose(res.mean, expected, atol=0.02)
    assert res.mean[-1] == pytest.approx(keep, abs=0.02)  # identical inputs decorrelate to c = keep_prob
    assert res.c1.shape == (5, 3, 50)


def test_correlation_map_agrees_with_theory_module():
    theory = pytest.importorskip("nsp_helpers.theory")
    c0 = np.array([0.0, 0.5, 0.9])
    noise = MultiplicativeGaussian(std=0.25)
    sigma_w2 = 2 / noise.mu2
    res = simulate_correlation_map(c0, 1.0, noise, sigma_w2, 0.0, n_pairs=50, n_networks=3, width=WIDTH, device=CPU)
    np.testing.assert_allclose(res.mean, theory.correlation_map(c0, noise, sigma_w2, 0.0, "relu", q=1.0), atol=0.02)


def test_correlation_dynamics_shapes_and_decorrelation():
    noise = Dropout(keep_prob=0.6)
    res = simulate_correlation_dynamics([0.0, 0.9], 6, 1.0, noise, 1.2, 0.0, n_pairs=30, n_networks=2, width=WIDTH,
                                        device=CPU)
    assert res.mean.shape == (2, 7) and res.c.shape == (2, 7, 2, 30)
    np.testing.assert_allclose(res.mean[:, 0], [0.0, 0.9], atol=1e-6)
    # iterate the closed-form map (q stays at 1 at criticality)
    expected = np.array([0.0, 0.9])
    for _ in range(6):
        expected = 1.2 * relu_cross_moment(expected, 1.0) / relu_variance_map(1.0, 1.2, 0.0, noise)
    np.testing.assert_allclose(res.mean[:, -1], expected, atol=0.03)
    scalar = simulate_correlation_dynamics(0.5, 2, 1.0, noise, 1.2, 0.0, n_pairs=3, n_networks=2, width=50,
                                           device=CPU)
    assert scalar.mean.shape == (3,) and scalar.c.shape == (3, 2, 3)


def test_cosine_not_pearson_on_inputs_with_nonzero_mean():
    gen = torch.Generator().manual_seed(0)
    a = 1.0 + torch.randn(500, generator=gen, dtype=torch.float64)
    b = 1.0 + torch.randn(500, generator=gen, dtype=torch.float64)
    h0 = torch.stack([a, b])
    out = propagate(h0, sigma_w2=2.0, n_layers=0, pairs=[[0, 1]], device=CPU, dtype=torch.float64)
    cosine = float(a @ b / (a.norm() * b.norm()))
    pearson = float(np.corrcoef(a.numpy(), b.numpy())[0, 1])
    assert abs(cosine - pearson) > 0.3  # about 0.5 against about 0
    assert out.c[0, 0, 0] == pytest.approx(cosine, abs=1e-12)


# --- reproducibility, chunking, shapes -------------------------------------------------------------
def test_same_seed_same_numbers_different_seed_different_numbers():
    h0, pairs = input_pairs([0.3], 1.0, n_pairs=3, width=80)
    kw = dict(n_layers=3, sigma_w2=1.2, noise=Dropout(0.6), n_networks=2, pairs=pairs, device=CPU)
    first, again, other = propagate(h0, seed=5, **kw), propagate(h0, seed=5, **kw), propagate(h0, seed=6, **kw)
    np.testing.assert_array_equal(first.q, again.q)
    np.testing.assert_array_equal(first.c, again.c)
    assert not np.array_equal(first.q[1:], other.q[1:])
    np.testing.assert_array_equal(first.q[0], other.q[0])  # the inputs are the same


def test_chunks_over_networks_run_in_sequence():
    """With one network per chunk, network 0 is exactly the single-network simulation."""
    h0 = inputs_with_variance(1.0, n_inputs=3, width=60)
    kw = dict(n_layers=3, sigma_w2=1.2, sigma_b2=0.1, noise=Dropout(0.6), device=CPU, seed=2)
    chunked = propagate(h0, n_networks=3, chunk_bytes=1, **kw)  # one network per chunk
    single = propagate(h0, n_networks=1, **kw)
    np.testing.assert_array_equal(chunked.q[:, :1], single.q)
    assert not np.array_equal(chunked.q[1:, 0], chunked.q[1:, 1])  # networks are independent


def test_propagation_shapes_and_no_activations_by_default():
    h0, pairs = input_pairs([0.0, 0.5], 2.0, n_pairs=2, width=30)
    out = propagate(h0, sigma_w2=2.0, sigma_b2=0.1, n_layers=4, n_networks=3, pairs=pairs, device=CPU)
    assert isinstance(out, Propagation)
    assert out.q.shape == (5, 3, 8) and out.c.shape == (5, 3, 4) and out.n_layers == 4
    assert out.activations is None and out.width == 30 and out.device == "cpu"
    assert propagate(h0, sigma_w2=2.0, n_layers=2, device=CPU).c is None


def test_keep_activations_and_per_network_inputs():
    h0 = torch.stack([inputs_with_variance(1.0, 2, 20, seed=s) for s in range(3)])  # (3 networks, 2, 20)
    out = propagate(h0, Dropout(0.8), 2.0, n_layers=2, device=CPU, keep_activations=True)
    assert out.q.shape == (3, 3, 2) and len(out.activations) == 3
    assert out.activations[0].shape == (3, 2, 20)
    assert torch.equal(out.activations[0], h0.float())  # layer 0 is the input itself
    for layer, h in enumerate(out.activations):
        np.testing.assert_allclose(out.q[layer], (h.double() ** 2).mean(-1).numpy(), rtol=1e-5)


# --- the fast paths ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("keep_prob", [0.01, 0.6, 0.999])
def test_dropout_keeps_units_with_probability_keep_prob(dtype, keep_prob):
    """The one dropout (integer bit operations): kept units are multiplied by exactly fl(1/p), others zeroed."""
    from nsp_helpers._random import RandomStreams

    shape = (2, 500, 1000)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=dtype) + 5.0  # no zeros before
    before = x.clone()
    out = Dropout(keep_prob).apply(x, generator=RandomStreams(0), inplace=True)
    assert out.data_ptr() == x.data_ptr()
    kept = out != 0
    n = kept.numel()
    sigma = np.sqrt(keep_prob * (1 - keep_prob) / n)
    assert abs(kept.double().mean().item() - keep_prob) < 5 * sigma  # binomial, 5 standard deviations
    inv = torch.tensor(1 / keep_prob, dtype=torch.float64).to(dtype)
    assert torch.equal(out[kept], before[kept] * inv)
    # independent per unit: the two halves of the batch and neighbouring units are uncorrelated
    k = kept.double()
    assert abs((k[0] * k[1]).mean().item() - keep_prob**2) < 5 * np.sqrt(2 / n)
    assert abs((k[..., 1:] * k[..., :-1]).mean().item() - keep_prob**2) < 5 * np.sqrt(2 / n)


def test_dropout_family_thresholds_per_member():
    from nsp_helpers._random import RandomStreams

    keep = np.array([0.2, 0.9])
    eps = Dropout(keep).sample((400, 500), generator=RandomStreams(1))
    rates = (eps > 0).double().mean(dim=(1, 2)).numpy()
    np.testing.assert_allclose(rates, keep, atol=5 * np.sqrt(0.25 / 200_000))
    np.testing.assert_allclose(eps.amax(dim=(1, 2)).numpy(), 1 / keep, rtol=1e-6)


def test_parallel_random_streams_do_not_depend_on_threads():
    from nsp_helpers._random import RandomStreams

    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        serial = RandomStreams(3).normal_(torch.empty(300_000))
        torch.set_num_threads(2)
        threaded = RandomStreams(3).normal_(torch.empty(300_000))
    finally:
        torch.set_num_threads(previous)
    assert torch.equal(serial, threaded)
    assert abs(serial.mean().item()) < 0.01 and abs(serial.std().item() - 1.0) < 0.01
    # the slices come from different generators, not copies of one stream
    quarter = serial.numel() // 4
    assert not torch.equal(serial[:100], serial[quarter: quarter + 100])


# --- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: inputs_with_variance(-1.0, 2, 10), "q0"),
        (lambda: inputs_with_variance(1.0, 2, 0), "width"),
        (lambda: input_pairs(1.5, 1.0, 2, 10), "c0"),
        (lambda: input_pairs(0.5, 0.0, 2, 10), "q0"),
        (lambda: simulate_variance_map([-1.0], NoNoise(), 2.0, 0.0, device=CPU), "q0_values"),
        (lambda: simulate_correlation_map([1.2], 1.0, NoNoise(), 2.0, 0.0, device=CPU), "c0_values"),
        (lambda: simulate_variance_dynamics(1.0, -1, NoNoise(), 2.0, 0.0, device=CPU), "n_layers"),
        (lambda: simulate_variance_map([1.0], NoNoise(), 2.0, 0.0, width=0, device=CPU), "width"),
        (lambda: simulate_variance_map([1.0], NoNoise(), -2.0, 0.0, width=10, device=CPU), "sigma_w2"),
        (lambda: simulate_variance_map([1.0], 0.5, 2.0, 0.0, width=10, device=CPU), "noise"),
        (lambda: simulate_variance_map([1.0], NoNoise(), 2.0, 0.0, n_networks=0, width=10, device=CPU), "n_networks"),
        (lambda: propagate(np.ones((2, 5)), sigma_w2=2.0, n_layers=1, pairs=[[0, 2]], device=CPU), "pairs"),
        (lambda: propagate(np.ones(5), sigma_w2=2.0, n_layers=1, device=CPU), "h0"),
        (lambda: propagate(np.ones((2, 2, 5)), sigma_w2=2.0, n_layers=1, n_networks=3, device=CPU), "n_networks"),
        (lambda: propagate(np.ones((2, 5)), Dropout([0.5, 0.6, 0.7]), [1.0, 2.0], n_layers=1, device=CPU), "sigma_w2"),
        (lambda: propagate(np.ones((2, 5)), NoNoise(), 2.0, device=CPU), "n_layers"),
        (lambda: propagate(np.ones((2, 5)), NoNoise(), 2.0, n_layers=1, method="exact", device=CPU), "method"),
    ],
)
def test_bad_input_raises_naming_the_parameter(call, name):
    with pytest.raises(InvalidParameterError, match=name):
        call()


#: far beyond the memory of any machine: every size below must be refused before it is allocated
HUGE = 10**12


@pytest.mark.parametrize(
    "call, named",
    [
        (lambda: simulate_correlation_map([0.0, 0.5], 1.0, Dropout(0.6), 1.2, n_pairs=HUGE, n_networks=2, width=16, device=CPU),
         "n_pairs=1000000000000"),
        (lambda: simulate_correlation_map([0.0, 0.5], 1.0, Dropout(0.6), 1.2, n_pairs=HUGE, n_networks=2, width=16, device=CPU,
                                          shared_reference=True), "n_pairs=1000000000000"),
        (lambda: simulate_correlation_dynamics(0.5, 2, 1.0, Dropout(0.6), 1.2, n_pairs=HUGE, n_networks=2, width=16, device=CPU),
         "n_pairs=1000000000000"),
        (lambda: simulate_variance_map([1.0, 2.0], Dropout(0.6), 1.2, n_inputs=HUGE, n_networks=2, width=16, device=CPU),
         "n_inputs=1000000000000"),
        (lambda: simulate_variance_dynamics(1.0, 2, Dropout(0.6), 1.2, n_inputs=2, n_networks=HUGE, width=16, device=CPU),
         "n_networks=1000000000000"),
        (lambda: input_partners([0.5, 0.9], 1.0, n_partners=HUGE, width=8), "n_partners=1000000000000"),
        (lambda: input_partners([0.5, 0.9], 1.0, n_partners=3, width=HUGE), "width=1000000000000"),
    ],
)
def test_sizes_that_cannot_fit_are_refused_naming_the_callers_parameter(call, named):
    """A refusal names the parameter the caller passed (n_pairs), not a size derived from it (n_inputs = 2 n_pairs),
    and comes before any allocation (no MemoryError, no torch allocator error)."""
    from nsp_helpers.errors import InsufficientMemoryError

    with pytest.raises(InsufficientMemoryError, match=named) as info:
        call()
    assert "n_inputs=2000000000000" not in str(info.value) and "would take" in str(info.value)


# --- devices ---------------------------------------------------------------------------------------
def test_scaled_picks_the_value_for_the_device():
    assert scaled(5, 50, device="cpu") == 5
    assert scaled(5, 50) == (50 if torch.cuda.is_available() else 5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_is_reproducible_and_agrees_with_theory():
    noise = Dropout(keep_prob=0.6)
    q0 = np.array([0.5, 4.0])
    a = simulate_variance_map(q0, noise, 1.2, 0.0, n_inputs=30, n_networks=5, device="cuda", seed=1)
    b = simulate_variance_map(q0, noise, 1.2, 0.0, n_inputs=30, n_networks=5, device="cuda", seed=1)
    np.testing.assert_array_equal(a.q1, b.q1)
    np.testing.assert_allclose(a.mean, relu_variance_map(q0, 1.2, 0.0, noise), rtol=0.05)


def test_dropout_family_members_share_weights_and_nest_masks():
    """Common random numbers. Input a is sqrt(N) e_a, so with the linear activation and no bias
    h^1_a = sqrt(N) * mask_a * W[a, :] / keep_prob: either zero (dropped) or a row of W."""
    width = 40
    h0 = np.sqrt(width) * np.eye(width)
    out = propagate(h0, Dropout([0.5, 0.9]), 1.0, activation="linear", n_layers=1, device=CPU, keep_activations=True,
                    method="weights")
    h1 = out.activations[1][:, 0].double()  # (2 members, width inputs, width units)
    kept = h1.abs().sum(-1) > 0  # (2, width): which inputs survived dropout
    assert 0 < kept[0].sum() < kept[1].sum() < width
    assert torch.all(kept[1][kept[0]])  # nested: kept at 0.5 implies kept at 0.9
    both = kept[0]
    np.testing.assert_allclose(0.5 * h1[0][both].numpy(), 0.9 * h1[1][both].numpy(), rtol=1e-5, atol=1e-6)  # same W


def test_tanh_variance_dynamics_with_additive_noise_follow_iterated_theory():
    """Pretorius et al. Fig. 2(b): tanh, Xavier (sigma_w2 = 1), additive N(0, 1) noise, q0 = 4."""
    theory = pytest.importorskip("nsp_helpers.theory")
    noise = AdditiveGaussian(std=1.0)
    res = simulate_variance_dynamics(4.0, 10, noise, 1.0, 0.0, "tanh", n_inputs=30, n_networks=3, width=WIDTH,
                                     device=CPU)
    expected = theory.iterate_variance(4.0, 10, noise, 1.0, 0.0, "tanh")
    # tanh contracts towards its fixed point, so per-layer errors do not accumulate
    np.testing.assert_allclose(res.mean, expected, rtol=0.05)


# --- the paper's designs: one reference input with partners; inputs drawn per network ---------------
@pytest.mark.parametrize("c0", [-1.0, 0.0, 0.5, 1.0])
def test_input_partners_have_exact_cosine_with_their_reference(c0):
    x, pairs = input_partners([c0, 0.2], q0=2.5, n_partners=4, width=64, seed=1)
    assert x.shape == (10, 64) and pairs.tolist()[:4] == [[0, 1], [0, 2], [0, 3], [0, 4]]
    assert pairs.tolist()[4:] == [[5, 6], [5, 7], [5, 8], [5, 9]]
    np.testing.assert_allclose((x**2).mean(dim=1).numpy(), 2.5, rtol=1e-12)
    a, b = x[pairs[:, 0]], x[pairs[:, 1]]
    cosine = ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).numpy()
    np.testing.assert_allclose(cosine, [c0] * 4 + [0.2] * 4, atol=1e-12)
    assert torch.equal(x, input_partners([c0, 0.2], q0=2.5, n_partners=4, width=64, seed=1)[0])


def test_pairs_measured_through_views_equal_pairs_measured_through_indices():
    """Pairs given as a repeated reference (a broadcast view) or a progression (a strided view) measure the
    same cosines as the same pairs in an order that needs index tensors."""
    x, pairs = input_partners(0.5, 1.0, n_partners=6, width=50)
    kw = dict(noise=Dropout(0.7), sigma_w2=1.4, n_layers=3, n_networks=2, device=CPU, seed=3)
    views = propagate(x, pairs=pairs, **kw)
    order = np.array([3, 0, 5, 1, 4, 2])
    indexed = propagate(x, pairs=pairs[order][:, ::-1].copy(), **kw)  # (partner, reference): index tensors
    np.testing.assert_allclose(indexed.c, views.c[..., order], rtol=1e-6, atol=1e-7)
    xp, pp = input_pairs([0.1, 0.9], 1.0, n_pairs=3, width=50)  # (0, 1), (2, 3), ...: strided views
    strided = propagate(xp, pairs=pp, **kw)
    shuffled = propagate(xp, pairs=pp[::-1].copy(), **kw)
    np.testing.assert_allclose(shuffled.c, strided.c[..., ::-1], rtol=1e-6, atol=1e-7)


def test_shared_reference_design_matches_theory_and_shapes():
    noise = Dropout(keep_prob=0.6)
    c0 = np.array([0.0, 0.5, 0.9])
    dyn = simulate_correlation_dynamics(c0, 6, 1.0, noise, n_pairs=20, n_networks=6, width=WIDTH, seed=4, device=CPU,
                                        shared_reference=True)
    assert dyn.c.shape == (3, 7, 6, 20)
    np.testing.assert_allclose(dyn.c[:, 0], np.broadcast_to(c0[:, None, None], (3, 6, 20)), atol=1e-6)
    curves = theory.iterate_correlation(c0, 6, noise)  # (7, 3)
    per_network = dyn.c.mean(axis=-1)  # (3, 7, networks): networks are the independent replicates
    se = per_network.std(axis=-1, ddof=1) / np.sqrt(per_network.shape[-1])
    assert np.all(np.abs(dyn.mean[:, 1:] - curves.T[:, 1:]) < 4 * se[:, 1:] + 0.005)
    one = simulate_correlation_map(c0, 1.0, noise, n_pairs=20, n_networks=6, width=WIDTH, seed=4, device=CPU,
                                   shared_reference=True)
    assert one.c1.shape == (3, 6, 20)
    np.testing.assert_array_equal(one.c1[0], simulate_correlation_map(
        c0[:1], 1.0, noise, n_pairs=20, n_networks=6, width=WIDTH, seed=4, device=CPU, shared_reference=True).c1[0])
    assert not np.array_equal(one.c1[1], one.c1[0])  # each c0 through its own networks
    with pytest.raises(InvalidParameterError, match="fresh_inputs"):
        simulate_correlation_map(c0, 1.0, noise, n_pairs=2, n_networks=2, width=20, device=CPU,
                                 shared_reference=True, fresh_inputs=True)


def test_fresh_inputs_give_every_network_its_own_inputs():
    kw = dict(noise=AdditiveGaussian(1.0), sigma_w2=2.0, n_inputs=3, n_networks=4, width=200, seed=1, device=CPU)
    shared = simulate_variance_map([1.0, 4.0], **kw)
    fresh = simulate_variance_map([1.0, 4.0], fresh_inputs=True, **kw)
    assert fresh.q1.shape == shared.q1.shape == (2, 4, 3)
    assert not np.array_equal(fresh.q1, shared.q1)
    pairs = simulate_correlation_map([0.5], 1.0, Dropout(0.8), n_pairs=3, n_networks=4, width=200, seed=1,
                                     device=CPU, fresh_inputs=True)
    assert pairs.c1.shape == (1, 4, 3)


def test_fresh_inputs_make_the_per_network_means_unbiased():
    """With inputs drawn per network, the per-network means of q^1 scatter around the mean-field map
    (expectation over the inputs' directions is exact: each coordinate of a uniformly random direction
    is symmetric, so ReLU keeps half of q^0 on average); 4 standard errors."""
    q0 = np.array([1.0, 5.0, 15.0])
    res = simulate_variance_map(q0, AdditiveGaussian(1.0), 2.0, n_inputs=5, n_networks=40, width=WIDTH, seed=3,
                                device=CPU, fresh_inputs=True)
    per_network = res.q1.mean(axis=-1)
    se = per_network.std(axis=-1, ddof=1) / np.sqrt(per_network.shape[-1])
    assert np.all(np.abs(res.mean - relu_variance_map(q0, 2.0, 0.0, AdditiveGaussian(1.0))) < 4 * se)
