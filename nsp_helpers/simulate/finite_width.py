r"""How far one finite network strays from the mean field: simulated :math:`\ln \hat q^{\,l}` against the
finite-width theory.

The mean-field theory predicts :math:`q^l`; a network of width :math:`N` measures
:math:`\hat q^{\,l} = \frac1N\sum_i (h^l_i)^2`, which fluctuates from network to network. For a critically
initialised ReLU network with multiplicative noise and no bias, :math:`\ln \hat q^{\,l}` performs a random
walk over the layers whose exact cumulants are :mod:`nsp_helpers.theory.finite_width`'s. This module
measures the walk in simulated networks and compares it with that theory:

* :func:`simulate_log_q`: :math:`\ln(\hat q^{\,l}/q^0)` at every layer of many independent networks,
  **one input per network** (an input with empirical second moment exactly :math:`q^0` and a random
  direction, as :func:`~nsp_helpers.simulate.inputs_with_variance` makes it), through the package's one
  forward pass (:func:`~nsp_helpers.simulate.propagate`). With one input per network the exact Gram-matrix
  sampler (``method="auto"`` picks it) draws a layer with :math:`N` random numbers and no weight matrix, so
  thousands of networks of width 2048 and depth 200 are cheap;
* :func:`log_q_agreement`: simulated quantiles, mean and standard deviation of :math:`\ln(\hat q^{\,L}/q^0)`
  at chosen depths against the exact theory, with standard errors and z-scores;
* :func:`agreement_table` and the command line (``python -m nsp_helpers.simulate.finite_width``): the
  stored agreement run of the chapter, with its provenance (``results/finite_width/``).

Dead networks (a layer whose every unit is silenced by its ReLU or its noise, after which
:math:`\hat q \equiv 0`) give :math:`\ln \hat q = -\infty`; statistics of the logarithm are over the
surviving networks, as the theory's are.

Introduced in the chapter *Beyond both papers: how wide is wide enough?* (``book/finite_width.md``); this is
the book's own material, not from either paper.
"""

from __future__ import annotations

import argparse
import math
import numbers
import platform
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

from ..errors import (DamagedFileError, InvalidParameterError, caller_sizes, check_float, check_in_range, check_int, check_ints,
                      check_memory)
from ..noise import Dropout, MultiplicativeGaussian, MultiplicativePoisson, NoiseModel, NoNoise
from ..theory import finite_width as fw
from .propagation import _network, inputs_with_variance, propagate

__all__ = [
    "SAME_MU2",
    "LogQSimulation",
    "LogQAgreement",
    "simulate_log_q",
    "log_q_agreement",
    "agreement_table",
    "load_agreement_table",
    "main",
]

#: The chapter's noise models: no noise, and three with the same :math:`\mu_2 = 2` (critical
#: :math:`\sigma_w^2 = 1`) but different fourth moments :math:`\mu_4` (8, 10 and 15).
SAME_MU2 = {
    "none": NoNoise(),
    "dropout 0.5": Dropout(keep_prob=0.5),
    "Gaussian 1": MultiplicativeGaussian(std=1.0),
    "Poisson 1": MultiplicativePoisson(rate=1.0),
}

#: float32 keeps :math:`\hat q` between these (with room for the sum of squares of a layer)
_FLOAT32_LOG_RANGE = (math.log(1e-30), math.log(1e30))
_DEFAULT_PROBABILITIES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass
class LogQSimulation:
    r"""What :func:`simulate_log_q` measured.

    Attributes
    ----------
    log_q : numpy.ndarray, shape ``(n_layers + 1, n_networks)``
        :math:`\ln(\hat q^{\,l}/q^0)` of every network at every layer (row 0: the input, exactly 0);
        ``-inf`` from the layer where a network died on.
    network : NoisyNetwork
        The simulated network (its noise, :math:`\sigma_w^2`, activation, width and depth).
    q0 : float
        The inputs' second moment.
    seed : int
    method : str
        ``"gram"`` or ``"weights"`` (what :func:`~nsp_helpers.simulate.propagate` used).
    dtype : str
        ``"float32"`` or ``"float64"``.
    device : str
    """

    log_q: np.ndarray
    network: object
    q0: float
    seed: int
    method: str
    dtype: str
    device: str

    @property
    def width(self) -> int:
        """The width :math:`N` of every layer."""
        return int(self.network.width)

    @property
    def n_layers(self) -> int:
        """The depth :math:`L` simulated."""
        return self.log_q.shape[0] - 1

    @property
    def n_networks(self) -> int:
        """The number of independent networks."""
        return self.log_q.shape[1]

    @property
    def layers(self) -> np.ndarray:
        """``0, 1, ..., n_layers``."""
        return np.arange(self.n_layers + 1)

    @property
    def alive(self) -> np.ndarray:
        """Fraction of networks still carrying a signal at each layer."""
        return np.isfinite(self.log_q).mean(axis=1)

    def quantiles(self, probabilities) -> np.ndarray:
        """Quantiles of :math:`\\ln(\\hat q^{\\,l}/q^0)` over the surviving networks, shape ``(n_probs, n_layers + 1)``.

        ``nan`` at a layer where no network survives.
        """
        probs = np.atleast_1d(check_in_range("probabilities", probabilities, 0.0, 1.0, low_open=True,
                                             high_open=True, max_ndim=1))
        out = np.full((probs.size, self.n_layers + 1), np.nan)
        for layer, row in enumerate(self.log_q):
            alive = row[np.isfinite(row)]
            if alive.size:
                out[:, layer] = np.quantile(alive, probs)
        return out

    def mean_ratio(self) -> tuple[np.ndarray, np.ndarray]:
        """Sample mean of :math:`\\hat q^{\\,l}/q^0` over *all* networks (dead ones count 0) and its standard error."""
        ratio = np.exp(self.log_q)
        return ratio.mean(axis=1), ratio.std(axis=1, ddof=1) / math.sqrt(self.n_networks)


def _auto_dtype(network, n_layers: int, q0: float) -> torch.dtype:
    """float32 unless the theory's spread of ln q could reach float32's limits (or the theory does not apply)."""
    try:
        c = fw.log_q_cumulants(np.arange(n_layers + 1), network.width, network)
    except InvalidParameterError:
        return torch.float64
    mean, sd = np.asarray(c.mean), np.sqrt(np.asarray(c.variance))
    low, high = np.min(mean - 10.0 * sd), np.max(mean + 10.0 * sd)
    inside = _FLOAT32_LOG_RANGE[0] < math.log(q0) + low and math.log(q0) + high < _FLOAT32_LOG_RANGE[1]
    return torch.float32 if inside else torch.float64


def simulate_log_q(n_layers: int, noise=None, sigma_w2=None, sigma_b2=None, activation=None, *, width: int | None = None,
                   n_networks: int = 1000, q0: float = 1.0, seed: int = 0, device=None, method: str = "auto",
                   dtype="auto") -> LogQSimulation:
    r"""Simulate :math:`\ln(\hat q^{\,l}/q^0)` of ``n_networks`` independent networks, one input each.

    Introduced in the chapter *Beyond both papers: how wide is wide enough?* (``book/finite_width.md``).

    Parameters
    ----------
    n_layers : int, >= 1
        Depth :math:`L`.
    noise : NoisyNetwork or NoiseModel
        The network, or its noise (a single level).
    sigma_w2, sigma_b2 : float or None, optional
        ``sigma_w2=None``: critical. Leave out with a NoisyNetwork.
    activation : str, optional
        Default ``"relu"``.
    width : int, optional
        :math:`N` (default: the network's).
    n_networks : int, >= 2
        Independent networks (fresh weights, noise and input direction each).
    q0 : float, > 0
        Empirical second moment of every input.
    seed : int, >= 0
        Seeds the inputs and the networks.
    device : None, str or torch.device
        ``None``: a GPU when present.
    method : {"auto", "weights", "gram"}
        See :func:`nsp_helpers.forward.forward`; with one input per network ``"auto"`` is the exact
        Gram-matrix sampler.
    dtype : {"auto"} or torch.dtype
        ``"auto"``: float32, unless the finite-width theory says that :math:`\hat q` could come within 10
        standard deviations of float32's limits (:math:`10^{\pm 30}`, leaving room for a layer's sum of
        squares), or does not apply (another activation, a bias): float64 then. An underflow would
        otherwise pass for a dead network.

    Returns
    -------
    LogQSimulation

    Notes
    -----
    Each network gets its own input :math:`h^0 = \sqrt{q^0}\,z/\sqrt{\frac1N\sum_i z_i^2}`,
    :math:`z \sim \mathcal{N}(0, I_N)`, and the layers run through
    :func:`~nsp_helpers.simulate.propagate`: the measured quantity is
    :math:`\ln(\hat q^{\,l}/q^0)`, :math:`\hat q^{\,l} = \frac1N\sum_i (h^l_i)^2`. A shared input would
    correlate the networks' first steps (without noise the first step depends on the input's direction
    only). The theory of these numbers is :func:`nsp_helpers.theory.finite_width.log_q_cumulants` with its
    defaults (``inputs="fixed_norm"``, ``measure="empirical"``).

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> sim = simulate_log_q(20, Dropout(keep_prob=0.5), width=64, n_networks=200, seed=1, device="cpu")
    >>> sim.log_q.shape, sim.method, float(sim.log_q[0].max())
    ((21, 200), 'gram', 0.0)
    >>> from nsp_helpers.theory import finite_width as fw
    >>> theory_sd = fw.log_q_cumulants(20, 64, Dropout(keep_prob=0.5)).variance ** 0.5   # 2.00
    >>> bool(abs(sim.log_q[-1].std() / theory_sd - 1) < 0.15)
    True
    """
    n_layers = check_int("n_layers", n_layers, 1, allow_integral_float=True)
    n_networks = check_int("n_networks", n_networks, 2, allow_integral_float=True)
    seed = check_int("seed", seed, 0, allow_integral_float=True)
    q0 = check_float("q0", q0, 0.0, np.inf, low_open=True, high_open=True)
    net = _network(noise, sigma_w2, sigma_b2, activation, width=width, input_width=width, n_layers=n_layers)
    if net.shape != ():
        raise InvalidParameterError(f"simulate_log_q takes a single noise level and sigma_w2, got a family of shape {net.shape}")
    if not (net.input_activation and net.noise_on_input):
        raise InvalidParameterError("the inputs must pass through the activation and the noise like every layer "
                                    "(NoisyNetwork(input_activation=True, noise_on_input=True))")
    if not (isinstance(dtype, str) and dtype == "auto") and dtype not in (torch.float32, torch.float64):
        raise InvalidParameterError(f"dtype must be 'auto', torch.float32 or torch.float64, got {dtype!r}")
    sizes = {"n_layers": n_layers, "n_networks": n_networks, "width": int(net.width)}
    # the measured q (float64 on the host) and ln q with its temporaries, before the theory's arrays of every layer
    check_memory(4 * 8.0 * (n_layers + 1) * n_networks, "the simulated ln q", sizes)
    if isinstance(dtype, str):
        dtype = _auto_dtype(net, n_layers, q0)
    with caller_sizes(sizes):  # the inputs and the forward pass know n_inputs = n_networks only
        h0 = inputs_with_variance(q0, n_networks, net.width, seed=seed).reshape(n_networks, 1, net.width)
        out = propagate(h0, net, n_networks=n_networks, seed=seed, device=device, method=method, dtype=dtype)
    with np.errstate(divide="ignore"):
        log_q = np.log(out.q[..., 0] / q0)
    log_q[0] = 0.0  # the input's second moment is q0 up to rounding
    # a dead network stays dead (0 * anything = 0); rounding cannot revive it, but make it explicit
    log_q = np.where(np.maximum.accumulate(~np.isfinite(log_q), axis=0), -np.inf, log_q)
    return LogQSimulation(log_q=log_q, network=net, q0=q0, seed=seed, method=out.method,
                          dtype=str(dtype).removeprefix("torch."), device=out.device)


@dataclass
class LogQAgreement:
    r"""Simulated statistics of :math:`\ln(\hat q^{\,L}/q^0)` against the exact finite-width theory.

    Arrays are indexed ``[depth]`` or ``[depth, probability]``; statistics are over surviving networks.

    Attributes
    ----------
    width : int
    noise : NoiseModel
    sigma_w2 : float
    n_networks : int
    depths : numpy.ndarray of int
    probabilities : numpy.ndarray
    simulated, theory, stderr : numpy.ndarray, shape ``(n_depths, n_probs)``
        Simulated quantiles, the theory's (exact cumulants, Cornish-Fisher) and the standard error of
        a sample quantile, :math:`\sqrt{p(1-p)/n}/f(x_p)` with the density :math:`f` of a normal law of
        the theory's mean and variance.
    sim_mean, sim_std, theory_mean, theory_std, mean_stderr : numpy.ndarray, shape ``(n_depths,)``
    alive : numpy.ndarray of int
        Surviving networks at each depth.
    survival : numpy.ndarray
        The theory's survival probability.
    """

    width: int
    noise: NoiseModel
    sigma_w2: float
    n_networks: int
    depths: np.ndarray
    probabilities: np.ndarray
    simulated: np.ndarray
    theory: np.ndarray
    stderr: np.ndarray
    sim_mean: np.ndarray
    sim_std: np.ndarray
    theory_mean: np.ndarray
    theory_std: np.ndarray
    mean_stderr: np.ndarray
    alive: np.ndarray
    survival: np.ndarray

    @property
    def z_quantiles(self) -> np.ndarray:
        """(simulated - theory) / standard error, per depth and probability."""
        return (self.simulated - self.theory) / self.stderr

    @property
    def z_mean(self) -> np.ndarray:
        """(simulated mean - theory mean) / standard error, per depth."""
        return (self.sim_mean - self.theory_mean) / self.mean_stderr

    @property
    def max_abs_z(self) -> float:
        """The largest absolute z-score of the quantiles and the mean."""
        return float(max(np.max(np.abs(self.z_quantiles)), np.max(np.abs(self.z_mean))))

    @property
    def max_error_in_sd(self) -> float:
        """The largest absolute deviation of the quantiles and the mean from the theory, in standard deviations."""
        err_q = np.abs(self.simulated - self.theory) / self.theory_std[:, None]
        err_m = np.abs(self.sim_mean - self.theory_mean) / self.theory_std
        return float(max(err_q.max(), err_m.max()))

    @property
    def std_ratio(self) -> np.ndarray:
        """Simulated over theoretical standard deviation, per depth."""
        return self.sim_std / self.theory_std

    @property
    def max_survival_z(self) -> float:
        """The largest deviation of the surviving fraction from the theory, in binomial standard errors."""
        p = self.survival
        se = np.sqrt(np.maximum(p * (1 - p), 0.0) / self.n_networks)
        diff = np.abs(self.alive / self.n_networks - p)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, diff / np.where(se > 0, se, 1.0), np.where(diff > 0, np.inf, 0.0))
        return float(np.max(z))

    def to_rows(self) -> list[dict]:
        """One JSON-ready dict per depth."""
        rows = []
        for k, depth in enumerate(self.depths):
            rows.append({
                "width": self.width, "noise": repr(self.noise), "sigma_w2": self.sigma_w2, "depth": int(depth),
                "n_networks": self.n_networks, "alive": int(self.alive[k]), "survival_theory": float(self.survival[k]),
                "probabilities": [float(p) for p in self.probabilities],
                "sim_quantiles": [round(float(v), 6) for v in self.simulated[k]],
                "theory_quantiles": [round(float(v), 6) for v in self.theory[k]],
                "quantile_stderr": [round(float(v), 6) for v in self.stderr[k]],
                "sim_mean": round(float(self.sim_mean[k]), 6), "theory_mean": round(float(self.theory_mean[k]), 6),
                "sim_std": round(float(self.sim_std[k]), 6), "theory_std": round(float(self.theory_std[k]), 6),
                "z_mean": round(float(self.z_mean[k]), 3),
                "z_quantiles": [round(float(v), 3) for v in self.z_quantiles[k]],
            })
        return rows


def log_q_agreement(simulation: LogQSimulation, depths=None, probabilities=_DEFAULT_PROBABILITIES) -> LogQAgreement:
    r"""Compare a :func:`simulate_log_q` run with the exact finite-width theory at chosen depths.

    Introduced in the chapter *Beyond both papers: how wide is wide enough?* (``book/finite_width.md``).

    Parameters
    ----------
    simulation : LogQSimulation
    depths : int or sequence of int, in [1, simulation.n_layers], optional
        Depths to compare (default: 10, 50, 100, 200 or whichever of them the run reaches, plus its last layer).
    probabilities : sequence of float in (0, 1)
        Quantiles to compare.

    Returns
    -------
    LogQAgreement

    Notes
    -----
    The theory is :func:`nsp_helpers.theory.finite_width.log_q_quantiles` and
    :func:`~nsp_helpers.theory.finite_width.log_q_cumulants` (exact cumulants, fixed-norm inputs, the
    measured :math:`\hat q^{\,L}`), conditional on survival. Standard errors: :math:`\sigma/\sqrt{n}` for the
    mean, :math:`\sqrt{p(1-p)/n}/f(x_p)` for a quantile, with :math:`n` the surviving networks.

    Examples
    --------
    >>> from nsp_helpers.noise import NoNoise
    >>> sim = simulate_log_q(30, NoNoise(), width=128, n_networks=400, seed=3, device="cpu")
    >>> agree = log_q_agreement(sim, depths=[10, 30])
    >>> agree.z_quantiles.shape, bool(agree.max_abs_z < 4)
    ((2, 5), True)
    """
    if not isinstance(simulation, LogQSimulation):
        raise InvalidParameterError(f"simulation must be a LogQSimulation from simulate_log_q, got {type(simulation).__name__}")
    probs = np.atleast_1d(check_in_range("probabilities", probabilities, 0.0, 1.0, low_open=True, high_open=True,
                                         max_ndim=1))
    if depths is None:
        depths = sorted({d for d in (10, 50, 100, 200) if d <= simulation.n_layers} | {simulation.n_layers})
    if isinstance(depths, np.ndarray) and depths.ndim == 0:
        depths = depths.item()
    if isinstance(depths, numbers.Integral) and not isinstance(depths, (bool, np.bool_)):
        depths = [depths]  # one depth
    depths = np.asarray(check_ints("depths", depths, 1, simulation.n_layers), dtype=np.int64)
    net = simulation.network
    theory_q = np.asarray(fw.log_q_quantiles(probs, depths, net.width, net)).T  # (n_depths, n_probs)
    cum = fw.log_q_cumulants(depths, net.width, net)
    theory_mean, theory_std = np.asarray(cum.mean, dtype=float), np.sqrt(np.asarray(cum.variance, dtype=float))
    sim_q = np.empty((depths.size, probs.size))
    sim_mean, sim_std, alive = np.empty(depths.size), np.empty(depths.size), np.empty(depths.size, dtype=int)
    for k, depth in enumerate(depths):
        row = simulation.log_q[depth]
        ok = row[np.isfinite(row)]
        if ok.size < 2:
            raise InvalidParameterError(f"fewer than 2 networks survive to depth {depth}: nothing to compare")
        alive[k] = ok.size
        sim_q[k] = np.quantile(ok, probs)
        sim_mean[k], sim_std[k] = ok.mean(), ok.std(ddof=1)
    density = stats.norm.pdf(stats.norm.ppf(probs))[None, :] / theory_std[:, None]
    stderr = np.sqrt(probs * (1 - probs))[None, :] / np.sqrt(alive)[:, None] / density
    return LogQAgreement(
        width=net.width, noise=net.noise, sigma_w2=float(net.sigma_w2), n_networks=simulation.n_networks,
        depths=depths, probabilities=probs, simulated=sim_q, theory=theory_q, stderr=stderr, sim_mean=sim_mean,
        sim_std=sim_std, theory_mean=theory_mean, theory_std=theory_std, mean_stderr=sim_std / np.sqrt(alive),
        alive=alive, survival=np.atleast_1d(fw.survival_probability(depths, net.width, net)))


# --- the stored agreement run ------------------------------------------------------------------------------
def _seed(base: int, noise_index: int, width: int) -> int:
    """One seed per (noise model, width), so that every cell of the table is independent."""
    return int(base) * 1_000_003 + 10_000 * noise_index + int(width)


def agreement_table(widths, depths, n_networks, *, noises=None, seed: int = 0, device=None,
                    probabilities=_DEFAULT_PROBABILITIES, progress=None) -> dict:
    r"""Simulate every (noise model, width) and compare with the theory: the chapter's stored agreement run.

    Introduced in the chapter *Beyond both papers: how wide is wide enough?* (``book/finite_width.md``).

    Parameters
    ----------
    widths : sequence of int
    depths : sequence of int
        The deepest sets the simulated depth.
    n_networks : int or dict width -> int, >= 2
        Networks per simulation; a dict needs an entry for every width.
    noises : mapping name -> NoiseModel, optional
        Default :data:`SAME_MU2`.
    seed : int
        Base seed; each (noise model, width) gets its own seed from it.
    device : None, str or torch.device
    probabilities : sequence of float
    progress : callable, optional
        Called with a line of text after each simulation.

    Returns
    -------
    dict
        ``{"format", "description", "settings", "rows", "summary"}``: ``rows`` from
        :meth:`LogQAgreement.to_rows` (plus ``"noise_name"``), ``summary`` one entry per (noise, width) with
        ``max_abs_z`` and ``max_error_in_sd``. :func:`main` adds the provenance.

    Examples
    --------
    >>> table = agreement_table([16], [5], 50, noises={"none": NoNoise()}, device="cpu")
    >>> len(table["rows"]), sorted(table["summary"][0])
    (1, ['max_abs_z', 'max_error_in_sd', 'max_survival_z', 'n_networks', 'noise', 'width'])
    """
    if noises is not None and not isinstance(noises, dict):
        raise InvalidParameterError(f"noises must be a dict of name -> NoiseModel, got {noises!r}"[:200])
    noises = dict(SAME_MU2 if noises is None else noises)
    widths = check_ints("widths", widths, 1)
    depths = sorted(set(check_ints("depths", depths, 1)))
    seed = check_int("seed", seed, 0)
    probabilities = check_in_range("probabilities", probabilities, 0.0, 1.0, low_open=True, high_open=True, max_ndim=1)
    if probabilities.ndim != 1 or probabilities.size == 0:
        raise InvalidParameterError(f"probabilities must be a non-empty list of numbers in (0, 1), got {probabilities!r}")
    if not widths or not depths or not noises:
        raise InvalidParameterError("widths, depths and noises must not be empty")
    if isinstance(n_networks, dict):
        missing = [w for w in widths if w not in n_networks]
        if missing:
            raise InvalidParameterError(f"n_networks must be an int or a dict with an entry for every width, got a dict "
                                        f"without width {missing[0]} (its keys: {sorted(n_networks, key=repr)!r})"[:300])
        counts = {w: check_int(f"n_networks[{w}]", n_networks[w], 2) for w in widths}
    else:
        counts = {w: check_int("n_networks", n_networks, 2) for w in widths}
    rows, summary = [], []
    for k, (name, noise) in enumerate(noises.items()):
        for width in widths:
            sim = simulate_log_q(max(depths), noise, width=width, n_networks=counts[width], seed=_seed(seed, k, width),
                                 device=device)
            agree = log_q_agreement(sim, depths, probabilities)
            rows.extend(dict(r, noise_name=name) for r in agree.to_rows())
            summary.append({"noise": name, "width": width, "n_networks": counts[width],
                            "max_abs_z": round(agree.max_abs_z, 3), "max_error_in_sd": round(agree.max_error_in_sd, 4),
                            "max_survival_z": round(agree.max_survival_z, 3)})
            if progress is not None:
                progress(f"{name}, width {width}: max |z| {agree.max_abs_z:.2f}, max error {agree.max_error_in_sd:.3f} sd")
    return {
        "format": "nsp_helpers.simulate.finite_width agreement/1",
        "description": ("ln(q_hat^L/q^0) of critically initialised ReLU networks (one fixed-norm input per network, "
                        "q^0 = 1) simulated with nsp_helpers.simulate.simulate_log_q (the package's forward pass, "
                        "exact Gram-matrix sampler) against nsp_helpers.theory.finite_width (exact cumulants, "
                        "Cornish-Fisher quantiles), over the surviving networks. z-scores: (simulated - theory) / "
                        "standard error."),
        "settings": {"widths": widths, "depths": depths, "n_networks": {str(w): counts[w] for w in widths},
                     "noises": {name: repr(n) for name, n in noises.items()}, "seed": seed,
                     "probabilities": [float(p) for p in probabilities]},
        "rows": rows,
        "summary": summary,
    }


def load_agreement_table(path=None):
    """Read a table written by :func:`main`; ``None`` if the default file is absent.

    Introduced in the chapter *Beyond both papers: how wide is wide enough?* (``book/finite_width.md``).

    Parameters
    ----------
    path : path, optional
        Default: the repository's ``results/finite_width/agreement_chapter.json`` (``None`` is returned if
        it is absent; an explicit path must exist).

    Returns
    -------
    dict or None

    Raises
    ------
    nsp_helpers.errors.DamagedFileError
        ``path`` is missing, not JSON, or not an agreement table (the message names it).

    Examples
    --------
    >>> table = load_agreement_table()
    >>> table is None or table["format"] == "nsp_helpers.simulate.finite_width agreement/1"
    True
    """
    from pathlib import Path

    from ..storage import read_json

    if path is None:
        path = Path(__file__).resolve().parents[2] / "results" / "finite_width" / "agreement_chapter.json"
        if not path.is_file():
            return None
    table = read_json(path, "finite-width agreement table")
    expected = "nsp_helpers.simulate.finite_width agreement/1"
    if table.get("format") != expected:
        raise DamagedFileError(f"path={str(path)!r} is not an agreement table of nsp_helpers.simulate.finite_width: its "
                               f"'format' is {table.get('format')!r}, not {expected!r}"[:400], path)
    return table


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def main(argv=None) -> int:
    """``python -m nsp_helpers.simulate.finite_width --out PATH ...``: run :func:`agreement_table` and write it."""
    parser = argparse.ArgumentParser(prog="python -m nsp_helpers.simulate.finite_width",
                                     description="Simulated ln q of finite-width noisy ReLU networks against the theory.")
    parser.add_argument("--widths", type=_ints, default=[32, 64, 128, 256, 512, 1024, 2048])
    parser.add_argument("--depths", type=_ints, default=[10, 25, 50, 100, 200])
    parser.add_argument("--n-networks", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is fastest on a shared CPU)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    from ..device import resolve_device
    from ..storage import code_version, device_description, write_json_atomic

    started, version = time.time(), code_version()  # the code that runs, before it runs
    table = agreement_table(args.widths, args.depths, args.n_networks, seed=args.seed, device=args.device,
                            progress=lambda line: print(line, flush=True))
    table["provenance"] = {
        "command": "python -m nsp_helpers.simulate.finite_width " + " ".join(sys.argv[1:] if argv is None else argv),
        "code_version": version, "torch": torch.__version__, "python": platform.python_version(),
        "device": device_description(resolve_device(args.device)), "wall_time_s": round(time.time() - started, 1),
    }
    write_json_atomic(table, args.out)
    worst = max(table["summary"], key=lambda s: s["max_abs_z"])
    print(f"wrote {args.out}: largest |z| {worst['max_abs_z']} ({worst['noise']}, width {worst['width']})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
