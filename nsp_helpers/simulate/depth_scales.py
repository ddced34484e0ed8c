r"""Correlation depth scales fitted in simulated finite networks (Pretorius et al. 2018, Fig. 5).

Two inputs that enter a deep noisy network with cosine similarity :math:`c^0` leave layer :math:`l`
with similarity :math:`c^l`, which approaches the fixed point :math:`c^*` of the correlation map
geometrically, :math:`|c^l - c^*| \propto e^{-l/\xi_c}` (:func:`nsp_helpers.theory.depth_scale`).
:func:`simulate_depth_scale` measures :math:`c^l` in simulated networks (the simulator, not the iterated
map the authors' Fig. 5 called "simulation") and fits :math:`\xi_c` with the window rule of
:mod:`nsp_helpers.fits`.

Introduced in the chapter *Depth scales* (``book/depth_scales.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ..errors import InvalidParameterError, caller_sizes, check_float, check_in_range, check_int
from ..fits import fit_depth_scale, fit_log_decay
from ..network import as_network
from ..noise import NoiseModel
from .propagation import simulate_correlation_dynamics

__all__ = ["DepthScaleSimulation", "simulate_depth_scale"]

@dataclass
class DepthScaleSimulation:
    """Depth scales of one noise level or a family, simulated and fitted (:func:`simulate_depth_scale`).

    Array attributes have one entry per member of the family (shape ``(n_members,)``; ``(1,)`` for a
    single noise level).

    Attributes
    ----------
    noise : NoiseModel
        The noise level(s) simulated.
    mu2, sigma_w2, sigma_b2, q0 : numpy.ndarray
        :math:`\\mu_2`, the initialisation, and the input variance used (the variance fixed point).
    c0 : numpy.ndarray
        Input cosine similarity of the pairs, per member.
    c_star : numpy.ndarray
        Mean-field fixed point :math:`c^*`.
    depth_scale_theory : numpy.ndarray
        Mean-field :math:`\\xi_c` (:func:`nsp_helpers.theory.depth_scale`).
    fits : list of DepthScaleFit
        The fit of each member (its own number of layers).
    theory_deviation : list of numpy.ndarray
        :math:`|c^l - c^*|` of the iterated mean-field map, over the same layers as each fit (the
        curve the authors' Fig. 5 called "simulation").
    width, n_networks, n_pairs : int
        Simulation sizes.
    """

    noise: NoiseModel
    mu2: np.ndarray
    sigma_w2: np.ndarray
    sigma_b2: np.ndarray
    q0: np.ndarray
    c0: np.ndarray
    c_star: np.ndarray
    depth_scale_theory: np.ndarray
    fits: list = field(repr=False)
    theory_deviation: list = field(repr=False)
    width: int = 1000
    n_networks: int = 8
    n_pairs: int = 40

    @property
    def depth_scale_fit(self) -> np.ndarray:
        """Fitted depth scales, one per member (``nan`` where no fit was possible)."""
        return np.array([f.depth_scale for f in self.fits])

    @property
    def depth_scale_fit_stderr(self) -> np.ndarray:
        """Standard errors of the fitted depth scales."""
        return np.array([f.depth_scale_stderr for f in self.fits])

    @property
    def relative_error(self) -> np.ndarray:
        """(fitted - theory) / theory, per member."""
        return self.depth_scale_fit / self.depth_scale_theory - 1.0

    @property
    def depth_scale_theory_fit(self) -> np.ndarray:
        """The same straight-line fit applied to the iterated mean-field map, over each fit's window.

        It differs from :attr:`depth_scale_theory` only through the curvature of the map (the
        deviation is not yet exactly geometric in the first layers); what is left between it and
        :attr:`depth_scale_fit` is finite-width and Monte Carlo error.
        """
        out = []
        for fit, curve in zip(self.fits, self.theory_deviation):
            w = fit.window[curve[fit.window] > 0]
            out.append(fit_log_decay(w, curve[w]).depth_scale if w.size >= 2 else float("nan"))
        return np.array(out)


#: counts may be given as integral floats (``30.0``)
_check_int = partial(check_int, allow_integral_float=True)


def simulate_depth_scale(
    noise=None,
    sigma_w2=None,
    sigma_b2=None,
    activation=None,
    *,
    c0=1.0,
    n_layers: int | None = None,
    target: float = 3e-3,
    n_pairs: int = 40,
    n_networks: int = 8,
    width: int | None = None,
    z: float = 3.0,
    seed: int = 0,
    device=None,
    method: str = "auto",
    shared_reference: bool = False,
) -> DepthScaleSimulation:
    r"""Simulate the decay of :math:`c^l` towards :math:`c^*` and fit the depth scale, per noise level.

    Introduced in the chapter *Depth scales* (``book/depth_scales.md``); used for tanh in *Beyond the
    paper: a noisy edge of chaos* (``book/edge_of_chaos.md``).

    Parameters
    ----------
    noise : NoisyNetwork or NoiseModel
        The network, or its multiplicative noise (:math:`\mu_2 > 1`): one level or a 1-D family.
    sigma_w2 : float, 1-D array_like or None
        Weight variance; ``None`` is the critical one (:func:`nsp_helpers.theory.critical_parameters`).
    sigma_b2 : float or 1-D array_like, >= 0, optional
    activation : str, Activation or callable, optional
        Default ``"relu"``.
    c0 : float or 1-D array_like, in [-1, 1]
        Input cosine similarity of every pair (default 1: two copies of the same input, which only
        the noise tells apart); an array gives one value per member.
    n_layers : int, optional
        Depth simulated. Default, per member: enough for the mean-field deviation to fall to
        ``target``, :math:`\lceil \xi_c \ln(|c^0 - c^*|/\text{target}) \rceil + 2`, between 3 and 60.
    target : float, > 0
        See ``n_layers``; about the noise floor of the simulation (default ``3e-3``; lower it for
        larger simulations).
    n_pairs, n_networks, width : int
        Simulation sizes (pairs per network, independent networks, units per layer; ``width=None``: the
        network's, 1000).
    z : float
        Noise-floor multiple of the fit window (:func:`nsp_helpers.fits.fit_window`).
    seed : int
        Member ``i`` of a family is simulated with seed ``seed + i`` (independent errors).
    device : None, str or torch.device
    method : {"auto", "weights", "gram"}
        See :func:`nsp_helpers.simulate.propagate`.
    shared_reference : bool
        ``True``: ``n_pairs`` partners of one reference input per network (the design of Pretorius et
        al.'s Fig. 4b; see :func:`nsp_helpers.simulate.simulate_correlation_dynamics`); ``False``
        (default): ``n_pairs`` independent pairs.

    Returns
    -------
    DepthScaleSimulation
        Theory and fit, per member.

    Notes
    -----
    Each member runs :func:`nsp_helpers.simulate.simulate_correlation_dynamics` at the variance
    fixed point :math:`q^0 = q^*` (:func:`nsp_helpers.theory.variance_fixed_point`; 1 where every
    variance is fixed, as for critical ReLU), and :func:`fit_depth_scale` fits

    .. math::

        \ln|\bar c^l - c^*| \approx \text{const} - l/\xi_c .

    References
    ----------
    .. [1] Pretorius et al. (2018), Fig. 5, arXiv:1811.00293.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> sim = simulate_depth_scale(Dropout(keep_prob=0.6), n_pairs=5, n_networks=4, width=200, device="cpu")
    >>> sim.depth_scale_theory.round(3), int(sim.fits[0].layers[-1])
    (array([0.966]), 8)
    """
    net = as_network(noise, sigma_w2, sigma_b2, activation, **({} if width is None else {"width": width}))
    c0_arr = np.atleast_1d(check_in_range("c0", c0, -1.0, 1.0, max_ndim=1))
    if c0_arr.size == 0:
        raise InvalidParameterError("c0 must hold at least one cosine similarity, got an empty array")
    fam = net.shape
    try:
        shape = np.broadcast_shapes(fam if fam else (1,), c0_arr.shape)
    except ValueError as exc:
        raise InvalidParameterError(
            f"c0 (shape {c0_arr.shape}) must broadcast with the network family (shape {fam})"
        ) from exc
    if len(shape) != 1:
        raise InvalidParameterError(f"noise, sigma_w2, sigma_b2 and c0 must be scalars or 1-D arrays, got shape {shape}")
    n = shape[0]
    members = net.members()
    if len(members) == 1 and n > 1:
        members = members * n
    c0_arr = np.broadcast_to(c0_arr, shape).astype(float)
    target = check_float("target", target, 0.0, 1.0, low_open=True)
    z = check_float("z", z, 0.0, low_open=True)
    seed = _check_int("seed", seed, 0)
    if n_layers is not None:
        n_layers = _check_int("n_layers", n_layers, 1)
    n_pairs = _check_int("n_pairs", n_pairs, 1)
    n_networks = _check_int("n_networks", n_networks, 1)
    sizes = {"n_pairs": n_pairs, "n_networks": n_networks, "width": int(net.width)}
    if n_layers is not None:
        sizes["n_layers"] = n_layers

    mu2 = np.array([float(m.mu2) for m in members])
    if np.any(mu2 <= 1.0) or any(m.additive_variance != 0 for m in members):
        raise InvalidParameterError(
            "noise must be multiplicative with mu2 > 1 (dropout with keep_prob < 1, Gaussian std > 0, ...): "
            "without noise c* = 1 and the depth scale is infinite at criticality"
        )
    sw = np.array([float(m.sigma_w2) for m in members])
    sb = np.array([float(m.sigma_b2) for m in members])
    c_star = np.empty(n)
    xi = np.empty(n)
    q0 = np.empty(n)
    fits, curves = [], []
    for i, member in enumerate(members):
        c_star[i] = member.correlation_fixed_point()
        xi[i] = member.depth_scale()
        q_star = member.variance_fixed_point(q0=1.0)
        q0[i] = q_star if np.isfinite(q_star) and q_star > 0 else 1.0
        c0 = float(c0_arr[i])
        gap = abs(c0 - c_star[i])
        if gap < 1e-6:
            raise InvalidParameterError(f"c0 = {c0} sits on the fixed point c* = {c_star[i]:.6g}; choose another c0")
        depth = n_layers
        if depth is None:
            depth = int(np.clip(math.ceil(xi[i] * math.log(max(gap, target) / target)) + 2, 3, 60))
        with caller_sizes(sizes):  # a memory refusal names the sizes passed here, not the derived ones
            res = simulate_correlation_dynamics(c0, depth, q0[i], member, n_pairs=n_pairs, n_networks=n_networks,
                                                seed=seed + i, device=device, method=method,
                                                shared_reference=shared_reference)
        finite = np.isfinite(res.c).all(axis=(-2, -1))
        if not finite.all():
            raise InvalidParameterError(
                f"the simulated correlations of member {i} are not finite from layer {int(np.argmin(finite))} on (an "
                "input's pre-activations are all zero, or they over- or underflow float32): use a larger width, or "
                f"sigma_w2 nearer the critical value (here sigma_w2 = {sw[i]:.6g}, width = {int(net.width)}; the more "
                f"inputs, n_pairs = {n_pairs} per network and n_networks = {n_networks}, the likelier an all-zero one)"
            )
        fits.append(fit_depth_scale(res.c, c_star[i], z=z))
        curve = member.iterate_correlation(c0, depth)
        curves.append(np.abs(np.asarray(curve, dtype=float) - c_star[i]))
    noise = net.noise
    return DepthScaleSimulation(noise=noise, mu2=mu2, sigma_w2=sw, sigma_b2=sb, q0=q0, c0=c0_arr, c_star=c_star,
                                depth_scale_theory=xi, fits=fits, theory_deviation=curves, width=int(net.width),
                                n_networks=int(n_networks), n_pairs=int(n_pairs))
