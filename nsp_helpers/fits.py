r"""Straight-line fits of logarithmic decays: depth scales from measured deviations (numpy only).

A quantity that decays geometrically with depth, :math:`d^l \propto e^{-l/\xi}`, is a straight line in
:math:`\ln d^l`; its slope gives the depth scale :math:`\xi = -1/\text{slope}`. The simulator fits the
correlation depth scale :math:`\xi_c` this way (:mod:`nsp_helpers.simulate.depth_scales`), the gradient
chapter the decay rates of gradient statistics.

==================================  =============================================================  ====================
function                            what                                                           chapter
==================================  =============================================================  ====================
:func:`fit_log_decay`               straight line through :math:`\ln d^l`                          ``depth_scales.md``
:func:`fit_window`                  the layers above the Monte Carlo noise floor                   ``depth_scales.md``
:func:`fit_depth_scale`             :math:`\xi_c` from simulated :math:`c^l` samples               ``depth_scales.md``
==================================  =============================================================  ====================

The fit window rule
-------------------
The simulated deviation :math:`d^l = |\bar c^l - c^*|` (mean over networks and pairs) decays until it
reaches the Monte Carlo noise floor, below which its logarithm is noise. :func:`fit_depth_scale`
chooses the layers it fits automatically:

1. The standard error :math:`s^l` of :math:`\bar c^l` is the standard deviation of the
   *per-network* means divided by :math:`\sqrt{n_\text{networks}}` (pairs in one network share
   its weights, so networks are the independent replicates).
2. The window starts at the first layer :math:`l \ge` ``first_layer`` (default 1: layer 0 holds
   the exact inputs) whose deviation has fallen to :math:`d^l \le d^0/e` (``start_fraction``), which
   skips the initial transient where the map is least linear, and extends over consecutive layers
   while :math:`d^l > z\,s^l` (default :math:`z = 3`) and :math:`d^l` keeps decreasing. The first
   layer that fails ends the window.
3. If fewer than ``min_points`` (default 2) layers qualify, earlier layers are prepended, down to
   the input layer 0. With fewer than 2 points the fit is ``nan``.
4. A straight line is fitted to :math:`\ln d^l` over the window by ordinary least squares, and the
   depth scale is :math:`-1/\text{slope}`. (Weighting by the standard errors would put almost all
   the weight on the first layers, where :math:`s^l/d^l` is smallest but the map is least linear.)

The linearisation holds only near :math:`c^*`, and the correlation map is curved (for ReLU its slope
has an arcsine singularity at :math:`c = 1`), so a straight line through the first layers after
:math:`c^0 = 1` decays a little more slowly than :math:`\chi(c^*)^l`: the fitted depth scale is
biased upwards by a few per cent (:attr:`nsp_helpers.simulate.DepthScaleSimulation.depth_scale_theory_fit`
applies the same fit to the iterated mean-field map to separate this bias from finite-width effects).

References
----------
.. [1] A. Pretorius, E. van Biljon, S. Kroon, H. Kamper. "Critical initialisation for deep signal
   propagation in noisy rectifier neural networks." NeurIPS 2018, arXiv:1811.00293, Fig. 5.
.. [2] S. S. Schoenholz, J. Gilmer, S. Ganguli, J. Sohl-Dickstein. "Deep information propagation."
   ICLR 2017.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import numpy as np

from .errors import InvalidParameterError, as_float_array, check_float, check_in_range, check_int

__all__ = ["DepthScaleFit", "LogDecayFit", "fit_depth_scale", "fit_log_decay", "fit_window"]

#: counts may be given as integral floats (``30.0``)
_check_int = partial(check_int, allow_integral_float=True)

# ------------------------------------------------------------------------------------------------
# straight-line fits of log deviations
# ------------------------------------------------------------------------------------------------
@dataclass
class LogDecayFit:
    """A straight line :math:`\\ln d = a + b\\,l` (from :func:`fit_log_decay`).

    Attributes
    ----------
    slope, intercept : float
        :math:`b` and :math:`a`; ``nan`` with fewer than two points.
    slope_stderr : float
        Standard error of the slope (see :func:`fit_log_decay`).
    n_points : int
        Number of points fitted.
    """

    slope: float
    intercept: float
    slope_stderr: float
    n_points: int

    @property
    def depth_scale(self) -> float:
        """:math:`-1/\\text{slope}` (``nan`` without a fit, ``inf`` for a flat line)."""
        if not np.isfinite(self.slope):
            return float("nan")
        return float("inf") if self.slope == 0 else -1.0 / self.slope

    @property
    def depth_scale_stderr(self) -> float:
        """Standard error of the depth scale, :math:`s_b / b^2` (first-order propagation)."""
        if not np.isfinite(self.slope) or self.slope == 0:
            return float("nan")
        return self.slope_stderr / self.slope**2

    def __call__(self, layers):
        """The fitted deviation :math:`e^{a + b l}` at ``layers``."""
        return np.exp(self.intercept + self.slope * as_float_array("layers", layers))


def fit_log_decay(layers, deviation, sigma_log=None) -> LogDecayFit:
    r"""Fit the straight line :math:`\ln d^l = a + b\,l` by least squares.

    Introduced in the chapter *Depth scales* (``book/depth_scales.md``).

    Parameters
    ----------
    layers : 1-D array_like
        Layer indices :math:`l` (at least two distinct values for a fit).
    deviation : 1-D array_like, > 0
        Deviations :math:`d^l = |c^l - c^*|`, one per layer.
    sigma_log : 1-D array_like, >= 0, optional
        Standard error of each :math:`\ln d^l` (for example :math:`s^l/d^l`). It sets the error
        bar of the slope; the line itself is always the ordinary least-squares one.

    Returns
    -------
    LogDecayFit
        Slope, intercept and the slope's standard error; ``nan`` with fewer than two points.

    Notes
    -----
    With :math:`y_l = \ln d^l` and :math:`\bar l` the mean layer of the window,

    .. math::

        b = \sum_l \alpha_l y_l, \qquad \alpha_l = \frac{l - \bar l}{\sum_k (k - \bar l)^2}, \qquad
        a = \bar y - b\,\bar l, \qquad \xi = -1/b .

    The standard error of :math:`b` is :math:`\sqrt{\sum_l \alpha_l^2 \sigma_l^2}` when ``sigma_log``
    is given (Monte Carlo error propagated linearly, layers treated as independent), otherwise the
    residual estimate (``nan`` for two points).

    Examples
    --------
    >>> fit = fit_log_decay([1, 2, 3], 0.5 * np.exp(-np.array([1, 2, 3]) / 2.0))
    >>> round(fit.depth_scale, 12), fit.n_points
    (2.0, 3)
    >>> round(fit_log_decay([1, 2], [0.1, 0.05], sigma_log=[0.1, 0.1]).slope_stderr, 4)  # sqrt(2) * 0.1
    0.1414
    """
    x = as_float_array("layers", layers).ravel()
    d = check_in_range("deviation", deviation, 0.0, np.inf, low_open=True).ravel()
    if x.size != d.size:
        raise InvalidParameterError(f"layers and deviation must have the same length, got {x.size} and {d.size}")
    if sigma_log is not None:
        s = check_in_range("sigma_log", sigma_log, 0.0, np.inf).ravel()
        if s.size != d.size:
            raise InvalidParameterError(f"sigma_log must have one value per layer ({d.size}), got {s.size}")
    n = x.size
    if n < 2:
        return LogDecayFit(float("nan"), float("nan"), float("nan"), n)
    y = np.log(d)
    dx = x - x.mean()
    sxx = float((dx * dx).sum())
    if sxx == 0:
        raise InvalidParameterError("layers must contain at least two distinct values")
    alpha = dx / sxx
    slope = float((alpha * y).sum())
    intercept = float(y.mean() - slope * x.mean())
    if sigma_log is not None:
        stderr = float(np.sqrt((alpha**2 * s**2).sum()))
    elif n > 2:
        stderr = float(np.sqrt(((y - intercept - slope * x) ** 2).sum() / (n - 2) / sxx))
    else:
        stderr = float("nan")
    return LogDecayFit(slope, intercept, stderr, n)


@dataclass
class DepthScaleFit:
    """A depth scale fitted to simulated correlations (from :func:`fit_depth_scale`).

    Attributes
    ----------
    layers : numpy.ndarray, shape ``(n_layers + 1,)``
        Layer indices ``0 ... n_layers``.
    mean, sem : numpy.ndarray, shape ``(n_layers + 1,)``
        Mean of :math:`c^l` over networks and pairs, and its standard error (over networks).
    deviation : numpy.ndarray, shape ``(n_layers + 1,)``
        :math:`|\\bar c^l - c^*|`.
    window : numpy.ndarray of int
        The layers used in the fit (see the module docstring for the rule).
    c_star : float
        The fixed point the deviations are measured from.
    z : float
        The noise-floor multiple used to choose the window.
    line : LogDecayFit
        The fitted straight line through :math:`\\ln|\\bar c^l - c^*|`.
    """

    layers: np.ndarray
    mean: np.ndarray
    sem: np.ndarray
    deviation: np.ndarray
    window: np.ndarray
    c_star: float
    z: float
    line: LogDecayFit

    @property
    def depth_scale(self) -> float:
        """The fitted depth scale :math:`-1/\\text{slope}` (``nan`` if no fit)."""
        return self.line.depth_scale

    @property
    def depth_scale_stderr(self) -> float:
        """Standard error of the fitted depth scale."""
        return self.line.depth_scale_stderr

    @property
    def noise_floor(self) -> np.ndarray:
        """:math:`z\\,s^l`, the level below which a deviation is not used."""
        return self.z * self.sem


def fit_window(deviation, sem, *, z: float = 3.0, first_layer: int = 1, min_points: int = 2,
               start_fraction: float = math.exp(-1.0)) -> np.ndarray:
    r"""The layers whose deviation from :math:`c^*` stands above the noise floor.

    Introduced in the chapter *Depth scales* (``book/depth_scales.md``).

    Parameters
    ----------
    deviation : 1-D array_like, >= 0
        :math:`d^l = |\bar c^l - c^*|` for layers ``0 ... n_layers``.
    sem : 1-D array_like, >= 0
        Standard errors :math:`s^l` of :math:`\bar c^l`.
    z : float, > 0
        A layer is used only while :math:`d^l > z\,s^l`.
    first_layer : int, >= 0
        The earliest layer the window may start at.
    min_points : int, >= 2
        If fewer layers qualify, earlier layers are prepended (down to layer 0).
    start_fraction : float, in (0, 1]
        The window starts at the first layer (from ``first_layer`` on) with
        :math:`d^l \le` ``start_fraction`` :math:`\cdot d^0`; 1 starts it at ``first_layer``.

    Returns
    -------
    numpy.ndarray of int
        Consecutive layer indices (possibly fewer than ``min_points`` if even layer 0 does not help).

    Notes
    -----
    The window starts at :math:`l_0 = \min\{l \ge l_\text{first} : d^l \le f\,d^0\}` (``first_layer``
    if there is none) and a layer :math:`l \ge l_0` joins it while

    .. math::

        d^l > z\,s^l \quad\text{and}\quad d^l < d^{l-1},

    and the first layer that fails ends it.

    Examples
    --------
    >>> d = np.array([0.8, 0.25, 0.08, 0.03, 0.004, 0.006])
    >>> s = np.array([0.0, 0.002, 0.002, 0.002, 0.002, 0.002])
    >>> fit_window(d, s).tolist()
    [1, 2, 3]
    >>> fit_window(d, s, z=60).tolist()  # only layer 1 qualifies: layer 0 is prepended
    [0, 1]
    >>> fit_window(d, s, start_fraction=0.2).tolist()  # start once d <= 0.2 d^0 = 0.16
    [2, 3]
    """
    d = check_in_range("deviation", deviation, 0.0, np.inf).ravel()
    s = check_in_range("sem", sem, 0.0, np.inf).ravel()
    if d.size != s.size:
        raise InvalidParameterError(f"deviation and sem must have the same length, got {d.size} and {s.size}")
    z = check_float("z", z, 0.0, np.inf, low_open=True)
    first_layer = _check_int("first_layer", first_layer, 0)
    min_points = _check_int("min_points", min_points, 2)
    start_fraction = check_float("start_fraction", start_fraction, 0.0, 1.0, low_open=True)
    if first_layer >= d.size:
        raise InvalidParameterError(f"first_layer must be in [0, {d.size - 1}], got {first_layer}")
    settled = np.flatnonzero(d[first_layer:] <= start_fraction * d[0])
    start = first_layer + (int(settled[0]) if settled.size and start_fraction < 1.0 else 0)
    window = []
    for layer in range(start, d.size):
        above = d[layer] > z * s[layer]
        decreasing = layer == start or d[layer] < d[layer - 1]
        if not (above and decreasing):
            break
        window.append(layer)
    start = window[0] if window else start
    while len(window) < min_points and start > 0:
        start -= 1
        window.insert(0, start)
    return np.asarray(window, dtype=int)


def fit_depth_scale(c, c_star, *, z: float = 3.0, first_layer: int = 1, min_points: int = 2,
                    start_fraction: float = math.exp(-1.0)) -> DepthScaleFit:
    r"""Fit the depth scale :math:`\xi_c` to simulated cosine similarities.

    Introduced in the chapter *Depth scales* (``book/depth_scales.md``).

    Parameters
    ----------
    c : array_like, shape ``(n_layers + 1, n_networks, n_pairs)``
        Cosine similarity of every pair in every network and layer (for example
        ``simulate_correlation_dynamics(...).c`` for one noise level and one :math:`c^0`).
    c_star : float, in [-1, 1]
        The fixed point the deviations are measured from (the mean-field
        :func:`nsp_helpers.theory.correlation_fixed_point`).
    z, first_layer, min_points, start_fraction
        The window rule (:func:`fit_window` and the module docstring).

    Returns
    -------
    DepthScaleFit
        Per-layer means, standard errors and deviations, the window and the straight line.

    Notes
    -----
    Linearising the correlation map around its fixed point gives

    .. math::

        c^{l} - c^* \approx \chi(c^*)\,(c^{l-1} - c^*)
        \quad\Longrightarrow\quad \ln|c^l - c^*| \approx \text{const} - \frac{l}{\xi_c},

    so the depth scale is minus the inverse slope of :math:`\ln|\bar c^l - c^*|` against :math:`l`.

    References
    ----------
    .. [1] Pretorius et al. (2018), Fig. 5, arXiv:1811.00293 (where the fitted "simulation" was the
       iterated mean-field map; here it is a finite network).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> layers = np.arange(8)
    >>> clean = 0.2 + 0.8 * 0.5 ** layers  # c* = 0.2, chi = 0.5
    >>> c = clean[:, None, None] + 1e-4 * rng.standard_normal((8, 4, 10))
    >>> fit = fit_depth_scale(c, 0.2)
    >>> fit.window.tolist(), round(fit.depth_scale, 2), round(float(-1 / np.log(0.5)), 2)
    ([2, 3, 4, 5, 6, 7], 1.44, 1.44)
    """
    c = as_float_array("c", c)
    if c.ndim != 3:
        raise InvalidParameterError(f"c must have shape (n_layers + 1, n_networks, n_pairs), got {c.shape}")
    if c.shape[0] < 2:
        raise InvalidParameterError(f"c needs at least two layers (n_layers >= 1), got {c.shape[0]}")
    if c.shape[1] < 2:
        raise InvalidParameterError(f"c needs at least 2 networks for a standard error, got {c.shape[1]}")
    c_star = check_float("c_star", c_star, -1.0, 1.0)
    per_network = c.mean(axis=2)  # (layers, networks)
    mean = per_network.mean(axis=1)
    sem = per_network.std(axis=1, ddof=1) / math.sqrt(per_network.shape[1])
    deviation = np.abs(mean - c_star)
    window = fit_window(deviation, sem, z=z, first_layer=first_layer, min_points=min_points,
                        start_fraction=start_fraction)
    usable = window[deviation[window] > 0] if window.size else window
    if usable.size >= 2:
        line = fit_log_decay(usable, deviation[usable], sem[usable] / deviation[usable])
    else:
        line = LogDecayFit(float("nan"), float("nan"), float("nan"), int(usable.size))
    return DepthScaleFit(layers=np.arange(c.shape[0]), mean=mean, sem=sem, deviation=deviation, window=usable,
                         c_star=c_star, z=float(z), line=line)
