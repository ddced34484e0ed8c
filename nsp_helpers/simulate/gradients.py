r"""Gradients of wide random noisy networks with tied weights (torch, any device).

The gradient independence assumption (GIA) of mean-field theory treats the weights of the backward
pass as if they were drawn independently of the forward ones. Huang et al. (2020) measured gradient
statistics in dropout networks *without* it, by ordinary backpropagation through the same weights.
This module does that measurement (and, for comparison, the same measurement with independent
backward weights), for random networks of the book's model

.. math::

    h^{l} = W^{l}\,(\epsilon^{l-1} \odot \phi(h^{l-1})) + b^{l}, \quad l = 1, \dots, L,
    \qquad \mathcal{L}_a = \tfrac12 \lVert h^{L}_a \rVert^2,

with :math:`W^l_{ij} \sim \mathcal{N}(0, \sigma_w^2/N)`, :math:`b^l_i \sim \mathcal{N}(0, \sigma_b^2)`,
inputs :math:`h^0_a \sim \mathcal{N}(0, I_N)` and noise drawn independently per unit, layer, input and
network (the two inputs of a pair get *independent* dropout masks). The loss is the squared error to
a zero target; Huang et al.'s mean squared error differs by the constant factor :math:`2/N`, which
scales every statistic below alike and changes no slope.

==============================================  ===================================================
function                                        what
==============================================  ===================================================
:func:`gradient_statistics`                     per-layer :math:`g_{aa}`, :math:`g_{ab}`, mean
                                                :math:`|\partial_W\mathcal{L}_a \odot \partial_W\mathcal{L}_b|`
:func:`universality`                            variance against mean over initialisations
:func:`preactivation_second_moments`            :math:`q^l` through any ``torch.nn`` model (hooks)
==============================================  ===================================================

The mean-field side (:math:`\chi_1`, :math:`\chi(c^*)`, the linear closed forms) lives in
:mod:`nsp_helpers.theory`; which depth-scale rule matches a trainable-depth grid in
:mod:`nsp_helpers.analysis`.

Backward pass and gradient statistics
-------------------------------------
With :math:`\delta^l = \partial\mathcal{L}/\partial h^l` and :math:`x^{l-1} = \epsilon^{l-1}\odot\phi(h^{l-1})`,
the chain rule through :math:`h^{l+1} = W^{l+1}x^{l} + b^{l+1}` gives

.. math::

    \delta^{L} = h^{L}, \qquad
    \delta^{l} = \epsilon^{l} \odot \phi'(h^{l}) \odot (W^{l+1})^\top \delta^{l+1}, \qquad
    \frac{\partial \mathcal{L}}{\partial W^{l}} = \delta^{l}\, (x^{l-1})^\top .

For one input the weight gradient is an outer product, so its entrywise averages factorise
*exactly* (no approximation):

.. math::

    g^l_{aa} = \overline{(\partial_{W^l}\mathcal{L}_a)^2} = \overline{(\delta^l_a)^2}\;\overline{(x^{l-1}_a)^2},\quad
    g^l_{ab} = \overline{\partial_{W^l}\mathcal{L}_a\, \partial_{W^l}\mathcal{L}_b}
             = \overline{\delta^l_a\delta^l_b}\;\overline{x^{l-1}_a x^{l-1}_b},\quad
    \overline{|\partial_{W^l}\mathcal{L}_a\, \partial_{W^l}\mathcal{L}_b|}
             = \overline{|\delta^l_a\delta^l_b|}\;\overline{|x^{l-1}_a x^{l-1}_b|},

where a bar is the mean over units. :func:`gradient_statistics` runs the package's one forward pass
(:func:`nsp_helpers.forward.forward`, with an autograd graph), obtains :math:`\delta^l` by plain autograd
through it (``backward="tied"``) and uses these identities, so it never stores an :math:`N\times N`
gradient per input (the tests check the identities against autograd's own ``W.grad``).

Introduced in the chapter *Backpropagation through noisy networks* (``book/gradients.md``).

References
----------
.. [1] W. Huang, R. Y. D. Xu, W. Du, Y. Zeng, Y. Zhao. *Mean field theory for deep dropout networks:
   digging up gradient backpropagation deeply.* ECAI 2020 (Frontiers in Artificial Intelligence and
   Applications 325), pp. 1215-1222, arXiv:1912.09132.
.. [2] S. S. Schoenholz, J. Gilmer, S. Ganguli, J. Sohl-Dickstein. *Deep information propagation.*
   ICLR 2017.
.. [3] G. Yang. *Scaling limits of wide neural networks with weight sharing: Gaussian process
   behavior, gradient independence, and neural tangent kernel derivation.* arXiv:1902.04760, 2019.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import _random
from ..device import resolve_device
from ..errors import InvalidParameterError, as_real_tensor, caller_sizes, check_bool, check_int, check_memory
from ..fits import LogDecayFit, fit_log_decay
from ..forward import draw_weights_, forward, network_seeds
from ..network import NoisyNetwork, as_network
from ..noise import NoiseModel

__all__ = [
    "GradientStatistics",
    "UniversalityFit",
    "gradient_statistics",
    "universality",
    "preactivation_second_moments",
    "STATISTICS",
]

#: the three per-layer gradient statistics of Huang et al. (attribute names of GradientStatistics)
STATISTICS = ("g_aa", "g_ab", "abs_ab")

#: default bound on the memory of the weights kept for one chunk of networks (bytes)
DEFAULT_CHUNK_BYTES = 512 * 2**20


def _check_statistic(statistic: str) -> str:
    if statistic not in STATISTICS:
        raise InvalidParameterError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
    return statistic


# ------------------------------------------------------------------------------------------------
# results
# ------------------------------------------------------------------------------------------------
@dataclass
class GradientStatistics:
    r"""What :func:`gradient_statistics` measured, layer by layer.

    Layer :math:`l = 1, \dots, L` is index ``l - 1`` of every array (see :attr:`layers`).

    Attributes
    ----------
    g_aa : numpy.ndarray, shape ``(n_layers, n_networks, 2 * n_pairs)``
        :math:`\overline{(\partial\mathcal{L}_a/\partial W^l)^2}` for every input (float64).
    g_ab : numpy.ndarray, shape ``(n_layers, n_networks, n_pairs)``
        :math:`\overline{(\partial\mathcal{L}_a/\partial W^l)(\partial\mathcal{L}_b/\partial W^l)}`
        for every pair (signed).
    abs_ab : numpy.ndarray, shape ``(n_layers, n_networks, n_pairs)``
        :math:`\overline{|(\partial\mathcal{L}_a/\partial W^l)(\partial\mathcal{L}_b/\partial W^l)|}`.
    q_aa, q_ab : numpy.ndarray
        Forward moments :math:`\overline{(h^l_a)^2}` (per input) and :math:`\overline{h^l_a h^l_b}`
        (per pair), same layout.
    delta_aa, delta_ab : numpy.ndarray
        Backward moments :math:`\overline{(\delta^l_a)^2}` and :math:`\overline{\delta^l_a\delta^l_b}`.
    network : NoisyNetwork
        The network measured (``sigma_w2``, ``sigma_b2``, ``noise``, ``activation`` and ``width`` are
        read from it).
    backward : str
        ``"tied"`` (autograd through the forward weights) or ``"independent"`` (the GIA).
    device : str
    tensors : dict or None
        With ``keep_tensors=True``: ``inputs`` ``(n_networks, n_inputs, N)``, ``weights`` and
        ``biases`` (lists over layers of ``(n_networks, N, N)`` / ``(n_networks, N)``), ``noise``
        (list over layers :math:`l = 0 \dots L-1` of :math:`\epsilon^l`, ``(n_networks, n_inputs, N)``) and
        ``preactivations`` (:math:`h^0, \dots, h^L`).
    """

    g_aa: np.ndarray
    g_ab: np.ndarray
    abs_ab: np.ndarray
    q_aa: np.ndarray
    q_ab: np.ndarray
    delta_aa: np.ndarray
    delta_ab: np.ndarray
    network: NoisyNetwork
    backward: str = "tied"
    device: str = "cpu"
    tensors: dict | None = field(default=None, repr=False)

    @property
    def sigma_w2(self) -> float:
        return float(self.network.sigma_w2)

    @property
    def sigma_b2(self) -> float:
        return float(self.network.sigma_b2)

    @property
    def noise(self) -> NoiseModel:
        return self.network.noise

    @property
    def activation(self) -> str:
        return self.network.activation.name

    @property
    def width(self) -> int:
        return self.network.width

    @property
    def n_layers(self) -> int:
        """Number of layers :math:`L`."""
        return self.g_aa.shape[0]

    @property
    def n_networks(self) -> int:
        """Number of independent initialisations."""
        return self.g_aa.shape[1]

    @property
    def layers(self) -> np.ndarray:
        """Layer indices :math:`1, \\dots, L`."""
        return np.arange(1, self.n_layers + 1)

    def per_network(self, statistic: str = "g_aa") -> np.ndarray:
        """One value per layer and network: the mean over the inputs (or pairs) of one network.

        Returns an array of shape ``(n_layers, n_networks)``.
        """
        return getattr(self, _check_statistic(statistic)).mean(axis=-1)

    def mean(self, statistic: str = "g_aa") -> np.ndarray:
        """The mean over networks and inputs (or pairs), one value per layer."""
        return self.per_network(statistic).mean(axis=-1)

    def magnitude(self, statistic: str = "g_aa") -> np.ndarray:
        r"""Typical size per layer: :meth:`mean` for ``g_aa`` and ``abs_ab``, the root mean square
        over networks and pairs for the signed ``g_ab``."""
        if _check_statistic(statistic) == "g_ab":
            return np.sqrt((self.g_ab**2).reshape(self.n_layers, -1).mean(axis=-1))
        return self.mean(statistic)

    def pair_correlation(self) -> np.ndarray:
        r"""Cosine similarity of the two inputs' backward signals,
        :math:`r^l = \overline{\delta^l_a\delta^l_b}/\sqrt{\overline{(\delta^l_a)^2}\,\overline{(\delta^l_b)^2}}`,
        shape ``(n_layers, n_networks, n_pairs)``."""
        return self.delta_ab / np.sqrt(self.delta_aa[:, :, 0::2] * self.delta_aa[:, :, 1::2])

    def fit(self, statistic: str = "g_aa", first_layer: int = 1, last_layer: int | None = None) -> LogDecayFit:
        r"""Straight line through :math:`\ln` :meth:`magnitude` over layers ``first_layer ... last_layer``.

        The slope is the change of :math:`\ln g` per layer; gradients that shrink by :math:`\chi`
        per layer going back from the output have slope :math:`-\ln\chi`. Layers where the value is
        not positive and finite are left out; ``n_points`` of the result says how many were used.
        Uses :func:`nsp_helpers.fits.fit_log_decay`.
        """
        last = self.n_layers if last_layer is None else last_layer
        first_layer = check_int("first_layer", first_layer, 1, max(1, self.n_layers - 1))
        last = check_int("last_layer", last, first_layer + 1)
        if last > self.n_layers:
            raise InvalidParameterError(f"last_layer must be in [{first_layer + 1}, {self.n_layers}], got {last}")
        layers = np.arange(first_layer, last + 1)
        values = self.magnitude(statistic)[layers - 1]
        ok = np.isfinite(values) & (values > 0)
        return fit_log_decay(layers[ok], values[ok])


@dataclass
class UniversalityFit:
    r"""Variance against mean of a gradient statistic over initialisations (:func:`universality`).

    Attributes
    ----------
    mean, variance : numpy.ndarray, shape ``(n_layers,)``
        Mean and variance (``ddof=1``) over networks, per layer.
    exponent, prefactor : float
        The least-squares line :math:`\ln V = \ln A + k \ln m` (:math:`V = A m^k`), over the layers
        where both are positive and finite.
    """

    mean: np.ndarray
    variance: np.ndarray
    exponent: float
    prefactor: float


# ------------------------------------------------------------------------------------------------
# the simulation
# ------------------------------------------------------------------------------------------------
def gradient_statistics(
    noise=None,
    sigma_w2=None,
    sigma_b2=None,
    activation=None,
    *,
    n_layers: int | None = None,
    width: int | None = None,
    n_networks: int = 1,
    n_pairs: int = 1,
    backward: str = "tied",
    seed: int = 0,
    device=None,
    dtype=None,
    keep_tensors: bool = False,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    cpu_threads: int | None = 1,
) -> GradientStatistics:
    r"""Per-layer gradient statistics of random noisy networks, by backpropagation.

    Introduced in the chapter *Backpropagation through noisy networks* (``book/gradients.md``).

    Parameters
    ----------
    noise : NoisyNetwork or NoiseModel
        The network, or one noise level, e.g. ``Dropout(keep_prob=0.9)`` (Huang et al.'s :math:`\rho` is
        the keep probability).
    sigma_w2 : float or None
        Weight variance (Huang et al.: 1.4 for tanh; ``None``: critical).
    sigma_b2 : float, >= 0, optional
        Bias variance (Huang et al.: 0.1).
    activation : str, Activation or callable, optional
        Default ``"relu"``.
    n_layers : int, >= 1
        Depth :math:`L` (Huang et al.: 200); required unless a NoisyNetwork is given.
    width : int, >= 2, optional
        Units per layer :math:`N` (Huang et al.: 500; default: the network's).
    n_networks : int, >= 1
        Independent initialisations (Huang et al.: 100).
    n_pairs : int, >= 1
        Pairs of inputs per network; inputs ``2k`` and ``2k + 1`` form pair ``k``.
    backward : {"tied", "independent"}
        ``"tied"``: autograd through the forward weights (no GIA). ``"independent"``: the backward
        pass uses fresh weights with the same distribution (the GIA made true), with the same
        forward pass, noise and inputs as ``"tied"`` for the same seed.
    seed : int
        Seeds the inputs, the networks (:func:`nsp_helpers.forward.network_seeds`), the noise and the
        independent backward weights.
    device : None, str or torch.device
        ``None``: a GPU when present.
    dtype : torch.dtype, optional
        Default float32.
    keep_tensors : bool
        Also return inputs, weights, biases, noise and pre-activations (:attr:`GradientStatistics.tensors`;
        memory!).
    chunk_bytes : int
        Bound on the memory of the weights of one chunk of networks (all layers of a network must be
        kept for the backward pass); networks of one chunk run batched.
    cpu_threads : int or None
        Threads torch uses during the call on a CPU, restored afterwards (``None``: leave torch's
        setting). The products are matrix-vector sized, so one thread is as fast on an idle machine and
        much faster on a busy one.

    Returns
    -------
    GradientStatistics

    Notes
    -----
    See the module docstring for the recursion. Under the GIA, in the wide limit and at the
    fixed points :math:`(q^*, c^*)`, the backward moments obey

    .. math::

        \overline{(\delta^{l}_a)^2} = \chi_1\, \overline{(\delta^{l+1}_a)^2}, \qquad
        \overline{\delta^{l}_a\delta^{l}_b} = \chi(c^*)\, \overline{\delta^{l+1}_a\delta^{l+1}_b},

    with :math:`\chi_1 = \sigma_w^2\mu_2\mathbb{E}[\phi'^2]` and :math:`\chi(c^*) = \sigma_w^2
    \mathbb{E}[\phi'(u_a)\phi'(u_b)]` (:func:`nsp_helpers.theory.gradient_slopes`): no :math:`\mu_2` in the
    pair factor, because the masks of two inputs are independent.

    References
    ----------
    .. [1] W. Huang et al. ECAI 2020, arXiv:1912.09132, Secs. 3-4.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> stats = gradient_statistics(Dropout(keep_prob=0.9), 1.4, 0.1, "tanh", n_layers=4, width=50, n_networks=2,
    ...                             device="cpu")
    >>> stats.g_aa.shape, stats.g_ab.shape
    ((4, 2, 2), (4, 2, 1))
    >>> bool((stats.mean("g_aa") > 0).all())
    True
    """
    if n_layers is None and not isinstance(noise, NoisyNetwork):
        raise InvalidParameterError("n_layers is required unless a NoisyNetwork (which has its own) is given")
    fields = {}
    if n_layers is not None:
        fields["n_layers"] = check_int("n_layers", n_layers, 1)
    if width is not None:
        fields["width"] = fields["input_width"] = check_int("width", width, 2)
    net = as_network(noise, sigma_w2, sigma_b2, activation, **fields)
    if net.shape != ():
        raise InvalidParameterError(
            f"noise, sigma_w2 and sigma_b2 must describe a single network (loop over a family), got noise {net.noise!r}, "
            f"sigma_w2 {net.sigma_w2}, sigma_b2 {net.sigma_b2}"
        )
    if net.n_layers < 1 or net.width < 2 or net.input_width != net.width or net.output_width is not None:
        raise InvalidParameterError(
            "the network must have n_layers >= 1 and width >= 2, inputs as wide as its layers and no read-out"
        )
    n_networks = check_int("n_networks", n_networks, 1)
    n_pairs = check_int("n_pairs", n_pairs, 1)
    seed = check_int("seed", seed, 0)
    chunk_bytes = check_int("chunk_bytes", chunk_bytes, 1)
    keep_tensors = check_bool("keep_tensors", keep_tensors)
    if backward not in ("tied", "independent"):
        raise InvalidParameterError(f"backward must be 'tied' (autograd) or 'independent' (GIA), got {backward!r}")
    dtype = torch.float32 if dtype is None else dtype
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise InvalidParameterError(f"dtype must be a floating torch.dtype such as torch.float32, got {dtype!r}")
    if cpu_threads is not None:
        cpu_threads = check_int("cpu_threads", cpu_threads, 1)
    dev = resolve_device(device)
    width, n_inputs, n_layers = net.width, 2 * n_pairs, net.n_layers
    itemsize = torch.empty((), dtype=dtype).element_size()
    # the forward pass keeps every layer's weights for autograd: chunk_bytes bounds them
    per_network = n_layers * width * width * itemsize
    sizes = {"n_layers": n_layers, "width": width, "n_networks": n_networks, "n_pairs": n_pairs}
    check_memory(per_network + 6.0 * itemsize * n_networks * n_inputs * (width + n_layers), "the gradient statistics", sizes,
                 dev)
    chunk_bytes = max(chunk_bytes, per_network)  # forward() would otherwise run one network at a time anyway
    inputs = torch.empty((n_networks, n_inputs, width), dtype=dtype, device=dev)
    _random.RandomStreams(seed, _random.INPUTS, device=dev).normal_(inputs)
    tied = backward == "tied"
    back_seeds = network_seeds(seed, n_networks, _random.WEIGHTS) if not tied else None
    parts, kept = [], {"preactivations": [], "noise": [], "weights": []}
    state = {"hs": [], "xs": [], "eps": []}

    def on_layer(view):
        state["hs"].append(view.h if tied else view.h.clone())
        if view.layer == 0:
            return
        state["xs"].append(view.x.detach() if tied else view.x.clone())
        state["eps"].append(view.eps)
        if view.layer == n_layers:  # the chunk's forward pass is complete: backward and statistics
            parts.append(_statistics(net, state, view.networks, tied, back_seeds))
            if keep_tensors:
                kept["preactivations"].append([h.detach() for h in state["hs"]])
                kept["noise"].append([torch.ones_like(state["hs"][0]) if e is None else e.detach()
                                      for e in state["eps"]])
            state.update(hs=[], xs=[], eps=[])

    previous_threads = torch.get_num_threads()
    try:
        if cpu_threads is not None and dev.type == "cpu":
            torch.set_num_threads(cpu_threads)
        x0 = inputs.clone().requires_grad_(tied)
        with caller_sizes(sizes):  # the forward pass knows n_inputs = 2 * n_pairs only
            result = forward(net, x0, seed=seed, n_networks=n_networks, method="weights", device=dev, dtype=dtype,
                             chunk_bytes=chunk_bytes, on_layer=on_layer, record_noise=True, grad=tied,
                             keep_weights=keep_tensors, keep_output=False)
    finally:
        if torch.get_num_threads() != previous_threads:
            torch.set_num_threads(previous_threads)
    arrays = {k: np.concatenate([p[k] for p in parts], axis=1) for k in parts[0]}
    tensors = None
    if keep_tensors:
        biases = [torch.zeros((n_networks, width), dtype=dtype, device=dev) for _ in range(n_layers)]
        if float(net.sigma_b2) > 0:
            from ..forward import draw_biases_

            seeds = network_seeds(seed, n_networks)
            for layer in range(n_layers):
                for g in range(n_networks):
                    draw_biases_(biases[layer][g], seeds[g], layer + 1, math.sqrt(float(net.sigma_b2)))
        tensors = {
            "inputs": inputs,
            "weights": [w.detach().transpose(1, 2) for w in result.weights],  # (out, in), as torch.nn.Linear
            "biases": biases,
            "noise": [torch.cat(layer) for layer in zip(*kept["noise"])],
            "preactivations": [torch.cat(layer) for layer in zip(*kept["preactivations"])],
        }
    return GradientStatistics(**arrays, network=net, backward=backward, device=str(dev), tensors=tensors)


def _statistics(net: NoisyNetwork, state: dict, networks: slice, tied: bool, back_seeds):
    """Backward pass of one chunk of networks and the per-layer statistics (float64 numpy)."""
    hs, xs, eps_list = state["hs"], state["xs"], state["eps"]
    n_layers, width = net.n_layers, net.width
    h_out = hs[-1]
    if tied:
        loss = 0.5 * (h_out * h_out).sum()
        deltas = [g.detach() for g in torch.autograd.grad(loss, hs[1:])]  # delta^1 ... delta^L
    else:
        act = net.activation
        additive = net.noise.kind == "additive"
        w_std = math.sqrt(float(net.sigma_w2) / width)
        m = h_out.shape[0]
        deltas = [None] * n_layers
        d = h_out
        deltas[-1] = d
        w_back = torch.empty((m, width, width), dtype=h_out.dtype, device=h_out.device)
        for layer in range(n_layers - 1, 0, -1):  # delta^{layer} from delta^{layer+1}
            for g in range(m):  # fresh weights with the forward ones' distribution, per network and layer
                draw_weights_(w_back[g], back_seeds[networks.start + g], layer + 1, w_std, net.weights)
            h_l = hs[layer]
            factor = act.grad(h_l)
            if not additive and eps_list[layer] is not None:
                factor = eps_list[layer] * factor
            d = factor * torch.bmm(d, w_back.transpose(1, 2))  # (W^T delta)_j = sum_i W_ij delta_i, W as (in, out)
            deltas[layer - 1] = d
    n_inputs = hs[0].shape[1]
    ia = torch.arange(0, n_inputs, 2, device=h_out.device)
    ib = ia + 1

    def stack(values):
        return torch.stack(values).cpu().numpy()

    # products and means in float64: deep gradients of float32 networks reach 1e-30, whose squares
    # (and the pair products) would underflow float32
    deltas = [d.double() for d in deltas]
    xs = [x.double() for x in xs]
    hs_d = [h.detach().double() for h in hs[1:]]
    return {
        "g_aa": stack([(d * d).mean(-1) * (x * x).mean(-1) for d, x in zip(deltas, xs)]),
        "g_ab": stack([(d[:, ia] * d[:, ib]).mean(-1) * (x[:, ia] * x[:, ib]).mean(-1) for d, x in zip(deltas, xs)]),
        "abs_ab": stack([(d[:, ia] * d[:, ib]).abs().mean(-1) * (x[:, ia] * x[:, ib]).abs().mean(-1)
                         for d, x in zip(deltas, xs)]),
        "q_aa": stack([(h ** 2).mean(-1) for h in hs_d]),
        "q_ab": stack([(h[:, ia] * h[:, ib]).mean(-1) for h in hs_d]),
        "delta_aa": stack([(d * d).mean(-1) for d in deltas]),
        "delta_ab": stack([(d[:, ia] * d[:, ib]).mean(-1) for d in deltas]),
    }


# ------------------------------------------------------------------------------------------------
# universality
# ------------------------------------------------------------------------------------------------
def universality(stats: GradientStatistics, statistic: str = "g_aa") -> UniversalityFit:
    r"""Variance against mean of a gradient statistic over initialisations, with a power-law fit.

    Huang et al.'s variance-against-mean plot for one simulation; the stored runs of the chapter *Gradients with
    tied weights at full size* (``book/tied_gradients.md``) use :meth:`nsp_helpers.gradient_runs.GradientRun.universality`.

    Parameters
    ----------
    stats : GradientStatistics
        With at least two networks.
    statistic : {"g_aa", "g_ab", "abs_ab"}

    Returns
    -------
    UniversalityFit

    Notes
    -----
    Each network contributes one value per layer (:meth:`GradientStatistics.per_network`); over
    networks, per layer, :math:`m_l` is the mean and :math:`V_l` the variance. Huang et al. found
    :math:`V \propto m^2` across layers, noise levels and widths: the relative spread

    .. math::

        \frac{\sqrt{V_l}}{m_l} = \sqrt{A}\, m_l^{(k-2)/2}

    does not depend on the layer when :math:`k = 2`.

    References
    ----------
    .. [1] W. Huang et al. ECAI 2020, Sec. 5 (universality).

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> stats = gradient_statistics(Dropout(keep_prob=0.9), 1.4, 0.1, "tanh", n_layers=6, width=40, n_networks=4,
    ...                             device="cpu")
    >>> fit = universality(stats)
    >>> fit.mean.shape, bool(np.isfinite(fit.exponent))
    ((6,), True)
    """
    if not isinstance(stats, GradientStatistics):
        raise InvalidParameterError(f"stats must be a GradientStatistics, got {type(stats).__name__}")
    if stats.n_networks < 2:
        raise InvalidParameterError(f"stats must hold at least 2 networks for a variance, got {stats.n_networks}")
    values = stats.per_network(statistic)
    mean = values.mean(axis=1)
    var = values.var(axis=1, ddof=1)
    ok = np.isfinite(mean) & np.isfinite(var) & (mean > 0) & (var > 0)
    if ok.sum() >= 2:
        k, log_a = np.polyfit(np.log(mean[ok]), np.log(var[ok]), 1)
    else:
        k, log_a = float("nan"), float("nan")
    return UniversalityFit(mean=mean, variance=var, exponent=float(k), prefactor=float(np.exp(log_a)))


# ------------------------------------------------------------------------------------------------
# your own model
# ------------------------------------------------------------------------------------------------
def preactivation_second_moments(model, inputs, *, train: bool = True, seed: int | None = None) -> np.ndarray:
    r"""The second moment :math:`q^l = \overline{(h^l)^2}` of the output of every ``torch.nn.Linear`` in a model.

    Introduced in the chapter *Backpropagation through noisy networks* (``book/gradients.md``),
    section "Using it in your own model".

    Parameters
    ----------
    model : torch.nn.Module
        Any model containing ``torch.nn.Linear`` layers (in the order they run).
    inputs : torch.Tensor or array_like
        A batch of inputs (converted to the dtype and device of the first linear layer's weights).
    train : bool
        Run in training mode (dropout on), as the noisy-network theory assumes; the model's mode is
        restored afterwards.
    seed : int, optional
        Seeds torch's global generator for the dropout masks (restored afterwards).

    Returns
    -------
    numpy.ndarray, shape ``(n_linear_layers,)``
        Mean over the batch and units of the squared output of each linear layer, in call order.

    Notes
    -----
    .. math::

        q^l = \frac{1}{B N}\sum_{a=1}^{B}\sum_{i=1}^{N} (h^l_{a,i})^2 .

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    >>> preactivation_second_moments(model, torch.ones(5, 3), seed=0).shape
    (2,)
    """
    if not isinstance(model, torch.nn.Module):
        raise InvalidParameterError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise InvalidParameterError("model must contain at least one torch.nn.Linear layer")
    train = check_bool("train", train)
    if seed is not None:
        seed = check_int("seed", seed, 0)
    weight = linears[0].weight
    inputs = as_real_tensor("inputs", inputs, dtype=weight.dtype).to(weight.device)
    if inputs.dim() == 0:
        raise InvalidParameterError(f"inputs must be a batch of inputs (at least one dimension), got {inputs.item()!r}")
    record = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: record.append(out.detach().double().pow(2).mean().item()))
             for m in linears]
    was_training = model.training
    state = torch.random.get_rng_state() if seed is not None else None
    try:
        if seed is not None:
            torch.manual_seed(seed)
        model.train(train)
        with torch.no_grad():
            try:
                model(inputs)
            except RuntimeError as exc:  # e.g. inputs of the wrong width for the first layer
                raise InvalidParameterError(f"inputs of shape {tuple(inputs.shape)} do not fit the model: {exc}") from exc
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
        if state is not None:
            torch.random.set_rng_state(state)
    return np.array(record)
