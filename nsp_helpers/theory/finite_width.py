r"""Finite-width fluctuations of the signal in deep noisy ReLU networks (numpy/scipy only).

The mean-field theory describes a network of infinite width, where the noise enters only through
:math:`\mu_2 = \mathbb{E}[\epsilon^2]`. At width :math:`N` one network's signal strays from it. For a
multiplicative-noise network with a positively homogeneous activation (ReLU or linear) and no bias,

.. math::

   h^{l+1} = W^{l+1} x^{l}, \qquad x^l = \epsilon^l \odot \phi(h^l), \qquad
   W^{l+1}_{ij} \sim \mathcal{N}(0, \sigma_w^2/N),

the conditional variance :math:`v^{l+1} = \mathrm{Var}(h^{l+1}_i \mid x^{l}) = \sigma_w^2\,\frac1N\sum_j (x^l_j)^2`
obeys, **exactly**,

.. math::

   v^{l+1} = \sigma_w^2\, v^{l}\, \bar Y^{l}, \qquad
   \bar Y^{l} = \frac1N \sum_{i=1}^N (\epsilon^l_i)^2\, \phi(z^l_i)^2, \qquad z^l_i = h^l_i/\sqrt{v^l},

where the :math:`z^l_i` are i.i.d. standard normal and the :math:`\bar Y^l` are i.i.d. over layers and
independent of everything before layer :math:`l`. So :math:`\ln v^l` is a random walk with i.i.d.
steps :math:`X = \ln(\sigma_w^2 \bar Y)`. The measured :math:`\hat q^L = \frac1N \sum_i (h^L_i)^2` adds
the last layer's own factor :math:`G^L = \frac1N\sum_i (z^L_i)^2 \sim \chi^2_N/N`. With
:math:`m_k = \mathbb{E}[\phi(z)^k]` (ReLU: :math:`m_2 = 1/2`, :math:`m_4 = 3/2`) and
:math:`\mu_4 = \mathbb{E}[\epsilon^4]` (:attr:`nsp_helpers.noise.NoiseModel.mu4`), one unit's relative
variance is

.. math::

   \kappa = \frac{\mathrm{Var}[\epsilon^2\phi(z)^2]}{\mathbb{E}[\epsilon^2\phi(z)^2]^2}
          = \frac{m_4}{m_2^2}\,\frac{\mu_4}{\mu_2^2} - 1
          \quad(\text{ReLU: } 6\mu_4/\mu_2^2 - 1),

and to leading order in :math:`1/N` each step has mean :math:`\ln(\sigma_w^2 m_2 \mu_2) - \kappa/(2N)`
and variance :math:`\kappa/N` (5/N without noise, Hanin & Nica 2020; :math:`(6/p - 1)/N` for dropout).
``method="exact"`` gives the exact cumulants of a step instead, from the Laplace transform of one unit's
term (see :func:`layer_log_cumulants`).

Conventions
-----------
* ``noise`` is a multiplicative :class:`~nsp_helpers.noise.NoiseModel` (or none); it may be a family,
  and every argument broadcasts. A ``NoisyNetwork`` may be passed instead of ``noise``; its
  ``sigma_w2``, ``sigma_b2`` and ``activation`` are then used (omit those arguments), not its width or
  depth (pass those).
* ``sigma_w2=None`` is the critical value :math:`1/(m_2\mu_2)` (ReLU: :math:`2/\mu_2`); ``sigma_b2``
  must be 0 (or ``None``): a bias breaks the multiplicative structure.
* ``activation`` is ``"relu"`` or ``"linear"``.
* Every cumulant is *conditional on the network being alive*: with probability
  :func:`layer_death_probability` per layer every unit of a layer is silenced (all ReLUs off or dropped),
  :math:`\hat q` becomes exactly 0 for good and :math:`\ln\hat q = -\infty`.
* Depth: ``n_layers`` :math:`= L` noisy hidden layers, inputs :math:`h^0` passed through :math:`\phi`
  and the noise like every layer (``NoisyNetwork``'s default). ``inputs="fixed_norm"`` (default): every
  input has empirical second moment exactly :math:`q^0` and a random direction, as
  :func:`nsp_helpers.simulate.inputs_with_variance` makes them; ``inputs="gaussian"``:
  :math:`h^0 \sim \mathcal{N}(0, q^0 I)`. ``measure="empirical"`` (default) describes
  :math:`\ln(\hat q^L/q^0)` with :math:`\hat q^L = \frac1N\sum_i (h^L_i)^2`; ``measure="conditional"``
  describes :math:`\ln(v^L/q^0)`, the variance that layer :math:`L-1` hands to layer :math:`L`.
* Bad input raises :class:`~nsp_helpers.errors.InvalidParameterError` naming the parameter.

This is the book's own material (not from either paper); the derivation is in the chapter on finite
width. (It will move into the theory subpackage.)

References
----------
.. [1] B. Hanin, M. Nica. *Products of many large random matrices and gradients in deep neural
   networks.* Communications in Mathematical Physics 376, 287-322 (2020), arXiv:1812.05994.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
from numpy.polynomial.legendre import leggauss
from scipy import special

from ..activations import get_activation
from ..errors import InvalidParameterError, check_in_range
from ..noise import (
    Dropout,
    MultiplicativeGaussian,
    MultiplicativeLaplace,
    MultiplicativePoisson,
    NoiseModel,
    NoNoise,
    as_noise_model,
)

__all__ = [
    "LogCumulants",
    "unit_relative_variance",
    "layer_death_probability",
    "survival_probability",
    "layer_log_cumulants",
    "log_q_cumulants",
    "log_q_quantiles",
    "width_for_spread",
    "median_stable_sigma_w2",
]


class LogCumulants(NamedTuple):
    """Mean, variance and third cumulant of a logarithm (floats or arrays of one shape)."""

    mean: object
    variance: object
    third: object


# E[phi(z)^2], E[phi(z)^4] and P(phi(z) != 0) for the positively homogeneous activations
_HOMOGENEOUS = {"relu": (0.5, 1.5, 0.5), "linear": (1.0, 3.0, 1.0)}
_METHODS = ("exact", "leading")
_INPUTS = ("fixed_norm", "gaussian")
_MEASURES = ("empirical", "conditional")


def _out(x):
    x = np.asarray(x, dtype=float)
    return float(x) if x.ndim == 0 else x


def _choice(name, value, options):
    if not isinstance(value, str) or value not in options:
        raise InvalidParameterError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")
    return value


def _check_ints(name, value, low):
    """An integer or array of integers >= low (integral floats accepted), as an int64 array."""
    try:
        arr = np.asarray(value)
        ok = arr.dtype != bool and (
            np.issubdtype(arr.dtype, np.integer)
            or (np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))
        )
    except (TypeError, ValueError):
        ok = False
    if not ok or arr.size == 0:
        raise InvalidParameterError(f"{name} must be an integer or an array of integers >= {low}, got {value!r}")
    if np.any(arr < low):
        raise InvalidParameterError(f"{name} must be >= {low}, got {arr[arr < low].ravel()[0]}")
    return arr.astype(np.int64)


def _check_network_inputs(noise):
    """A NoisyNetwork whose inputs skip phi or the noise has a different first step: refuse it."""
    if not isinstance(noise, NoiseModel) and hasattr(noise, "input_activation"):
        if not (noise.input_activation and noise.noise_on_input):
            raise InvalidParameterError(
                "the depth formulas assume inputs that pass through the activation and the noise like every layer "
                "(NoisyNetwork(input_activation=True, noise_on_input=True)), got input_activation="
                f"{noise.input_activation}, noise_on_input={noise.noise_on_input}"
            )


def _resolve(noise, sigma_w2, sigma_b2, activation):
    """(noise model, sigma_w2 array, activation name), for a noise model or a NoisyNetwork."""
    if not isinstance(noise, NoiseModel) and all(hasattr(noise, a) for a in ("noise", "sigma_w2", "sigma_b2", "width")):
        if sigma_w2 is not None or sigma_b2 is not None or activation != "relu":
            raise InvalidParameterError(
                "with a NoisyNetwork as noise, sigma_w2, sigma_b2 and activation are the network's: omit them"
            )
        noise, sigma_w2, sigma_b2, activation = noise.noise, noise.sigma_w2, noise.sigma_b2, noise.activation
    noise = as_noise_model(noise, allow_family=True)
    if noise.kind == "additive":
        raise InvalidParameterError(
            f"noise must be multiplicative or none, got {noise!r}: additive noise adds a constant to the variance "
            "map and the signal no longer performs a multiplicative random walk"
        )
    name = get_activation(activation).name
    if name not in _HOMOGENEOUS:
        raise InvalidParameterError(
            f"activation must be 'relu' or 'linear' (positively homogeneous: the walk is exact for them), got {name!r}"
        )
    if sigma_b2 is not None and np.any(check_in_range("sigma_b2", sigma_b2, 0.0, np.inf) != 0):
        raise InvalidParameterError("sigma_b2 must be 0 (or None): the finite-width random walk needs sigma_b = 0")
    m2 = _HOMOGENEOUS[name][0]
    if sigma_w2 is None:
        sw2 = np.asarray(noise.inverse_mu2, dtype=float) / m2  # critical, exactly 2 * keep_prob for dropout
    else:
        sw2 = check_in_range("sigma_w2", sigma_w2, 0.0, np.inf, low_open=True)
    return noise, sw2, name


# --- moments of one unit's term ---------------------------------------------------------------------
def unit_relative_variance(noise, activation="relu"):
    r"""Relative variance :math:`\kappa` of one unit's term :math:`Y = \epsilon^2\phi(z)^2`.

    Parameters
    ----------
    noise : NoiseModel
        Multiplicative noise (or :class:`~nsp_helpers.noise.NoNoise`), possibly a family.
    activation : {"relu", "linear"}, optional

    Returns
    -------
    float or ndarray
        :math:`\kappa = \mathrm{Var}[Y]/\mathbb{E}[Y]^2`; the per-layer variance of :math:`\ln \hat q` is
        :math:`\kappa/N` to leading order.

    Notes
    -----
    With :math:`z \sim \mathcal{N}(0, 1)` independent of :math:`\epsilon`,
    :math:`\mathbb{E}[Y] = m_2\mu_2` and :math:`\mathbb{E}[Y^2] = m_4\mu_4`, so

    .. math::

       \kappa = \frac{m_4 \mu_4}{m_2^2 \mu_2^2} - 1 = \frac{6\mu_4}{\mu_2^2} - 1 \quad\text{(ReLU)},
       \qquad \frac{3\mu_4}{\mu_2^2} - 1 \quad\text{(linear)}.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout, MultiplicativeGaussian, MultiplicativePoisson, NoNoise
    >>> unit_relative_variance(NoNoise())                     # Hanin & Nica's 5/N per layer
    5.0
    >>> unit_relative_variance(Dropout(keep_prob=[0.5, 0.8]))  # 6/p - 1
    array([11. ,  6.5])
    >>> unit_relative_variance(MultiplicativeGaussian(std=1.0)), unit_relative_variance(MultiplicativePoisson())
    (14.0, 21.5)
    """
    noise, _, name = _resolve(noise, None, None, activation)
    m2, m4, _ = _HOMOGENEOUS[name]
    mu2 = np.asarray(noise.mu2, dtype=float)
    return _out(m4 / m2**2 * np.asarray(noise.mu4, dtype=float) / mu2**2 - 1.0)


def _zero_probability(member: NoiseModel) -> float:
    """P(eps = 0) for one noise level."""
    if isinstance(member, Dropout):
        return 1.0 - float(member.keep_prob)
    if isinstance(member, MultiplicativePoisson):
        return math.exp(-float(member.rate))
    return 0.0


def _members(noise: NoiseModel, shape):
    """One noise level per index of ``shape`` (the broadcast shape of everything)."""
    extra = len(shape) - len(noise.shape)
    for index in np.ndindex(*shape):
        sub = index[extra:]
        sub = tuple(0 if n == 1 else i for i, n in zip(sub, noise.shape))
        yield index, (noise[sub] if noise.shape else noise)


def layer_death_probability(width, noise, activation="relu"):
    r"""Probability that one layer silences every unit, :math:`P(\bar Y = 0) = (1 - w(1 - P(\epsilon = 0)))^N`.

    :math:`w = P(\phi(z) \ne 0)` is 1/2 for ReLU, 1 for a linear network. After such a layer every later
    pre-activation is exactly 0 (there is no bias).

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout, NoNoise
    >>> round(layer_death_probability(32, Dropout(keep_prob=0.5)), 10)     # (1 - p/2)^N = 0.75^32
    0.0001004524
    >>> layer_death_probability(32, NoNoise()) == 2.0**-32
    True
    """
    noise, _, name = _resolve(noise, None, None, activation)
    width = _check_ints("width", width, 1)
    w = _HOMOGENEOUS[name][2]
    shape = np.broadcast_shapes(noise.shape, width.shape)
    out = np.empty(shape)
    for index, member in _members(noise, shape):
        alive = w * (1.0 - _zero_probability(member))
        out[index] = (1.0 - alive) ** np.broadcast_to(width, shape)[index]
    return _out(out)


def survival_probability(n_layers, width, noise, activation="relu"):
    r"""Probability that a network of ``n_layers`` noisy layers still carries a signal, :math:`(1 - P_0)^L`.

    :math:`P_0` is :func:`layer_death_probability`; all cumulants in this module are conditional on survival.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> round(survival_probability(200, 32, Dropout(keep_prob=0.5)), 4)
    0.9801
    """
    n_layers = _check_ints("n_layers", n_layers, 0)
    dead = np.asarray(layer_death_probability(width, noise, activation))
    return _out(np.exp(n_layers * np.log1p(-dead)))


# --- the exact per-layer cumulants ----------------------------------------------------------------------
_H = 0.1  # trapezoid step in u = ln t (error ~ exp(-pi^2 / h): far below double precision)
_U_RANGE = (-42.0, 100.0)  # 1 - M(t) ~ t below, M(t) <~ t^(-1/2) above: both < 1e-18 outside
_LNA = (-80.0, 105.0)  # cached lattice of ln a for continuous noise (widths up to ~1e9)
_GL_X, _GL_W = leggauss(16)


def _one_minus_rsqrt(x):
    """1 - (1 + 2x)^(-1/2), accurate for small x."""
    s = np.sqrt(1.0 + 2.0 * x)
    return 2.0 * x / (s * (1.0 + s))


def _noise_key(member: NoiseModel):
    if isinstance(member, NoNoise):
        return ("none",)
    if isinstance(member, Dropout):
        return ("none",) if float(member.keep_prob) == 1.0 else ("dropout", float(member.keep_prob))
    if isinstance(member, MultiplicativeGaussian):
        return ("none",) if float(member.std) == 0.0 else ("gaussian", float(member.std))
    if isinstance(member, MultiplicativeLaplace):
        return ("none",) if float(member.scale) == 0.0 else ("laplace", float(member.scale))
    if isinstance(member, MultiplicativePoisson):
        return ("poisson", float(member.rate))
    raise InvalidParameterError(
        f"method='exact' knows NoNoise, Dropout, MultiplicativeGaussian, MultiplicativeLaplace and "
        f"MultiplicativePoisson, got {member!r}: use method='leading'"
    )


def _discrete(key):
    """Values and probabilities of eps for the discrete models (None for continuous ones)."""
    kind = key[0]
    if kind == "none":
        return np.array([1.0]), np.array([1.0])
    if kind == "dropout":
        p = key[1]
        return np.array([0.0, 1.0 / p]), np.array([1.0 - p, p])
    if kind == "poisson":
        lam = key[1]
        spread = 20.0 * math.sqrt(lam) + 50.0  # the pmf outside is below 1e-40
        k = np.arange(max(0, math.floor(lam - spread)), math.ceil(lam + spread))
        pmf = np.exp(k * math.log(lam) - lam - special.gammaln(k + 1.0))
        return k / lam, pmf
    return None


def _continuous_breaks(key):
    """The density of eps and break points of its support (panels of the quadrature)."""
    kind, s = key
    if kind == "gaussian":
        pdf = lambda e: np.exp(-0.5 * ((e - 1.0) / s) ** 2) / (s * math.sqrt(2.0 * math.pi))  # noqa: E731
        offsets = [0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 40.0]
    else:  # laplace: 1 + Laplace(0, s)
        pdf = lambda e: np.exp(-np.abs(e - 1.0) / s) / (2.0 * s)  # noqa: E731
        offsets = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 45.0]
    breaks = sorted({0.0} | {1.0 + sign * k * s for k in offsets for sign in (-1.0, 1.0)})
    return pdf, np.array(breaks)


def _expect_continuous(a, key):
    """E[1 - (1 + 2 a eps^2)^(-1/2)] for continuous eps: Gauss-Legendre panels in v = asinh(eps sqrt(2a))."""
    pdf, breaks = _continuous_breaks(key)
    out = np.empty(a.shape)
    for k, ak in enumerate(a):
        r = math.sqrt(2.0 * ak)
        vb = np.arcsinh(breaks * r)
        lengths = np.diff(vb)
        n_pieces = np.maximum(1, np.ceil(lengths / 0.5).astype(int))
        edges = np.concatenate([np.linspace(lo, hi, n + 1)[:-1] for lo, hi, n in zip(vb[:-1], vb[1:], n_pieces)] + [vb[-1:]])
        mid, half = (edges[1:] + edges[:-1]) / 2, (edges[1:] - edges[:-1]) / 2
        v = mid[:, None] + half[:, None] * _GL_X
        # eps = sinh(v)/r: d eps = cosh(v) dv / r and 1 - 1/cosh(v) times cosh(v) is cosh(v) - 1 = 2 sinh^2(v/2)
        integrand = pdf(np.sinh(v) / r) * 2.0 * np.sinh(v / 2.0) ** 2 / r
        out[k] = np.sum(half[:, None] * _GL_W * integrand)
    return out


@functools.lru_cache(maxsize=64)
def _continuous_lattice(key):
    lna = np.arange(round(_LNA[0] / _H), round(_LNA[1] / _H) + 1) * _H
    return lna, _expect_continuous(np.exp(lna), key)


def _deficit(ln_a, key, w):
    """D(a) = 1 - E[exp(-a eps^2 phi(z)^2)] = w E_eps[1 - (1 + 2 a eps^2)^(-1/2)] at ln a = ``ln_a``."""
    disc = _discrete(key)
    if disc is not None:
        values, probs = disc
        a = np.exp(ln_a)
        step = max(1, 2_000_000 // values.size)  # bounded memory for Poisson noise of a large rate
        return w * np.concatenate([np.sum(probs * _one_minus_rsqrt(a[i:i + step, None] * values**2), axis=1)
                                   for i in range(0, a.size, step)])
    lattice, values = _continuous_lattice(key)
    j = np.round((ln_a - lattice[0]) / _H).astype(int)
    if j.min() < 0 or j.max() >= lattice.size:  # outside the cached lattice: compute directly
        return w * _expect_continuous(np.exp(ln_a), key)
    return w * values[j]


@functools.lru_cache(maxsize=4096)
def _exact_log_ratio(key, p_zero, width, activation):
    r"""Mean, variance and third cumulant of ln R, R = Ybar / E[Y], given R > 0 (the random part of a step)."""
    m2, _, w = _HOMOGENEOUS[activation]
    mean_y = m2 * (1.0 if key[0] == "none" else _mu2_of_key(key))
    # u = ln t with t the argument of R's Laplace transform; ln a = u - ln(N E[Y]) lies on the lattice h Z
    shift = math.log(width * mean_y)
    j_lo, j_hi = math.ceil((_U_RANGE[0] - shift) / _H), math.floor((_U_RANGE[1] - shift) / _H)
    ln_a = np.arange(j_lo, j_hi + 1) * _H
    u = ln_a + shift
    deficit = np.minimum(_deficit(ln_a, key, w), w * (1.0 - p_zero))  # D(a) rises to w P(eps != 0)
    p_dead = (1.0 - w * (1.0 - p_zero)) ** width
    with np.errstate(divide="ignore"):  # D = 1 (a linear network without noise): the transform is 0
        laplace = np.exp(width * np.log1p(-deficit))  # E[exp(-t R)] = (1 - D(t / (N E[Y])))^N
    alive = (laplace - p_dead) / (1.0 - p_dead)
    delta = alive - np.exp(-np.exp(u))  # minus the transform of R = 1, whose log has cumulants 0
    b0, b1, b2 = (_H * np.sum(u**k * delta) for k in range(3))
    # ln E[R^-a] = ln(1 + a C(a)), C(a) = B(a) / Gamma(1 + a), B(a) = int e^(a u) delta(u) du
    c2 = np.euler_gamma**2 / 2.0 - np.pi**2 / 12.0
    c_0, c_1, c_2 = b0, b1 + np.euler_gamma * b0, b2 / 2.0 + np.euler_gamma * b1 + c2 * b0
    mean = -c_0
    variance = 2.0 * c_1 - c_0**2
    third = -6.0 * (c_2 - c_0 * c_1 + c_0**3 / 3.0)
    return mean, variance, third


def _mu2_of_key(key):
    kind, s = key
    return {"dropout": lambda: 1.0 / s, "gaussian": lambda: 1.0 + s * s, "laplace": lambda: 1.0 + 2.0 * s * s,
            "poisson": lambda: 1.0 + 1.0 / s}[kind]()


def _check_method(method):
    return _choice("method", method, _METHODS)


def layer_log_cumulants(width, noise, sigma_w2=None, sigma_b2=None, activation="relu", *, method="exact"):
    r"""Cumulants of one step :math:`X = \ln(v^{l+1}/v^l) = \ln(\sigma_w^2 \bar Y)` of the random walk.

    Introduced in the chapter on finite-width noisy networks.

    Parameters
    ----------
    width : int or array_like of int, >= 1
        Width :math:`N` of the layer.
    noise : NoiseModel or NoisyNetwork
        Multiplicative noise (or none), possibly a family.
    sigma_w2 : float, array_like or None, optional
        Weight variance; ``None``: critical, :math:`1/(m_2\mu_2)` (:math:`2/\mu_2` for ReLU).
    sigma_b2 : None or 0, optional
        Must be 0: the walk needs :math:`\sigma_b = 0`.
    activation : {"relu", "linear"}, optional
    method : {"exact", "leading"}, optional
        ``"exact"`` (default): the exact cumulants (given survival), by quadrature, accurate to about
        :math:`10^{-10}`. ``"leading"``: the first order in :math:`1/N`.

    Returns
    -------
    LogCumulants
        ``(mean, variance, third)`` of :math:`X`, conditional on the layer not silencing every unit.
        The mean is the per-layer *drift* of :math:`\ln \hat q`.

    Notes
    -----
    Write :math:`X = \ln g + \ln R` with the mean-field gain :math:`g = \sigma_w^2 m_2 \mu_2` and
    :math:`R = \bar Y/\mathbb{E}[\bar Y]`. To leading order in :math:`1/N`,

    .. math::

       \mathbb{E}[X] = \ln g - \frac{\kappa}{2N} + O(N^{-2}), \qquad
       \mathrm{Var}[X] = \frac{\kappa}{N} + O(N^{-2}), \qquad \kappa_3[X] = O(N^{-2})

    (``"leading"`` returns third cumulant 0). Exactly, with :math:`\mathcal{L}(t) = \mathbb{E}[e^{-tR} \mid R > 0]
    = \bigl((1 - D(t/(N m_2\mu_2)))^N - P_0\bigr)/(1 - P_0)`,
    :math:`D(a) = w\,\mathbb{E}_\epsilon[1 - (1 + 2a\epsilon^2)^{-1/2}]` and
    :math:`B(s) = \int_{-\infty}^{\infty} e^{su}\,[\mathcal{L}(e^u) - e^{-e^u}]\,du`,

    .. math::

       \mathbb{E}[R^{-s}] = 1 + \frac{s\,B(s)}{\Gamma(1 + s)},

    whose logarithm is the cumulant generating function of :math:`-\ln R`: its Taylor coefficients at
    :math:`s = 0` give the cumulants from :math:`B(0), B'(0), B''(0)` (trapezoidal rule in :math:`u`,
    exponentially accurate because the integrand is analytic in a strip).

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout, NoNoise
    >>> layer_log_cumulants(128, NoNoise(), method="leading")       # -5/(2N), 5/N
    LogCumulants(mean=-0.01953125, variance=0.0390625, third=0.0)
    >>> exact = layer_log_cumulants(128, NoNoise())
    >>> round(exact.mean, 6), round(exact.variance, 6)
    (-0.019786, 0.040234)
    >>> round(layer_log_cumulants(32, Dropout(keep_prob=0.5)).variance, 4)   # leading order: 11/32 = 0.3438
    0.5021
    """
    method = _check_method(method)
    noise, sw2, name = _resolve(noise, sigma_w2, sigma_b2, activation)
    width = _check_ints("width", width, 1)
    m2 = _HOMOGENEOUS[name][0]
    log_gain = np.log(sw2 * m2 * np.asarray(noise.mu2, dtype=float))
    if method == "leading":
        kappa = np.asarray(unit_relative_variance(noise, name), dtype=float)
        mean = log_gain - kappa / (2.0 * width)
        variance = kappa / width
        return LogCumulants(_out(mean), _out(np.broadcast_to(variance, np.shape(mean))), _out(np.zeros(np.shape(mean))))
    shape = np.broadcast_shapes(noise.shape, width.shape)
    ratio = np.empty((3,) + shape)
    widths = np.broadcast_to(width, shape)
    for index, member in _members(noise, shape):
        key = _noise_key(member)
        ratio[(slice(None),) + index] = _exact_log_ratio(key, _zero_probability(member), int(widths[index]), name)
    mean = log_gain + ratio[0]
    return LogCumulants(_out(mean), _out(np.broadcast_to(ratio[1], np.shape(mean))),
                        _out(np.broadcast_to(ratio[2], np.shape(mean))))


def _chi2_log_cumulants(width, method):
    """Cumulants of ln(chi^2_N / N)."""
    n = np.asarray(width, dtype=float)
    if method == "leading":
        return -1.0 / n, 2.0 / n, np.zeros_like(n)
    return special.digamma(n / 2) - np.log(n / 2), special.polygamma(1, n / 2), special.polygamma(2, n / 2)


def log_q_cumulants(n_layers, width, noise, sigma_w2=None, sigma_b2=None, activation="relu", *, method="exact",
                    inputs="fixed_norm", measure="empirical"):
    r"""Cumulants of :math:`\ln(\hat q^L/q^0)` after ``n_layers`` noisy layers of width ``width``.

    Introduced in the chapter on finite-width noisy networks.

    Parameters
    ----------
    n_layers : int or array_like of int
        Depth :math:`L` (>= 0; >= 1 for ``measure="conditional"``).
    width : int or array_like of int, >= 1
    noise, sigma_w2, sigma_b2, activation, method
        As in :func:`layer_log_cumulants`.
    inputs : {"fixed_norm", "gaussian"}, optional
        Inputs with empirical second moment exactly :math:`q^0` (default; random direction) or
        :math:`h^0 \sim \mathcal{N}(0, q^0 I)`.
    measure : {"empirical", "conditional"}, optional
        :math:`\hat q^L = \frac1N\sum_i (h^L_i)^2` (default) or :math:`v^L = \mathrm{Var}(h^L_i \mid x^{L-1})`.

    Returns
    -------
    LogCumulants
        Mean, variance and third cumulant, conditional on survival (:func:`survival_probability`).

    Notes
    -----
    :math:`\ln(\hat q^L/q^0) = \sum_{l=0}^{L-1} X_l + \ln G^L` with i.i.d. steps :math:`X_l`
    (:func:`layer_log_cumulants`) and the last layer's own :math:`G^L \sim \chi^2_N/N`, independent of
    them (``measure="conditional"`` drops it). For ``inputs="fixed_norm"`` the first step is
    :math:`\ln(\sigma_w^2\bar Y^0/G^0)`, and since the norm of a Gaussian vector is independent of its
    direction its cumulants are those of :math:`X` minus those of :math:`\ln G`. So, exactly,

    .. math::

       \kappa_n\bigl[\ln(\hat q^L/q^0)\bigr] = L\,\kappa_n[X] + a\,\kappa_n[\ln G], \qquad
       a = [\text{empirical}] - [\text{fixed\_norm}] \in \{-1, 0, 1\},

    with :math:`\kappa_n[\ln G] = \psi^{(n-1)}(N/2)` (plus :math:`-\ln(N/2)` for the mean). To leading
    order the default (fixed-norm inputs, empirical :math:`\hat q^L`) has mean
    :math:`L(\ln g - \kappa/2N)` and variance :math:`L\kappa/N`: the spread grows like
    :math:`\sqrt{L/N}`.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> c = log_q_cumulants(100, 128, Dropout(keep_prob=0.5), method="leading")
    >>> round(c.mean, 4), round(c.variance, 4)                      # -100 * 11/256, 100 * 11/128
    (-4.2969, 8.5938)
    >>> c = log_q_cumulants([10, 100], 128, Dropout(keep_prob=0.5))
    >>> c.variance.round(3)
    array([0.924, 9.241])
    """
    method = _check_method(method)
    inputs = _choice("inputs", inputs, _INPUTS)
    measure = _choice("measure", measure, _MEASURES)
    n_layers = _check_ints("n_layers", n_layers, 1 if measure == "conditional" else 0)
    width = _check_ints("width", width, 1)
    _check_network_inputs(noise)
    step = layer_log_cumulants(width, noise, sigma_w2, sigma_b2, activation, method=method)
    a = (measure == "empirical") - (inputs == "fixed_norm")
    chi = _chi2_log_cumulants(width, method)
    mean, variance, third = (n_layers * np.asarray(s) + a * c for s, c in zip(step, chi))
    return LogCumulants(_out(mean), _out(variance), _out(third))


def log_q_quantiles(probabilities, n_layers, width, noise, sigma_w2=None, sigma_b2=None, activation="relu", *,
                    method="exact", inputs="fixed_norm", measure="empirical"):
    r"""Quantiles of :math:`\ln(\hat q^L/q^0)` over networks (the theory bands), given survival.

    Introduced in the chapter on finite-width noisy networks.

    Parameters
    ----------
    probabilities : float or array_like, in (0, 1)
        Which quantiles (0.5: the median).
    n_layers, width, noise, sigma_w2, sigma_b2, activation, method, inputs, measure
        As in :func:`log_q_cumulants`.

    Returns
    -------
    float or ndarray
        Shape ``np.shape(probabilities) + broadcast shape of the rest``.

    Notes
    -----
    ``method="leading"``: a normal distribution with the leading-order mean and variance.
    ``method="exact"``: the exact mean, variance and third cumulant, turned into quantiles by the
    Cornish-Fisher expansion to first order in the skewness :math:`\gamma = \kappa_3/\sigma^3`,

    .. math::

       x_\alpha = \mu + \sigma\Bigl(z_\alpha + \frac{\gamma}{6}(z_\alpha^2 - 1)\Bigr).

    The skewness of a sum of :math:`L` steps falls like :math:`1/\sqrt{LN}`, so the expansion is
    accurate for all but the shallowest, narrowest networks.

    Examples
    --------
    >>> from nsp_helpers.noise import NoNoise
    >>> log_q_quantiles([0.1, 0.5, 0.9], 50, 256, NoNoise()).round(3)
    array([-1.77 , -0.487,  0.782])
    """
    probabilities = check_in_range("probabilities", probabilities, 0.0, 1.0, low_open=True, high_open=True)
    mean, variance, third = (np.asarray(x) for x in log_q_cumulants(
        n_layers, width, noise, sigma_w2, sigma_b2, activation, method=method, inputs=inputs, measure=measure))
    z = special.ndtri(probabilities).reshape(probabilities.shape + (1,) * mean.ndim)
    std = np.sqrt(np.maximum(variance, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = np.where(std > 0, third / np.where(std > 0, std, 1.0) ** 3, 0.0)
    return _out(mean + std * (z + skew / 6.0 * (z * z - 1.0)))


def width_for_spread(max_std, n_layers, noise, sigma_w2=None, sigma_b2=None, activation="relu", *,
                     method="leading", inputs="fixed_norm", measure="empirical"):
    r"""Smallest width :math:`N` at which the standard deviation of :math:`\ln \hat q^L` is at most ``max_std``.

    Introduced in the chapter on finite-width noisy networks.

    Parameters
    ----------
    max_std : float, > 0
        Largest acceptable standard deviation of :math:`\ln(\hat q^L/q^0)` over networks (0.1 means the
        typical network's :math:`\hat q^L` is within about 10 % of the median).
    n_layers : int, >= 1
        Depth :math:`L`.
    noise, sigma_w2, sigma_b2, activation, inputs, measure
        As in :func:`log_q_cumulants`; a single noise level.
    method : {"leading", "exact"}, optional
        ``"leading"`` (default): :math:`N = \lceil (L\kappa + 2a)/s^2 \rceil`. ``"exact"``: the smallest
        :math:`N` whose exact variance is at most :math:`s^2` (found by bisection, assuming the variance
        falls with :math:`N`).

    Returns
    -------
    int

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout, NoNoise
    >>> width_for_spread(0.5, 100, NoNoise())                       # 100 * 5 / 0.25
    2000
    >>> width_for_spread(0.5, 100, Dropout(keep_prob=0.5))          # 100 * 11 / 0.25
    4400
    >>> width_for_spread(0.5, 100, Dropout(keep_prob=0.5), method="exact")
    4409
    """
    method = _check_method(method)
    max_std = float(check_in_range("max_std", max_std, 0.0, np.inf, low_open=True))
    n_layers = _check_ints("n_layers", n_layers, 1)
    if n_layers.ndim != 0:
        raise InvalidParameterError(f"n_layers must be a single integer here, got shape {n_layers.shape}")
    n_layers = int(n_layers)
    _check_network_inputs(noise)
    noise, sw2, name = _resolve(noise, sigma_w2, sigma_b2, activation)
    if noise.shape != () or np.ndim(sw2) != 0:
        raise InvalidParameterError("width_for_spread takes a single noise level and sigma_w2, not a family")
    inputs = _choice("inputs", inputs, _INPUTS)
    measure = _choice("measure", measure, _MEASURES)
    target = max_std**2

    def variance(n):
        return log_q_cumulants(n_layers, n, noise, float(sw2), None, name, method=method, inputs=inputs,
                               measure=measure).variance

    kappa = float(unit_relative_variance(noise, name))
    a = (measure == "empirical") - (inputs == "fixed_norm")
    guess = max(1, math.ceil((n_layers * kappa + 2 * a) / target - 1e-9))
    if method == "leading":
        return guess
    if variance(1) <= target:
        return 1
    hi = guess
    while variance(hi) > target:
        hi *= 2
    lo = max(1, min(guess, hi // 2))
    while variance(lo) <= target:  # stops: variance(1) > target
        lo = max(1, lo // 2)
    while hi - lo > 1:  # variance(lo) > target >= variance(hi)
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if variance(mid) <= target else (mid, hi)
    return hi


def median_stable_sigma_w2(width, noise, sigma_b2=None, activation="relu", *, method="exact"):
    r"""The weight variance that makes the *median* of :math:`\hat q^L` stable over depth.

    At the mean-field critical point :math:`1/(m_2\mu_2)` the mean of :math:`\hat q^L` is stable but
    :math:`\ln \hat q^L` drifts down by :math:`\kappa/(2N)` per layer, and with it the median. This
    :math:`\sigma_w^2` cancels the drift; the price is a mean :math:`\mathbb{E}[\hat q^L]` that grows by
    the factor :math:`\sigma_w^2 m_2\mu_2` per layer.

    Introduced in the chapter on finite-width noisy networks.

    Parameters
    ----------
    width : int or array_like of int, >= 1
    noise, sigma_b2, activation, method
        As in :func:`layer_log_cumulants`.

    Returns
    -------
    float or ndarray

    Notes
    -----
    The drift :math:`\mathbb{E}[X] = \ln(\sigma_w^2 m_2\mu_2) + \mathbb{E}[\ln R]` vanishes at

    .. math::

       \sigma_w^2 = \frac{e^{-\mathbb{E}[\ln R]}}{m_2\mu_2}
       = \frac{2}{\mu_2}\Bigl(1 + \frac{\kappa}{2N} + O(N^{-2})\Bigr) \quad\text{(ReLU)}.

    ``method="leading"`` returns :math:`\frac{1}{m_2\mu_2} e^{\kappa/(2N)}`. With zero drift the median of
    :math:`\ln \hat q^L` stays within :math:`O(1/N)` of its start at every depth (its offset from the
    mean, about :math:`-\kappa_3/(6\sigma^2)`, does not grow with :math:`L`).

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> round(median_stable_sigma_w2(128, Dropout(keep_prob=0.5), method="leading"), 5)   # exp(11/256)
    1.04391
    >>> round(median_stable_sigma_w2(128, Dropout(keep_prob=0.5)), 5)
    1.04541
    """
    method = _check_method(method)
    noise, sw2, name = _resolve(noise, None, sigma_b2, activation)
    mean = np.asarray(layer_log_cumulants(width, noise, sw2, None, name, method=method).mean)
    return _out(sw2 * np.exp(-mean))
