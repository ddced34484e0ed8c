r"""Noise-aware initialisation for PyTorch models: a companion to :mod:`torch.nn.init`.

:func:`critical_init_` draws weights :math:`W_{ij} \sim \mathcal{N}(0, \sigma_w^2/\text{fan\_in})` with the
*critical* weight variance of a network whose layers see noise with second moment :math:`\mu_2`:

* ReLU: :math:`\sigma_w^2 = 2/\mu_2`, :math:`\sigma_b = 0` (Pretorius et al. 2018). For dropout with keep
  probability :math:`p` this is :math:`\sigma_w^2 = 2p`: He initialisation at :math:`p = 1`, Xavier's
  :math:`\sigma_w^2 = 1` at :math:`p = 0.5`.
* linear: :math:`\sigma_w^2 = 1/\mu_2`, :math:`\sigma_b = 0`.
* other activations (``"tanh"``, callables): the noisy edge of chaos, the :math:`\sigma_w^2` that maximises
  the correlation depth scale :math:`\xi_c` at the given bias variance
  (:func:`nsp_helpers.theory.maximise_depth_scale`).

:func:`critical_gain` returns :math:`\sigma_w`, in the spirit of :func:`torch.nn.init.calculate_gain`
(``std = gain / sqrt(fan_in)``).

The noise can be given as a :class:`~nsp_helpers.noise.NoiseModel` or as a ``torch.nn.Dropout`` module.
**torch's ``Dropout(p)`` takes the DROP probability**; it is converted to the keep probability
``1 - p`` here, so ``nn.Dropout(p=0.4)`` means keep probability 0.6 and :math:`\sigma_w^2 = 1.2` for ReLU.
A bare number is refused, because it is ambiguous between the two conventions.

Introduced in the chapter *Backpropagation through noisy networks* (``book/gradients.md``), section
"Using it in your own model".
"""

from __future__ import annotations

import math

from . import theory
from .activations import get_activation
from .errors import InvalidParameterError
from .network import NoisyNetwork
from .noise import as_noise_model

__all__ = ["as_noise_model", "critical_gain", "critical_init_", "critical_parameters"]

#: bias variance used for activations whose critical point needs one (tanh); Huang et al. (2020) use 0.05
DEFAULT_SIGMA_B2 = theory.DEFAULT_SIGMA_B2


def critical_parameters(noise=None, activation="relu", sigma_b2=None) -> tuple[float, float]:
    r"""The critical :math:`(\sigma_w^2, \sigma_b^2)` for a noise level and an activation.

    The critically initialised :class:`~nsp_helpers.network.NoisyNetwork` for one noise level given as a
    :class:`~nsp_helpers.noise.NoiseModel`, a ``torch.nn.Dropout`` or ``None``
    (:func:`nsp_helpers.theory.critical_parameters`, the one implementation), as floats. A
    ``NoisyNetwork`` may be given instead: its own :math:`(\sigma_w^2, \sigma_b^2)` are returned.

    Parameters
    ----------
    noise : NoiseModel, torch.nn.Dropout, NoisyNetwork or None
        The noise applied to each layer's input (``None``: no noise).
    activation : str, Activation or callable, default "relu"
    sigma_b2 : float, optional
        Bias variance. ReLU and linear: must be 0 or ``None`` (criticality needs :math:`\sigma_b = 0`).
        Other activations: default ``DEFAULT_SIGMA_B2`` (0.05).

    Returns
    -------
    (sigma_w2, sigma_b2) : tuple of float

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> critical_parameters(Dropout(keep_prob=0.6))
    (1.2, 0.0)
    >>> sw2, sb2 = critical_parameters(Dropout(keep_prob=0.9), "tanh")
    >>> round(sw2, 2), sb2
    (1.85, 0.05)
    """
    net = _network(noise, activation, sigma_b2)
    return float(net.sigma_w2), float(net.sigma_b2)


def _network(noise, activation, sigma_b2) -> NoisyNetwork:
    if isinstance(noise, NoisyNetwork):
        if noise.shape != ():
            raise InvalidParameterError(f"noise must be a single network to initialise a model, got a family {noise!r}")
        if sigma_b2 is not None or (activation != "relu" and get_activation(activation) != noise.activation):
            raise InvalidParameterError("activation and sigma_b2 must be left out when a NoisyNetwork is given")
        return noise
    return NoisyNetwork.critical_for(as_noise_model(noise), activation, sigma_b2)


def critical_gain(noise=None, activation="relu", sigma_b2=None) -> float:
    r"""The gain :math:`\sigma_w` of the critical initialisation (``std = gain / sqrt(fan_in)``).

    Like :func:`torch.nn.init.calculate_gain`, but aware of the noise: for ReLU and dropout with keep
    probability :math:`p` it is :math:`\sqrt{2p}` (torch's ReLU gain :math:`\sqrt{2}` is the case :math:`p = 1`).

    Examples
    --------
    >>> import torch
    >>> round(critical_gain(torch.nn.Dropout(p=0.5)), 6)    # keep 0.5: Xavier's sigma_w = 1
    1.0
    >>> round(critical_gain(None), 6) == round(torch.nn.init.calculate_gain("relu"), 6)
    True
    """
    sigma_w2, _ = critical_parameters(noise, activation, sigma_b2)
    return math.sqrt(sigma_w2)


def critical_init_(tensor_or_module, noise=None, activation="relu", *, sigma_b2=None, generator=None):
    r"""Initialise in place with the critical, noise-aware variance; returns its argument.

    Parameters
    ----------
    tensor_or_module : torch.Tensor or torch.nn.Module
        A weight tensor (fan-in mode, as :func:`torch.nn.init.kaiming_normal_`), or a module: every
        ``torch.nn.Linear`` inside it gets critical weights and biases drawn from
        :math:`\mathcal{N}(0, \sigma_b^2)` (zero for ReLU). Other layers are left alone.
    noise : NoiseModel, torch.nn.Dropout or None
        The noise in front of each layer. ``torch.nn.Dropout(p)``: ``p`` is the DROP probability.
    activation : str, Activation or callable, default "relu"
    sigma_b2 : float, optional
        See :func:`critical_parameters`.
    generator : torch.Generator, optional
        For reproducible draws.

    Returns
    -------
    The same tensor or module.

    Examples
    --------
    >>> import torch
    >>> layer = torch.nn.Linear(1000, 1000)
    >>> _ = critical_init_(layer, torch.nn.Dropout(p=0.4), generator=torch.Generator().manual_seed(0))
    >>> round(layer.weight.var().item() * 1000, 1), layer.bias.abs().max().item()   # sigma_w2 = 2 * 0.6
    (1.2, 0.0)
    """
    import torch

    if generator is not None and not isinstance(generator, torch.Generator):
        raise InvalidParameterError(f"generator must be None or a torch.Generator, got {generator!r}")
    sigma_w2, sb2 = critical_parameters(noise, activation, sigma_b2)
    if isinstance(tensor_or_module, torch.nn.Module):
        linears = [m for m in tensor_or_module.modules() if isinstance(m, torch.nn.Linear)]
        if not linears:
            raise InvalidParameterError(f"tensor_or_module contains no torch.nn.Linear layer: {type(tensor_or_module).__name__}")
        for layer in linears:
            _normal_fan_in_(layer.weight, sigma_w2, generator)
            if layer.bias is not None:
                with torch.no_grad():
                    if sb2 == 0.0:
                        layer.bias.zero_()
                    else:
                        layer.bias.normal_(0.0, math.sqrt(sb2), generator=generator)
        return tensor_or_module
    if isinstance(tensor_or_module, torch.Tensor):
        return _normal_fan_in_(tensor_or_module, sigma_w2, generator)
    raise InvalidParameterError(
        f"tensor_or_module must be a torch.Tensor or torch.nn.Module, got {type(tensor_or_module).__name__}"
    )


def _normal_fan_in_(tensor, sigma_w2: float, generator):
    import torch

    if tensor.dim() < 2:
        raise InvalidParameterError(f"a weight tensor needs at least 2 dimensions to have a fan-in, got shape {tuple(tensor.shape)}")
    fan_in = tensor[0].numel()  # in_features (times the kernel size for convolutions)
    with torch.no_grad():
        return tensor.normal_(0.0, math.sqrt(sigma_w2 / fan_in), generator=generator)
