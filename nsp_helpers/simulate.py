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

All networks of one call run batched (one :func:`torch.bmm`/:func:`torch.baddbmm` per layer over a
network axis) on the device chosen by :func:`nsp_helpers.device.resolve_device` (a GPU
automatically when present). Only the current layer is kept in memory, and networks are processed
in chunks so that the buffers of one chunk stay below ``chunk_bytes`` (256 MiB by default). Every
call is seeded: the same seed on the same device gives identical numbers (CPU and GPU draw
different numbers from the same seed).

Speed. Drawing :math:`N^2` fresh Gaussian weights per network and layer costs about as much as the
matrix product with a few hundred inputs, so the simulator (see ``benchmarks/bench_simulate.py``)
draws them in place with the scale folded in (``normal_(0, std)``), on the CPU from four
independent generator streams in parallel threads; it writes each layer over the previous one,
applies ReLU into a reused buffer and dropout with integer bit operations (the ``1/keep_prob``
of inverted dropout is folded into the weights); other noise models go through
:meth:`nsp_helpers.noise.NoiseModel.apply`. Use a batch of about a thousand inputs (all values of
``q0``/``c0`` share the networks of one call) to keep the matrix product dominant.

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
.. [2] W. Huang, R. Y. Da Xu, W. Du, Y. Zeng, Y. Zhao. *Mean field theory for deep dropout networks:
   digging up gradient backpropagation deeply.* ECAI 2020, arXiv:1912.09132.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch

from .activations import ACTIVATIONS, get_activation
from .device import resolve_device
from .errors import InvalidParameterError, as_float_array, check_in_range, check_int
from .noise import Dropout, NoiseModel, NoNoise

__all__ = [
    "Propagation",
    "VarianceMapResult",
    "VarianceDynamicsResult",
    "CorrelationMapResult",
    "CorrelationDynamicsResult",
    "propagate",
    "inputs_with_variance",
    "input_pairs",
    "simulate_variance_map",
    "simulate_variance_dynamics",
    "simulate_correlation_map",
    "simulate_correlation_dynamics",
    "scaled",
]

#: default upper bound on the memory taken by the weights of one chunk of networks (bytes)
DEFAULT_CHUNK_BYTES = 256 * 2**20


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
    """

    q: np.ndarray
    c: np.ndarray | None = None
    pairs: np.ndarray | None = None
    activations: list | None = field(default=None, repr=False)
    width: int = 0
    device: str = "cpu"

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


def _check_noise(noise) -> NoiseModel:
    if not isinstance(noise, NoiseModel):
        raise InvalidParameterError(
            "noise must be a nsp_helpers.noise.NoiseModel such as NoNoise(), Dropout(keep_prob=0.6) or "
            f"AdditiveGaussian(std=1.0), got {noise!r}"
        )
    if len(noise.shape) > 1:
        raise InvalidParameterError(f"noise must be a single noise level or a 1-D family, got shape {noise.shape}")
    return noise


def _family(noise: NoiseModel, sigma_w2, sigma_b2):
    """Broadcast a noise family with arrays of sigma_w2/sigma_b2; return (shape, members)."""
    sw = check_in_range("sigma_w2", sigma_w2, 0.0, np.inf)
    sb = check_in_range("sigma_b2", sigma_b2, 0.0, np.inf)
    try:
        shape = np.broadcast_shapes(noise.shape, sw.shape, sb.shape)
    except ValueError as exc:
        raise InvalidParameterError(
            f"noise (shape {noise.shape}), sigma_w2 (shape {sw.shape}) and sigma_b2 (shape {sb.shape}) "
            "must broadcast to one family shape"
        ) from exc
    if len(shape) > 1:
        raise InvalidParameterError(f"noise, sigma_w2 and sigma_b2 must be scalars or 1-D arrays, got shape {shape}")
    if shape == ():
        return shape, [(noise, float(sw), float(sb))]
    sw = np.broadcast_to(sw, shape)
    sb = np.broadcast_to(sb, shape)
    members = [(noise[i] if noise.shape else noise, float(sw[i]), float(sb[i])) for i in range(shape[0])]
    return shape, members


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


def _check_pairs(pairs, n_inputs: int) -> np.ndarray:
    arr = np.asarray(pairs)
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
    n_layers: int,
    sigma_w2,
    sigma_b2=0.0,
    noise: NoiseModel = NoNoise(),
    activation="relu",
    *,
    n_networks: int | None = None,
    pairs=None,
    seed: int = 0,
    device=None,
    dtype=torch.float32,
    keep_activations: bool = False,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Propagation:
    r"""Propagate inputs through random noisy networks and measure :math:`q^l` (and :math:`c^l`).

    Introduced in the chapter *The variance map* (``book/variance_map.md``); the pair statistics in
    *Correlations* (``book/correlations.md``).

    Parameters
    ----------
    h0 : array_like or torch.Tensor, shape ``(n_inputs, width)`` or ``(n_networks, n_inputs, width)``
        Layer-0 pre-activations: shared by all networks (2-D) or one set per network (3-D).
    n_layers : int, >= 0
        Number of noisy layers to apply.
    sigma_w2 : float or 1-D array, >= 0
        Weight variance :math:`\sigma_w^2` (weights are :math:`\mathcal{N}(0, \sigma_w^2/N)`).
    sigma_b2 : float or 1-D array, >= 0
        Bias variance :math:`\sigma_b^2`.
    noise : NoiseModel
        A single noise level, or a 1-D family: members (broadcast with arrays of ``sigma_w2`` and
        ``sigma_b2``) are simulated one after another, each with the same ``seed``, and stacked on a
        leading axis.
    activation : str, Activation or callable
        See :func:`nsp_helpers.activations.get_activation`.
    n_networks : int, >= 1, optional
        Independent networks (fresh weights, biases and noise). Default 1 for 2-D ``h0``, and
        ``h0.shape[0]`` for 3-D ``h0`` (which it must then equal).
    pairs : array_like of int, shape ``(n_pairs, 2)``, optional
        Input indices whose cosine similarity is measured at every layer.
    seed : int, >= 0
        Seed of the ``torch.Generator`` objects (on the device) that draw weights, biases and noise;
        their own seeds are derived from it with :class:`numpy.random.SeedSequence`.
    device : None, str or torch.device
        ``None`` picks a GPU when present (:func:`nsp_helpers.device.resolve_device`).
    dtype : torch.dtype
        Working precision (default float32, as in the paper's experiments).
    keep_activations : bool
        Also return every layer's pre-activations (memory grows with depth; off by default).
    chunk_bytes : int
        Networks are processed in chunks whose buffers (weights, pre-activations, activations and
        dropout mask: about ``4 * (width**2 + 3 * n_inputs * width)`` bytes per network in float32)
        stay below this size, or one network at a time if a single network needs more.

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
    clipped to that interval. Results depend on ``seed``, the device, ``chunk_bytes`` and the order
    of the networks, but nothing else (not on the number of CPU threads).

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
    >>> out = propagate(h0, n_layers=3, sigma_w2=1.2, noise=Dropout(keep_prob=0.6), n_networks=2,
    ...                 pairs=[[0, 1]], device="cpu")
    >>> out.q.shape, out.c.shape
    ((4, 2, 4), (4, 2, 1))
    >>> bool(np.allclose(out.q[0], 1.0))
    True
    """
    n_layers = _check_int("n_layers", n_layers, 0)
    noise = _check_noise(noise)
    fam_shape, members = _family(noise, sigma_w2, sigma_b2)
    act = get_activation(activation)
    seed = _check_int("seed", seed, 0)
    chunk_bytes = _check_int("chunk_bytes", chunk_bytes, 1)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise InvalidParameterError(f"dtype must be a floating torch.dtype such as torch.float32, got {dtype!r}")
    dev = resolve_device(device)
    x0 = _as_inputs(h0, dtype, dev)
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
    n_inputs, width = x0.shape[-2], x0.shape[-1]
    pair_idx = None if pairs is None else _check_pairs(pairs, n_inputs)

    results = [
        _propagate_single(x0, n_layers, sw, sb, member, act, n_networks, pair_idx, seed, dev, dtype,
                          keep_activations, chunk_bytes)
        for member, sw, sb in members
    ]
    if fam_shape == ():
        q, c, acts = results[0]
    else:
        q = np.stack([r[0] for r in results])
        c = None if pair_idx is None else np.stack([r[1] for r in results])
        acts = None
        if keep_activations:
            acts = [torch.stack([r[2][layer] for r in results]) for layer in range(n_layers + 1)]
    return Propagation(q=q, c=c, pairs=pair_idx, activations=acts, width=int(width), device=str(dev))


def _derived_seeds(seed: int, tag: int, n: int) -> list[int]:
    """``n`` independent 63-bit seeds for the generators tagged ``tag`` (:class:`numpy.random.SeedSequence`)."""
    return [int(s) >> 1 for s in np.random.SeedSequence([seed, tag]).generate_state(n, dtype=np.uint64)]


class _RandomStreams:
    """Draw large random tensors from several independent generators at once.

    On the CPU a ``torch.Generator`` fills a tensor in one serial loop, which would make drawing the
    fresh weights as slow as the matrix product itself. The tensor is therefore cut into
    :attr:`N_STREAMS` contiguous slices, each filled by its own generator (seeded from ``seed``
    with :class:`numpy.random.SeedSequence`) in a thread of its own: ATen releases the GIL while
    it fills. The cut does not depend on the number of threads, so the numbers do not either. On a
    GPU one generator is already parallel and is used as is. The stream seeds are derived from
    ``seed`` (:func:`_derived_seeds`), so the streams never replay another generator's numbers.
    """

    N_STREAMS = 4
    MIN_PARALLEL = 2**16  # smaller tensors are filled by the first generator alone

    def __init__(self, seed: int, device, pool):
        self.pool = pool
        seeds = _derived_seeds(seed, 0x5EED, self.N_STREAMS if device.type == "cpu" else 1)
        self.generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]

    def _fill(self, tensor: torch.Tensor, fill) -> None:
        flat = tensor.view(-1)
        if len(self.generators) == 1 or flat.numel() < self.MIN_PARALLEL:
            fill(flat, self.generators[0])
            return
        slices = torch.tensor_split(flat, len(self.generators))
        if self.pool is None:
            for part, gen in zip(slices, self.generators):
                fill(part, gen)
        else:
            for future in [self.pool.submit(fill, part, gen) for part, gen in zip(slices, self.generators)]:
                future.result()

    def normal_(self, tensor: torch.Tensor, std: float) -> torch.Tensor:
        """Fill ``tensor`` (contiguous) with :math:`\\mathcal{N}(0, \\mathrm{std}^2)` in place."""
        self._fill(tensor, lambda part, gen: part.normal_(0.0, std, generator=gen))
        return tensor

    def random_(self, tensor: torch.Tensor, low: int, high: int) -> torch.Tensor:
        """Fill an integer tensor with integers uniform on ``[low, high)`` in place."""
        self._fill(tensor, lambda part, gen: part.random_(low, high, generator=gen))
        return tensor


_SAME_SIZE_INT = {torch.float32: torch.int32, torch.float64: torch.int64}


class _NoiseStep:
    """Apply one noise level to the activations of a chunk, in place where possible.

    Dropout has a fast path (float32 and float64). ``torch.bernoulli`` draws through a slow loop on
    the CPU and its mask is applied with a float multiplication; here the mask is made and applied
    with two integer operations on the activations' bit patterns:

    1. draw integers ``k`` of the activations' size (``b`` = 32 or 64 bits) uniform on
       ``[-T, 2**(b-1) - T)`` with ``T = round(keep_prob * 2**(b-1))`` (``Tensor.random_``, from the
       parallel streams of :class:`_RandomStreams`), so that ``k < 0`` with probability
       ``keep_prob`` (up to ``2**-b``);
    2. the arithmetic shift ``k >> (b - 1)`` is ``-1`` (all bits set) for a kept unit and ``0`` for a
       dropped one, and a bitwise AND of the activations with it keeps or zeroes (``+0.0``) each unit.

    Few passes matter more than few random draws: on a busy machine every multi-threaded
    elementwise operation waits for a time slice of each of its threads, whatever its size.
    Kept units are not divided by ``keep_prob`` here: :attr:`weight_gain` (``1/keep_prob``) is folded
    into the weight standard deviation, which gives the same layer output with one pass less. Every
    other noise model (subclasses of :class:`~nsp_helpers.noise.Dropout` and other precisions included)
    goes through :meth:`nsp_helpers.noise.NoiseModel.apply`.
    """

    def __init__(self, noise: NoiseModel, shape, generator, streams, device, dtype):
        self.noise = noise
        self.generator = generator
        self.streams = streams
        self.shape = tuple(shape)
        self.weight_gain = 1.0
        self.skip = noise.kind == "none"
        self.fast_dropout = type(noise) is Dropout and noise.shape == () and dtype in _SAME_SIZE_INT
        if self.fast_dropout:
            keep = float(noise.keep_prob)
            self.skip = keep == 1.0
            self.weight_gain = 1.0 / keep
            self.int_dtype = _SAME_SIZE_INT[dtype]
            n_bits = torch.iinfo(self.int_dtype).bits
            self.shift = n_bits - 1
            threshold = min(max(int(round(keep * 2 ** (n_bits - 1))), 1), 2 ** (n_bits - 1) - 1)
            self.low, self.high = -threshold, 2 ** (n_bits - 1) - threshold
            self.words = torch.empty(self.shape, dtype=self.int_dtype, device=device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.skip:
            return x
        if self.fast_dropout:
            self.streams.random_(self.words, self.low, self.high)  # negative with probability keep_prob
            self.words.bitwise_right_shift_(self.shift)  # -1 (kept) or 0 (dropped)
            x.view(self.int_dtype).bitwise_and_(self.words)
            return x
        return self.noise.apply(x, generator=self.generator)


def _propagate_single(x0, n_layers, sigma_w2, sigma_b2, noise, act, n_networks, pair_idx, seed, dev, dtype,
                      keep_activations, chunk_bytes):
    """One noise level: loop over chunks of networks, then over layers; all networks of a chunk batched.

    Per layer: activation (into a reused buffer for ReLU), noise, fresh weights drawn in place with
    the scale folded into ``normal_``, one ``bmm``/``baddbmm`` written over the previous layer.
    """
    gen = torch.Generator(device=dev)
    # derived, so that the networks never replay the numbers of inputs_with_variance(..., seed=seed)
    gen.manual_seed(_derived_seeds(seed, 0xB1A5, 1)[0])
    n_threads = min(_RandomStreams.N_STREAMS, torch.get_num_threads()) if dev.type == "cpu" else 1
    pool = ThreadPoolExecutor(n_threads) if n_threads > 1 else None
    try:
        return _propagate_chunks(x0, n_layers, sigma_w2, sigma_b2, noise, act, n_networks, pair_idx, seed, dev,
                                 dtype, keep_activations, chunk_bytes, gen, _RandomStreams(seed, dev, pool))
    finally:
        if pool is not None:
            pool.shutdown()


def _propagate_chunks(x0, n_layers, sigma_w2, sigma_b2, noise, act, n_networks, pair_idx, seed, dev, dtype,
                      keep_activations, chunk_bytes, gen, streams):
    n_inputs, width = x0.shape[-2], x0.shape[-1]
    itemsize = torch.empty((), dtype=dtype).element_size()
    per_network = itemsize * (width * width + 3 * n_inputs * width)  # weights, h, activations, dropout mask
    chunk = max(1, min(n_networks, chunk_bytes // per_network))
    b_std = math.sqrt(sigma_b2)
    n_pairs = 0 if pair_idx is None else len(pair_idx)
    fast_relu = act is ACTIVATIONS["relu"]

    q = torch.empty((n_layers + 1, n_networks, n_inputs), dtype=dtype, device=dev)
    c = torch.empty((n_layers + 1, n_networks, n_pairs), dtype=dtype, device=dev)
    acts = [[] for _ in range(n_layers + 1)] if keep_activations else None
    if n_pairs:
        ia = torch.as_tensor(pair_idx[:, 0], device=dev)
        ib = torch.as_tensor(pair_idx[:, 1], device=dev)

    m_buf = 0
    for start in range(0, n_networks, chunk):
        stop = min(n_networks, start + chunk)
        m = stop - start
        if m != m_buf:  # (re)allocate the buffers of a chunk: at most twice per call
            m_buf = m
            weights = torch.empty((m, width, width), dtype=dtype, device=dev)
            bias = torch.empty((m, 1, width), dtype=dtype, device=dev) if b_std > 0 else None
            x_buf = torch.empty((m, n_inputs, width), dtype=dtype, device=dev) if fast_relu else None
            noise_step = _NoiseStep(noise, (m, n_inputs, width), gen, streams, dev, dtype)
            w_std = math.sqrt(sigma_w2 / width) * noise_step.weight_gain
        h = (x0[start:stop] if x0.dim() == 3 else x0.expand(m, n_inputs, width)).clone()
        for layer in range(n_layers + 1):
            if layer > 0:
                if fast_relu:
                    x = torch.clamp_min(h, 0.0, out=x_buf)
                else:
                    x = act(h)
                    if x.untyped_storage().data_ptr() == h.untyped_storage().data_ptr():
                        x = x.clone()  # e.g. the linear activation returns h itself
                x = noise_step(x)
                streams.normal_(weights, w_std)
                if bias is not None:
                    bias.normal_(0.0, b_std, generator=gen)
                    torch.baddbmm(bias, x, weights, out=h)
                else:
                    torch.bmm(x, weights, out=h)
            _measure(h, q[layer, start:stop], c[layer, start:stop] if n_pairs else None,
                     ia if n_pairs else None, ib if n_pairs else None)
            if keep_activations:
                acts[layer].append(h.clone())

    q_np = q.double().cpu().numpy()
    c_np = c.double().cpu().numpy() if pair_idx is not None else None
    if keep_activations:
        acts = [torch.cat(a) for a in acts]
    return q_np, c_np, acts


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
    sigma_w2,
    sigma_b2,
    noise: NoiseModel,
    activation="relu",
    *,
    n_inputs: int = 30,
    n_networks: int = 5,
    width: int = 1000,
    seed: int = 0,
    device=None,
) -> VarianceMapResult:
    r"""Measure the one-layer variance map :math:`q^0 \mapsto q^1` (Pretorius et al. Figs. 2a, 3a).

    Introduced in the chapter *The variance map* (``book/variance_map.md``).

    Parameters
    ----------
    q0_values : 1-D array_like, >= 0
        Input second moments.
    sigma_w2, sigma_b2 : float or 1-D array, >= 0
        Weight and bias variances (arrays broadcast with a noise family).
    noise : NoiseModel
        Noise level, or a 1-D family (results get a leading family axis).
    activation : str, Activation or callable
    n_inputs : int
        Inputs per value of ``q0`` (the paper used 30).
    n_networks : int
        Independent networks (the paper used 50).
    width : int
        Units per layer (the paper used 1000).
    seed : int
    device : None, str or torch.device

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
    >>> res = simulate_variance_map([1.0, 2.0], sigma_w2=1.2, sigma_b2=0.0, noise=Dropout(0.6),
    ...                             n_inputs=5, n_networks=2, width=100, device="cpu")
    >>> res.mean.shape, res.q1.shape
    ((2,), (2, 2, 5))
    """
    q0 = check_in_range("q0_values", q0_values, 0.0, np.inf, max_ndim=1)
    q0 = np.atleast_1d(q0)
    n_inputs = _check_int("n_inputs", n_inputs, 1)
    n_networks = _check_int("n_networks", n_networks, 1)
    width = _check_int("width", width, 1)
    h0 = inputs_with_variance(q0, n_inputs, width, seed=seed)
    out = propagate(h0, 1, sigma_w2, sigma_b2, noise, activation, n_networks=n_networks, seed=seed, device=device)
    q1 = out.q[..., 1, :, :]  # F + (n_networks, n_q0 * n_inputs)
    q1 = q1.reshape(q1.shape[:-1] + (q0.size, n_inputs))
    q1 = np.moveaxis(q1, -3, -2)  # F + (n_q0, n_networks, n_inputs)
    mean, std = _stats(q1)
    return VarianceMapResult(q0=q0, mean=mean, std=std, q1=q1)


def simulate_variance_dynamics(
    q0,
    n_layers: int,
    sigma_w2,
    sigma_b2,
    noise: NoiseModel,
    activation="relu",
    *,
    n_inputs: int = 50,
    n_networks: int = 5,
    width: int = 1000,
    seed: int = 0,
    device=None,
) -> VarianceDynamicsResult:
    r"""Measure :math:`q^l` layer by layer from :math:`q^0` (Pretorius et al. Figs. 2b, 3b).

    Introduced in the chapter *The variance map* (``book/variance_map.md``).

    Parameters
    ----------
    q0 : float or 1-D array_like, >= 0
        Input second moment(s); a scalar gives results without a ``q0`` axis.
    n_layers : int, >= 0
        Depth.
    sigma_w2, sigma_b2 : float or 1-D array, >= 0
    noise : NoiseModel
        Noise level, or a 1-D family (results get a leading family axis).
    activation : str, Activation or callable
    n_inputs : int
        Inputs per value of ``q0`` (the paper used 50).
    n_networks : int
        Independent networks (the paper used 50).
    width : int
    seed : int
    device : None, str or torch.device

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
    >>> res = simulate_variance_dynamics(4.0, n_layers=3, sigma_w2=2.0, sigma_b2=0.0, noise=NoNoise(),
    ...                                  n_inputs=5, n_networks=2, width=100, device="cpu")
    >>> res.layers.tolist(), res.mean.shape, float(res.mean[0])
    ([0, 1, 2, 3], (4,), 4.0)
    """
    q0_arr = check_in_range("q0", q0, 0.0, np.inf, max_ndim=1)
    n_layers = _check_int("n_layers", n_layers, 0)
    n_inputs = _check_int("n_inputs", n_inputs, 1)
    n_networks = _check_int("n_networks", n_networks, 1)
    width = _check_int("width", width, 1)
    q0_1d = np.atleast_1d(q0_arr)
    h0 = inputs_with_variance(q0_1d, n_inputs, width, seed=seed)
    out = propagate(h0, n_layers, sigma_w2, sigma_b2, noise, activation, n_networks=n_networks, seed=seed,
                    device=device)
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
    sigma_w2,
    sigma_b2,
    noise: NoiseModel,
    activation="relu",
    *,
    n_pairs: int = 50,
    n_networks: int = 5,
    width: int = 1000,
    seed: int = 0,
    device=None,
) -> CorrelationMapResult:
    r"""Measure the one-layer correlation map :math:`c^0 \mapsto c^1` (Pretorius et al. Fig. 4a).

    Introduced in the chapter *Correlations* (``book/correlations.md``).

    Parameters
    ----------
    c0_values : 1-D array_like, in [-1, 1]
        Input cosine similarities.
    q0 : float, > 0
        Second moment of every input (use the fixed point :math:`q^*` to reproduce the figure).
    sigma_w2, sigma_b2 : float or 1-D array, >= 0
    noise : NoiseModel
        Noise level, or a 1-D family (results get a leading family axis).
    activation : str, Activation or callable
    n_pairs : int
        Pairs per value of ``c0``.
    n_networks : int
        Independent networks (the paper used 50).
    width : int
    seed : int
    device : None, str or torch.device

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
    >>> res = simulate_correlation_map([0.0, 0.5], 1.0, sigma_w2=1.2, sigma_b2=0.0, noise=Dropout(0.6),
    ...                                n_pairs=3, n_networks=2, width=100, device="cpu")
    >>> res.mean.shape, res.c1.shape
    ((2,), (2, 2, 3))
    """
    c0 = check_in_range("c0_values", c0_values, -1.0, 1.0, max_ndim=1)
    c0 = np.atleast_1d(c0)
    n_pairs = _check_int("n_pairs", n_pairs, 1)
    n_networks = _check_int("n_networks", n_networks, 1)
    h0, pairs = input_pairs(c0, q0, n_pairs, width, seed=seed)
    out = propagate(h0, 1, sigma_w2, sigma_b2, noise, activation, n_networks=n_networks, pairs=pairs, seed=seed,
                    device=device)
    c1 = out.c[..., 1, :, :]
    c1 = c1.reshape(c1.shape[:-1] + (c0.size, n_pairs))
    c1 = np.moveaxis(c1, -3, -2)
    mean, std = _stats(c1)
    return CorrelationMapResult(c0=c0, q0=float(q0), mean=mean, std=std, c1=c1)


def simulate_correlation_dynamics(
    c0,
    n_layers: int,
    q0,
    sigma_w2,
    sigma_b2,
    noise: NoiseModel,
    activation="relu",
    *,
    n_pairs: int = 100,
    n_networks: int = 5,
    width: int = 1000,
    seed: int = 0,
    device=None,
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
    sigma_w2, sigma_b2 : float or 1-D array, >= 0
    noise : NoiseModel
        Noise level, or a 1-D family (results get a leading family axis).
    activation : str, Activation or callable
    n_pairs : int
        Pairs per value of ``c0`` (the paper used 100 partners).
    n_networks : int
    width : int
    seed : int
    device : None, str or torch.device

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
    >>> res = simulate_correlation_dynamics([0.0, 0.9], 2, 1.0, sigma_w2=1.2, sigma_b2=0.0,
    ...                                     noise=Dropout(0.6), n_pairs=3, n_networks=2, width=100,
    ...                                     device="cpu")
    >>> res.mean.shape, [round(float(v), 6) for v in res.mean[:, 0]]
    ((2, 3), [0.0, 0.9])
    """
    c0_arr = check_in_range("c0", c0, -1.0, 1.0, max_ndim=1)
    n_layers = _check_int("n_layers", n_layers, 0)
    n_pairs = _check_int("n_pairs", n_pairs, 1)
    n_networks = _check_int("n_networks", n_networks, 1)
    c0_1d = np.atleast_1d(c0_arr)
    h0, pairs = input_pairs(c0_1d, q0, n_pairs, width, seed=seed)
    out = propagate(h0, n_layers, sigma_w2, sigma_b2, noise, activation, n_networks=n_networks, pairs=pairs,
                    seed=seed, device=device)
    c = out.c  # F + (L+1, n_networks, n_c0 * n_pairs)
    c = c.reshape(c.shape[:-1] + (c0_1d.size, n_pairs))
    c = np.moveaxis(c, -2, -4)  # F + (n_c0, L+1, n_networks, n_pairs)
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

    Chapters call it so that they run in about a minute on a 2-core CPU and use the paper's full
    sizes automatically when a GPU is present.

    Introduced in the chapter *The variance map* (``book/variance_map.md``).

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
