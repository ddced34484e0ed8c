r"""The critical initialisation, resolved once, and the normalisation of every theory function's arguments.

Every public theory function takes ``(<state args>, noise, sigma_w2=None, sigma_b2=None, activation="relu",
<extra keywords>)``, where ``noise`` is a :class:`~nsp_helpers.noise.NoiseModel` or a
:class:`~nsp_helpers.network.NoisyNetwork` (then the other three are the network's and must be left out).
``sigma_w2=None`` means the critical initialisation, which :func:`critical_parameters` computes (the one
implementation in the package; :class:`~nsp_helpers.network.NoisyNetwork` and
:func:`nsp_helpers.init.critical_init_` use it too).

Introduced in the chapter *Critical initialisation* (``book/critical_init.md``).
"""

from __future__ import annotations

import numpy as np

from ..activations import get_activation
from ..errors import InvalidParameterError, NoCriticalPointError, check_float
from ..network import NoisyNetwork
from ._common import _check_sigma_b2, _check_sigma_w2, _noise_moments, _out
from .quadrature import _kernel

__all__ = ["DEFAULT_SIGMA_B2", "critical_parameters", "critical_weight_variance"]

#: bias variance of the critical initialisation of activations whose noisy edge of chaos needs one (tanh,
#: hard-tanh, callables); Huang et al. (2020) train tanh networks with 0.05
DEFAULT_SIGMA_B2 = 0.05


def _no_critical_point(add_var):
    if np.any(add_var > 0):
        raise NoCriticalPointError(
            "additive noise has no critical initialisation: with ReLU the variance map is "
            "q' = sigma_w2 q/2 + sigma_w2 sigma_eps^2 + sigma_b2, whose slope is 1 only at sigma_w2 = 2, "
            "and there the constant offset sigma_w2 sigma_eps^2 > 0 pushes q up every layer, so q grows "
            "without bound; any sigma_w2 < 2 gives a finite, noise-dominated fixed point and any "
            "sigma_w2 > 2 explodes (Pretorius et al. 2018)"
        )


def critical_parameters(noise, activation="relu", sigma_b2=None):
    r"""The critical :math:`(\sigma_w^2, \sigma_b^2)` of a noise level (or family) and an activation.

    The one implementation of "the critical initialisation": ``sigma_w2=None`` everywhere in the package
    (every theory function, :class:`~nsp_helpers.network.NoisyNetwork`,
    :func:`nsp_helpers.init.critical_init_`) resolves through it.

    * ReLU: :math:`\sigma_w^2 = 2/\mu_2`, :math:`\sigma_b^2 = 0` (exactly ``2 * keep_prob`` for dropout);
    * linear: :math:`\sigma_w^2 = 1/\mu_2`, :math:`\sigma_b^2 = 0`;
    * any other activation: the noisy edge of chaos, the :math:`\sigma_w^2` that maximises the depth
      scale :math:`\xi_c` at the bias variance ``sigma_b2`` (default :data:`DEFAULT_SIGMA_B2`), found by
      :func:`~nsp_helpers.theory.maximise_depth_scale`.

    Introduced in the chapter *Critical initialisation* (``book/critical_init.md``); the noisy edge of chaos
    in *Beyond the paper: a noisy edge of chaos* (``book/edge_of_chaos.md``).

    Parameters
    ----------
    noise : NoiseModel
        Multiplicative noise (or none); a family gives arrays.
    activation : str, Activation or callable, optional
        Default ``"relu"``.
    sigma_b2 : float or None, optional
        Must be 0 or ``None`` for ReLU and linear networks.

    Returns
    -------
    (sigma_w2, sigma_b2)
        Floats, or arrays with the family's shape.

    Raises
    ------
    NoCriticalPointError
        For additive noise.

    Notes
    -----
    With :math:`\sigma_b = 0`, :math:`\mathbb{E}[\mathrm{relu}(\sqrt{q}z)^2] = q/2`, so

    .. math::

       q^{l} = \sigma_w^2 \mu_2\, q^{l-1} / 2 \quad\Longrightarrow\quad
       \sigma_w^2 = \frac{2}{\mu_2}\ \text{keeps } q^l = q^0,

    computed as ``noise.inverse_mu2 / 0.5`` so that dropout gives exactly :math:`2p`.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> critical_parameters(Dropout(keep_prob=0.6))
    (1.2, 0.0)
    >>> critical_parameters(Dropout(keep_prob=[0.5, 1.0]), "linear")
    (array([0.5, 1. ]), 0.0)
    >>> sw2, sb2 = critical_parameters(Dropout(keep_prob=0.9), "tanh")
    >>> round(sw2, 2), sb2
    (1.85, 0.05)
    """
    mu2, add_var = _noise_moments(noise)
    return _critical(noise, add_var, _kernel(activation), activation, sigma_b2)


def _critical(noise, add_var, kern, activation, sigma_b2):
    """:func:`critical_parameters` with the noise's additive variance and the kernel already at hand."""
    if kern.homogeneous:
        if sigma_b2 is not None and check_float("sigma_b2", sigma_b2, 0.0, np.inf) != 0:
            raise InvalidParameterError(
                f"sigma_b2 must be 0 or None for activation={kern.name!r} with sigma_w2=None (critical): the critical "
                f"initialisation has no bias variance, got {sigma_b2}"
            )
        _no_critical_point(add_var)
        return _out(np.asarray(noise.inverse_mu2, dtype=float) / kern.m), 0.0
    _no_critical_point(add_var)
    sb2 = check_float("sigma_b2", DEFAULT_SIGMA_B2 if sigma_b2 is None else sigma_b2, 0.0, np.inf)
    from .edge_of_chaos import maximise_depth_scale  # it calls the maps, which call this module

    ridge = maximise_depth_scale(noise, [sb2], activation=activation)
    sw = np.asarray(ridge.sigma_w2, dtype=float)[..., 0]
    return _out(sw), sb2


def critical_weight_variance(noise, activation="relu"):
    r"""The critical weight variance, :math:`\sigma_w^2 = 2/\mu_2` for a noisy ReLU network.

    At this value (and :math:`\sigma_b = 0`) the variance map has slope one, so the signal variance
    neither explodes nor vanishes with depth (Pretorius et al. 2018). The first element of
    :func:`critical_parameters` (for activations other than ReLU and linear: the noisy edge of chaos at
    :data:`DEFAULT_SIGMA_B2`). Introduced in the chapter *Critical initialisation* (``book/critical_init.md``).

    Parameters
    ----------
    noise : NoiseModel
        Multiplicative noise (or none). May be a family of noise levels.
    activation : str, Activation or callable, optional
        Default ``"relu"``; ``"linear"`` gives :math:`1/\mu_2` (the linear networks of Huang et al. 2020).

    Returns
    -------
    float or numpy.ndarray
        :math:`2/\mu_2` (ReLU) or :math:`1/\mu_2` (linear), with the shape of the noise family.

    Raises
    ------
    NoCriticalPointError
        For additive noise (any member with ``additive_variance > 0``): no :math:`\sigma_w^2` gives
        a finite, depth-independent variance.

    Notes
    -----
    Dropout (:math:`\mu_2 = 1/p`) gives :math:`\sigma_w^2 = 2p`: He initialisation at
    :math:`p = 1`, Xavier (Glorot) at :math:`p = 1/2`.

    References
    ----------
    .. [1] A. Pretorius et al. *Critical initialisation for deep signal propagation in noisy
       rectifier neural networks.* NeurIPS 2018.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout, MultiplicativeGaussian, AdditiveGaussian
    >>> critical_weight_variance(Dropout(keep_prob=0.6))
    1.2
    >>> round(critical_weight_variance(MultiplicativeGaussian(std=0.25)), 10)  # 2 / 1.0625
    1.8823529412
    >>> critical_weight_variance(Dropout(keep_prob=[0.5, 1.0]))
    array([1., 2.])
    >>> critical_weight_variance(AdditiveGaussian(std=1.0))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.NoCriticalPointError: additive noise has no critical initialisation: ...
    """
    return critical_parameters(noise, activation)[0]


def _parameters(noise, sigma_w2, sigma_b2, activation):
    """(noise model, sigma_w2, sigma_b2, activation) from a theory function's arguments, resolved and checked.

    A light version of :func:`nsp_helpers.network.as_network` for the hot paths (no NoisyNetwork is
    built): ``noise`` may be a NoisyNetwork (then ``sigma_w2`` and ``sigma_b2`` must be ``None`` and
    ``activation`` the default or the network's own); ``sigma_w2=None`` is resolved by
    :func:`critical_parameters`; ``sigma_b2=None`` means 0 otherwise. ``sigma_w2`` and ``sigma_b2`` come back
    as float arrays (not broadcast).
    """
    noise, sw, sb, activation, _, _, _ = _resolve_all(noise, sigma_w2, sigma_b2, activation)
    return noise, sw, sb, activation


def _resolve(noise, sigma_w2, sigma_b2, activation):
    """(mu2, additive variance, sigma_w2, sigma_b2, kernel): what the maps read (see :func:`_parameters`)."""
    _, sw, sb, _, mu2, av, kern = _resolve_all(noise, sigma_w2, sigma_b2, activation)
    return mu2, av, sw, sb, kern


def _resolve_all(noise, sigma_w2, sigma_b2, activation):
    if isinstance(noise, NoisyNetwork):
        for name, value in (("sigma_w2", sigma_w2), ("sigma_b2", sigma_b2)):
            if value is not None:
                raise InvalidParameterError(f"{name} must be left out when a NoisyNetwork is given (it has its own)")
        if not (activation is None or (isinstance(activation, str) and activation == "relu")) and (
            get_activation(activation) != noise.activation
        ):
            raise InvalidParameterError("activation must be left out when a NoisyNetwork is given (it has its own)")
        mu2, av = _noise_moments(noise.noise)
        sw, sb = np.asarray(noise.sigma_w2, dtype=float), np.asarray(noise.sigma_b2, dtype=float)
        return noise.noise, sw, sb, noise.activation, mu2, av, _kernel(noise.activation)
    mu2, av = _noise_moments(noise)
    kern = _kernel(activation)
    if sigma_w2 is None:
        sw, sb = _critical(noise, av, kern, activation, sigma_b2)
        sw, sb = np.asarray(sw, dtype=float), np.asarray(sb, dtype=float)
    else:
        sw, sb = _check_sigma_w2(sigma_w2), _check_sigma_b2(0.0 if sigma_b2 is None else sigma_b2)
    return noise, sw, sb, activation, mu2, av, kern
