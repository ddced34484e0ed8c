r"""Monte Carlo simulation of wide random noisy networks (torch, any device).

A random noisy network of constant width :math:`N` maps pre-activations :math:`h^{l-1}` to

.. math::

    h^{l} = W^{l}\,\mathrm{noise}\bigl(\phi(h^{l-1})\bigr) + b^{l},
    \qquad W^{l}_{ij} \sim \mathcal{N}(0, \sigma_w^2/N),\quad b^{l}_i \sim \mathcal{N}(0, \sigma_b^2),

where ``noise`` multiplies by :math:`\epsilon` (multiplicative noise, dropout included) or adds
:math:`\epsilon` (additive noise), drawn independently per unit, per layer, per input and per network.
Weights and biases are drawn afresh for every layer and every network. The layer-0 pre-activations
:math:`h^0` are the inputs. The simulator measures, per layer, network and input, the empirical
second moment

.. math::

    q^{l}_a = \frac{1}{N}\sum_{i=1}^{N} \bigl(h^{l}_{i,a}\bigr)^2

and, for pairs of inputs, the cosine similarity :math:`c^{l}_{ab} = q^{l}_{ab}/\sqrt{q^{l}_{aa} q^{l}_{bb}}`
with :math:`q^{l}_{ab} = \frac1N\sum_i h^{l}_{i,a} h^{l}_{i,b}`. These are the quantities whose
large-width limits the variance map and the correlation map of :mod:`nsp_helpers.theory` predict.

The networks run through the package's one forward pass, :func:`nsp_helpers.forward.forward`: all
networks of one call batched on the device chosen by :func:`nsp_helpers.device.resolve_device` (a GPU
automatically when present), in chunks whose buffers stay below ``chunk_bytes``, seeded (the same seed
on the same device gives identical numbers; CPU and GPU draw different numbers from the same seed).

Speed: the exact Gram-matrix sampler. Measurements at initialisation need no weights: given layer
:math:`l-1`, the pre-activations of the :math:`B` inputs of one network are exactly Gaussian with
covariance :math:`\frac{\sigma_w^2}{N} X X^\top + \sigma_b^2 \mathbf{1}\mathbf{1}^\top`, so
``method="gram"`` samples a layer in :math:`O(N B^2)` operations and :math:`N B` random numbers instead of
drawing an :math:`N \times N` weight matrix (:math:`O(N^2 B)`). ``method="auto"`` (the default) uses it
when it is cheaper, up to about :math:`B = N/2`: for the paper's Figs. 2b-5 (50 to 101 inputs per network
at :math:`N = 1000`), not for the one-layer maps of Figs. 2a and 3a (900 inputs in one batch);
``benchmarks/bench_simulate.py`` times both.

The variance simulations are introduced in the chapter *The variance map* (``book/variance_map.md``),
the correlation simulations in *Correlations* (``book/correlations.md``).

.. warning::
   **Cosine, not Pearson.** The mean-field correlation is
   :math:`c = q_{ab}/\sqrt{q_{aa}q_{bb}}`, a cosine similarity of the raw pre-activation vectors.
   The authors' simulation code measured the *Pearson* correlation, which first subtracts each
   vector's mean over units. The two agree only when those means vanish; they differ, for example,
   on inputs with a nonzero mean (layer 0) and at finite width. This module always returns the cosine.

.. note::
   **Overflow and underflow are real.** Away from criticality :math:`q^l` grows or shrinks
   geometrically with depth, and in float32 it leaves the representable range after a few hundred
   layers (Pretorius et al. 2018, Fig. 6a). :math:`q^l` is computed in the working precision: it
   becomes ``inf`` once the sum of squares :math:`N q^l` exceeds the float32 maximum (about
   :math:`3.4\times10^{38}`), loses precision below the smallest normal number (about
   :math:`1.2\times10^{-38}`) and reaches ``0``; after an overflow the activations themselves become
   ``inf`` and then ``nan``, and so does the cosine :math:`c^l`. The simulator reports these values
   as they are and never clips them. Pass ``dtype=torch.float64`` to :func:`propagate` to push the
   limits out (to about :math:`10^{\pm 308}`).

References
----------
.. [1] A. Pretorius, E. van Biljon, S. Kroon, H. Kamper. *Critical initialisation for deep signal
   propagation in noisy rectifier neural networks.* NeurIPS 2018, arXiv:1811.00293.
.. [2] W. Huang, R. Y. D. Xu, W. Du, Y. Zeng, Y. Zhao. *Mean field theory for deep dropout networks:
   digging up gradient backpropagation deeply.* ECAI 2020 (Frontiers in Artificial Intelligence and
   Applications 325), pp. 1215-1222, arXiv:1912.09132.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch

from .._random import INPUTS, derived_seeds
from ..device import resolve_device
from ..errors import (InvalidParameterError, as_float_array, caller_sizes, check_bool, check_float, check_in_range, check_int,
                      check_memory)
from ..forward import DEFAULT_CHUNK_BYTES, forward
from ..network import NoisyNetwork, as_network

__all__ = [
    "Propagation",
    "VarianceMapResult",
    "VarianceDynamicsResult",
    "CorrelationMapResult",
    "CorrelationDynamicsResult",
    "propagate",
    "inputs_with_variance",
    "input_pairs",
    "input_partners",
    "simulate_variance_map",
    "simulate_variance_dynamics",
    "simulate_correlation_map",
    "simulate_correlation_dynamics",
    "scaled",
]


# ------------------------------------------------------------------------------------------------
# result types
# ------------------------------------------------------------------------------------------------
@dataclass
class Propagation:
    """What :func:`propagate` measured.

    ``F`` below is the shape of the noise family (``()`` for a single noise level, ``(n_members,)``
    for a family or for arrays of ``sigma_w2``/``sigma_b2``).

    Attributes
    ----------
    q : numpy.ndarray, shape ``F + (n_layers + 1, n_networks, n_inputs)``
        Empirical second moment :math:`q^l_a = \\frac1N\\sum_i (h^l_{i,a})^2` (float64); layer 0 is
        the input. May hold ``inf``/``0``/``nan`` where float32 overflowed or underflowed.
    c : numpy.ndarray or None, shape ``F + (n_layers + 1, n_networks, n_pairs)``
        Cosine similarity :math:`q_{ab}/\\sqrt{q_{aa}q_{bb}}` of each pair (not Pearson); ``None``
        when no ``pairs`` were given; ``nan`` where ``q`` overflowed or an input is all zeros.
    pairs : numpy.ndarray or None, shape ``(n_pairs, 2)``
        The input indices of each pair.
    activations : list of torch.Tensor or None
        Only with ``keep_activations=True``: the pre-activations :math:`h^l`, one tensor of shape
        ``F + (n_networks, n_inputs, width)`` per layer ``l = 0 ... n_layers``, on the device used.
    width : int
        Number of units per layer.
    device : str
        The device the simulation ran on.
    method : str
        ``"weights"`` or ``"gram"`` (see :func:`nsp_helpers.forward.forward`).
    """

    q: np.ndarray
    c: np.ndarray | None = None
    pairs: np.ndarray | None = None
    activations: list | None = field(default=None, repr=False)
    width: int = 0
    device: str = "cpu"
    method: str = "weights"

    @property
    def n_layers(self) -> int:
        """Number of layers propagated (``q`` has ``n_layers + 1`` entries along its layer axis)."""
        return self.q.shape[-3] - 1


@dataclass
class VarianceMapResult:
    """One-layer variance map measured by :func:`simulate_variance_map`.

    ``F`` is the noise-family shape (``()`` for a single noise level).

    Attributes
    ----------
    q0 : numpy.ndarray, shape ``(n_q0,)``
        Input second moments.
    mean, std : numpy.ndarray, shape ``F + (n_q0,)``
        Mean and standard deviation (``ddof=0``) of :math:`q^1` over networks and inputs.
    q1 : numpy.ndarray, shape ``F + (n_q0, n_networks, n_inputs)``
        Every sample of :math:`q^1`.
    """

    q0: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    q1: np.ndarray = field(repr=False)


@dataclass
class VarianceDynamicsResult:
    """Layer-by-layer second moment measured by :func:`simulate_variance_dynamics`.

    ``F`` is the noise-family shape and ``Q`` is ``(n_q0,)`` when ``q0`` was an array, ``()`` when it
    was a scalar.

    Attributes
    ----------
    q0 : numpy.ndarray, shape ``Q``
        Input second moment(s).
    layers : numpy.ndarray, shape ``(n_layers + 1,)``
        Layer indices ``0 ... n_layers`` (0 is the input).
    mean, std : numpy.ndarray, shape ``F + Q + (n_layers + 1,)``
        Mean and standard deviation (``ddof=0``) of :math:`q^l` over networks and inputs; ``inf``
        or ``nan`` once a sample overflowed in float32.
    q : numpy.ndarray, shape ``F + Q + (n_layers + 1, n_networks, n_inputs)``
        Every sample of :math:`q^l`.
    """

    q0: np.ndarray
    layers: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    q: np.ndarray = field(repr=False)


@dataclass
class CorrelationMapResult:
    """One-layer correlation map measured by :func:`simulate_correlation_map`.

    Attributes
    ----------
    c0 : numpy.ndarray, shape ``(n_c0,)``
        Input cosine similarities.
    q0 : float
        Input second moment of every input.
    mean, std : numpy.ndarray, shape ``F + (n_c0,)``
        Mean and standard deviation (``ddof=0``) of :math:`c^1` over networks and pairs.
    c1 : numpy.ndarray, shape ``F + (n_c0, n_networks, n_pairs)``
        Every sample of :math:`c^1`.
    """

    c0: np.ndarray
    q0: float
    mean: np.ndarray
    std: np.ndarray
    c1: np.ndarray = field(repr=False)


@dataclass
class CorrelationDynamicsResult:
    """Layer-by-layer cosine similarity measured by :func:`simulate_correlation_dynamics`.

    ``C`` is ``(n_c0,)`` when ``c0`` was an array, ``()`` when it was a scalar.

    Attributes
    ----------
    c0 : numpy.ndarray, shape ``C``
        Input cosine similarity (or similarities).
    q0 : float
        Input second moment of every input.
    layers : numpy.ndarray, shape ``(n_layers + 1,)``
        Layer indices ``0 ... n_layers``.
    mean, std : numpy.ndarray, shape ``F + C + (n_layers + 1,)``
        Mean and standard deviation (``ddof=0``) of :math:`c^l` over networks and pairs.
    c : numpy.ndarray, shape ``F + C + (n_layers + 1, n_networks, n_pairs)``
        Every sample of :math:`c^l`.
    """

    c0: np.ndarray
    q0: float
    layers: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    c: np.ndarray = field(repr=False)


# ------------------------------------------------------------------------------------------------
# argument checks
# ------------------------------------------------------------------------------------------------
#: counts may be given as integral floats (``30.0``)
_check_int = partial(check_int, allow_integral_float=True)
#: the simulate_* functions run in float32: an input second moment beyond its largest value is not representable
_Q0_MAX = float(np.finfo(np.float32).max)
_Q0_HINT = "the simulation runs in float32"


def _network(noise, sigma_w2, sigma_b2, activation, **fields) -> NoisyNetwork:
    """The simulated network: ``noise`` may be a NoisyNetwork; ``None`` fields keep its (or the default) values."""
    fields = {k: v for k, v in fields.items() if v is not None}
    net = as_network(noise, sigma_w2, sigma_b2, activation, **fields)
    if len(net.shape) > 1:
        raise InvalidParameterError(f"noise, sigma_w2 and sigma_b2 must be scalars or 1-D arrays, got shape {net.shape}")
    if net.output_width is not None:
        raise InvalidParameterError("the simulator measures hidden layers: the network must have no read-out layer")
    return net


def _check_pairs(pairs, n_inputs: int) -> np.ndarray:
    try:
        arr = np.asarray(pairs)
    except (TypeError, ValueError) as exc:  # ragged
        raise InvalidParameterError(f"pairs must be an integer array of shape (n_pairs, 2), got {pairs!r:.100}") from exc
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 1 or not np.issubdtype(arr.dtype, np.integer):
        raise InvalidParameterError(f"pairs must be an integer array of shape (n_pairs, 2), got {arr!r}")
    if arr.min() < 0 or arr.max() >= n_inputs:
        raise InvalidParameterError(f"pairs must index inputs in [0, {n_inputs - 1}], got {arr.min()}..{arr.max()}")
    return arr.astype(np.int64)


# ------------------------------------------------------------------------------------------------
# the simulator
# ------------------------------------------------------------------------------------------------
def propagate(
    h0,
    noise=None,
    sigma_w2=None,
    sigma_b2=None,
    activation=None,
    *,
    n_layers: int | None = None,
    n_networks: int | None = None,
    pairs=None,
    seed: int = 0,
    device=None,
    dtype=torch.float32,
    keep_activations: bool = False,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    method: str = "auto",
) -> Propagation:
    r"""Propagate inputs through random noisy networks and measure :math:`q^l` (and :math:`c^l`).

    Introduced in the chapter *The variance map* (``book/variance_map.md``); the pair statistics in
    *Correlations* (``book/correlations.md``).

    Parameters
    ----------
    h0 : array_like or torch.Tensor, shape ``(n_inputs, width)`` or ``(n_networks, n_inputs, width)``
        Layer-0 pre-activations: shared by all networks (2-D) or one set per network (3-D).
    noise : NoisyNetwork or NoiseModel
        The network (its width must be ``h0``'s), or its noise: a single level or a 1-D family, whose
        members (broadcast with arrays of ``sigma_w2`` and ``sigma_b2``) run one after another, each with
        the same ``seed``, stacked on a leading axis.
    sigma_w2, sigma_b2 : float, 1-D array or None
        Weight and bias variances (``sigma_w2=None``: critical; ``sigma_b2=None``: 0). Leave out with a
        NoisyNetwork.
    activation : str, Activation or callable, optional
        Default ``"relu"``; see :func:`nsp_helpers.activations.get_activation`.
    n_layers : int, >= 0
        Number of noisy layers to apply (default: the network's).
    n_networks : int, >= 1, optional
        Independent networks (fresh weights, biases and noise). Default 1 for 2-D ``h0``, and
        ``h0.shape[0]`` for 3-D ``h0`` (which it must then equal).
    pairs : array_like of int, shape ``(n_pairs, 2)``, optional
        Input indices whose cosine similarity is measured at every layer.
    seed : int, >= 0
        Seeds the networks, the noise and the Gram sampler (:func:`nsp_helpers.forward.forward`).
    device : None, str or torch.device
        ``None`` picks a GPU when present (:func:`nsp_helpers.device.resolve_device`).
    dtype : torch.dtype
        Working precision (default float32, as in the paper's experiments).
    keep_activations : bool
        Also return every layer's pre-activations (memory grows with depth; off by default).
    chunk_bytes : int
        Bound on the buffers of one chunk of networks (see :func:`nsp_helpers.forward.forward`).
    method : {"auto", "weights", "gram"}
        Draw weight matrices or sample each layer exactly from the Gram matrix of the inputs (the module
        docstring); ``"auto"`` takes the cheaper one.

    Returns
    -------
    Propagation
        ``q`` of shape ``F + (n_layers + 1, n_networks, n_inputs)``, ``c`` of shape
        ``F + (n_layers + 1, n_networks, n_pairs)`` (or ``None``), where ``F`` is the family shape.

    Notes
    -----
    One layer of one network is

    .. math::

        h^{l} = W^{l}\,\mathrm{noise}(\phi(h^{l-1})) + b^{l}, \qquad
        q^l_a = \frac1N \sum_i (h^l_{i,a})^2, \qquad
        c^l_{ab} = \frac{\sum_i h^l_{i,a} h^l_{i,b}}{\sqrt{\sum_i (h^l_{i,a})^2 \sum_i (h^l_{i,b})^2}}.

    :math:`c` is the cosine similarity (the authors' code used the Pearson correlation, which
    subtracts each vector's mean first; see the module docstring). Computed in the working
    precision, :math:`q^l` overflows to ``inf`` or underflows to ``0`` far from criticality; these
    values are returned unchanged. Rounding can put :math:`c` a few ulps outside ``[-1, 1]``; it is
    clipped to that interval. Results depend on ``seed``, the device, ``chunk_bytes``, the method and the
    order of the networks, but nothing else (not on the number of CPU threads).

    Members of a noise family reuse the same seed (common random numbers): dropout members with
    ``keep_prob < 1``, for example, see the same weights and nested masks (a unit kept at
    ``keep_prob=0.6`` is also kept at ``0.8``), so that differences between members are not blurred
    by different draws.

    References
    ----------
    .. [1] Pretorius et al. (2018), Sec. 3 and Figs. 2-4, arXiv:1811.00293.

    Examples
    --------
    >>> import numpy as np
    >>> from nsp_helpers.noise import Dropout
    >>> h0 = inputs_with_variance(1.0, n_inputs=4, width=100)
    >>> out = propagate(h0, Dropout(keep_prob=0.6), 1.2, n_layers=3, n_networks=2, pairs=[[0, 1]], device="cpu")
    >>> out.q.shape, out.c.shape
    ((4, 2, 4), (4, 2, 1))
    >>> bool(np.allclose(out.q[0], 1.0))
    True
    """
    seed = _check_int("seed", seed, 0)
    chunk_bytes = _check_int("chunk_bytes", chunk_bytes, 1)
    keep_activations = check_bool("keep_activations", keep_activations)
    if n_layers is None and not isinstance(noise, NoisyNetwork):
        raise InvalidParameterError("n_layers is required unless a NoisyNetwork (which has its own) is given")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise InvalidParameterError(f"dtype must be a floating torch.dtype such as torch.float32, got {dtype!r}")
    dev = resolve_device(device)
    x0 = _as_inputs(h0, dtype, dev)
    n_inputs, width = x0.shape[-2], x0.shape[-1]
    if n_layers is not None:
        n_layers = _check_int("n_layers", n_layers, 0)
    net = _network(noise, sigma_w2, sigma_b2, activation, n_layers=n_layers, width=width, input_width=width)
    if net.width != width or net.input_width != width:
        raise InvalidParameterError(f"h0 has width {width} but the network has width {net.width}")
    if x0.dim() == 3:
        if n_networks is None:
            n_networks = x0.shape[0]
        n_networks = _check_int("n_networks", n_networks, 1)
        if n_networks != x0.shape[0]:
            raise InvalidParameterError(
                f"n_networks must equal h0.shape[0] = {x0.shape[0]} for 3-D h0, got {n_networks}"
            )
    else:
        n_networks = _check_int("n_networks", 1 if n_networks is None else n_networks, 1)
    pair_idx = None if pairs is None else _check_pairs(pairs, n_inputs)
    n_members = 1 if net.shape == () else net.shape[0]
    n_layers = net.n_layers
    itemsize = torch.empty((), dtype=dtype).element_size()
    n_pairs = 0 if pair_idx is None else len(pair_idx)
    check_memory(itemsize * n_members * (n_layers + 1) * n_networks * (n_inputs + n_pairs + (n_inputs * width if keep_activations else 0)),
                 "the measured statistics", {"n_layers": n_layers, "n_networks": n_networks, "n_inputs": n_inputs}, dev)

    q = torch.empty((n_members, n_layers + 1, n_networks, n_inputs), dtype=dtype, device=dev)
    c = torch.empty((n_members, n_layers + 1, n_networks, 0 if pair_idx is None else len(pair_idx)),
                    dtype=dtype, device=dev)
    acts = [[[] for _ in range(n_layers + 1)] for _ in range(n_members)] if keep_activations else None
    ia = ib = None
    if pair_idx is not None:
        ia = _row_selector(pair_idx[:, 0], dev)
        ib = _row_selector(pair_idx[:, 1], dev)

    def measure(view):
        m, layer, nets = view.member, view.layer, view.networks
        _measure(view.h, q[m, layer, nets], c[m, layer, nets] if ia is not None else None, ia, ib)
        if keep_activations:
            acts[m][layer].append(view.h.clone())

    result = forward(net, x0 if x0.dim() == 3 else x0, seed=seed, n_networks=n_networks, device=dev, dtype=dtype,
                     chunk_bytes=chunk_bytes, on_layer=measure, method=method)
    q_np = q.double().cpu().numpy()
    c_np = c.double().cpu().numpy() if pair_idx is not None else None
    if keep_activations:
        acts = [[torch.cat(chunks) for chunks in member] for member in acts]
    if net.shape == ():
        q_np = q_np[0]
        c_np = None if c_np is None else c_np[0]
        acts = None if acts is None else acts[0]
    elif keep_activations:
        acts = [torch.stack([member[layer] for member in acts]) for layer in range(n_layers + 1)]
    return Propagation(q=q_np, c=c_np, pairs=pair_idx, activations=acts, width=int(width), device=str(dev),
                       method=result.method)


def _as_inputs(h0, dtype, device) -> torch.Tensor:
    if isinstance(h0, torch.Tensor):
        t = h0.detach().to(device=device, dtype=dtype)
    else:
        arr = as_float_array("h0", h0)
        t = torch.as_tensor(arr, dtype=dtype, device=device)
    if t.dim() not in (2, 3):
        raise InvalidParameterError(
            f"h0 must have shape (n_inputs, width) or (n_networks, n_inputs, width), got {tuple(t.shape)}"
        )
    if t.shape[-1] < 1 or t.shape[-2] < 1:
        raise InvalidParameterError(f"h0 needs width >= 1 and n_inputs >= 1, got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise InvalidParameterError("h0 must be finite")
    return t


def _row_selector(index: np.ndarray, device):
    """Select rows ``index`` of an (networks, inputs, width) tensor: a slice (a view, no copy) where the rows are
    one index repeated (it broadcasts over the pairs) or an arithmetic progression, else an index tensor."""
    first = int(index[0])
    if np.all(index == first):
        return slice(first, first + 1)
    step = int(index[1] - index[0])
    if step > 0 and np.all(np.diff(index) == step):
        return slice(first, int(index[-1]) + 1, step)
    return torch.as_tensor(index, device=device)


def _measure(h, q_out, c_out, ia, ib):
    """Write the per-input second moment (and per-pair cosine) of ``h`` (networks, inputs, width).

    Both are computed in the working precision: ``q`` becomes ``inf`` once the sum of squares over
    units exceeds the largest float, and ``c`` then becomes ``nan``, as they should.
    """
    width = h.shape[-1]
    torch.linalg.vector_norm(h, dim=-1, out=q_out)  # the norms, squared below
    if c_out is not None:
        torch.linalg.vecdot(h[:, ia], h[:, ib], out=c_out)
        c_out.div_(q_out[:, ia]).div_(q_out[:, ib]).clamp_(-1.0, 1.0)  # two divisions: no overflow of |a||b|
    q_out.square_().div_(width)


# ------------------------------------------------------------------------------------------------
# inputs with exact statistics
# ------------------------------------------------------------------------------------------------
def inputs_with_variance(q0, n_inputs: int, width: int, seed: int = 0) -> torch.Tensor:
    r"""Gaussian inputs whose rows have empirical second moment exactly ``q0``.

    Introduced in the chapter *The variance map* (``book/variance_map.md``).

    Parameters
    ----------
    q0 : float or 1-D array_like, >= 0
        Target second moment(s) :math:`q^0 = \frac1N\sum_i (h^0_i)^2`. One block of ``n_inputs``
        rows per value, stacked in the order given.
    n_inputs : int, >= 1
        Rows per value of ``q0``.
    width : int, >= 1
        Number of units :math:`N`.
    seed : int
        Seed of the CPU generator.

    Returns
    -------
    torch.Tensor, float64, shape ``(n_inputs * len(q0), width)``
        On the CPU (:func:`propagate` moves it to its device and precision).

    Notes
    -----
    A standard Gaussian row :math:`z` is rescaled to the exact second moment:

    .. math::

        h^0 = z\,\sqrt{\frac{q^0}{\frac1N\sum_i z_i^2}}.

    Examples
    --------
    >>> x = inputs_with_variance([1.0, 4.0], n_inputs=3, width=100)
    >>> x.shape
    torch.Size([6, 100])
    >>> [round(v, 12) for v in (x ** 2).mean(dim=1).tolist()]
    [1.0, 1.0, 1.0, 4.0, 4.0, 4.0]
    """
    q0 = check_in_range("q0", q0, 0.0, np.inf, max_ndim=1)
    n_inputs = _check_int("n_inputs", n_inputs, 1)
    width = _check_int("width", width, 1)
    seed = _check_int("seed", seed, 0)
    q0 = np.atleast_1d(q0)
    if q0.size == 0:
        raise InvalidParameterError("q0 must hold at least one second moment, got an empty array")
    check_memory(3 * 8.0 * q0.size * n_inputs * width, "the inputs", {"n_inputs": n_inputs, "width": width, "len(q0)": q0.size})
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn((q0.size, n_inputs, width), generator=gen, dtype=torch.float64)
    ms = (z * z).mean(dim=-1, keepdim=True)
    target = torch.as_tensor(q0, dtype=torch.float64).reshape(-1, 1, 1)
    return (z * torch.sqrt(target / ms)).reshape(q0.size * n_inputs, width)


def input_pairs(c0, q0, n_pairs: int, width: int, seed: int = 0):
    r"""Pairs of inputs with exact empirical cosine similarity ``c0`` and second moment ``q0``.

    Introduced in the chapter *Correlations* (``book/correlations.md``).

    Parameters
    ----------
    c0 : float or 1-D array_like, in [-1, 1]
        Target cosine similarity :math:`c^0` of each pair; one block of ``n_pairs`` pairs per value.
    q0 : float, > 0
        Second moment :math:`\frac1N\sum_i (h^0_i)^2` of every input.
    n_pairs : int, >= 1
        Pairs per value of ``c0``.
    width : int, >= 2
        Number of units :math:`N`.
    seed : int
        Seed of the CPU generator.

    Returns
    -------
    inputs : torch.Tensor, float64, shape ``(2 * n_pairs * len(c0), width)``
        Pair ``k`` occupies rows ``2k`` and ``2k + 1``; the pairs of ``c0[j]`` are
        ``k = j * n_pairs ... (j + 1) * n_pairs - 1``.
    pairs : numpy.ndarray of int, shape ``(n_pairs * len(c0), 2)``
        ``pairs[k] = (2k, 2k + 1)``, ready for :func:`propagate`.

    Notes
    -----
    Two Gaussian vectors are orthonormalised (Gram-Schmidt) into :math:`e_1 \perp e_2`, and

    .. math::

        h_a = \sqrt{N q^0}\, e_1, \qquad h_b = \sqrt{N q^0}\,\bigl(c^0 e_1 + \sqrt{1 - (c^0)^2}\, e_2\bigr),

    so that :math:`h_a\cdot h_b / (\|h_a\|\|h_b\|) = c^0` exactly (up to rounding). The vectors have
    nonzero means over units in general, so their Pearson correlation is *not* exactly ``c0``.

    Examples
    --------
    >>> x, pairs = input_pairs([0.0, 0.5], q0=2.0, n_pairs=2, width=100)
    >>> x.shape, pairs.tolist()
    (torch.Size([8, 100]), [[0, 1], [2, 3], [4, 5], [6, 7]])
    >>> a, b = x[pairs[:, 0]], x[pairs[:, 1]]
    >>> [round(v, 12) for v in ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).tolist()]
    [0.0, 0.0, 0.5, 0.5]
    """
    c0 = check_in_range("c0", c0, -1.0, 1.0, max_ndim=1)
    q0 = check_in_range("q0", q0, 0.0, np.inf, low_open=True, hint="a cosine needs nonzero inputs")
    if q0.ndim != 0:
        raise InvalidParameterError(f"q0 must be a scalar, got shape {q0.shape}")
    n_pairs = _check_int("n_pairs", n_pairs, 1)
    width = _check_int("width", width, 2)
    seed = _check_int("seed", seed, 0)
    c0 = np.atleast_1d(c0)
    if c0.size == 0:
        raise InvalidParameterError("c0 must hold at least one cosine similarity, got an empty array")
    check_memory(6 * 8.0 * c0.size * n_pairs * 2 * width, "the input pairs", {"n_pairs": n_pairs, "width": width, "len(c0)": c0.size})
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn((c0.size, n_pairs, 2, width), generator=gen, dtype=torch.float64)
    e1 = z[:, :, 0] / torch.linalg.vector_norm(z[:, :, 0], dim=-1, keepdim=True)
    v = z[:, :, 1] - (z[:, :, 1] * e1).sum(-1, keepdim=True) * e1
    e2 = v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    c = torch.as_tensor(c0, dtype=torch.float64).reshape(-1, 1, 1)
    radius = math.sqrt(width * float(q0))
    a = radius * e1
    b = radius * (c * e1 + torch.sqrt(1.0 - c * c) * e2)
    inputs = torch.stack([a, b], dim=2).reshape(2 * c0.size * n_pairs, width)
    first = 2 * np.arange(c0.size * n_pairs)
    return inputs, np.stack([first, first + 1], axis=1)


def input_partners(c0, q0, n_partners: int, width: int, seed: int = 0):
    r"""One reference input and ``n_partners`` partners with exact cosine similarity ``c0`` to it.

    The design of Pretorius et al.'s simulations (their code builds, for each :math:`c^0`, one input and
    a set of inputs correlated with it): :math:`1 + n` inputs measure :math:`n` pairs, where
    :func:`input_pairs` needs :math:`2n`, which makes the exact Gram sampler four times cheaper.

    Introduced in the chapter *Correlations* (``book/correlations.md``).

    Parameters
    ----------
    c0 : float or 1-D array_like, in [-1, 1]
        Target cosine similarity :math:`c^0` between the reference and each partner; one block of
        ``1 + n_partners`` inputs per value.
    q0 : float, > 0
        Second moment :math:`\frac1N\sum_i (h^0_i)^2` of every input.
    n_partners : int, >= 1
        Partners per value of ``c0``.
    width : int, >= 2
        Number of units :math:`N`.
    seed : int
        Seed of the CPU generator.

    Returns
    -------
    inputs : torch.Tensor, float64, shape ``(len(c0) * (1 + n_partners), width)``
        Block ``j`` (rows ``j (1 + n_partners)`` onwards) is the reference of ``c0[j]`` followed by its
        partners.
    pairs : numpy.ndarray of int, shape ``(len(c0) * n_partners, 2)``
        (reference, partner) for every partner, block by block, ready for :func:`propagate`.

    Notes
    -----
    With the reference direction :math:`e_1` and, for partner :math:`k`, a Gaussian vector made
    orthogonal to :math:`e_1` and normalised, :math:`e_k`,

    .. math::

        h_{\mathrm{ref}} = \sqrt{N q^0}\, e_1, \qquad
        h_k = \sqrt{N q^0}\,\bigl(c^0 e_1 + \sqrt{1 - (c^0)^2}\, e_k\bigr),

    so every partner has cosine exactly ``c0`` with the reference (up to rounding); two partners have
    cosine :math:`(c^0)^2 + (1 - (c^0)^2)\, e_k \cdot e_{k'}`, close to :math:`(c^0)^2`.

    Examples
    --------
    >>> x, pairs = input_partners([0.0, 0.5], q0=2.0, n_partners=3, width=100)
    >>> x.shape, pairs.tolist()
    (torch.Size([8, 100]), [[0, 1], [0, 2], [0, 3], [4, 5], [4, 6], [4, 7]])
    >>> a, b = x[pairs[:, 0]], x[pairs[:, 1]]
    >>> [round(v, 12) for v in ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).tolist()]
    [0.0, 0.0, 0.0, 0.5, 0.5, 0.5]
    """
    c0 = check_in_range("c0", c0, -1.0, 1.0, max_ndim=1)
    q0 = check_in_range("q0", q0, 0.0, np.inf, low_open=True, hint="a cosine needs nonzero inputs")
    if q0.ndim != 0:
        raise InvalidParameterError(f"q0 must be a scalar, got shape {q0.shape}")
    n_partners = _check_int("n_partners", n_partners, 1)
    width = _check_int("width", width, 2)
    seed = _check_int("seed", seed, 0)
    c0 = np.atleast_1d(c0)
    if c0.size == 0:
        raise InvalidParameterError("c0 must hold at least one cosine similarity, got an empty array")
    block = 1 + n_partners
    # z, v, ek and the two halves of the result (float64), and the (reference, partner) index pairs
    check_memory(5 * 8.0 * c0.size * block * width + 16.0 * c0.size * n_partners, "the input partners",
                 {"n_partners": n_partners, "width": width, "len(c0)": c0.size})
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn((c0.size, block, width), generator=gen, dtype=torch.float64)
    e1 = z[:, :1] / torch.linalg.vector_norm(z[:, :1], dim=-1, keepdim=True)
    v = z[:, 1:] - (z[:, 1:] * e1).sum(-1, keepdim=True) * e1
    ek = v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    c = torch.as_tensor(c0, dtype=torch.float64).reshape(-1, 1, 1)
    radius = math.sqrt(width * float(q0))
    inputs = torch.cat([radius * e1, radius * (c * e1 + torch.sqrt(1.0 - c * c) * ek)], dim=1)
    reference = np.repeat(np.arange(c0.size, dtype=np.int64) * block, n_partners)
    pairs = np.stack([reference, reference + np.tile(np.arange(1, block, dtype=np.int64), c0.size)], axis=1)
    return inputs.reshape(c0.size * block, width), pairs


def _block_seed(seed: int, block: int) -> int:
    """The seed of block ``block`` of a design that runs each value of c0 through its own networks."""
    return seed if block == 0 else derived_seeds(seed, INPUTS, block)[0]


def _input_seeds(seed: int, n_networks: int) -> list[int]:
    """Seeds of inputs drawn anew for every network (``fresh_inputs``)."""
    return derived_seeds(seed, INPUTS, 0, n=n_networks)


def _pair_samples(c0, q0, net, *, n_pairs, n_networks, seed, device, method, shared_reference, fresh_inputs=False,
                  layer=None):
    """Cosine similarities of the pairs of every ``c0``: ``F + (n_c0, L + 1, n_networks, n_pairs)`` (all layers)
    or ``F + (n_c0, n_networks, n_pairs)`` (one ``layer``)."""
    if fresh_inputs and shared_reference:
        raise InvalidParameterError("fresh_inputs needs independent pairs (shared_reference=False)")
    if shared_reference:  # one reference and n_pairs partners per c0, each c0 through its own networks
        blocks = []
        for j, value in enumerate(c0):
            block_seed = _block_seed(seed, j)
            h0, pairs = input_partners(value, q0, n_pairs, net.width, seed=block_seed)
            out = propagate(h0, net, n_networks=n_networks, pairs=pairs, seed=block_seed, device=device,
                            method=method)
            blocks.append(out.c)  # F + (L+1, n_networks, n_pairs)
        c = np.stack(blocks, axis=-4)
    else:
        if fresh_inputs:
            sets = [input_pairs(c0, q0, n_pairs, net.width, seed=s) for s in _input_seeds(seed, n_networks)]
            h0, pairs = torch.stack([x for x, _ in sets]), sets[0][1]
        else:
            h0, pairs = input_pairs(c0, q0, n_pairs, net.width, seed=seed)
        out = propagate(h0, net, n_networks=n_networks, pairs=pairs, seed=seed, device=device, method=method)
        c = out.c  # F + (L+1, n_networks, n_c0 * n_pairs)
        c = c.reshape(c.shape[:-1] + (c0.size, n_pairs))
        c = np.moveaxis(c, -2, -4)  # F + (n_c0, L+1, n_networks, n_pairs)
    return c if layer is None else c[..., layer, :, :]


# ------------------------------------------------------------------------------------------------
# the paper's experiments
# ------------------------------------------------------------------------------------------------
def _stats(samples: np.ndarray, n_axes: int = 2):
    """Mean and std (ddof=0) over the last ``n_axes`` axes, letting inf/nan through silently."""
    axes = tuple(range(-n_axes, 0))
    with np.errstate(invalid="ignore", over="ignore"):
        return samples.mean(axis=axes), samples.std(axis=axes)


def simulate_variance_map(
    q0_values,
    noise=None,
    sigma_w2=None,
    sigma_b2=None,
    activation=None,
    *,
    n_inputs: int = 30,
    n_networks: int = 50,
    width: int | None = None,
    seed: int = 0,
    device=None,
    method: str = "auto",
    fresh_inputs: bool = False,
) -> VarianceMapResult:
    r"""Measure the one-layer variance map :math:`q^0 \mapsto q^1` (Pretorius et al. Figs. 2a, 3a).

    Introduced in the chapter *The variance map* (``book/variance_map.md``).

    Parameters
    ----------
    q0_values : 1-D array_like, >= 0
        Input second moments.
    noise : NoisyNetwork or NoiseModel
        The network, or its noise level or a 1-D family (results get a leading family axis).
    sigma_w2, sigma_b2 : float or 1-D array, >= 0, optional
        Weight and bias variances (arrays broadcast with a noise family; ``sigma_w2=None``: critical).
    activation : str, Activation or callable, optional
        Default ``"relu"``.
    n_inputs : int
        Inputs per value of ``q0`` (the paper: 30).
    n_networks : int
        Independent networks (the paper: 50, the default).
    width : int, optional
        Units per layer (default: the network's, 1000 as in the paper).
    seed : int
    device : None, str or torch.device
    method : {"auto", "weights", "gram"}
        See :func:`propagate`.
    fresh_inputs : bool
        ``False`` (default, as in the paper): every network sees the same inputs. ``True``: every
        network draws its own, so that the per-network means are independent samples whose expectation is
        the mean-field map (with shared inputs, their finite-width idiosyncrasies, such as how much of
        :math:`q^0` happens to sit on positive units, are common to all networks).

    Returns
    -------
    VarianceMapResult
        ``mean``/``std`` of :math:`q^1` over networks and inputs, per ``q0``.

    Notes
    -----
    The large-width limit is :func:`nsp_helpers.theory.variance_map`,

    .. math::

        q^1 = \sigma_w^2\bigl(\mu_2\,\mathbb{E}_z[\phi(\sqrt{q^0} z)^2] + \sigma_\epsilon^2\bigr) + \sigma_b^2,

    for ReLU :math:`\sigma_w^2(\mu_2 q^0/2 + \sigma_\epsilon^2) + \sigma_b^2`. All values of ``q0``
    run through the same networks in one batch.

    References
    ----------
    .. [1] Pretorius et al. (2018), Figs. 2(a) and 3(a), arXiv:1811.00293.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> res = simulate_variance_map([1.0, 2.0], Dropout(0.6), sigma_w2=1.2, n_inputs=5, n_networks=2, width=100,
    ...                             device="cpu")
    >>> res.mean.shape, res.q1.shape
    ((2,), (2, 2, 5))
    """
    q0 = check_in_range("q0_values", q0_values, 0.0, _Q0_MAX, max_ndim=1, hint=_Q0_HINT)
    q0 = np.atleast_1d(q0)
    if q0.size == 0:
        raise InvalidParameterError("q0_values must hold at least one second moment, got an empty array")
    n_inputs = _check_int("n_inputs", n_inputs, 1)
    n_networks = _check_int("n_networks", n_networks, 1)
    net = _network(noise, sigma_w2, sigma_b2, activation, width=width, input_width=width, n_layers=1)
    with caller_sizes({"n_inputs": n_inputs, "n_networks": n_networks, "width": net.width, "len(q0_values)": q0.size}):
        if fresh_inputs:
            h0 = torch.stack([inputs_with_variance(q0, n_inputs, net.width, seed=s)
                              for s in _input_seeds(seed, n_networks)])
        else:
            h0 = inputs_with_variance(q0, n_inputs, net.width, seed=seed)
        out = propagate(h0, net, n_networks=n_networks, seed=seed, device=device, method=method)
    q1 = out.q[..., 1, :, :]  # F + (n_networks, n_q0 * n_inputs)
    q1 = q1.reshape(q1.shape[:-1] + (q0.size, n_inputs))
    q1 = np.moveaxis(q1, -3, -2)  # F + (n_q0, n_networks, n_inputs)
    mean, std = _stats(q1)
    return VarianceMapResult(q0=q0, mean=mean, std=std, q1=q1)


def simulate_variance_dynamics(
    q0,
    n_layers: int,
    noise=None,
    sigma_w2=None,
    sigma_b2=None,
    activation=None,
    *,
    n_inputs: int = 50,
    n_networks: int = 50,
    width: int | None = None,
    seed: int = 0,
    device=None,
    method: str = "auto",
) -> VarianceDynamicsResult:
    r"""Measure :math:`q^l` layer by layer from :math:`q^0` (Pretorius et al. Figs. 2b, 3b).

    Introduced in the chapter *The variance map* (``book/variance_map.md``).

    Parameters
    ----------
    q0 : float or 1-D array_like, >= 0
        Input second moment(s); a scalar gives results without a ``q0`` axis.
    n_layers : int, >= 0
        Depth.
    noise : NoisyNetwork or NoiseModel
        The network, or its noise level or a 1-D family (results get a leading family axis).
    sigma_w2, sigma_b2 : float or 1-D array, >= 0, optional
    activation : str, Activation or callable, optional
    n_inputs : int
        Inputs per value of ``q0`` (the paper: 50).
    n_networks : int
        Independent networks (the paper: 50, the default).
    width : int, optional
        Default: the network's (1000).
    seed : int
    device : None, str or torch.device
    method : {"auto", "weights", "gram"}

    Returns
    -------
    VarianceDynamicsResult
        ``mean``/``std`` of :math:`q^l` over networks and inputs, per layer.

    Notes
    -----
    The large-width limit iterates the variance map, :math:`q^{l} = \mathcal{V}(q^{l-1})`
    (:func:`nsp_helpers.theory.iterate_variance`). For ReLU with :math:`\sigma_b = 0` and
    multiplicative noise,

    .. math::

        q^l = \Bigl(\frac{\sigma_w^2 \mu_2}{2}\Bigr)^{l} q^0,

    which is constant only at criticality :math:`\sigma_w^2 = 2/\mu_2`. Off criticality float32
    overflows (``inf``, then ``nan``) or underflows (``0``) after a few hundred layers; the mean and
    std report that (Fig. 6a) rather than hiding it.

    References
    ----------
    .. [1] Pretorius et al. (2018), Figs. 2(b), 3(b) and 6(a), arXiv:1811.00293.

    Examples
    --------
    >>> from nsp_helpers.noise import NoNoise
    >>> res = simulate_variance_dynamics(4.0, 3, NoNoise(), sigma_w2=2.0, n_inputs=5, n_networks=2, width=100,
    ...                                  device="cpu")
    >>> res.layers.tolist(), res.mean.shape, float(res.mean[0])
    ([0, 1, 2, 3], (4,), 4.0)
    """
    q0_arr = check_in_range("q0", q0, 0.0, _Q0_MAX, max_ndim=1, hint=_Q0_HINT)
    n_layers = _check_int("n_layers", n_layers, 0)
    n_inputs = _check_int("n_inputs", n_inputs, 1)
    n_networks = _check_int("n_networks", n_networks, 1)
    q0_1d = np.atleast_1d(q0_arr)
    net = _network(noise, sigma_w2, sigma_b2, activation, width=width, input_width=width, n_layers=n_layers)
    sizes = {"n_layers": n_layers, "n_inputs": n_inputs, "n_networks": n_networks, "width": net.width}
    with caller_sizes(sizes if q0_arr.ndim == 0 else dict(sizes, **{"len(q0)": q0_1d.size})):
        h0 = inputs_with_variance(q0_1d, n_inputs, net.width, seed=seed)
        out = propagate(h0, net, n_networks=n_networks, seed=seed, device=device, method=method)
    q = out.q  # F + (L+1, n_networks, n_q0 * n_inputs)
    q = q.reshape(q.shape[:-1] + (q0_1d.size, n_inputs))
    q = np.moveaxis(q, -2, -4)  # F + (n_q0, L+1, n_networks, n_inputs)
    if q0_arr.ndim == 0:
        q = q[..., 0, :, :, :]
    mean, std = _stats(q)
    return VarianceDynamicsResult(q0=q0_arr, layers=np.arange(n_layers + 1),
                                  mean=mean, std=std, q=q)


def simulate_correlation_map(
    c0_values,
    q0,
    noise=None,
    sigma_w2=None,
    sigma_b2=None,
    activation=None,
    *,
    n_pairs: int = 50,
    n_networks: int = 50,
    width: int | None = None,
    seed: int = 0,
    device=None,
    method: str = "auto",
    shared_reference: bool = False,
    fresh_inputs: bool = False,
) -> CorrelationMapResult:
    r"""Measure the one-layer correlation map :math:`c^0 \mapsto c^1` (Pretorius et al. Fig. 4a).

    Introduced in the chapter *Correlations* (``book/correlations.md``).

    Parameters
    ----------
    c0_values : 1-D array_like, in [-1, 1]
        Input cosine similarities.
    q0 : float, > 0
        Second moment of every input (use the fixed point :math:`q^*` to reproduce the figure).
    noise : NoisyNetwork or NoiseModel
        The network, or its noise level or a 1-D family (results get a leading family axis).
    sigma_w2, sigma_b2 : float or 1-D array, >= 0, optional
    activation : str, Activation or callable, optional
    n_pairs : int
        Pairs per value of ``c0`` (the paper: 50 trials).
    n_networks : int
        Independent networks (the paper: 50, the default).
    width : int, optional
    seed : int
    device : None, str or torch.device
    method : {"auto", "weights", "gram"}
    shared_reference : bool
        ``False`` (default): ``n_pairs`` independent pairs per value of ``c0`` (:func:`input_pairs`), all
        through the same networks. ``True``: the design of the authors' code, one reference input and
        ``n_pairs`` partners per value of ``c0`` (:func:`input_partners`), each value of ``c0`` through
        its own ``n_networks`` networks: ``1 + n_pairs`` inputs per call, which keeps the exact Gram
        sampler cheap.
    fresh_inputs : bool
        Every network draws its own pairs (independent pairs only); see :func:`simulate_variance_map`.

    Returns
    -------
    CorrelationMapResult
        ``mean``/``std`` of the cosine similarity :math:`c^1` over networks and pairs, per ``c0``.

    Notes
    -----
    The large-width limit is :func:`nsp_helpers.theory.correlation_map`,

    .. math::

        c^1 = \frac{\sigma_w^2\,\mathbb{E}[\phi(u_a)\phi(u_b)] + \sigma_b^2}{q^1},

    where :math:`u_a, u_b` are Gaussian with variance :math:`q^0` and correlation :math:`c^0`, and the
    noise enters only through :math:`q^1` (the two inputs get independent noise). The simulated
    :math:`c` is the cosine similarity, not the Pearson correlation of the authors' code.

    References
    ----------
    .. [1] Pretorius et al. (2018), Fig. 4(a), arXiv:1811.00293.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> res = simulate_correlation_map([0.0, 0.5], 1.0, Dropout(0.6), n_pairs=3, n_networks=2, width=100,
    ...                                device="cpu")
    >>> res.mean.shape, res.c1.shape
    ((2,), (2, 2, 3))
    """
    c0 = check_in_range("c0_values", c0_values, -1.0, 1.0, max_ndim=1)
    c0 = np.atleast_1d(c0)
    if c0.size == 0:
        raise InvalidParameterError("c0_values must hold at least one cosine similarity, got an empty array")
    q0 = check_float("q0", q0, 0.0, _Q0_MAX, low_open=True, hint=_Q0_HINT)
    n_pairs = _check_int("n_pairs", n_pairs, 1)
    n_networks = _check_int("n_networks", n_networks, 1)
    net = _network(noise, sigma_w2, sigma_b2, activation, width=width, input_width=width, n_layers=1)
    with caller_sizes({"n_pairs": n_pairs, "n_networks": n_networks, "width": net.width, "len(c0_values)": c0.size}):
        c1 = _pair_samples(c0, q0, net, n_pairs=n_pairs, n_networks=n_networks, seed=seed, device=device, method=method,
                           shared_reference=bool(shared_reference), fresh_inputs=bool(fresh_inputs), layer=1)
    mean, std = _stats(c1)
    return CorrelationMapResult(c0=c0, q0=float(q0), mean=mean, std=std, c1=c1)


def simulate_correlation_dynamics(
    c0,
    n_layers: int,
    q0,
    noise=None,
    sigma_w2=None,
    sigma_b2=None,
    activation=None,
    *,
    n_pairs: int = 100,
    n_networks: int = 50,
    width: int | None = None,
    seed: int = 0,
    device=None,
    method: str = "auto",
    shared_reference: bool = False,
) -> CorrelationDynamicsResult:
    r"""Measure the cosine similarity :math:`c^l` layer by layer (Pretorius et al. Fig. 4b).

    Introduced in the chapter *Correlations* (``book/correlations.md``).

    Parameters
    ----------
    c0 : float or 1-D array_like, in [-1, 1]
        Input cosine similarity (or similarities); a scalar gives results without a ``c0`` axis.
    n_layers : int, >= 0
    q0 : float, > 0
        Second moment of every input.
    noise : NoisyNetwork or NoiseModel
        The network, or its noise level or a 1-D family (results get a leading family axis).
    sigma_w2, sigma_b2 : float or 1-D array, >= 0, optional
    activation : str, Activation or callable, optional
    n_pairs : int
        Pairs per value of ``c0`` (the paper: 100 partners of one reference input).
    n_networks : int
        Independent networks (the paper: 50, the default).
    width : int, optional
    seed : int
    device : None, str or torch.device
    method : {"auto", "weights", "gram"}
    shared_reference : bool
        ``True``: the paper's design, one reference input and ``n_pairs`` partners per value of ``c0``, each
        value through its own networks (see :func:`simulate_correlation_map`); ``False`` (default):
        independent pairs.

    Returns
    -------
    CorrelationDynamicsResult
        ``mean``/``std`` of :math:`c^l` over networks and pairs, per layer.

    Notes
    -----
    The large-width limit iterates the correlation map (:func:`nsp_helpers.theory.iterate_correlation`)
    towards the fixed point :math:`c^*` (:func:`nsp_helpers.theory.correlation_fixed_point`), which is
    below 1 for any noise: noisy networks forget how similar their inputs were,

    .. math::

        c^{l} = \mathcal{C}(c^{l-1}, q^{l-1}) \to c^* .

    References
    ----------
    .. [1] Pretorius et al. (2018), Fig. 4(b), arXiv:1811.00293.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> res = simulate_correlation_dynamics([0.0, 0.9], 2, 1.0, Dropout(0.6), n_pairs=3, n_networks=2,
    ...                                     width=100, device="cpu")
    >>> res.mean.shape, [round(float(v), 6) for v in res.mean[:, 0]]
    ((2, 3), [0.0, 0.9])
    """
    c0_arr = check_in_range("c0", c0, -1.0, 1.0, max_ndim=1)
    q0 = check_float("q0", q0, 0.0, _Q0_MAX, low_open=True, hint=_Q0_HINT)
    n_layers = _check_int("n_layers", n_layers, 0)
    n_pairs = _check_int("n_pairs", n_pairs, 1)
    n_networks = _check_int("n_networks", n_networks, 1)
    c0_1d = np.atleast_1d(c0_arr)
    net = _network(noise, sigma_w2, sigma_b2, activation, width=width, input_width=width, n_layers=n_layers)
    sizes = {"n_layers": n_layers, "n_pairs": n_pairs, "n_networks": n_networks, "width": net.width}
    with caller_sizes(sizes if c0_arr.ndim == 0 else dict(sizes, **{"len(c0)": c0_1d.size})):
        c = _pair_samples(c0_1d, q0, net, n_pairs=n_pairs, n_networks=n_networks, seed=seed, device=device,
                          method=method, shared_reference=bool(shared_reference))  # F + (n_c0, L+1, n_networks, n_pairs)
    if c0_arr.ndim == 0:
        c = c[..., 0, :, :, :]
    mean, std = _stats(c)
    return CorrelationDynamicsResult(c0=c0_arr, q0=float(q0), layers=np.arange(n_layers + 1), mean=mean, std=std,
                                     c=c)


# ------------------------------------------------------------------------------------------------
# sizes that grow on a GPU
# ------------------------------------------------------------------------------------------------
def scaled(cpu_value: Any, gpu_value: Any, device=None) -> Any:
    """The simulation size to use on the current device: ``gpu_value`` on a GPU, else ``cpu_value``.

    Chapters whose experiments are too large for a 2-core CPU call it, so that they run in about a minute
    there and at larger sizes automatically when a GPU is present. (Pretorius et al.'s Figs. 2-5 need it
    no longer: the exact Gram sampler runs them at the paper's sizes on a CPU.)

    Used in the chapter *Variance depth on real data* (``book/variance_depth.md``).

    Parameters
    ----------
    cpu_value, gpu_value : any
        The values for a CPU and for an accelerator.
    device : None, str or torch.device
        ``None`` means the automatic device (:func:`nsp_helpers.device.resolve_device`).

    Returns
    -------
    any
        ``gpu_value`` if the resolved device is not the CPU, else ``cpu_value``.

    Examples
    --------
    >>> scaled(5, 50, device="cpu")
    5
    """
    return cpu_value if resolve_device(device).type == "cpu" else gpu_value
