r"""Noise models for noisy neural networks.

A noisy layer computes :math:`h^{l} = W^{l}(\epsilon^{l-1} \odot \phi(h^{l-1})) + b^{l}` for
*multiplicative* noise (:math:`\mathbb{E}[\epsilon] = 1`, :math:`\mathbb{E}[\epsilon^2] = \mu_2`), or
:math:`h^{l} = W^{l}(\phi(h^{l-1}) + \epsilon^{l-1}) + b^{l}` for *additive* noise
(:math:`\mathbb{E}[\epsilon] = 0`, :math:`\mathbb{E}[\epsilon^2] = \sigma_\epsilon^2`).
The noise is drawn independently per unit, per layer and per input.

Every model is one small object. The theory in :mod:`nsp_helpers.theory` only needs two numbers from
it, :attr:`NoiseModel.mu2` (1 for additive noise) and :attr:`NoiseModel.additive_variance` (0 for
multiplicative noise); the simulator also calls :meth:`NoiseModel.sample`. The finite-width theory
(:mod:`nsp_helpers.theory.finite_width`) also reads the fourth moment :attr:`NoiseModel.mu4`. Parameters may be numpy
arrays: ``Dropout(keep_prob=np.linspace(0.1, 1, 10))`` is a *family* of ten noise levels, and every
theory function broadcasts over it.

Introduced in the chapter *Noisy networks* (``book/noisy_networks.md``).

.. warning::
   :class:`Dropout` takes the **keep** probability, as in Pretorius et al. (2018).
   ``torch.nn.Dropout(p)`` takes the **drop** probability. Use :meth:`Dropout.from_drop_prob`
   or :meth:`Dropout.from_torch` to convert; never pass torch's ``p`` as ``keep_prob``.

torch is imported lazily, only when samples are drawn, so that :mod:`nsp_helpers.theory` stays
numpy/scipy only.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from .errors import InvalidParameterError, check_bool, check_in_range

__all__ = [
    "as_noise_model",
    "NoiseModel",
    "NoNoise",
    "Dropout",
    "MultiplicativeGaussian",
    "AdditiveGaussian",
    "MultiplicativeLaplace",
    "AdditiveLaplace",
    "MultiplicativePoisson",
]


def _scalar_or_array(x: np.ndarray):
    """0-d arrays become Python floats, so scalars print and compare naturally."""
    return float(x) if np.ndim(x) == 0 else x


class NoiseModel:
    """Base class of all noise models.

    Subclasses define ``kind`` (``"none"``, ``"multiplicative"`` or ``"additive"``), their
    parameters (numpy arrays, possibly 0-d), ``_mu2``/``_additive_variance`` and ``_sample``.
    """

    kind: str = "none"
    #: names of the constructor parameters, in order (used by repr, indexing and iteration)
    _params: tuple[str, ...] = ()

    # --- moments used by the theory -------------------------------------------------------------
    @property
    def mu2(self):
        r"""Second moment :math:`\mu_2 = \mathbb{E}[\epsilon^2]` of multiplicative noise (1 otherwise)."""
        return _scalar_or_array(np.broadcast_to(np.asarray(self._mu2(), dtype=float), self.shape).copy())

    @property
    def additive_variance(self):
        r"""Variance :math:`\sigma_\epsilon^2` of additive noise (0 otherwise)."""
        return _scalar_or_array(
            np.broadcast_to(np.asarray(self._additive_variance(), dtype=float), self.shape).copy()
        )

    def _mu2(self):
        return 1.0

    @property
    def mu2_excess(self):
        r""":math:`\mu_2 - 1`, computed without rounding :math:`\mu_2` first (``std**2``, not ``(1 + std**2) - 1``),
        so that weak noise keeps its size: ``MultiplicativeGaussian(std=1e-8).mu2`` is 1.0 in float64, its
        ``mu2_excess`` is 1e-16."""
        return _scalar_or_array(np.broadcast_to(np.asarray(self._mu2_excess(), dtype=float), self.shape).copy())

    def _mu2_excess(self):
        return np.asarray(self._mu2(), dtype=float) - 1.0

    @property
    def mu4(self):
        r"""Fourth moment :math:`\mu_4 = \mathbb{E}[\epsilon^4]` of multiplicative noise (1 otherwise).

        Exact closed forms; it sets the finite-width fluctuations of the signal
        (:mod:`nsp_helpers.theory.finite_width`). Like :attr:`mu2`, additive noise and no noise return 1: the
        multiplicative factor is then :math:`\epsilon \equiv 1`.
        """
        return _scalar_or_array(np.broadcast_to(np.asarray(self._mu4(), dtype=float), self.shape).copy())

    def _mu4(self):
        if self.kind == "multiplicative":  # a new multiplicative model must say what its fourth moment is
            raise NotImplementedError(f"{type(self).__name__} does not define its fourth moment (_mu4)")
        return 1.0

    @property
    def inverse_mu2(self):
        r""":math:`1/\mu_2`, computed exactly where a closed form allows (``keep_prob`` for dropout)."""
        return _scalar_or_array(np.broadcast_to(np.asarray(self._inverse_mu2(), dtype=float), self.shape).copy())

    def _inverse_mu2(self):
        return 1.0 / np.asarray(self._mu2(), dtype=float)

    def _additive_variance(self):
        return 0.0

    # --- parameters: stored as arrays, read as floats for a single noise level ------------------------
    def _set(self, name: str, value: np.ndarray) -> None:
        value = np.array(value, dtype=float)
        value.setflags(write=False)  # parameters never change after construction: tensors made from them are cached
        self.__dict__.setdefault("_values", {})[name] = value

    def _cached(self, key, make):
        """``make()``, computed once per ``key`` (e.g. a parameter tensor for one device and precision: a noisy
        layer applies the same noise at every step, and building these tensors costs more than a small layer's draw)."""
        cache = self.__dict__.setdefault("_tensors", {})
        if key not in cache:
            cache[key] = make()
        return cache[key]

    def _check_moments(self, name: str) -> None:
        """Refuse parameters whose second moment overflows float64 (``std = 1e200`` gives ``mu2 = inf``)."""
        try:
            with np.errstate(over="ignore", divide="ignore"):
                moments = (np.asarray(self._mu2(), dtype=float), np.asarray(self._additive_variance(), dtype=float))
            finite = np.isfinite(moments[0]) & np.isfinite(moments[1])
        except (OverflowError, ZeroDivisionError):  # Python floats: std ** 2 beyond float64
            finite = np.zeros(np.shape(getattr(self, name)), dtype=bool)
        if not np.all(finite):
            value = np.asarray(getattr(self, name))
            shown = value[~np.broadcast_to(finite, value.shape)].ravel()[0]
            raise InvalidParameterError(
                f"{name} must keep the noise's second moment finite in float64 (mu2 or the variance overflows), got {shown}"
            )

    def __getattr__(self, name):
        values = self.__dict__.get("_values", {})
        if name in values:
            return _scalar_or_array(values[name])
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # --- families of noise levels ---------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """Broadcast shape of the parameters (``()`` for a single noise level)."""
        return self._cached("shape", lambda: np.broadcast_shapes(*(np.shape(getattr(self, n)) for n in self._params)))

    def __len__(self) -> int:
        if self.shape == ():
            raise TypeError(f"{self!r} is a single noise level and has no len()")
        return self.shape[0]

    def __getitem__(self, index) -> "NoiseModel":
        """Select members of a family: ``Dropout(keep_prob=[0.5, 0.8])[1]`` is ``Dropout(0.8)``."""
        args = [np.broadcast_to(np.asarray(getattr(self, n), dtype=float), self.shape)[index] for n in self._params]
        return type(self)(*args)

    def __iter__(self) -> Iterator["NoiseModel"]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        args = ", ".join(f"{n}={_scalar_or_array(np.asarray(getattr(self, n)))!r}" for n in self._params)
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and all(
            np.array_equal(getattr(self, n), getattr(other, n)) for n in self._params
        )

    __hash__ = None  # parameters may be arrays

    @property
    def label(self) -> str:
        """A short human-readable description for figure legends."""
        return repr(self)

    # --- sampling (torch) ------------------------------------------------------------------------
    def sample(self, shape, *, generator=None, device=None, dtype=None, out=None):
        """Draw noise of shape ``self.shape + tuple(shape)`` as a torch tensor.

        Parameters
        ----------
        shape : tuple of int
            Trailing shape of the sample (for example ``(n_inputs, width)``).
        generator : torch.Generator, optional
            Source of randomness (for reproducible simulations), on ``device``. Inside the package the
            draws come from a parallel stream object (``nsp_helpers._random.RandomStreams``), which is
            accepted too.
        device, dtype : optional
            Where and in which precision to draw (default: CPU, float32).
        out : torch.Tensor, optional
            A buffer to reuse (dropout: an integer tensor of the sample's size; ignored otherwise).

        Returns
        -------
        torch.Tensor
            Multiplicative noise (mean 1) or additive noise (mean 0). For a family of noise levels,
            the leading dimensions index the family.

        Examples
        --------
        >>> import torch
        >>> eps = Dropout(keep_prob=0.5).sample((2, 3), generator=torch.Generator().manual_seed(0))
        >>> eps.shape, set(eps.flatten().tolist()) <= {0.0, 2.0}
        (torch.Size([2, 3]), True)
        """
        import torch

        from ._random import as_streams

        shape = _check_sample_shape(shape)
        dtype = dtype or torch.float32
        device = torch.device("cpu") if device is None else torch.device(device)
        full = self.shape + shape
        streams = as_streams(generator, device)
        # parameters broadcast over the family dimensions, then over the trailing sample dimensions
        params = self._cached(("params", dtype, device, len(shape)), lambda: {
            n: torch.as_tensor(
                np.broadcast_to(np.asarray(getattr(self, n), dtype=float), self.shape).copy(), dtype=dtype, device=device
            ).reshape(self.shape + (1,) * len(shape))
            for n in self._params
        })
        return self._sample(full, params, streams=streams, device=device, dtype=dtype, out=out)

    def apply(self, x, *, generator=None, inplace: bool = False, workspace=None, return_noise: bool = False):
        r"""The noisy version of activations ``x``: ``x * eps`` (multiplicative) or ``x + eps`` (additive).

        The one place where noise meets activations: the simulator, the trainer, the variance-depth
        experiment and the gradient code all call it (through :mod:`nsp_helpers.forward`).

        Parameters
        ----------
        x : torch.Tensor
            Activations whose leading dimensions match :attr:`shape` (for a family).
        generator : torch.Generator, optional
            See :meth:`sample`.
        inplace : bool
            Overwrite ``x`` (no autograd through it).
        workspace : torch.Tensor, optional
            A reusable buffer for the draws (see :meth:`sample`'s ``out``; e.g. the ``eps`` a previous
            call returned). Not with autograd: the next call overwrites it.
        return_noise : bool
            Also return :math:`\epsilon`.

        Examples
        --------
        >>> import torch
        >>> Dropout(keep_prob=1.0).apply(torch.ones(3)).tolist()
        [1.0, 1.0, 1.0]
        >>> AdditiveGaussian(std=0.0).apply(torch.ones(2)).tolist()
        [1.0, 1.0]
        """
        if self._identity:
            return (x, None) if return_noise else x
        eps = self.sample(x.shape[len(self.shape):], generator=generator, device=x.device, dtype=x.dtype,
                          out=workspace)
        if self.kind == "multiplicative":
            out = x.mul_(eps) if inplace else x * eps
        else:
            out = x.add_(eps) if inplace else x + eps
        return (out, eps) if return_noise else out

    def _is_identity(self) -> bool:
        """True when applying the noise changes nothing (no noise, keep probability 1, zero std)."""
        return self.kind == "none"

    @property
    def _identity(self) -> bool:
        """:meth:`_is_identity`, computed once (the parameters do not change)."""
        return self._cached("identity", self._is_identity)

    def _sample(self, full_shape, params, *, streams, device, dtype, out):  # pragma: no cover - abstract
        raise NotImplementedError


class NoNoise(NoiseModel):
    """No noise at all (:math:`\\mu_2 = 1`, no additive variance).

    Examples
    --------
    >>> NoNoise().mu2
    1.0
    """

    kind = "none"

    @property
    def label(self) -> str:
        return "no noise"

    def _sample(self, full_shape, params, *, streams, device, dtype, out):
        import torch

        return torch.ones(full_shape, device=device, dtype=dtype)


class Dropout(NoiseModel):
    r"""Inverted dropout with **keep** probability ``keep_prob``: :math:`\epsilon = \mathrm{Bernoulli}(p)/p`.

    :math:`\mathbb{E}[\epsilon] = 1`, :math:`\mu_2 = \mathbb{E}[\epsilon^2] = 1/p` and
    :math:`\mu_4 = \mathbb{E}[\epsilon^4] = 1/p^3`.

    Parameters
    ----------
    keep_prob : float or array_like, in (0, 1]
        Probability :math:`p` of *keeping* a unit (Pretorius et al.'s convention). ``keep_prob=1``
        is no dropout.

    Warnings
    --------
    ``torch.nn.Dropout(p)`` uses the *drop* probability: torch's ``Dropout(p=0.4)`` is
    ``Dropout(keep_prob=0.6)`` here. Convert with :meth:`from_drop_prob` or :meth:`from_torch`.

    Examples
    --------
    >>> Dropout(keep_prob=0.5).mu2
    2.0
    >>> Dropout.from_drop_prob(0.4)
    Dropout(keep_prob=0.6)
    >>> Dropout(keep_prob=[0.5, 1.0]).mu2
    array([2., 1.])
    >>> Dropout(keep_prob=0.5).mu4
    8.0
    """

    kind = "multiplicative"
    _params = ("keep_prob",)

    def __init__(self, keep_prob):
        self._set("keep_prob", check_in_range(
            "keep_prob",
            keep_prob,
            0.0,
            1.0,
            low_open=True,
            hint="the probability of KEEPING a unit; torch.nn.Dropout's p is the drop probability 1 - keep_prob",
        ))
        self._check_moments("keep_prob")

    @classmethod
    def from_drop_prob(cls, drop_prob) -> "Dropout":
        """Build from a *drop* probability in [0, 1) (torch's convention)."""
        drop = check_in_range("drop_prob", drop_prob, 0.0, 1.0, high_open=True)
        return cls(np.round(1.0 - drop, 15))

    @classmethod
    def from_torch(cls, module) -> "Dropout":
        """Build from a ``torch.nn.Dropout`` module (whose ``p`` is the drop probability)."""
        p = getattr(module, "p", None)
        if p is None:
            raise InvalidParameterError(f"module must be a torch.nn.Dropout (with a drop probability p), got {module!r}")
        return cls.from_drop_prob(p)

    @property
    def drop_prob(self):
        """The drop probability ``1 - keep_prob`` (what ``torch.nn.Dropout`` calls ``p``)."""
        return _scalar_or_array(np.round(1.0 - self.keep_prob, 15))

    def to_torch(self):
        """The equivalent ``torch.nn.Dropout`` module (single noise level only)."""
        import torch

        if self.shape != ():
            raise InvalidParameterError("to_torch() needs a single keep_prob, not a family")
        return torch.nn.Dropout(p=float(self.drop_prob))

    @property
    def label(self) -> str:
        return f"dropout, keep p = {_scalar_or_array(self.keep_prob):g}" if self.shape == () else repr(self)

    def _mu2(self):
        return 1.0 / self.keep_prob

    def _mu2_excess(self):
        return (1.0 - np.asarray(self.keep_prob)) / self.keep_prob

    def _inverse_mu2(self):
        return self.keep_prob

    def _mu4(self):
        return 1.0 / self.keep_prob**3

    def _is_identity(self) -> bool:
        return bool(np.all(np.asarray(self.keep_prob) == 1.0))

    def _sample(self, full_shape, params, *, streams, device, dtype, out):
        r"""The dropout multipliers :math:`\epsilon \in \{0, 1/p\}`, made with integer operations.

        ``torch.bernoulli`` draws through a slow loop on the CPU, and a float mask costs a comparison and
        a multiplication. Here, for float32 (float64), with :math:`b = 32` (64) bit integers:

        1. draw integers :math:`k` uniform on :math:`[0, 2^{b-1})` (:math:`[0, 2^{62})` for 64 bits) from
           the parallel streams and subtract :math:`T = \operatorname{round}(p\,2^{b-1})` (per member of a
           family), so that :math:`k < 0` with probability :math:`p` (up to :math:`2^{-b}`);
        2. the arithmetic shift :math:`k \gg (b - 1)` is :math:`-1` (all bits set) for a kept unit and
           :math:`0` for a dropped one;
        3. a bitwise AND with the bit pattern of :math:`1/p` leaves exactly :math:`1/p` (kept) or
           :math:`+0` (dropped), read back as floats.

        Other precisions use uniform numbers and a comparison.
        """
        import torch

        int_dtype = {torch.float32: torch.int32, torch.float64: torch.int64}.get(dtype)
        tail = (1,) * (len(full_shape) - len(self.shape))
        if int_dtype is None:
            u = streams.uniform_(torch.empty(full_shape, device=device, dtype=dtype))
            keep_t = params["keep_prob"]
            return (u < keep_t).to(dtype).div_(keep_t)
        n_bits = torch.iinfo(int_dtype).bits
        top = 2 ** (n_bits - 1) if n_bits == 32 else 2**62

        def constants():
            keep = np.broadcast_to(np.asarray(self.keep_prob, dtype=float), self.shape)
            threshold = np.clip(np.round(keep * top), 1, top).astype(np.int64)
            inv_bits = torch.as_tensor(1.0 / keep, dtype=torch.float64).to(dtype).view(int_dtype)
            if self.shape == ():
                return int(threshold), int(inv_bits)
            return (torch.as_tensor(threshold, dtype=int_dtype, device=device).reshape(self.shape + tail),
                    inv_bits.to(device).reshape(self.shape + tail))

        threshold, inv_bits = self._cached(("dropout bits", dtype, device, len(tail)), constants)
        if out is not None and out.dtype == dtype:
            out = out.view(int_dtype)  # a previous draw, read as floats
        if out is None or out.shape != full_shape or out.dtype != int_dtype or out.device != device:
            out = torch.empty(full_shape, dtype=int_dtype, device=device)
        if self.shape == ():
            streams.random_(out, -threshold, top - threshold)
            out.bitwise_right_shift_(n_bits - 1).bitwise_and_(inv_bits)
        else:
            streams.random_(out, 0, top)
            out.sub_(threshold)
            out.bitwise_right_shift_(n_bits - 1).bitwise_and_(inv_bits)
        return out.view(dtype)


class MultiplicativeGaussian(NoiseModel):
    r"""Multiplicative Gaussian noise :math:`\epsilon \sim \mathcal{N}(1, \sigma^2)`, :math:`\mu_2 = 1 + \sigma^2`.

    Examples
    --------
    >>> MultiplicativeGaussian(std=0.25).mu2
    1.0625
    >>> MultiplicativeGaussian(std=1.0).mu4     # 1 + 6 sigma^2 + 3 sigma^4
    10.0
    """

    kind = "multiplicative"
    _params = ("std",)

    def __init__(self, std):
        self._set("std", check_in_range("std", std, 0.0, np.inf))
        self._check_moments("std")

    @property
    def label(self) -> str:
        return f"Gaussian, std = {_scalar_or_array(self.std):g}" if self.shape == () else repr(self)

    def _mu2(self):
        return 1.0 + self.std**2

    def _mu2_excess(self):
        return self.std**2

    def _mu4(self):
        return 1.0 + 6.0 * self.std**2 + 3.0 * self.std**4

    def _is_identity(self) -> bool:
        return bool(np.all(np.asarray(self.std) == 0.0))

    def _sample(self, full_shape, params, *, streams, device, dtype, out):
        import torch

        z = streams.normal_(torch.empty(full_shape, device=device, dtype=dtype))
        return z.mul_(params["std"]).add_(1.0)


class AdditiveGaussian(NoiseModel):
    r"""Additive Gaussian noise :math:`\epsilon \sim \mathcal{N}(0, \sigma^2)`; ``variance`` is :math:`\sigma^2`.

    Additive noise has no critical initialisation (see :func:`nsp_helpers.theory.critical_weight_variance`).

    Examples
    --------
    >>> AdditiveGaussian(std=1.0).variance
    1.0
    """

    kind = "additive"
    _params = ("std",)

    def __init__(self, std):
        self._set("std", check_in_range("std", std, 0.0, np.inf))
        self._check_moments("std")

    @property
    def variance(self):
        """Noise variance :math:`\\sigma_\\epsilon^2`."""
        return self.additive_variance

    @property
    def label(self) -> str:
        return f"additive Gaussian, std = {_scalar_or_array(self.std):g}" if self.shape == () else repr(self)

    def _additive_variance(self):
        return self.std**2

    def _is_identity(self) -> bool:
        return bool(np.all(np.asarray(self.std) == 0.0))

    def _sample(self, full_shape, params, *, streams, device, dtype, out):
        import torch

        return streams.normal_(torch.empty(full_shape, device=device, dtype=dtype)).mul_(params["std"])


def _laplace(full_shape, scale, *, streams, device, dtype):
    """Laplace(0, scale) samples by inverting the CDF of a uniform draw."""
    import torch

    u = streams.uniform_(torch.empty(full_shape, device=device, dtype=dtype), -0.5, 0.5)
    return -scale * torch.sign(u) * torch.log1p(-2.0 * u.abs())


class MultiplicativeLaplace(NoiseModel):
    r"""Multiplicative Laplace noise :math:`\epsilon = 1 + \mathrm{Laplace}(0, \beta)`, :math:`\mu_2 = 1 + 2\beta^2`.

    Examples
    --------
    >>> MultiplicativeLaplace(scale=0.5).mu2
    1.5
    >>> MultiplicativeLaplace(scale=0.5).mu4    # 1 + 12 beta^2 + 24 beta^4
    5.5
    """

    kind = "multiplicative"
    _params = ("scale",)

    def __init__(self, scale):
        self._set("scale", check_in_range("scale", scale, 0.0, np.inf))
        self._check_moments("scale")

    @property
    def label(self) -> str:
        return f"Laplace, scale = {_scalar_or_array(self.scale):g}" if self.shape == () else repr(self)

    def _mu2(self):
        return 1.0 + 2.0 * self.scale**2

    def _mu2_excess(self):
        return 2.0 * self.scale**2

    def _mu4(self):
        # (1 + X)^4 with X ~ Laplace(0, b): E[X^2] = 2 b^2, E[X^4] = 24 b^4, odd moments vanish
        return 1.0 + 12.0 * self.scale**2 + 24.0 * self.scale**4

    def _is_identity(self) -> bool:
        return bool(np.all(np.asarray(self.scale) == 0.0))

    def _sample(self, full_shape, params, *, streams, device, dtype, out):
        return 1.0 + _laplace(full_shape, params["scale"], streams=streams, device=device, dtype=dtype)


class AdditiveLaplace(NoiseModel):
    r"""Additive Laplace noise :math:`\epsilon \sim \mathrm{Laplace}(0, \beta)`; ``variance`` is :math:`2\beta^2`.

    Examples
    --------
    >>> AdditiveLaplace(scale=1.0).variance
    2.0
    """

    kind = "additive"
    _params = ("scale",)

    def __init__(self, scale):
        self._set("scale", check_in_range("scale", scale, 0.0, np.inf))
        self._check_moments("scale")

    @property
    def variance(self):
        """Noise variance :math:`2\\beta^2`."""
        return self.additive_variance

    @property
    def label(self) -> str:
        return f"additive Laplace, scale = {_scalar_or_array(self.scale):g}" if self.shape == () else repr(self)

    def _additive_variance(self):
        return 2.0 * self.scale**2

    def _is_identity(self) -> bool:
        return bool(np.all(np.asarray(self.scale) == 0.0))

    def _sample(self, full_shape, params, *, streams, device, dtype, out):
        return _laplace(full_shape, params["scale"], streams=streams, device=device, dtype=dtype)


class MultiplicativePoisson(NoiseModel):
    r"""Multiplicative Poisson noise :math:`\epsilon = \mathrm{Poisson}(\lambda)/\lambda`, :math:`\mu_2 = 1 + 1/\lambda`.

    The paper's case is ``rate=1`` (:math:`\mu_2 = 2`, critical :math:`\sigma_w^2 = 1`).

    Examples
    --------
    >>> MultiplicativePoisson().mu2
    2.0
    >>> MultiplicativePoisson().mu4             # 1 + 6/rate + 7/rate^2 + 1/rate^3
    15.0
    """

    kind = "multiplicative"
    _params = ("rate",)

    def __init__(self, rate=1.0):
        self._set("rate", check_in_range("rate", rate, 0.0, np.inf, low_open=True))
        self._check_moments("rate")

    @property
    def label(self) -> str:
        return f"Poisson, rate = {_scalar_or_array(self.rate):g}" if self.shape == () else repr(self)

    def _mu2(self):
        return 1.0 + 1.0 / self.rate

    def _mu2_excess(self):
        return 1.0 / self.rate

    def _mu4(self):
        # E[K^4] = l^4 + 6 l^3 + 7 l^2 + l for K ~ Poisson(l) (Touchard polynomial), divided by l^4
        return 1.0 + 6.0 / self.rate + 7.0 / self.rate**2 + 1.0 / self.rate**3

    def _sample(self, full_shape, params, *, streams, device, dtype, out):
        import torch

        rate = params["rate"].expand(full_shape)
        return torch.poisson(rate, generator=streams.generator) / rate


def _check_sample_shape(shape) -> tuple:
    """The trailing shape of a sample: an integer >= 0 or a sequence of them."""
    if isinstance(shape, tuple) and all(type(s) is int and 0 <= s <= 2**62 for s in shape):
        return tuple(shape)  # e.g. a torch.Size, as every layer of a forward pass passes it
    from .errors import check_int, describe

    if isinstance(shape, (str, bytes)) or np.ndim(shape) > 1:
        raise InvalidParameterError(f"shape must be an integer or a sequence of integers, got {describe(shape)}")
    items = list(np.atleast_1d(np.asarray(shape, dtype=object)).tolist()) if np.ndim(shape) else [shape]
    return tuple(check_int(f"shape[{i}]" if np.ndim(shape) else "shape", s, 0, 2**62) for i, s in enumerate(items))


def as_noise_model(noise, *, allow_family: bool = False) -> NoiseModel:
    """Turn ``None``, a :class:`NoiseModel` or a ``torch.nn.Dropout`` module into a noise model.

    ``torch.nn.Dropout(p)`` takes the **drop** probability; it becomes ``Dropout(keep_prob=1 - p)``.
    A bare number is refused: it is ambiguous between the two conventions. Families of noise levels are
    refused unless ``allow_family``.

    Examples
    --------
    >>> import torch
    >>> as_noise_model(torch.nn.Dropout(p=0.4))   # torch's p is the DROP probability
    Dropout(keep_prob=0.6)
    >>> as_noise_model(0.4)
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: noise must be a nsp_helpers.noise.NoiseModel (e.g. Dropout(keep_prob=0.6)), a torch.nn.Dropout module or None, got 0.4: a bare number is ambiguous (keep or drop probability?)
    """
    allow_family = check_bool("allow_family", allow_family)
    if noise is None:
        return NoNoise()
    if isinstance(noise, NoiseModel):
        model = noise
    elif type(noise).__name__ in {"Dropout", "Dropout1d", "Dropout2d", "Dropout3d"} and hasattr(noise, "p"):
        model = Dropout.from_torch(noise)
    else:
        extra = ": a bare number is ambiguous (keep or drop probability?)" if isinstance(noise, (int, float)) else ""
        raise InvalidParameterError(
            "noise must be a nsp_helpers.noise.NoiseModel (e.g. Dropout(keep_prob=0.6)), a torch.nn.Dropout "
            f"module or None, got {noise!r}{extra}"
        )
    if model.shape != () and not allow_family:
        raise InvalidParameterError(f"noise must be a single noise level here, got the family {model!r}")
    return model
