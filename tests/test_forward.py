"""Tests of the one noisy forward pass (nsp_helpers.forward) and the network description (nsp_helpers.network).

The simulator, the trainer's model and the gradient code all run through nsp_helpers.forward: the same
network description and seed must give bit-identical activations in all three. The Gram-matrix sampler
must agree in distribution with drawn weight matrices (it is exact, not an approximation).
"""

from __future__ import annotations

import math
import pathlib
import re

import numpy as np
import pytest
import torch
from scipy import stats as sps

from nsp_helpers import simulate
from nsp_helpers.errors import InvalidParameterError
from nsp_helpers.forward import NoisyMLP, forward, network_seeds
from nsp_helpers.network import NoisyNetwork, as_network
from nsp_helpers.noise import AdditiveGaussian, Dropout, MultiplicativeGaussian, NoNoise

CPU = "cpu"


# --- one network, three callers, the same bits -----------------------------------------------------
@pytest.mark.parametrize("noise, activation, sigma_b2", [
    (Dropout(keep_prob=0.7), "relu", 0.0),
    (Dropout(keep_prob=0.8), "tanh", 0.1),
    (MultiplicativeGaussian(std=0.5), "relu", 0.05),
    (AdditiveGaussian(std=0.3), "tanh", 0.0),
])
def test_simulator_trainer_model_and_gradient_code_give_bit_identical_activations(noise, activation, sigma_b2):
    net = NoisyNetwork(noise, 1.3, sigma_b2, activation, width=48, n_layers=5)
    seed, n_networks = 7, 3
    # the gradient code draws its inputs; the other two get the same ones
    grads = simulate.gradient_statistics(net, n_networks=n_networks, n_pairs=2, seed=seed, device=CPU,
                                         keep_tensors=True)
    inputs = grads.tensors["inputs"]
    simulated = simulate.propagate(inputs, net, seed=seed, device=CPU, keep_activations=True, method="weights")
    model = NoisyMLP.from_network(net, seed=seed, n_networks=n_networks, device=CPU)
    trained = []
    with torch.no_grad():
        model(inputs, generator=seed, on_layer=lambda layer, h, x, eps: trained.append(h.clone()))
    assert len(simulated.activations) == len(trained) == len(grads.tensors["preactivations"]) == 6
    for layer in range(6):
        assert torch.equal(simulated.activations[layer], trained[layer]), layer
        assert torch.equal(simulated.activations[layer], grads.tensors["preactivations"][layer]), layer
    # the module's weights are the ones the simulator drew (module layout: (in, out))
    for layer, w in enumerate(grads.tensors["weights"]):
        assert torch.equal(model.weights[layer].detach(), w.transpose(1, 2))


def test_module_with_and_without_autograd_and_the_forward_function_agree():
    net = NoisyNetwork(Dropout(0.6), width=30, n_layers=4, input_width=12, output_width=5, input_activation=False)
    x = torch.rand(9, 12)
    model = net.module(seed=2, n_networks=4, device=CPU)
    with torch.no_grad():
        no_grad = model(x, generator=2)
    with_grad = model(x, generator=2)
    assert with_grad.requires_grad and torch.equal(no_grad, with_grad.detach())
    drawn = forward(net, x, seed=2, n_networks=4, device=CPU)  # a read-out needs drawn weights
    assert drawn.method == "weights"
    assert torch.equal(drawn.output, no_grad)
    # evaluation mode: no noise, deterministic
    with torch.no_grad():
        assert torch.equal(model(x, train=False, generator=1), model(x, train=False, generator=2))


def test_weights_depend_on_network_seed_and_layer_only():
    net = NoisyNetwork(NoNoise(), 2.0, width=20, n_layers=3)
    a = forward(net, torch.randn(4, 20), seed=1, n_networks=5, device=CPU, keep_weights=True, method="weights")
    b = forward(net, torch.randn(4, 20), seed=1, n_networks=3, device=CPU, keep_weights=True, method="weights",
                chunk_bytes=1)
    for wa, wb in zip(a.weights, b.weights):
        assert torch.equal(wa[:3], wb)
    assert network_seeds(1, 3) == network_seeds(1, 5)[:3]


def test_ragged_stack_equals_each_network_alone():
    """Networks of different depths and noise levels run together exactly as they run alone."""
    nets = [NoisyNetwork(Dropout(k), width=16, n_layers=d, input_width=8, output_width=3, input_activation=False)
            for d, k in [(4, 0.5), (2, 0.9), (1, 1.0)]]
    seeds = [11, 12, 13]
    x = torch.rand(5, 8)
    together = NoisyMLP(nets, seeds, device=CPU)
    with torch.no_grad():
        out = together(x, train=False)
        for i, (net, seed) in enumerate(zip(nets, seeds)):
            alone = NoisyMLP([net], [seed], device=CPU)(x, train=False)
            torch.testing.assert_close(out[i], alone[0], rtol=1e-6, atol=1e-6)
    assert together.n_parameters() == [8 * 16 + 16 + 3 * (16 * 16 + 16) + 16 * 3 + 3,
                                       8 * 16 + 16 + 16 * 16 + 16 + 16 * 3 + 3, 8 * 16 + 16 + 16 * 3 + 3]


# --- the exact Gram-matrix sampler ----------------------------------------------------------------
def _one_layer(method, x, n_networks, sigma_w2=1.5, sigma_b2=0.2, seed=0, dtype=torch.float64):
    net = NoisyNetwork(NoNoise(), sigma_w2, sigma_b2, "linear", width=64, n_layers=1, input_width=x.shape[-1],
                       noise_on_input=False)
    out = forward(net, x, seed=seed, n_networks=n_networks, device=CPU, dtype=dtype, method=method,
                  keep_preactivations=True)
    return out.preactivations[1]  # (networks, inputs, units)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gram_and_weight_paths_agree_in_distribution(dtype):
    """Given the inputs X, h_{:,i} ~ N(0, sigma_w2/N X X^T + sigma_b2 11^T): both paths, moments and marginals
    (float32: the Gram matrix is formed in float32, as the weight path's products are)."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(30, generator=gen, dtype=torch.float64)
    x = torch.stack([a, a, 0.6 * a + 0.8 * torch.randn(30, generator=gen, dtype=torch.float64), torch.zeros(30)])
    expected = 1.5 / 30 * x @ x.T + 0.2
    n = 400
    for method in ("gram", "weights"):
        h = _one_layer(method, x, n, dtype=dtype).double()  # 400 networks x 64 units = 25,600 draws of the 4-vector
        samples = h.permute(0, 2, 1).reshape(-1, 4)
        cov = samples.T @ samples / samples.shape[0]
        # standard error of a covariance entry: sqrt((K_ii K_jj + K_ij^2) / n_samples)
        se = torch.sqrt((torch.outer(expected.diag(), expected.diag()) + expected**2) / samples.shape[0])
        assert torch.all((cov - expected).abs() < 5 * se), method
        # marginal of unit 0 of input 2: Gaussian (Kolmogorov-Smirnov)
        z = (samples[:, 2] / math.sqrt(float(expected[2, 2]))).numpy()
        assert sps.kstest(z, "norm").pvalue > 1e-3, method
    # degenerate Gram matrices are exact, not approximate: identical inputs give identical pre-activations,
    # a zero input gets the bias alone (the same for every input of a network)
    h = _one_layer("gram", x, 3, dtype=dtype)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(h[:, 0], h[:, 1], rtol=tol, atol=tol)
    bias_only = h[:, 3]
    assert torch.all(bias_only.std(dim=0) >= 0) and bias_only.abs().sum() > 0


def _degenerate_and_extreme_inputs():
    """(name, x) of shape (networks, inputs, fan_in), float32: Gram matrices that are singular, rank-deficient,
    nearly singular, or whose float32 entries would overflow or underflow."""
    gen = torch.Generator().manual_seed(5)
    a = torch.randn(3, 1, 40, generator=gen)
    noise = torch.randn(3, 12, 40, generator=gen)
    return [
        ("generic", noise),
        ("identical", a.expand(3, 12, 40).contiguous()),
        ("rank-deficient (more inputs than units)", torch.randn(3, 60, 40, generator=gen)),
        ("nearly collinear (c = 1 - 1e-6)", a + 1.4e-3 * noise),
        ("zero rows", torch.cat([noise[:, :6], torch.zeros(3, 6, 40)], dim=1)),
        ("float32 Gram would overflow", 1e25 * noise),
        ("float32 Gram would underflow", 1e-30 * noise),
        ("one row huge, one tiny", torch.cat([1e25 * noise[:, :1], noise[:, 1:11], 1e-30 * noise[:, 11:]], dim=1)),
        ("rows 1e27 apart, within float32", torch.cat([1e15 * noise[:, :1], noise[:, 1:11], 1e-12 * noise[:, 11:]],
                                                       dim=1)),
    ]


@pytest.mark.parametrize("name, x", _degenerate_and_extreme_inputs(), ids=lambda v: v if isinstance(v, str) else "")
def test_gram_factor_is_a_square_root_of_the_covariance(name, x):
    """L L^T = scale X X^T to float32 resolution relative to the rows' norms, whatever the conditioning and
    the magnitude of X (float32 Gram matrices, float64 where float32 would lose them, eigh where Cholesky fails)."""
    from nsp_helpers.forward import _gram_factor

    scale = np.array([0.5, 1.0, 3.0])
    factor = _gram_factor(x, scale).double()
    x64 = x.double()
    expected = torch.as_tensor(scale).view(3, 1, 1) * x64 @ x64.transpose(1, 2)
    norms = torch.sqrt(torch.diagonal(expected, dim1=1, dim2=2))
    error = (factor @ factor.transpose(1, 2) - expected).abs() / (norms.unsqueeze(-1) * norms.unsqueeze(-2))
    assert torch.isfinite(factor).all() and torch.all(torch.nan_to_num(error, nan=0.0) < 1e-5), name
    assert torch.all(factor[expected.diagonal(dim1=1, dim2=2) == 0] == 0), name  # zero rows: zero pre-activations
    # the sampler built on it: finite pre-activations for all of these inputs (float32 working precision)
    h = _one_layer("gram", x, 3, sigma_b2=0.0, dtype=torch.float32)
    assert torch.isfinite(h).all(), name


def test_gram_sampler_scales_with_its_inputs_where_float32_gram_matrices_would_not_fit():
    """Linear layer, same seed: h(s x) = s h(x) for s = 1e25 (x x^T overflows float32) and 1e-30 (it
    underflows): those networks are redone in float64, the others are not affected."""
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(8, 50, generator=gen)
    base = _one_layer("gram", x, 4, sigma_b2=0.0, dtype=torch.float32)
    for s in (1e25, 1e-30):
        scaled = _one_layer("gram", s * x, 4, sigma_b2=0.0, dtype=torch.float32)
        torch.testing.assert_close(scaled.double() / s, base.double(), rtol=1e-5, atol=1e-6)
    # non-finite values reached inside the network: NaN out (test_simulate checks the overflow over depth)
    from nsp_helpers.forward import _gram_factor

    bad = x.expand(2, 8, 50).clone()
    bad[1, 3, 7] = float("inf")
    factor = _gram_factor(bad, np.ones(2))
    assert torch.isfinite(factor[0]).all() and torch.isnan(factor[1]).all()


def test_gram_and_weight_paths_agree_over_depth_with_noise():
    """Critical dropout ReLU, 40 networks x 8 layers: mean q^l and c^l of both paths agree within 4 standard
    errors (over networks, the independent replicates: at width 400 one network's ln q wanders by ~0.15
    per layer, so the spread between networks dominates)."""
    net = NoisyNetwork(Dropout(0.6), width=400, n_layers=8)
    h0, pairs = simulate.input_pairs([0.3, 0.9], 1.0, n_pairs=8, width=400, seed=1)
    runs = {m: simulate.propagate(h0, net, n_networks=40, pairs=pairs, seed=3, device=CPU, method=m)
            for m in ("gram", "weights")}
    assert runs["gram"].method == "gram" and runs["weights"].method == "weights"
    for stat in ("q", "c"):
        per_net = {m: getattr(r, stat)[1:].mean(axis=2) for m, r in runs.items()}  # (layers, networks)
        mean = {m: v.mean(axis=1) for m, v in per_net.items()}
        se = np.sqrt(sum(v.var(axis=1, ddof=1) / v.shape[1] for v in per_net.values()))
        assert np.all(np.abs(mean["gram"] - mean["weights"]) < 4 * se), stat


def test_automatic_method_picks_the_gram_sampler_for_few_inputs():
    net = NoisyNetwork(Dropout(0.6), width=1000, n_layers=2)
    assert forward(net, torch.randn(50, 1000), device=CPU).method == "gram"
    assert forward(net, torch.randn(50, 1000), device=CPU, keep_weights=True).method == "weights"
    # up to about half the width: the Gram sampler is still the cheaper one (measured 1.4x at 400 inputs)
    assert forward(net, torch.randn(400, 1000), device=CPU).method == "gram"
    assert forward(net, torch.randn(700, 1000), device=CPU).method == "weights"
    small = NoisyNetwork(Dropout(0.6), width=8, n_layers=2)
    assert forward(small, torch.randn(200, 8), device=CPU).method == "weights"
    with pytest.raises(InvalidParameterError, match="integrates the weights out"):
        forward(net, torch.randn(5, 1000), device=CPU, method="gram", keep_weights=True)


# --- the description ------------------------------------------------------------------------------
def test_network_description_resolves_criticality_once():
    net = NoisyNetwork(Dropout(keep_prob=0.6))
    assert net.sigma_w2 == 1.2 and net.sigma_b2 == 0.0 and net.critical
    assert NoisyNetwork(torch.nn.Dropout(p=0.4)).sigma_w2 == 1.2  # torch's p is the DROP probability
    fam = NoisyNetwork(Dropout(keep_prob=[0.5, 0.7, 1.0]))
    np.testing.assert_array_equal(fam.sigma_w2, [1.0, 1.4, 2.0])
    assert [m.sigma_w2 for m in fam.members()] == [1.0, 1.4, 2.0]
    assert net.replace(noise=Dropout(0.8)).sigma_w2 == 1.6  # still critical for the new noise
    assert net.replace(n_layers=7).sigma_w2 == 1.2 and net.replace(sigma_w2=1.0).critical is False
    assert net.widths == (1000, 1000)
    assert NoisyNetwork(width=5, n_layers=2, input_width=3, output_width=2).widths == (3, 5, 5, 2)
    assert as_network(net) is net


@pytest.mark.parametrize("kwargs, match", [
    (dict(noise=0.5), "noise must be"),
    (dict(sigma_w2=-1.0), "sigma_w2"),
    (dict(sigma_b2=0.1), "sigma_b2 must be 0"),  # critical ReLU has no bias
    (dict(width=0), "width"),
    (dict(n_layers=-1), "n_layers"),
    (dict(input_activation="yes"), "input_activation"),
    (dict(noise=AdditiveGaussian(1.0)), "additive noise has no critical"),
    (dict(noise=Dropout([0.5, 0.6]), sigma_w2=[1.0, 2.0, 3.0]), "broadcast"),
])
def test_bad_network_descriptions_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NoisyNetwork(**kwargs)


def test_networks_that_cannot_run_together_are_refused():
    a = NoisyNetwork(Dropout(0.5), width=8, n_layers=2)
    with pytest.raises(InvalidParameterError, match="share width"):
        NoisyMLP([a, a.replace(width=9)], [0, 1], device=CPU)
    with pytest.raises(InvalidParameterError, match="deepest first"):
        NoisyMLP([a.replace(n_layers=1), a], [0, 1], device=CPU)
    with pytest.raises(InvalidParameterError, match="one kind of noise"):
        NoisyMLP([a, a.replace(noise=MultiplicativeGaussian(0.5))], [0, 1], device=CPU)
    with pytest.raises(InvalidParameterError, match="x must have shape"):
        forward(a, torch.ones(3, 7), device=CPU)


# --- structure: exactly one module implements the noisy forward pass -------------------------------
def test_only_the_forward_module_multiplies_by_weight_matrices():
    """Batched products of activations with weights live in nsp_helpers/forward.py alone (the manual
    independent-weights backward pass of the gradient-independence comparison is the one exception)."""
    package = pathlib.Path(__file__).resolve().parents[1] / "nsp_helpers"
    pattern = re.compile(r"\b(baddbmm|bmm|bernoulli_?|dropout)\(")
    offenders = []
    for path in package.rglob("*.py"):
        rel = path.relative_to(package).as_posix()
        if rel in ("forward.py",):
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("#", 1)[0]
            if pattern.search(code) and not code.strip().startswith((">>>", "...")):
                offenders.append(f"{rel}:{number}: {line.strip()}")
    allowed = [o for o in offenders if o.startswith("simulate/gradients.py") and "w_back" in o]
    assert sorted(set(offenders) - set(allowed)) == []


def test_the_weight_path_is_not_refused_for_a_gram_matrix_it_never_forms():
    """B inputs whose B x B Gram matrix alone would not fit in memory: the weight path needs only B x width."""
    from nsp_helpers.errors import available_memory

    available = available_memory()
    if available is None:
        pytest.skip("this system does not report its available memory")
    n_inputs = math.isqrt(available // 4) + 1  # a float32 B x B matrix would exceed the memory
    net = NoisyNetwork(Dropout(0.8), width=2, n_layers=1, input_width=2)
    x = torch.ones(n_inputs, 2)
    out = forward(net, x, seed=0, method="weights").output
    assert out.shape[-2] == n_inputs and bool(torch.isfinite(out).all())
    with pytest.raises(InvalidParameterError, match="n_inputs"):
        forward(net, x, seed=0, method="gram")


def test_a_scale_beyond_float32_overflows_on_both_paths():
    """sigma_w2 / fan_in above float32's largest number: the Gram path does not fail converting it (it redoes the
    networks in float64); its outputs overflow, as the weight path's do."""
    net = NoisyNetwork(Dropout(0.8), 1e300, width=8, n_layers=2, input_width=4)
    x = torch.rand(3, 4) + 0.5
    for method in ("weights", "gram"):
        out = forward(net, x, seed=0, n_networks=2, method=method).output
        assert not bool(torch.isfinite(out).any()), method
