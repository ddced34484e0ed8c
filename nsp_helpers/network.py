r"""One description of a noisy network, from which its theory, its forward pass and its torch module follow.

A :class:`NoisyNetwork` is what every chapter, every theory function, the simulator, the trainer, the
gradient code and :func:`nsp_helpers.init.critical_init_` agree a noisy network *is*:

.. math::

    h^{l} = W^{l}\,\mathrm{noise}\bigl(\phi(h^{l-1})\bigr) + b^{l}, \qquad l = 1, \dots, L,
    \qquad W^{l}_{ij} \sim \mathcal{N}\!\bigl(0, \sigma_w^2/N_{l-1}\bigr),\quad b^{l}_i \sim \mathcal{N}(0, \sigma_b^2),

where ``noise`` multiplies by :math:`\epsilon` (:math:`\mathbb{E}[\epsilon] = 1`, :math:`\mathbb{E}[\epsilon^2]
= \mu_2`; dropout included) or adds :math:`\epsilon` (additive noise), drawn independently per unit, per
layer, per input and per network. The fields say everything that varies between the book's experiments:

* the noise model, :math:`\sigma_w^2`, :math:`\sigma_b^2` and the activation :math:`\phi` (what the
  mean-field theory reads);
* the width :math:`N`, the number :math:`L` of noisy hidden layers, the input width :math:`N_0` and an
  optional linear read-out layer (what a finite network adds);
* where the noise acts: the inputs are either pre-activations :math:`h^0` that go through
  :math:`\phi` and the noise like every other layer (the theory's convention, ``input_activation=True``),
  or data :math:`x` that enter the first layer as they are (``input_activation=False``, the trainer and the
  variance-depth experiment), with the noise on them or not (``noise_on_input``).

``sigma_w2=None`` means the critical initialisation, resolved once, here, by
:func:`nsp_helpers.theory.critical_parameters`: :math:`2/\mu_2` for ReLU (exactly ``2 * keep_prob`` for
dropout), :math:`1/\mu_2` for a linear network, the noisy edge of chaos (the :math:`\sigma_w^2` that
maximises :math:`\xi_c`) otherwise. Arrays in ``noise``, ``sigma_w2`` or ``sigma_b2`` make a *family* of
networks; theory methods broadcast over it and the simulator runs its members one after another.

Three views of one definition (as a layer of neural-tangents' ``stax`` gives both a finite network and its
kernel):

* **mean field**: :meth:`NoisyNetwork.variance_map`, :meth:`~NoisyNetwork.correlation_map`, fixed points,
  slopes, depth scales (all delegated to :mod:`nsp_helpers.theory`);
* **a forward pass**: :meth:`NoisyNetwork.forward` (random weights drawn for the call; see
  :mod:`nsp_helpers.forward`, the one place that implements it);
* **a torch module**: :meth:`NoisyNetwork.module`, a :class:`nsp_helpers.forward.NoisyMLP` whose
  parameters are the same weights for the same seed.

Introduced in the chapter *Noisy networks* (``book/noisy_networks.md``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .activations import get_activation
from .errors import InvalidParameterError, check_in_range, check_int
from .noise import NoiseModel, NoNoise, as_noise_model

__all__ = ["NoisyNetwork", "as_network", "WEIGHT_KINDS"]

#: how weight matrices may be drawn (the ``weights`` field of :class:`NoisyNetwork`)
WEIGHT_KINDS = ("gaussian", "orthogonal")


class _IndexOutOfRange(InvalidParameterError, IndexError):
    """An index beyond a family (an InvalidParameterError that is also the IndexError sequences raise)."""


def _scalar_or_array(x):
    x = np.asarray(x, dtype=float)
    return float(x) if x.ndim == 0 else x


@dataclass(frozen=True, eq=False)
class NoisyNetwork:
    r"""A (family of) noisy fully connected network(s).

    Parameters
    ----------
    noise : NoiseModel or torch.nn.Dropout, optional
        Noise after every activation (default :class:`~nsp_helpers.noise.NoNoise`). A ``torch.nn.Dropout``
        is converted from its *drop* probability. May be a family of noise levels.
    sigma_w2 : float, array_like or None, optional
        Weight variance :math:`\sigma_w^2` (weights :math:`\mathcal{N}(0, \sigma_w^2/\mathrm{fan\_in})`).
        ``None`` (default): the critical value (:func:`nsp_helpers.theory.critical_parameters`).
    sigma_b2 : float, array_like or None, optional
        Bias variance :math:`\sigma_b^2`. ``None`` (default): 0, except for the critical initialisation of
        an activation other than ReLU and linear, whose noisy edge of chaos needs a bias
        (:data:`nsp_helpers.theory.DEFAULT_SIGMA_B2`, 0.05).
    activation : str, Activation or callable, optional
        Default ``"relu"`` (see :func:`nsp_helpers.activations.get_activation`).
    width : int, >= 1, optional
        Units :math:`N` of every hidden layer (default 1000, the paper's).
    n_layers : int, >= 0, optional
        Noisy hidden layers :math:`L` (default 1).
    input_width : int or None, optional
        Units :math:`N_0` of the input (default: ``width``).
    output_width : int or None, optional
        Width of a linear read-out layer after the last hidden layer (``None``, the default: no read-out;
        the trainer's networks have one).
    input_activation : bool, optional
        ``True`` (default): inputs are pre-activations :math:`h^0`, passed through :math:`\phi` and the
        noise like every other layer (the mean-field convention). ``False``: inputs are data :math:`x`,
        fed to the first layer without :math:`\phi`.
    noise_on_input : bool, optional
        Apply the noise to the first layer's input too (default ``True``, as in both papers).
    weights : {"gaussian", "orthogonal"}, optional
        How weight matrices are drawn (:func:`nsp_helpers.forward.draw_weights_`): independent Gaussian
        entries (default), or a random matrix with orthonormal rows or columns scaled so that its
        entries have the same mean square :math:`\sigma_w^2/N_{l-1}` (Huang et al.'s trainable-length
        experiments use both). The mean-field maps are the same for both; the exact Gram-matrix sampler
        (``method="gram"``) needs Gaussian weights.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> net = NoisyNetwork(Dropout(keep_prob=0.6))            # critical: sigma_w2 = 2 * keep_prob
    >>> net.sigma_w2, net.sigma_b2, net.critical
    (1.2, 0.0, True)
    >>> net.variance_map(4.0)                                  # q is preserved at criticality
    4.0
    >>> round(net.depth_scale(), 4)                           # xi_c = -1 / ln chi(c*)
    0.9655
    >>> NoisyNetwork(Dropout(keep_prob=[0.5, 1.0])).sigma_w2   # a family
    array([1., 2.])
    """

    noise: NoiseModel = dataclasses.field(default_factory=NoNoise)
    sigma_w2: object = None
    sigma_b2: object = None
    activation: object = "relu"
    width: int = 1000
    n_layers: int = 1
    input_width: int | None = None
    output_width: int | None = None
    input_activation: bool = True
    noise_on_input: bool = True
    weights: str = "gaussian"
    #: whether ``sigma_w2`` was chosen as the critical value (set by the constructor)
    critical: bool = dataclasses.field(default=False, init=False)

    def __post_init__(self):
        from . import theory  # theory imports this module; import it lazily

        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731  (frozen dataclass)
        set_("noise", as_noise_model(self.noise, allow_family=True))
        set_("activation", get_activation(self.activation))
        set_("width", check_int("width", self.width, 1))
        set_("n_layers", check_int("n_layers", self.n_layers, 0))
        set_("input_width", self.width if self.input_width is None else check_int("input_width", self.input_width, 1))
        if self.output_width is not None:
            set_("output_width", check_int("output_width", self.output_width, 1))
        for flag in ("input_activation", "noise_on_input"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise InvalidParameterError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
            set_(flag, bool(getattr(self, flag)))
        if self.weights not in WEIGHT_KINDS:
            raise InvalidParameterError(f"weights must be one of {', '.join(map(repr, WEIGHT_KINDS))}, got {self.weights!r}")
        if self.sigma_w2 is None:
            sigma_w2, sigma_b2 = theory.critical_parameters(self.noise, self.activation, self.sigma_b2)
            set_("critical", True)
        else:
            sigma_w2 = check_in_range("sigma_w2", self.sigma_w2, 0.0, np.inf, low_open=True)
            sigma_b2 = 0.0 if self.sigma_b2 is None else check_in_range("sigma_b2", self.sigma_b2, 0.0, np.inf)
        set_("sigma_w2", _scalar_or_array(sigma_w2))
        set_("sigma_b2", _scalar_or_array(sigma_b2))
        try:
            family = np.broadcast_shapes(self.noise.shape, np.shape(self.sigma_w2), np.shape(self.sigma_b2))
        except ValueError:
            raise InvalidParameterError(
                f"noise (shape {self.noise.shape}), sigma_w2 (shape {np.shape(self.sigma_w2)}) and sigma_b2 "
                f"(shape {np.shape(self.sigma_b2)}) must broadcast to one family shape"
            ) from None
        if 0 in family:
            raise InvalidParameterError(
                f"noise (shape {self.noise.shape}), sigma_w2 (shape {np.shape(self.sigma_w2)}) and sigma_b2 "
                f"(shape {np.shape(self.sigma_b2)}) make an empty family: give at least one value of each"
            )

    # --- constructors ------------------------------------------------------------------------------
    @classmethod
    def critical_for(cls, noise=None, activation="relu", sigma_b2=None, **fields) -> "NoisyNetwork":
        """The critically initialised network for ``noise`` and ``activation`` (``sigma_w2=None``).

        Examples
        --------
        >>> from nsp_helpers.noise import Dropout
        >>> NoisyNetwork.critical_for(Dropout(keep_prob=0.8), width=64, n_layers=3).sigma_w2
        1.6
        """
        return cls(NoNoise() if noise is None else noise, None, sigma_b2, activation, **fields)

    def replace(self, **changes) -> "NoisyNetwork":
        """A copy with some fields changed (``sigma_w2`` is re-resolved only if it is among them).

        Examples
        --------
        >>> from nsp_helpers.noise import Dropout
        >>> NoisyNetwork(Dropout(0.6)).replace(n_layers=10).n_layers
        10
        """
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        if self.critical and "sigma_w2" not in changes and {"noise", "activation", "sigma_b2"} & set(changes):
            fields["sigma_w2"] = None  # still critical for the new noise or activation
        fields.update(changes)
        return type(self)(**fields)

    # --- what the theory reads ----------------------------------------------------------------------
    @property
    def mu2(self):
        r""":math:`\mu_2 = \mathbb{E}[\epsilon^2]` of the noise (1 for additive noise or none)."""
        return self.noise.mu2

    @property
    def additive_variance(self):
        r"""Variance :math:`\sigma_\epsilon^2` of additive noise (0 otherwise)."""
        return self.noise.additive_variance

    @property
    def shape(self) -> tuple[int, ...]:
        """Family shape: the broadcast shape of ``noise``, ``sigma_w2`` and ``sigma_b2`` (``()``: one network)."""
        return np.broadcast_shapes(self.noise.shape, np.shape(self.sigma_w2), np.shape(self.sigma_b2))

    def __len__(self) -> int:
        if self.shape == ():
            raise TypeError("a single network description has no len()")
        return self.shape[0]

    def __getitem__(self, index) -> "NoisyNetwork":
        """Select members of a 1-D family: ``NoisyNetwork(Dropout([0.5, 0.8]))[1]``."""
        if len(self.shape) != 1:
            raise InvalidParameterError(f"only a 1-D family can be indexed, this one has shape {self.shape}")
        shape = self.shape
        if not isinstance(index, slice):
            index = check_int("index", index, -(2**63), 2**63 - 1)
            if not -shape[0] <= index < shape[0]:  # an IndexError too: iteration by indexing stops there
                raise _IndexOutOfRange(f"index must be in [{-shape[0]}, {shape[0] - 1}] for a family of {shape[0]}, got {index}")
        noise = self.noise[index] if self.noise.shape else self.noise
        sw = np.broadcast_to(self.sigma_w2, shape)[index]
        sb = np.broadcast_to(self.sigma_b2, shape)[index]
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        fields.update(noise=noise, sigma_w2=sw, sigma_b2=sb)
        out = type(self)(**fields)
        object.__setattr__(out, "critical", self.critical)
        return out

    def members(self) -> list["NoisyNetwork"]:
        """The members of a family one by one (``[self]`` for a single network)."""
        if self.shape == ():
            return [self]
        if len(self.shape) != 1:
            raise InvalidParameterError(f"only 1-D families have members, this one has shape {self.shape}")
        return [self[i] for i in range(self.shape[0])]

    @property
    def widths(self) -> tuple[int, ...]:
        """Units per layer, input first: ``(N_0, N, ..., N[, output_width])``."""
        out = (self.input_width,) + (self.width,) * self.n_layers
        return out + ((self.output_width,) if self.output_width is not None else ())

    @property
    def label(self) -> str:
        """A short description for legends, e.g. ``"dropout, keep p = 0.6, critical"``."""
        text = self.noise.label
        if self.activation.name != "relu":
            text = f"{self.activation.name}, {text}"
        if self.weights != "gaussian":
            text = f"{text}, {self.weights} weights"
        if self.critical:
            return f"{text}, critical"
        if self.shape == ():
            text += f", σ_w² = {float(self.sigma_w2):.4g}"
            if float(self.sigma_b2) > 0:
                text += f", σ_b² = {float(self.sigma_b2):.4g}"
        return text

    def __repr__(self) -> str:
        def show(name):
            value = getattr(self, name)
            return repr(value.name) if name == "activation" else repr(value)

        fields = ", ".join(f"{f.name}={show(f.name)}" for f in dataclasses.fields(self) if f.init)
        return f"NoisyNetwork({fields})"

    def __eq__(self, other) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name))
            if f.name in ("sigma_w2", "sigma_b2")
            else getattr(self, f.name) == getattr(other, f.name)
            for f in dataclasses.fields(self)
        )

    __hash__ = None

    # --- the mean-field view ------------------------------------------------------------------------
    # Each method is the theory function of the same name with this network in place of (noise, sigma_w2,
    # sigma_b2, activation): ``net.variance_map(q) == theory.variance_map(q, net.noise, net.sigma_w2,
    # net.sigma_b2, net.activation)``, bit for bit (tests/test_theory.py checks it across settings).
    def variance_map(self, q):
        r""":math:`q^l = \mathcal{V}(q^{l-1})`, see :func:`nsp_helpers.theory.variance_map` (chapter *The variance map*).

        Examples
        --------
        >>> from nsp_helpers.noise import Dropout
        >>> NoisyNetwork(Dropout(0.8), sigma_w2=2.0).variance_map([1.0, 4.0])  # 2 * 1.25 / 2 = 1.25 per layer
        array([1.25, 5.  ])
        """
        from . import theory

        return theory.variance_map(q, self)

    def variance_slope(self, q=None):
        r""":math:`\partial q^l/\partial q^{l-1}` (at :math:`q^*` by default), see :func:`nsp_helpers.theory.variance_slope`.

        Examples
        --------
        >>> from nsp_helpers.noise import Dropout
        >>> NoisyNetwork(Dropout(0.8), sigma_w2=2.0).variance_slope(), NoisyNetwork(Dropout(0.8)).variance_slope()
        (1.25, 1.0)
        """
        from . import theory

        return theory.variance_slope(self, q=q)

    def variance_fixed_point(self, q0=1.0):
        r""":math:`q^*` reached from ``q0``, see :func:`nsp_helpers.theory.variance_fixed_point`.

        Examples
        --------
        >>> from nsp_helpers.noise import AdditiveGaussian
        >>> NoisyNetwork(AdditiveGaussian(std=1.0), sigma_w2=1.0).variance_fixed_point()  # 1 / (1 - 1/2)
        2.0
        """
        from . import theory

        return theory.variance_fixed_point(self, q0=q0)

    def iterate_variance(self, q0, n_layers=None):
        r""":math:`q^0, \dots, q^L` (``n_layers`` defaults to the network's); see :func:`nsp_helpers.theory.iterate_variance`.

        Examples
        --------
        >>> from nsp_helpers.noise import Dropout
        >>> NoisyNetwork(Dropout(0.8), sigma_w2=2.0, n_layers=3).iterate_variance(1.0)
        array([1.      , 1.25    , 1.5625  , 1.953125])
        """
        from . import theory

        return theory.iterate_variance(q0, self.n_layers if n_layers is None else n_layers, self)

    def correlation_map(self, c, q=None):
        r""":math:`c^l = \mathcal{C}(c^{l-1})`, see :func:`nsp_helpers.theory.correlation_map` (``q=None``: the variance
        fixed point). Chapter *Correlations*.

        Examples
        --------
        >>> from nsp_helpers.noise import Dropout
        >>> NoisyNetwork(Dropout(0.6)).correlation_map(1.0)  # critical ReLU: 1 / mu2 = keep_prob
        0.6
        """
        from . import theory

        return theory.correlation_map(c, self, q=q)

    def correlation_slope(self, c=None, q=None):
        r""":math:`\chi(c)`, at :math:`c^*` by default; see :func:`nsp_helpers.theory.correlation_slope`.

        Examples
        --------
        >>> from nsp_helpers.noise import Dropout
        >>> round(NoisyNetwork(Dropout(0.6)).correlation_slope(), 4)  # chi(c*) < 1: correlations converge
        0.355
        """
        from . import theory

        return theory.correlation_slope(self.correlation_fixed_point() if c is None else c, self, q=q)

    def correlation_fixed_point(self):
        r"""The stable :math:`c^*`, see :func:`nsp_helpers.theory.correlation_fixed_point`.

        Examples
        --------
        >>> from nsp_helpers.noise import Dropout
        >>> round(NoisyNetwork(Dropout(0.6)).correlation_fixed_point(), 6)
        0.283909
        """
        from . import theory

        return theory.correlation_fixed_point(self)

    def iterate_correlation(self, c0, n_layers=None, q0=None):
        r""":math:`c^0, \dots, c^L` (``n_layers`` defaults to the network's); see
        :func:`nsp_helpers.theory.iterate_correlation`.

        Examples
        --------
        >>> from nsp_helpers.noise import Dropout
        >>> NoisyNetwork(Dropout(0.6), n_layers=2).iterate_correlation(0.0).round(4)
        array([0.    , 0.191 , 0.2518])
        """
        from . import theory

        return theory.iterate_correlation(c0, self.n_layers if n_layers is None else n_layers, self, q0=q0)

    def depth_scale(self):
        r""":math:`\xi_c = -1/\ln\chi(c^*)`, see :func:`nsp_helpers.theory.depth_scale` (chapter *Depth scales*).

        Examples
        --------
        >>> from nsp_helpers.noise import Dropout, NoNoise
        >>> round(NoisyNetwork(Dropout(0.6)).depth_scale(), 4), NoisyNetwork(NoNoise()).depth_scale()
        (0.9655, inf)
        """
        from . import theory

        return theory.depth_scale(self)

    def gradient_slope(self):
        r""":math:`\chi_1`, see :func:`nsp_helpers.theory.gradient_slope` (chapter *Backpropagation*).

        Examples
        --------
        >>> from nsp_helpers.noise import Dropout
        >>> round(NoisyNetwork(Dropout(0.9), 1.4, 0.1, "tanh").gradient_slope(), 4)
        0.8937
        """
        from . import theory

        return theory.gradient_slope(self)

    def gradient_depth_scale(self):
        r""":math:`\xi_1 = 1/|\ln\chi_1|`, see :func:`nsp_helpers.theory.gradient_depth_scale`.

        Examples
        --------
        >>> from nsp_helpers.noise import Dropout
        >>> NoisyNetwork(Dropout(0.6)).gradient_depth_scale()  # critical ReLU: chi_1 = 1
        inf
        """
        from . import theory

        return theory.gradient_depth_scale(self)

    # --- the finite-network views (torch) ----------------------------------------------------------
    def module(self, *, seed: int = 0, n_networks: int = 1, device=None, dtype=None):
        """A torch module holding ``n_networks`` independent draws of this network (:class:`nsp_helpers.forward.NoisyMLP`).

        Its weights are those :meth:`forward` and the simulator draw for the same ``seed``.
        """
        from .forward import NoisyMLP

        return NoisyMLP.from_network(self, seed=seed, n_networks=n_networks, device=device, dtype=dtype)

    def forward(self, x, *, seed: int = 0, n_networks: int = 1, train: bool = True, device=None, dtype=None,
                keep_preactivations: bool = True):
        """Pass ``x`` through ``n_networks`` freshly drawn networks; see :func:`nsp_helpers.forward.forward`."""
        from .forward import forward

        return forward(self, x, seed=seed, n_networks=n_networks, train=train, device=device, dtype=dtype,
                       keep_preactivations=keep_preactivations)


def as_network(noise=None, sigma_w2=None, sigma_b2=None, activation=None, **fields) -> NoisyNetwork:
    """Normalise the arguments of a theory or simulation function into one :class:`NoisyNetwork`.

    ``noise`` may already be a :class:`NoisyNetwork`; then ``sigma_w2``, ``sigma_b2`` and ``activation``
    must be left out (they are the network's), and ``fields`` (width, depth, ...) replace the network's.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> as_network(Dropout(0.6), 1.0).sigma_w2
    1.0
    >>> net = NoisyNetwork(Dropout(0.6))
    >>> as_network(net) is net
    True
    >>> as_network(net, sigma_w2=1.0)
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: sigma_w2 must be left out when a NoisyNetwork is given (it has its own)
    """
    if isinstance(noise, NoisyNetwork):
        for name, value in (("sigma_w2", sigma_w2), ("sigma_b2", sigma_b2), ("activation", activation)):
            if value is not None:
                raise InvalidParameterError(f"{name} must be left out when a NoisyNetwork is given (it has its own)")
        return noise.replace(**fields) if fields else noise
    if noise is not None and not isinstance(noise, NoiseModel) and not hasattr(noise, "p"):
        raise InvalidParameterError(
            "noise must be a NoisyNetwork or a nsp_helpers.noise.NoiseModel such as NoNoise(), "
            f"Dropout(keep_prob=0.6) or AdditiveGaussian(std=1.0), got {noise!r}"
        )
    return NoisyNetwork(NoNoise() if noise is None else noise, sigma_w2, sigma_b2,
                        "relu" if activation is None else activation, **fields)

