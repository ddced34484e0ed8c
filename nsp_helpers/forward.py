r"""The one noisy forward pass (torch, any device): the simulator, the trainer, the variance-depth experiment
and the gradient code all run their networks through this module.

A network is a :class:`~nsp_helpers.network.NoisyNetwork`. Layer :math:`l = 1, \dots, L` computes

.. math::

    x^{l-1} = \mathrm{noise}\bigl(\phi(h^{l-1})\bigr), \qquad h^{l} = x^{l-1} W^{l} + b^{l},

(rows are inputs; :math:`\phi` is skipped on the first layer when ``input_activation=False``, and the noise
when ``noise_on_input=False``), followed, if the network has one, by a linear read-out
:math:`y = \mathrm{noise}(\phi(h^L))\, W^{L+1} + b^{L+1}`.

What runs together
------------------
Many networks run as one *stack*: layer :math:`l` is one batched matrix product (:func:`torch.baddbmm`)
over the networks that have a layer :math:`l`. Networks may have different depths, noise levels and
weight variances (the trainer's grid; the variance-depth experiment's 25 values of :math:`\sigma_w^2`):
they are sorted deepest first, so the networks with a layer :math:`l` are a prefix of the stack, and a
network that ends leaves the stack there and rejoins the others for one batched read-out. Nothing is
padded and no network computes a layer it does not have.

Where the weights come from
---------------------------
* :class:`NoisyMLP` (a ``torch.nn.Module``) holds them as parameters (the trainer, autograd);
* :func:`forward` draws them afresh for the call, layer by layer, into one reused buffer, so a
  simulation of many deep networks holds one layer's weights at a time, in chunks of networks bounded
  by ``chunk_bytes`` (the simulator and the variance-depth experiment);
* or integrates them out (``method="gram"``): at initialisation, given the previous layer, the
  pre-activations of a batch of :math:`B` inputs are *exactly* Gaussian, :math:`h_{:,i} \sim
  \mathcal{N}(0, \frac{\sigma_w^2}{N_{l-1}} X X^\top + \sigma_b^2 \mathbf{1}\mathbf{1}^\top)`
  independently for every unit :math:`i`, with :math:`X = x^{l-1}` (inputs as rows). With the Cholesky
  factor :math:`L L^\top = \frac{\sigma_w^2}{N_{l-1}} X X^\top`,

  .. math::

      h^{l} = L Z + \mathbf{1} b^\top,
      \qquad Z_{ki} \sim \mathcal{N}(0, 1),\ b_i \sim \mathcal{N}(0, \sigma_b^2),

  which costs :math:`O(N_{l-1} B^2 + B^2 N_l)` operations and :math:`B N_l` random numbers instead of the
  :math:`O(B N_{l-1} N_l)` operations and :math:`N_{l-1} N_l` random numbers of a weight matrix. It is
  exact (not an approximation) in distribution, including degenerate :math:`X` (identical inputs: a
  singular Gram matrix gets the square root of its eigendecomposition instead of a Cholesky factor).
  In the working precision, as the weight path's products are (float32 by default), the Gram matrix and its
  Cholesky factor carry rounding of about :math:`\sqrt{N_{l-1}}\,2^{-24}` of :math:`\|x_a\|\|x_b\|` (the
  factorisation is backward stable), the order of the rounding of the weight path's :math:`x W`, far below
  what any Monte Carlo estimate resolves; a network whose float32 Gram matrix would overflow or lose its small
  entries, and a factorisation that fails, are redone in float64. The weights it integrates out are
  different for every call, so it serves one-pass measurements only. ``method="auto"`` (the default of
  :func:`forward`) picks it when it is cheaper and no weights or gradients are asked for, and never for
  orthogonal weights (``NoisyNetwork(weights="orthogonal")``), whose pre-activations are not exactly
  Gaussian: ``method="gram"`` refuses them.

Random numbers
--------------
The weights of network :math:`g` at layer :math:`l` depend only on the network's seed and :math:`l`
(:func:`draw_weights_`): the simulator, :class:`NoisyMLP` and the gradient code draw bit-identical
weights for the same seed, whichever order and chunks they draw them in. Network seeds come from the
call's seed (:func:`network_seeds`). Noise is drawn layer after layer from one stream per call (per
chunk of networks in :func:`forward`), and ``method="gram"`` draws its :math:`Z` from another. Every
tensor is filled by ``RandomStreams`` of ``nsp_helpers._random`` (parallel streams on the CPU).

Dropout goes through :meth:`nsp_helpers.noise.NoiseModel.apply`, the one implementation of the noise
(integer bit operations for dropout); without autograd it works in place on reused buffers.

Introduced in the chapter *Noisy networks* (``book/noisy_networks.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from . import _random
from ._random import RandomStreams, derived_seeds
from .activations import ACTIVATIONS
from .device import resolve_device
from .errors import InvalidParameterError, check_bool, check_choice, check_float, check_int, check_ints, check_memory
from .network import NoisyNetwork, as_network
from .noise import NoiseModel

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "ForwardResult",
    "NoisyMLP",
    "draw_biases_",
    "draw_weights_",
    "forward",
    "network_seeds",
    "run_networks",
]

#: default bound on the memory of the buffers of one chunk of networks in :func:`forward` (bytes)
DEFAULT_CHUNK_BYTES = 256 * 2**20
METHODS = ("auto", "weights", "gram")
# cost of one Gaussian random number in multiply-adds, for the automatic choice of method
_RNG_COST = 8.0
#: most networks one call draws seeds for (2**30 seeds already take 8 GiB)
_MAX_NETWORKS = 2**30


# ------------------------------------------------------------------------------------------------
# seeds and weights
# ------------------------------------------------------------------------------------------------
def network_seeds(seed: int, n_networks: int, *tags: int) -> list[int]:
    """The seeds of ``n_networks`` independent networks drawn from ``seed`` (and optional ``tags``).

    Examples
    --------
    >>> network_seeds(0, 3) == network_seeds(0, 3), network_seeds(0, 3)[:2] == network_seeds(0, 2)
    (True, True)
    """
    seed = check_int("seed", seed, 0)
    n_networks = check_int("n_networks", n_networks, 1, _MAX_NETWORKS)
    tags = check_ints("tags", list(tags), 0, min_length=0)
    return derived_seeds(seed, _random.NETWORKS, *tags, n=n_networks)


def _check_draw(network_seed, layer, std) -> None:
    """The arguments of :func:`draw_weights_` and :func:`draw_biases_`."""
    check_int("network_seed", network_seed, 0)
    check_int("layer", layer, 0)
    check_float("std", std, 0.0)


def draw_weights_(out: torch.Tensor, network_seed: int, layer: int, std: float, kind: str = "gaussian") -> torch.Tensor:
    r"""Fill ``out`` (contiguous, ``(fan_in, fan_out)``) with the weights of layer ``layer`` of the network
    seeded ``network_seed``, in place.

    The one implementation of the weight draw: the same seed, layer, std and kind give the same bits on a
    device whatever else was drawn before.

    ``kind="gaussian"`` (default): independent :math:`\mathcal{N}(0, \mathrm{std}^2)` entries.
    ``kind="orthogonal"``: the same Gaussian draw turned into a Haar-random matrix with orthonormal columns
    (``fan_in >= fan_out``) or rows, by a QR decomposition in float64 with the signs of :math:`R`'s
    diagonal moved into :math:`Q`, then scaled by :math:`\mathrm{std}\sqrt{\max(\mathrm{fan\_in},
    \mathrm{fan\_out})}` so that its entries have mean square :math:`\mathrm{std}^2`, as the Gaussian
    ones. With ``std`` :math:`= \sigma_w/\sqrt{\mathrm{fan\_in}}` and ``fan_in >= fan_out`` this is
    ``torch.nn.init.orthogonal_`` (and TensorFlow's orthogonal initializer) with gain :math:`\sigma_w`; a
    square layer then multiplies every norm by exactly :math:`\sigma_w`.

    Examples
    --------
    >>> w = draw_weights_(torch.empty(50, 30), 7, 1, 0.2, kind="orthogonal")
    >>> torch.allclose(w.T @ w, torch.eye(30) * 0.2**2 * 50, atol=1e-5)
    True
    """
    _check_draw(network_seed, layer, std)
    kind = check_choice("kind", kind, ("gaussian", "orthogonal"))
    streams = RandomStreams(_random.WEIGHTS, network_seed, layer, device=out.device)
    if kind == "gaussian":
        return streams.normal_(out, 0.0, std)
    if out.dim() != 2:
        raise InvalidParameterError(f"out must be a (fan_in, fan_out) matrix for orthogonal weights, got shape {tuple(out.shape)}")
    fan_in, fan_out = out.shape
    streams.normal_(out, 0.0, 1.0)
    tall = out.double() if fan_in >= fan_out else out.double().T
    q, r = torch.linalg.qr(tall)  # q: orthonormal columns
    signs = torch.sign(torch.diagonal(r))
    q = q * torch.where(signs == 0, torch.ones_like(signs), signs)  # Haar measure, not QR's convention
    q = q if fan_in >= fan_out else q.T
    return out.copy_(q.mul_(std * math.sqrt(max(fan_in, fan_out))))


def draw_biases_(out: torch.Tensor, network_seed: int, layer: int, std: float) -> torch.Tensor:
    r"""Fill ``out`` with the biases :math:`\mathcal{N}(0, \mathrm{std}^2)` of one layer (zeros if ``std == 0``)."""
    _check_draw(network_seed, layer, std)
    if std == 0.0:
        return out.zero_()
    return RandomStreams(_random.BIASES, network_seed, layer, device=out.device).normal_(out, 0.0, std)


# ------------------------------------------------------------------------------------------------
# the stack: networks that run together
# ------------------------------------------------------------------------------------------------
def _stack_noise(noises: Sequence[NoiseModel]) -> NoiseModel:
    """One noise level if all networks share it, else a family with one member per network."""
    first = noises[0]
    if all(n == first for n in noises[1:]):
        return first
    if any(type(n) is not type(first) for n in noises):
        raise InvalidParameterError(
            "networks that run together must use one kind of noise (e.g. all Dropout), got "
            + ", ".join(sorted({type(n).__name__ for n in noises}))
        )
    return type(first)(*[np.array([float(getattr(n, p)) for n in noises]) for p in first._params])


@dataclass
class _Stack:
    """Networks run as one batch (internal): single members sorted deepest first, their weight seeds."""

    members: list[NoisyNetwork]
    seeds: list[int]
    depths: list[int] = field(init=False)
    n_active: list[int] = field(init=False)

    def __post_init__(self):
        if not self.members:
            raise InvalidParameterError("networks must hold at least one network, got an empty list")
        if len(self.seeds) != len(self.members):
            raise InvalidParameterError(f"seeds must hold one seed per network ({len(self.members)}), got {len(self.seeds)}")
        first = self.members[0]
        for net in self.members:
            if not isinstance(net, NoisyNetwork):
                raise InvalidParameterError(f"networks must be NoisyNetwork objects, got {net!r}")
            if net.shape != ():
                raise InvalidParameterError("stack members must be single networks, not families")
            for name in ("activation", "width", "input_width", "output_width", "input_activation", "noise_on_input",
                         "weights"):
                if getattr(net, name) != getattr(first, name):
                    raise InvalidParameterError(
                        f"networks that run together must share {name}, got {getattr(first, name)!r} and "
                        f"{getattr(net, name)!r}"
                    )
        self.depths = [net.n_layers for net in self.members]
        if any(a < b for a, b in zip(self.depths[:-1], self.depths[1:])):
            raise InvalidParameterError(f"networks must be sorted deepest first, got depths {self.depths}")
        if first.output_width is not None and self.depths[-1] == 0 < self.depths[0]:
            raise InvalidParameterError("a network without hidden layers cannot run together with deeper ones")
        self.n_active = [sum(d >= l for d in self.depths) for l in range(1, self.depths[0] + 1)]
        self.activation = first.activation
        self.weight_kind = first.weights
        self.fast_relu = first.activation is ACTIVATIONS["relu"]
        self.sigma_w2 = np.array([float(net.sigma_w2) for net in self.members])
        self.sigma_b2 = np.array([float(net.sigma_b2) for net in self.members])
        self.noise = _stack_noise([net.noise for net in self.members])
        self._noise_prefix: dict[int, NoiseModel] = {}

    @property
    def first(self) -> NoisyNetwork:
        return self.members[0]

    @property
    def n_networks(self) -> int:
        return len(self.members)

    def fan_in(self, layer: int) -> int:
        return self.first.input_width if layer == 1 else self.first.width

    def noise_of(self, n: int) -> NoiseModel:
        """The noise of the first ``n`` networks (cached: building a family costs Python time)."""
        if self.noise.shape == ():
            return self.noise
        if n not in self._noise_prefix:
            self._noise_prefix[n] = self.noise[:n]
        return self._noise_prefix[n]

    def has_noise(self, layer: int) -> bool:
        """Whether the input of ``layer`` (1-based; ``depth + 1`` is the read-out) gets noise."""
        return (layer > 1 or self.first.noise_on_input) and not self.noise._identity

    def has_activation(self, layer: int) -> bool:
        return layer > 1 or self.first.input_activation


# ------------------------------------------------------------------------------------------------
# one layer
# ------------------------------------------------------------------------------------------------
class _Buffers:
    """Buffers reused from layer to layer when no autograd graph is built."""

    def __init__(self):
        self.tensors: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape, dtype, device) -> torch.Tensor:
        t = self.tensors.get(name)
        if t is None or t.shape != tuple(shape) or t.dtype != dtype or t.device != device:
            t = self.tensors[name] = torch.empty(shape, dtype=dtype, device=device)
        return t


def _layer_input(stack: _Stack, h, layer: int, noise_streams, *, train: bool, grad: bool, buffers,
                 record_noise: bool):
    """:math:`x^{l-1} = \\mathrm{noise}(\\phi(h^{l-1}))` for the networks in ``h`` (the first ``h.shape[0]``).

    Returns ``(x, eps)``; ``eps`` (the noise drawn) only with ``record_noise`` or ``grad``, else ``None``.
    """
    if stack.has_activation(layer):
        if stack.fast_relu and not grad:
            x = torch.clamp_min(h, 0.0, out=buffers.get("x", h.shape, h.dtype, h.device))
        else:
            x = stack.activation(h)
            if not grad and x.untyped_storage().data_ptr() == h.untyped_storage().data_ptr():
                x = x.clone()  # e.g. the linear activation returns h itself
    else:
        x = h if grad else buffers.get("x", h.shape, h.dtype, h.device).copy_(h)
    if not (train and stack.has_noise(layer)):
        return x, None
    noise = stack.noise_of(h.shape[0])
    if grad or record_noise:
        return noise.apply(x, generator=noise_streams, inplace=not grad, return_noise=True)
    x, eps = noise.apply(x, generator=noise_streams, inplace=True, workspace=buffers.tensors.get("noise"),
                         return_noise=True)
    buffers.tensors["noise"] = eps  # reused by the next layer's draw (dropout's integer words)
    return x, None


# A network's float32 Gram matrix is used when every diagonal entry (a squared row norm) is finite and at least
# fan_in * 2**-102 (times the scale, if it is above 1): the products below float32's smallest normal number
# (2**-126) that it may have lost then add up to less than 2**-24 (float32's resolution) of it, and of every
# entry of its row (Cauchy-Schwarz).
_GRAM32_SMALLEST = 2.0**-102


def _gram_factor(x, scale: np.ndarray):
    """A factor ``L`` (``(n, B, B)``, ``x``'s dtype) with ``L L^T = scale X X^T`` for ``x`` of shape
    ``(n, B, fan_in)`` and ``scale`` of shape ``(n,)``.

    float32 (the default working precision): one batched product forms the scaled Gram matrices and one batched
    Cholesky factorisation factors them, both in float32 (backward stable: ``L L^T`` equals the Gram matrix up
    to about ``B 2**-24`` of ``|x_a||x_b|``, the order of the rounding of the Gram matrix itself). In float64:
    the networks whose float32 Gram matrix would overflow or lose its small entries (redone from ``x``), and the
    factorisations that fail (a singular or numerically indefinite matrix, e.g. identical inputs: ``L = V
    sqrt(max(Lambda, 0))`` from the eigendecomposition, equally exact). Networks whose Gram matrix is not finite
    (the inputs overflowed) get a factor of NaNs. Other precisions: float64 throughout.
    """
    n, _, fan_in = x.shape
    if x.dtype != torch.float32:
        return _gram_factor64(x.double(), scale).to(x.dtype)
    if np.all(scale == scale[0]) and scale[0] <= torch.finfo(x.dtype).max:  # else inf: redone in float64 below
        gram = torch.baddbmm(torch.empty((), dtype=x.dtype, device=x.device), x, x.transpose(1, 2), beta=0.0,
                             alpha=float(scale[0]))
    else:
        scales = torch.as_tensor(scale, dtype=x.dtype, device=x.device).view(n, 1, 1)
        gram = torch.bmm(x, x.transpose(1, 2)).mul_(scales)
    low, high = torch.aminmax(torch.diagonal(gram, dim1=1, dim2=2), dim=1)  # NaN fails both tests below
    smallest = torch.as_tensor(fan_in * _GRAM32_SMALLEST * np.maximum(scale, 1.0), dtype=x.dtype, device=x.device)
    redo = torch.nonzero(~((low >= smallest) & (high <= torch.finfo(x.dtype).max))).flatten()
    factor, info = torch.linalg.cholesky_ex(gram)
    failed = torch.nonzero(info).flatten()
    if redo.numel():  # overflow, underflow, zero rows or non-finite inputs: these networks in float64
        factor[redo] = _gram_factor64(x[redo].double(), scale[redo.cpu().numpy()]).to(x.dtype)
        failed = failed[~torch.isin(failed, redo)]
    if failed.numel():  # singular (or numerically indefinite): an exact symmetric square root, in float64
        factor[failed] = _square_root(gram[failed].double()).to(x.dtype)
    return factor


def _gram_factor64(x, scale: np.ndarray):
    """:func:`_gram_factor` for float64 ``x``, in float64."""
    n = x.shape[0]
    gram = torch.bmm(x, x.transpose(1, 2)).mul_(torch.as_tensor(scale, dtype=x.dtype, device=x.device).view(n, 1, 1))
    factor, info = torch.linalg.cholesky_ex(gram)
    finite = torch.isfinite(gram).flatten(1).all(dim=1)
    failed = torch.nonzero((info != 0) & finite).flatten()
    if failed.numel():
        factor[failed] = _square_root(gram[failed])
    factor[~finite] = float("nan")  # the inputs overflowed: so do the outputs
    return factor


def _square_root(gram):
    """``V sqrt(max(Lambda, 0))``: a square root of symmetric positive semi-definite matrices (batched)."""
    values, vectors = torch.linalg.eigh(gram)
    return vectors * values.clamp_min(0.0).sqrt().unsqueeze(-2)


def _affine_gram(x, sigma_w2, sigma_b2, fan_out: int, streams: RandomStreams, *, out=None, buffers=None):
    """Exact Gaussian pre-activations given ``x`` (networks, inputs, fan_in), the weights integrated out.

    ``h = L Z + 1 b^T`` with ``L L^T = (sigma_w2 / fan_in) X X^T`` (:func:`_gram_factor`), written into ``out``
    (``(n, B, fan_out)``) if given; ``Z`` is drawn into a buffer of ``buffers`` if given.
    """
    n, batch, fan_in = x.shape
    factor = _gram_factor(x, np.asarray(sigma_w2[:n], dtype=float) / fan_in)
    shape = (n, batch, fan_out)
    z = torch.empty(shape, dtype=x.dtype, device=x.device) if buffers is None else buffers.get("z", shape, x.dtype,
                                                                                               x.device)
    streams.normal_(z)
    sb = sigma_b2[:n]
    if not np.any(sb > 0):
        return torch.bmm(factor, z) if out is None else torch.bmm(factor, z, out=out)
    b = streams.normal_(torch.empty((n, 1, fan_out), dtype=x.dtype, device=x.device))
    b.mul_(torch.as_tensor(np.sqrt(sb), dtype=x.dtype, device=x.device).view(n, 1, 1))
    return torch.baddbmm(b, factor, z) if out is None else torch.baddbmm(b, factor, z, out=out)


def _run(stack: _Stack, h0, weights_at: Callable | None, *, noise_streams, gram_streams=None, train=True,
         grad=False, on_layer=None, record_noise=False):
    """The loop over layers that every caller shares; returns the read-out (or the last layer), in stack order.

    ``weights_at(layer, n)`` gives ``(W, b)`` of the first ``n`` networks for hidden layer ``layer``
    (1-based) or ``"readout"``; ``b`` may be ``None``. ``weights_at=None`` integrates the weights out
    (``method="gram"``, drawing from ``gram_streams``). ``on_layer(layer, h, x, eps)`` sees every layer's
    pre-activations ``h`` (layer 0: the input), the noisy input ``x`` that produced them and, with
    ``record_noise``, the noise ``eps`` drawn for it. Without ``grad`` the tensors passed to ``on_layer``
    are reused buffers: copy what you keep.
    """
    buffers = _Buffers()
    h = h0
    if on_layer is not None:
        on_layer(0, h, None, None)
    finished = []
    fan_out = stack.first.width
    for layer, n in enumerate(stack.n_active, start=1):
        if h.shape[0] > n:  # networks of depth layer - 1 leave the stack here
            finished.append(h[n:])
            h = h[:n]
        x, eps = _layer_input(stack, h, layer, noise_streams, train=train, grad=grad, buffers=buffers,
                              record_noise=record_noise)
        # write over h (its values are in x by now), unless h is the caller's input
        reuse = not grad and layer > 1 and h.shape[-1] == fan_out and h.is_contiguous()
        if weights_at is None:
            h = _affine_gram(x, stack.sigma_w2, stack.sigma_b2, fan_out, gram_streams, out=h if reuse else None,
                             buffers=buffers)
        else:
            w, b = weights_at(layer, n)
            if isinstance(w, _SharedMatrix):  # one standard-normal matrix, each network's scale on its inputs
                h = w.apply(x, b, grad)
            elif grad:
                h = torch.bmm(x, w) if b is None else torch.baddbmm(b, x, w)
            else:
                out = h if reuse else torch.empty((n, x.shape[1], fan_out), dtype=x.dtype, device=x.device)
                h = torch.bmm(x, w, out=out) if b is None else torch.baddbmm(b, x, w, out=out)
        if on_layer is not None:
            on_layer(layer, h, x, eps)
    if finished:
        finished.append(h)
        h = torch.cat(finished[::-1])
    if stack.first.output_width is None:
        return h
    # the read-out reads phi(h^L) with noise, as a hidden layer would (the input itself for depth 0)
    x, eps = _layer_input(stack, h, 1 if stack.depths[0] == 0 else 2, noise_streams, train=train, grad=grad,
                          buffers=_Buffers(), record_noise=record_noise)
    w, b = weights_at("readout", stack.n_networks)
    y = torch.bmm(x, w) if b is None else torch.baddbmm(b, x, w)
    if on_layer is not None:
        on_layer("readout", y, x, eps)
    return y


# ------------------------------------------------------------------------------------------------
# the torch module: weights as parameters
# ------------------------------------------------------------------------------------------------
def _as_noise_streams(generator, device):
    if generator is None or isinstance(generator, (RandomStreams, torch.Generator)):
        return _random.as_streams(generator, device)
    seed = check_int("generator", generator, 0)
    return RandomStreams(seed, _random.NOISE, 0, device=device)  # = forward()'s stream of its first chunk


class NoisyMLP(torch.nn.Module):
    r"""Noisy networks as one batched ``torch.nn.Module``, the weights as parameters.

    The torch-module view of :class:`~nsp_helpers.network.NoisyNetwork`
    (:meth:`~nsp_helpers.network.NoisyNetwork.module`) and the
    trainer's model. Networks may differ in depth, noise level, :math:`\sigma_w^2` and :math:`\sigma_b^2`
    (they must share activation and widths) and must be given sorted deepest first. Hidden layer
    :math:`l` is one parameter of shape ``(n_l, fan_in, width)`` (``n_l``: networks with a layer
    :math:`l`, a prefix of the stack), the read-out one of shape ``(G, width, output_width)``.

    Initial weights and biases are drawn on the CPU by :func:`draw_weights_`/:func:`draw_biases_` from
    each network's seed (so they are the same on every device and bit-identical to what :func:`forward`
    draws on the CPU for the same seed), then moved to ``device``.

    Parameters
    ----------
    networks : sequence of NoisyNetwork
        Single networks, deepest first.
    seeds : sequence of int
        One weight seed per network (:func:`network_seeds`).
    device : None, str or torch.device
        ``None``: a GPU when present.
    dtype : torch.dtype, optional
        Default float32.

    Examples
    --------
    >>> from nsp_helpers.network import NoisyNetwork
    >>> from nsp_helpers.noise import Dropout
    >>> net = NoisyNetwork(Dropout(keep_prob=0.8), width=16, n_layers=3, input_width=4, output_width=2,
    ...                    input_activation=False)
    >>> model = net.module(n_networks=5, device="cpu")
    >>> model(torch.rand(7, 4), generator=0).shape
    torch.Size([5, 7, 2])
    """

    def __init__(self, networks: Sequence[NoisyNetwork], seeds: Sequence[int], *, device=None, dtype=None):
        super().__init__()
        self.stack = _Stack(_check_networks(networks), check_ints("seeds", seeds, 0))
        dtype = torch.float32 if dtype is None else _check_dtype(dtype)
        device = resolve_device(device)
        st = self.stack
        itemsize = torch.empty((), dtype=dtype).element_size()
        n_weights = sum(n * (st.fan_in(layer) + 1) * st.first.width for layer, n in enumerate(st.n_active, start=1))
        n_weights += st.n_networks * (st.first.width + 1) * (st.first.output_width or 0)
        check_memory(2.0 * itemsize * n_weights, "the networks' weights",  # drawn on the CPU, then moved
                     {"width": st.first.width, "input_width": st.first.input_width, "networks": st.n_networks,
                      "depth": max(st.depths)})
        weights, biases = [], []
        for layer, n in enumerate(st.n_active, start=1):
            fan_in = st.fan_in(layer)
            w = torch.empty((n, fan_in, st.first.width), dtype=dtype)
            b = torch.empty((n, 1, st.first.width), dtype=dtype)
            for g in range(n):
                draw_weights_(w[g], st.seeds[g], layer, math.sqrt(st.sigma_w2[g] / fan_in), st.weight_kind)
                draw_biases_(b[g], st.seeds[g], layer, math.sqrt(st.sigma_b2[g]))
            weights.append(w)
            biases.append(b)
        if st.first.output_width is not None:
            fan_in = st.first.width if st.depths[0] > 0 else st.first.input_width
            w = torch.empty((st.n_networks, fan_in, st.first.output_width), dtype=dtype)
            b = torch.empty((st.n_networks, 1, st.first.output_width), dtype=dtype)
            for g, depth in enumerate(st.depths):
                draw_weights_(w[g], st.seeds[g], depth + 1, math.sqrt(st.sigma_w2[g] / fan_in), st.weight_kind)
                draw_biases_(b[g], st.seeds[g], depth + 1, math.sqrt(st.sigma_b2[g]))
            weights.append(w)
            biases.append(b)
        self.weights = torch.nn.ParameterList([torch.nn.Parameter(w.to(device)) for w in weights])
        self.biases = torch.nn.ParameterList([torch.nn.Parameter(b.to(device)) for b in biases])

    @classmethod
    def from_network(cls, network: NoisyNetwork, *, seed: int = 0, n_networks: int = 1, device=None, dtype=None):
        """``n_networks`` independent draws of one network (seeds :func:`network_seeds`)."""
        network = as_network(_check_network(network))
        if network.shape != ():
            raise InvalidParameterError(f"network must be a single network, not a family of shape {network.shape}")
        n_networks = check_int("n_networks", n_networks, 1, _MAX_NETWORKS)
        return cls([network] * n_networks, network_seeds(seed, n_networks), device=device, dtype=dtype)

    @property
    def device(self):
        return self.weights[0].device

    @property
    def n_networks(self) -> int:
        return self.stack.n_networks

    @property
    def depths(self) -> list[int]:
        return self.stack.depths

    @property
    def n_active(self) -> list[int]:
        return self.stack.n_active

    def n_parameters(self) -> list[int]:
        """Trainable parameters of each network (stack order)."""
        first = self.stack.first
        out = []
        for depth in self.depths:
            dims = [first.input_width] + [first.width] * depth + ([first.output_width] if first.output_width else [])
            out.append(sum(a * b + b for a, b in zip(dims[:-1], dims[1:])))
        return out

    def network_layers(self, index: int):
        """The current ``(W, b)`` of network ``index`` in ``torch.nn.Linear`` layout (copies).

        ``W`` has shape ``(fan_out, fan_in)`` and ``b`` ``(fan_out,)``, ready for ``linear.weight.copy_(W)``.
        """
        layers = [(self.weights[l][index], self.biases[l][index]) for l in range(self.depths[index])]
        if self.stack.first.output_width is not None:
            layers.append((self.weights[-1][index], self.biases[-1][index]))
        return [(w.detach().T.clone(), b.detach().reshape(-1).clone()) for w, b in layers]

    def _weights_at(self, layer, n):
        index = -1 if layer == "readout" else layer - 1
        return self.weights[index], self.biases[index]

    def forward(self, x, *, train: bool = True, generator=None, on_layer=None, record_noise: bool = False):
        """Outputs of all networks, shape ``(G, batch, output_width or width)``, in the stack's order.

        Parameters
        ----------
        x : torch.Tensor
            Inputs, ``(batch, input_width)`` shared by all networks or ``(G, batch, input_width)``.
        train : bool
            Apply the noise (training) or not (evaluation; inverted dropout needs no rescaling).
        generator : int, torch.Generator or RandomStreams, optional
            Source of the noise: an int seeds a fresh stream (reproducible), ``None`` draws from a
            randomly seeded one.
        on_layer : callable, optional
            Called as ``on_layer(layer, h, x, eps)`` for every layer (see :func:`forward`).
        record_noise : bool
            Pass the noise drawn at every layer to ``on_layer``.
        """
        train = check_bool("train", train)
        x = _check_inputs(x, self.stack.first.input_width, self.n_networks, self.weights[0].dtype, self.device)
        grad = torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self.parameters()))
        streams = _as_noise_streams(generator, self.device)
        return _run(self.stack, x, self._weights_at, noise_streams=streams, train=train, grad=grad,
                    on_layer=on_layer, record_noise=record_noise)


# ------------------------------------------------------------------------------------------------
# one pass through freshly drawn networks
# ------------------------------------------------------------------------------------------------
@dataclass
class LayerView:
    """What :func:`forward` shows its ``on_layer`` callback at every layer of every chunk of networks."""

    #: the layer (0: the input; ``"readout"`` for a read-out layer)
    layer: object
    #: pre-activations of the chunk, ``(networks in the chunk, inputs, units)`` (a reused buffer: copy to keep)
    h: torch.Tensor
    #: the noisy input ``x`` of the layer (``None`` at layer 0)
    x: torch.Tensor | None
    #: the noise drawn for ``x`` (with ``record_noise``), else ``None``
    eps: torch.Tensor | None
    #: which networks of the call the chunk holds
    networks: slice
    #: index of the family member (0 for a single network)
    member: int


@dataclass
class ForwardResult:
    r"""What :func:`forward` returns. ``F`` is the family shape (``()`` for one network).

    Attributes
    ----------
    output : torch.Tensor or None
        The last layer (or the read-out): ``F + (n_networks, n_inputs, units)``; ``None`` without
        ``keep_output``.
    preactivations : list of torch.Tensor or None
        With ``keep_preactivations``: :math:`h^0, \dots, h^L`, each ``F + (n_networks, n_inputs, units)``.
    weights : list of torch.Tensor or None
        With ``keep_weights``: each layer's weights ``F + (n_networks, fan_in, fan_out)``.
    method : str
        ``"weights"`` or ``"gram"``.
    """

    output: torch.Tensor | None
    preactivations: list | None = None
    weights: list | None = None
    method: str = "weights"
    device: str = "cpu"


def _check_network(network):
    if not isinstance(network, (NoisyNetwork, NoiseModel)):
        raise InvalidParameterError(f"network must be a NoisyNetwork, got {network!r}")
    return network


def _check_networks(networks) -> list:
    if not isinstance(networks, (list, tuple)) or not all(isinstance(n, NoisyNetwork) for n in networks):
        raise InvalidParameterError(f"networks must be a list of NoisyNetwork objects, got {networks!r:.200}")
    return list(networks)


def _check_dtype(dtype):
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise InvalidParameterError(f"dtype must be a floating torch.dtype such as torch.float32, got {dtype!r}")
    return dtype


def _check_inputs(x, width: int, n_networks: int, dtype, device, name: str = "x"):
    """Inputs as a tensor of shape ``(n_networks, n_inputs, width)`` (a view when shared)."""
    if isinstance(x, torch.Tensor):
        t = x.to(device=device, dtype=dtype)
    else:
        from .errors import as_float_array

        t = torch.as_tensor(as_float_array(name, x), dtype=dtype, device=device)
    if t.dim() not in (2, 3) or t.shape[-1] != width or t.shape[-2] < 1:
        raise InvalidParameterError(
            f"{name} must have shape (n_inputs, {width}) or ({n_networks}, n_inputs, {width}), got {tuple(t.shape)}"
        )
    if t.dim() == 3 and t.shape[0] != n_networks:
        raise InvalidParameterError(f"{name} has {t.shape[0]} networks' inputs, expected {n_networks}")
    if not bool(torch.isfinite(t.detach()).all()):
        raise InvalidParameterError(f"{name} must be finite")
    return t if t.dim() == 3 else t.unsqueeze(0).expand(n_networks, *t.shape)


def _costs(network: NoisyNetwork, n_inputs: int) -> tuple[float, float]:
    """Multiply-adds (random numbers weighted by :data:`_RNG_COST`) of one network: weights vs gram."""
    b, weights, gram = n_inputs, 0.0, 0.0
    fan_ins = [network.input_width] + [network.width] * max(network.n_layers - 1, 0)
    for fan_in in fan_ins:
        n = network.width
        weights += fan_in * n * (b + _RNG_COST)
        gram += fan_in * b * b + b * b * n + b**3 / 3.0 + _RNG_COST * b * n
    return weights, gram


def _choose_method(method: str, network: NoisyNetwork, n_inputs: int, need_weights: bool) -> str:
    if method not in METHODS:
        raise InvalidParameterError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    if network.weights != "gaussian":
        if method == "gram":
            raise InvalidParameterError(
                f"method='gram' samples exactly Gaussian pre-activations, which {network.weights} weights do not give "
                "(use method='weights')"
            )
        return "weights"
    if method == "gram":
        if need_weights:
            raise InvalidParameterError(
                "method='gram' integrates the weights out: it cannot keep weights, build a gradient graph or "
                "feed a read-out layer (use method='weights')"
            )
        return method
    if method == "weights" or need_weights:
        return "weights"
    weights, gram = _costs(network, n_inputs)
    # no safety margin: the modelled ratio tracks measured ones (2-core CPU, width 1000, 4 layers, no noise,
    # 100 / 250 / 400 / 600 / 900 inputs: modelled 5.1 / 2.0 / 1.2 / 0.8 / 0.5, measured 5.1 / 2.0 / 1.4 / 0.9 / 0.5)
    return "gram" if gram < weights else "weights"


def forward(network, x, *, seed: int = 0, n_networks: int = 1, train: bool = True, method: str = "auto",
            device=None, dtype=None, chunk_bytes: int = DEFAULT_CHUNK_BYTES, on_layer=None,
            keep_preactivations: bool = False, keep_weights: bool = False, record_noise: bool = False,
            grad: bool = False, keep_output: bool = True) -> ForwardResult:
    r"""Pass inputs through ``n_networks`` freshly drawn random networks (the simulator's engine).

    Parameters
    ----------
    network : NoisyNetwork
        One network or a 1-D family; members run one after another with the same ``seed`` (common
        random numbers: the same standard-normal weights and, for dropout, nested masks).
    x : array_like or torch.Tensor
        Inputs, ``(n_inputs, input_width)`` shared by all networks or ``(n_networks, n_inputs,
        input_width)``.
    seed : int
        Seeds the networks (:func:`network_seeds`), the noise and the Gram sampler.
    n_networks : int
        Independent networks.
    train : bool
        Apply the noise.
    method : {"auto", "weights", "gram"}
        Draw weight matrices, or sample each layer exactly from the inputs' Gram matrix (see the module
        docstring); ``"auto"`` takes the cheaper one when no weights or gradients are needed.
    device, dtype
        Default: a GPU when present; float32.
    chunk_bytes : int
        Networks run in chunks whose buffers stay below this size (one network at a time if one needs
        more). Results depend on it (through the noise streams), not on the number of threads.
    on_layer : callable, optional
        Called with a :class:`LayerView` at every layer of every chunk (layer 0 is the input).
    keep_preactivations, keep_weights : bool
        Return every layer's pre-activations / weights (memory grows with depth).
    record_noise : bool
        Pass the noise drawn at every layer to ``on_layer``.
    grad : bool
        Build an autograd graph (functional operations; the weights of all layers are kept).
    keep_output : bool
        Return the last layer (``False``: ``output`` is ``None``, and with ``grad`` each chunk's graph is
        freed once ``on_layer`` has seen its last layer: a caller that back-propagates there measures
        many deep networks in the memory of one chunk).

    Returns
    -------
    ForwardResult

    Examples
    --------
    >>> from nsp_helpers.network import NoisyNetwork
    >>> from nsp_helpers.noise import Dropout
    >>> net = NoisyNetwork(Dropout(keep_prob=0.6), width=200, n_layers=4)
    >>> x = torch.randn(10, 200)
    >>> out = forward(net, x, n_networks=3, device="cpu", keep_preactivations=True)
    >>> out.output.shape, len(out.preactivations), out.method
    (torch.Size([3, 10, 200]), 5, 'gram')
    >>> a = forward(net, x, n_networks=3, device="cpu", method="weights").output
    >>> b = net.module(n_networks=3, device="cpu")(x, generator=None, train=False)
    >>> a.shape == b.shape
    True
    """
    network = as_network(_check_network(network))
    if len(network.shape) > 1:
        raise InvalidParameterError(f"network must be one network or a 1-D family, got shape {network.shape}")
    seed = check_int("seed", seed, 0)
    n_networks = check_int("n_networks", n_networks, 1, _MAX_NETWORKS)
    chunk_bytes = check_int("chunk_bytes", chunk_bytes, 1)
    train, keep_preactivations, keep_weights, record_noise, grad, keep_output = (
        check_bool(name, value) for name, value in (
            ("train", train), ("keep_preactivations", keep_preactivations), ("keep_weights", keep_weights),
            ("record_noise", record_noise), ("grad", grad), ("keep_output", keep_output)))
    dtype = torch.float32 if dtype is None else _check_dtype(dtype)
    dev = resolve_device(device)
    x0 = _check_inputs(x, network.input_width, n_networks, dtype, dev)
    n_inputs = x0.shape[1]
    need_weights = keep_weights or grad or network.output_width is not None
    chosen = _choose_method(method, network, n_inputs, need_weights)
    seeds = network_seeds(seed, n_networks)

    itemsize = torch.empty((), dtype=dtype).element_size()
    per_network = itemsize * (4 * n_inputs * max(network.widths) + n_inputs * n_inputs)
    products = [a * b for a, b in zip(network.widths[:-1], network.widths[1:])]
    if chosen == "weights":  # one layer's weights in a reused buffer, or all of them
        per_network += itemsize * (sum(products) if (keep_weights or grad) else max(products, default=0))
    if keep_preactivations or grad:
        per_network += itemsize * n_inputs * sum(network.widths)
    chunk = max(1, min(n_networks, chunk_bytes // max(per_network, 1)))
    kept = n_networks * n_inputs * ((network.widths[-1] if keep_output else 0) + (sum(network.widths) if keep_preactivations else 0)
                                    + (sum(products) if keep_weights else 0))
    # the chunk size above (on which the noise streams depend) keeps its B x B term on every path; the memory
    # check counts it only where a Gram matrix is formed
    gram_term = 0 if chosen == "gram" else itemsize * n_inputs * n_inputs
    check_memory((per_network - gram_term) * chunk + itemsize * kept * max(1, int(np.prod(network.shape))), "the forward pass",
                 {"n_networks": n_networks, "n_inputs": n_inputs, "width": network.width, "n_layers": network.n_layers}, dev)

    results = []
    for member_index, member in enumerate(network.members()):
        kept = {"h": [], "w": []}
        outputs = []
        for start in range(0, n_networks, chunk):
            stop = min(n_networks, start + chunk)
            stack = _Stack([member] * (stop - start), seeds[start:stop])
            noise_streams = RandomStreams(seed, _random.NOISE, start, device=dev)
            gram_streams = RandomStreams(seed, _random.GRAM, start, device=dev) if chosen == "gram" else None
            weights_at = None if chosen == "gram" else _DrawnWeights(stack, dtype, dev, keep=keep_weights or grad)
            chunk_h = [] if keep_preactivations else None

            def view(layer, h, xin, eps, _start=start, _stop=stop, _member=member_index, _kept=chunk_h):
                if _kept is not None and layer != "readout":
                    _kept.append(h if grad else h.clone())
                if on_layer is not None:
                    on_layer(LayerView(layer, h, xin, eps, slice(_start, _stop), _member))

            with torch.set_grad_enabled(grad):
                out = _run(stack, x0[start:stop], weights_at, noise_streams=noise_streams, gram_streams=gram_streams,
                           train=train, grad=grad, on_layer=view, record_noise=record_noise)
            if keep_output:
                outputs.append(out if grad else out.clone())
            if chunk_h is not None:
                kept["h"].append(chunk_h)
            if keep_weights and weights_at is not None:
                kept["w"].append([w.detach() for w in weights_at.kept])
            del out, weights_at, chunk_h
        results.append((
            torch.cat(outputs) if keep_output else None,
            [torch.cat(layer) for layer in zip(*kept["h"])] if keep_preactivations else None,
            [torch.cat(layer) for layer in zip(*kept["w"])] if keep_weights and kept["w"] else None,
        ))
    if network.shape == ():
        output, pre, w = results[0]
    else:
        output = torch.stack([r[0] for r in results]) if keep_output else None
        pre = [torch.stack(layer) for layer in zip(*[r[1] for r in results])] if keep_preactivations else None
        w = [torch.stack(layer) for layer in zip(*[r[2] for r in results])] if results[0][2] is not None else None
    return ForwardResult(output=output, preactivations=pre, weights=w if keep_weights else None, method=chosen,
                         device=str(dev))


def run_networks(networks: Sequence[NoisyNetwork], seeds: Sequence[int], x, *, noise_seed, train: bool = True,
                 on_layer=None, device=None, dtype=None):
    """Run given networks together through freshly drawn weights (no chunking): the variance-depth experiment.

    ``networks`` are single networks sorted deepest first (:class:`NoisyMLP`'s rules), ``seeds`` their weight
    seeds: networks with equal seeds share their standard-normal weight matrices (common random numbers,
    one matrix product per layer for all of them). ``noise_seed`` is a tuple of ints seeding the noise.
    ``on_layer(layer, h, x, eps)`` sees every layer (``h`` in stack order, see :meth:`NoisyMLP.forward`).
    Returns the last layer.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> nets = [NoisyNetwork(Dropout(0.6), sw, width=20, n_layers=d, input_width=5, input_activation=False)
    ...         for sw, d in [(1.0, 4), (2.0, 3)]]
    >>> run_networks(nets, [7, 7], torch.rand(3, 5), noise_seed=(0, 1), device="cpu").shape
    torch.Size([2, 3, 20])
    """
    stack = _Stack(_check_networks(networks), check_ints("seeds", seeds, 0))
    noise_seed = check_ints("noise_seed", noise_seed, 0)
    train = check_bool("train", train)
    dtype = torch.float32 if dtype is None else _check_dtype(dtype)
    dev = resolve_device(device)
    x0 = _check_inputs(x, stack.first.input_width, stack.n_networks, dtype, dev)
    noise_streams = RandomStreams(*noise_seed, device=dev)
    with torch.no_grad():
        return _run(stack, x0, _DrawnWeights(stack, dtype, dev, keep=False), noise_streams=noise_streams, train=train,
                    on_layer=on_layer)


class _SharedMatrix:
    """Networks that share their weight seed (common random numbers) share one standard-normal matrix ``z``:
    ``h_g = (s_g x_g) z + b_g`` with ``s_g = sqrt(sigma_w2_g / fan_in)``, one matrix product for all of them."""

    def __init__(self, z, scales):
        self.z = z
        self.scales = scales

    def apply(self, x, b, grad: bool):
        n, batch, fan_in = x.shape
        scale = self.scales[:n].view(n, 1, 1)
        xs = x * scale if grad else x.mul_(scale)
        h = (xs.reshape(n * batch, fan_in) @ self.z).reshape(n, batch, -1)
        return h if b is None else h + b


class _DrawnWeights:
    """``weights_at`` for :func:`_run`: each layer's weights drawn when the loop reaches it.

    Without ``keep`` one buffer serves every layer of the same shape; with ``keep`` (autograd, or weights
    returned to the caller) every layer gets its own tensor, collected in :attr:`kept`.
    """

    def __init__(self, stack: _Stack, dtype, device, *, keep: bool):
        self.stack = stack
        self.dtype = dtype
        self.device = device
        self.kept = [] if keep else None
        self.buffers = _Buffers()
        self.draw_biases = bool(np.any(stack.sigma_b2 > 0))
        # one shared standard-normal matrix per layer when every network has the same seed (and no biases)
        self.shared = (not keep and stack.n_networks > 1 and len(set(stack.seeds)) == 1 and not self.draw_biases
                       and stack.first.output_width is None)

    def __call__(self, layer, n):
        st = self.stack
        if layer == "readout":
            fan_in = st.first.width if st.depths[0] > 0 else st.first.input_width
            shape = (st.n_networks, fan_in, st.first.output_width)
            layers = [d + 1 for d in st.depths]
        else:
            fan_in = st.fan_in(layer)
            shape = (n, fan_in, st.first.width)
            layers = [layer] * n
        if self.shared:
            z = self.buffers.get("z", shape[1:], self.dtype, self.device)
            draw_weights_(z, st.seeds[0], layer, 1.0, st.weight_kind)
            scales = torch.as_tensor(np.sqrt(st.sigma_w2 / fan_in), dtype=self.dtype, device=self.device)
            return _SharedMatrix(z, scales), None
        keep = self.kept is not None
        new = lambda name, shp: (torch.empty(shp, dtype=self.dtype, device=self.device) if keep  # noqa: E731
                                 else self.buffers.get(name, shp, self.dtype, self.device))
        w = new("w", shape)
        for g in range(shape[0]):
            draw_weights_(w[g], st.seeds[g], layers[g], math.sqrt(st.sigma_w2[g] / fan_in), st.weight_kind)
        b = None
        if self.draw_biases:
            b = new("b", (shape[0], 1, shape[2]))
            for g in range(shape[0]):
                draw_biases_(b[g], st.seeds[g], layers[g], math.sqrt(st.sigma_b2[g]))
        if keep:
            self.kept.append(w)
        return w, b
