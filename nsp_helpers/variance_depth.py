r"""How deep a signal survives in float32: real data through deep noisy ReLU networks (Fig. 6a/6d).

Pretorius et al. (2018, Fig. 6a for MNIST, 6d for CIFAR-10) pass a data set forward through deep,
1000-unit-wide ReLU networks with dropout (keep probability 0.6) after every ReLU and on the input,
for 25 weight variances :math:`\sigma_w^2 \in [0.1, 2.5]` and no biases, and record the variance
:math:`q^l` of the pre-activations of every layer. Off criticality :math:`q^l` grows or shrinks
geometrically, :math:`q^l \propto (\sigma_w^2\mu_2/2)^l`, and leaves the range of float32 numbers at
the depth :math:`L^*` of :func:`nsp_helpers.theory.failure_depth`.

:func:`run_variance_depth` runs this experiment on any data (a CPU-sized slice in the book; the full
training set on a GPU) and returns a :class:`VarianceDepthResult`, which holds the measured
:math:`\ln q^l`, the layer where :math:`q^l` left the float32 range, and the theory for two
conventions of the input variance :math:`q^0` (the paper's :math:`q^0 = 1`, and the one the data
actually has). The full experiment is a command that writes
``results/variance_depth/<dataset>_<split>_<n>img_<hash>.json`` (``<hash>``: a hash of every setting that
changes the result, :func:`results_name`) with its provenance::

    python -m nsp_helpers.variance_depth --dataset mnist            # the paper's Fig. 6a (use a GPU)
    python -m nsp_helpers.variance_depth --dataset cifar10          # Fig. 6d
    python -m nsp_helpers.variance_depth --dataset mnist --n-images 64 --out /tmp/vd   # a CPU slice

The run is checkpointed every few batches (atomically, in ``--checkpoint-dir``, named like the
results file): re-running an interrupted command resumes it, to exactly the numbers of an
uninterrupted run. A command whose results file exists does nothing (``--overwrite`` runs again).

Introduced in the chapter *Variance depth on real data* (``book/variance_depth.md``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import noise as noise_module
from . import theory
from .device import resolve_device
from .errors import (
    DamagedFileError,
    InvalidParameterError,
    StorageError,
    as_real_tensor,
    check_bool,
    check_float,
    check_in_range,
    check_int,
    check_memory,
    check_path,
    describe,
)
from .network import NoisyNetwork
from .noise import Dropout, NoiseModel
from .storage import (
    RunLock,
    atomic_write,
    check_writable_dir,
    clean_stale_temporaries,
    config_hash,
    default_checkpoint_dir,
    device_description,
    move_aside,
    provenance,
    read_json,
    release_checkpoint,
    write_json_atomic,
)
from .theory import FLOAT32_MAX, FLOAT32_TINY

__all__ = [
    "BOOK_N_IMAGES",
    "PAPER_SIGMA_W2",
    "FailureStatistics",
    "VarianceDepthResult",
    "failure_statistics",
    "run_variance_depth",
    "layer_caps",
    "results_name",
    "save_result",
    "load_result",
    "main",
]

#: The weight variances of Fig. 6a/6d: ``numpy.linspace(0.1, 2.5, 25)``.
PAPER_SIGMA_W2 = np.linspace(0.1, 2.5, 25)
#: Images the book's chapter passes forward: (on a CPU, on a GPU); the paper passes the whole training set.
BOOK_N_IMAGES = (16, 1280)
_FORMAT = "nsp_helpers.variance_depth/1"
_CHECKPOINT_FORMAT = "nsp_helpers.variance_depth.checkpoint/1"


# ------------------------------------------------------------------------------------------------
# the result
# ------------------------------------------------------------------------------------------------
@dataclass
class VarianceDepthResult:
    r"""What :func:`run_variance_depth` measured.

    Attributes
    ----------
    sigma_w2 : numpy.ndarray, shape ``(S,)``
        Weight variances.
    noise : NoiseModel
        The multiplicative noise after every ReLU and on the input.
    q : numpy.ndarray, shape ``(S, max_layers + 1)``
        Empirical second moment :math:`q^l = \frac{1}{nN}\sum_{a,i} (h^l_{i,a})^2` of the float32
        pre-activations, accumulated in float64 (so it is exact even where it no longer fits in a
        float32); layer 0 is the input's :math:`q_{\mathrm{in}}`. ``nan`` beyond a row's
        ``n_layers``; ``inf``/``nan`` once the float32 activations themselves overflowed, ``0`` once
        they all underflowed.
    n_layers : numpy.ndarray of int, shape ``(S,)``
        Layers run for each weight variance (:func:`layer_caps`).
    q_in : float
        The input's second moment :math:`q_{\mathrm{in}} = \frac{1}{n d}\sum_{a,j} x_{j,a}^2`.
    n_images, width : int
        Number of inputs and hidden units.
    dataset : str
        Name of the data (for labels and file names).
    config : dict
        Every argument of the run (for provenance).
    """

    sigma_w2: np.ndarray
    noise: NoiseModel
    q: np.ndarray = field(repr=False)
    n_layers: np.ndarray
    q_in: float
    n_images: int
    width: int
    dataset: str = "data"
    config: dict = field(default_factory=dict, repr=False)

    @property
    def layers(self) -> np.ndarray:
        """Layer indices ``0 ... max_layers``."""
        return np.arange(self.q.shape[1])

    @property
    def log_q(self) -> np.ndarray:
        r"""Natural logarithm of :attr:`q` (``-inf`` where :math:`q^l = 0`, ``nan`` where not run)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(self.q)

    @property
    def q0_data(self) -> float:
        r"""The data's :math:`q^0` in :math:`q^l = q^0 (\sigma_w^2\mu_2/2)^l`: :math:`2 q_{\mathrm{in}}`.

        The input is not the ReLU of a Gaussian pre-activation, so the first layer does not halve it:
        :math:`q^1 = \sigma_w^2 \mu_2 q_{\mathrm{in}} = 2 q_{\mathrm{in}} \cdot \sigma_w^2\mu_2/2`.
        """
        return 2.0 * self.q_in

    def theory_failure_depth(self, q0=None) -> np.ndarray:
        """:func:`nsp_helpers.theory.failure_depth` for every weight variance (default ``q0``: :attr:`q0_data`)."""
        q0 = self.q0_data if q0 is None else check_float("q0", q0, 0, np.inf, low_open=True)
        return np.asarray(theory.failure_depth(self.noise, self.sigma_w2, q0=q0))

    def theory_log_q(self, q0=None) -> np.ndarray:
        r"""Mean-field :math:`\ln q^l = \ln q^0 + l \ln(\sigma_w^2\mu_2/2)`, shape ``(S, max_layers + 1)``.

        Layer 0 is the input's :math:`\ln q_{\mathrm{in}}` when ``q0`` is ``None`` (the data's
        convention), else :math:`\ln q^0`.
        """
        q0_value = self.q0_data if q0 is None else check_float("q0", q0, 0, np.inf, low_open=True)
        slope = np.log(self.sigma_w2 * float(self.noise.mu2) / 2.0)
        out = math.log(q0_value) + slope[:, None] * self.layers[None, :]
        out[:, 0] = math.log(self.q_in) if q0 is None else math.log(q0_value)
        return out

    @property
    def failure_layer(self) -> np.ndarray:
        """First layer where :math:`q^l` left the normal float32 range (``nan`` if it never did in the run)."""
        return self._failure()[0]

    @property
    def failure_kind(self) -> list:
        """``"overflow"``, ``"underflow"`` or ``None`` (never left the range) for every weight variance."""
        return self._failure()[1]

    def _failure(self):
        layers = np.full(len(self.sigma_w2), np.nan)
        kinds: list = [None] * len(self.sigma_w2)
        for s, row in enumerate(self.q):
            run = row[1 : self.n_layers[s] + 1]
            with np.errstate(invalid="ignore"):
                over = ~np.isfinite(run) | (run > FLOAT32_MAX)
                under = np.isfinite(run) & (run < FLOAT32_TINY)
            bad = np.flatnonzero(over | under)
            if bad.size:
                layers[s] = bad[0] + 1
                kinds[s] = "overflow" if over[bad[0]] else "underflow"
        return layers, kinds

    # --- (de)serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-ready dict (non-finite numbers as the strings ``"inf"``, ``"-inf"``, ``"nan"``)."""
        rows = [[_encode(v) for v in row[: n + 1]] for row, n in zip(self.q, self.n_layers)]
        return {
            "dataset": self.dataset,
            "sigma_w2": [float(s) for s in self.sigma_w2],
            "noise": _noise_to_dict(self.noise),
            "n_layers": [int(n) for n in self.n_layers],
            "q_in": float(self.q_in),
            "n_images": int(self.n_images),
            "width": int(self.width),
            "q": rows,
        }

    @classmethod
    def from_dict(cls, d: dict, config: dict | None = None) -> "VarianceDepthResult":
        """Inverse of :meth:`to_dict`."""
        n_layers = np.asarray(d["n_layers"], dtype=int)
        q = np.full((len(n_layers), int(n_layers.max()) + 1), np.nan)
        for s, row in enumerate(d["q"]):
            q[s, : len(row)] = [float(v) for v in row]
        return cls(
            sigma_w2=np.asarray(d["sigma_w2"], dtype=float),
            noise=_noise_from_dict(d["noise"]),
            q=q,
            n_layers=n_layers,
            q_in=float(d["q_in"]),
            n_images=int(d["n_images"]),
            width=int(d["width"]),
            dataset=str(d.get("dataset", "data")),
            config=dict(config or {}),
        )


@dataclass
class FailureStatistics:
    r"""How far the measured failure layers lie from the failure depth :math:`L^*` (:func:`failure_statistics`).

    Attributes
    ----------
    measured : numpy.ndarray, shape ``(S,)``
        First layer outside the normal float32 range per weight variance (``nan``: never, in the run).
    l_data, l_paper : numpy.ndarray, shape ``(S,)``
        :math:`L^*` with the data's :math:`q^0 = 2 q_{\mathrm{in}}` and with the paper's :math:`q^0 = 1`.
    n_failed : int
        Weight variances whose :math:`q^l` left the range.
    max_rel_data, max_rel_paper : float
        Largest :math:`|\text{measured}/L^* - 1|` over them, in per cent, for the two conventions.
    shallow_limit : float
    max_err_shallow : float
        Largest :math:`|\text{measured} - L^*|` (layers, data's :math:`q^0`) where :math:`L^* <` ``shallow_limit``
        (``nan`` if there is none).
    """

    measured: np.ndarray
    l_data: np.ndarray
    l_paper: np.ndarray
    n_failed: int
    max_rel_data: float
    max_rel_paper: float
    shallow_limit: float
    max_err_shallow: float


def failure_statistics(result: VarianceDepthResult, shallow_limit: float = 300.0) -> FailureStatistics:
    """Compare the measured failure layers of a run with the theory (the numbers the chapter states).

    Introduced in the chapter *Variance depth on real data* (``book/variance_depth.md``).

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> q = np.array([[0.1, 1e20, 1e39], [0.1, 0.2, 0.2]])  # the first variance overflows at layer 2
    >>> r = VarianceDepthResult(np.array([2.4, 1.2]), Dropout(0.6), q, np.array([2, 2]), 0.1, 4, 10)
    >>> stats = failure_statistics(r)
    >>> stats.measured.tolist()[0], stats.n_failed, round(float(stats.l_data[0]), 1)
    (2.0, 1, 130.3)
    """
    if not isinstance(result, VarianceDepthResult):
        raise InvalidParameterError(f"result must be a VarianceDepthResult, got {type(result).__name__}")
    shallow_limit = check_float("shallow_limit", shallow_limit, 0, np.inf, low_open=True)
    measured = result.failure_layer
    failed = np.isfinite(measured)
    l_data = result.theory_failure_depth()
    l_paper = result.theory_failure_depth(q0=1.0)
    rel = lambda l_star: 100 * float(np.max(np.abs(measured / l_star - 1)[failed])) if failed.any() else float("nan")  # noqa: E731
    shallow = failed & (l_data < shallow_limit)
    err = float(np.max(np.abs(measured - l_data)[shallow])) if shallow.any() else float("nan")
    return FailureStatistics(measured=measured, l_data=l_data, l_paper=l_paper, n_failed=int(failed.sum()),
                             max_rel_data=rel(l_data), max_rel_paper=rel(l_paper), shallow_limit=float(shallow_limit),
                             max_err_shallow=err)


def _encode(v: float):
    return float(v) if np.isfinite(v) else str(float(v))


def _noise_to_dict(noise: NoiseModel) -> dict:
    return {"class": type(noise).__name__, "params": {n: float(getattr(noise, n)) for n in noise._params}}


def _noise_from_dict(d: dict) -> NoiseModel:
    if not isinstance(d, dict) or not isinstance(d.get("class"), str) or not isinstance(d.get("params"), dict):
        raise InvalidParameterError(f"noise must be a dict with 'class' and 'params', got {describe(d)}")
    cls = getattr(noise_module, d["class"], None)
    if not (isinstance(cls, type) and issubclass(cls, NoiseModel)):
        raise InvalidParameterError(f"unknown noise model {d['class']!r} in a variance-depth result")
    try:
        return cls(**d["params"])
    except TypeError as exc:
        raise InvalidParameterError(f"noise parameters {d['params']!r} do not fit {d['class']}: {exc}") from None


# ------------------------------------------------------------------------------------------------
# the experiment
# ------------------------------------------------------------------------------------------------
def _check_noise(noise) -> NoiseModel:
    if not isinstance(noise, NoiseModel) or noise.shape != ():
        raise InvalidParameterError(f"noise must be a single nsp_helpers.noise.NoiseModel level, got {noise!r}")
    if noise.kind == "additive":
        raise InvalidParameterError(
            f"noise must be multiplicative (or NoNoise()): with additive noise {noise!r} the variance has a "
            "fixed point and the geometric failure depth of this experiment does not apply"
        )
    return noise


def layer_caps(sigma_w2, noise: NoiseModel, q_in: float, *, max_layers: int = 1000, depth_factor: float = 1.1):
    r"""Layers to run for each weight variance: :math:`\min(\text{max\_layers}, \lceil f \cdot L^*\rceil)`.

    :math:`L^*` is the larger of the failure depths for the paper's :math:`q^0 = 1` and for the
    data's :math:`q^0 = 2 q_{\mathrm{in}}`, so that the run covers both predictions.

    Introduced in the chapter *Variance depth on real data* (``book/variance_depth.md``).

    Parameters
    ----------
    sigma_w2 : array_like
        Weight variances.
    noise : NoiseModel
        Multiplicative noise.
    q_in : float, in [float32 tiny / 2, float32 max / 2]
        Second moment of the input (:math:`2 q_{\mathrm{in}}` within the float32 range).
    max_layers : int, optional
        Upper bound (default 1000, as in the paper).
    depth_factor : float, optional
        :math:`f` (default 1.1, as in the paper).

    Returns
    -------
    numpy.ndarray of int
        One number of layers per weight variance.

    Examples
    --------
    >>> layer_caps([0.6, 1.2, 2.0], Dropout(keep_prob=0.6), q_in=0.5)
    array([ 139, 1000,  192])
    """
    max_layers = check_int("max_layers", max_layers, 1)
    noise = _check_noise(noise)
    depth_factor = check_float("depth_factor", depth_factor, 0.0, np.inf, low_open=True)
    q_in = check_float("q_in", q_in, theory.FLOAT32_TINY / 2, theory.FLOAT32_MAX / 2,
                       hint="the data's q0 = 2 q_in must lie in the float32 range, as the run does")
    sw = np.atleast_1d(check_in_range("sigma_w2", sigma_w2, 0.0, np.inf, low_open=True, max_ndim=1))
    if sw.size == 0:
        raise InvalidParameterError("sigma_w2 must hold at least one weight variance, got an empty array")
    depth = np.maximum(theory.failure_depth(noise, sw, q0=1.0), theory.failure_depth(noise, sw, q0=2.0 * q_in))
    with np.errstate(over="ignore", invalid="ignore"):
        capped = np.where(np.isfinite(depth), np.ceil(depth_factor * np.asarray(depth)), np.inf)
    return np.minimum(capped, max_layers).clip(min=1).astype(int)


def run_variance_depth(
    images,
    noise: NoiseModel = Dropout(keep_prob=0.6),
    sigma_w2=PAPER_SIGMA_W2,
    *,
    width: int = 1000,
    max_layers: int = 1000,
    depth_factor: float = 1.1,
    batch_size: int = 128,
    seed: int = 0,
    device=None,
    dataset: str = "data",
    progress=None,
    checkpoint=None,
    checkpoint_every: int = 10,
    keep_checkpoint: bool = False,
) -> VarianceDepthResult:
    r"""Pass data forward through deep noisy ReLU networks in float32 and record :math:`q^l` per layer.

    Introduced in the chapter *Variance depth on real data* (``book/variance_depth.md``); the
    experiment of Pretorius et al. (2018), Fig. 6a (MNIST) and 6d (CIFAR-10).

    Parameters
    ----------
    images : torch.Tensor or array_like, shape ``(n, d)``
        The inputs :math:`x`, one per row (e.g. from :func:`nsp_helpers.data.load_mnist`).
    noise : NoiseModel, optional
        Multiplicative noise applied to the input and after every ReLU (default: dropout with keep
        probability 0.6, as in the paper).
    sigma_w2 : array_like, > 0, optional
        Weight variances (default :data:`PAPER_SIGMA_W2`, the paper's 25 values).
    width : int, optional
        Hidden units per layer (default 1000).
    max_layers, depth_factor : optional
        Each weight variance runs for :func:`layer_caps` layers, :math:`\min(1000, \lceil 1.1 L^*\rceil)`
        by default.
    batch_size : int, optional
        Inputs passed forward together (default 128). Every batch goes through the *same* network
        (the weights of layer :math:`l` are regenerated from a per-layer seed), so this only trades
        memory for speed.
    seed : int, optional
        Seeds the weights (per layer) and the noise (per batch).
    device : None, str or torch.device, optional
        ``None`` uses a GPU when present (:func:`nsp_helpers.device.resolve_device`).
    dataset : str, optional
        A name stored with the result.
    progress : callable, optional
        Called as ``progress(batches_done, n_batches)`` after every batch.
    checkpoint : path, optional
        A file (``.npz``) where the per-layer sums so far are written atomically every
        ``checkpoint_every`` batches. If it exists when the call starts, the run resumes after its
        last batch and ends with exactly the numbers of an uninterrupted run (its configuration and
        images must be those of this call, else the call is refused); a damaged checkpoint is moved
        aside with a warning and the run starts over. Removed at the end unless ``keep_checkpoint``.
    checkpoint_every : int, optional
        Batches between checkpoints (default 10).
    keep_checkpoint : bool, optional
        Write a final checkpoint and leave it: the command line removes it only after the result
        is written and read back, so no interruption loses the run.

    Returns
    -------
    VarianceDepthResult
        The measured :math:`q^l` of every weight variance and layer.

    Notes
    -----
    The network for weight variance :math:`\sigma_w^2` is, with :math:`\epsilon` the noise,

    .. math::

        h^1 = W^1 (\epsilon^0 \odot x), \qquad h^{l} = W^{l}\bigl(\epsilon^{l-1} \odot \phi(h^{l-1})\bigr),
        \qquad W^l = \sqrt{\sigma_w^2 / N_{l-1}}\; \tilde W^l,\quad \tilde W^l_{ij} \sim \mathcal{N}(0, 1),

    computed in float32; :math:`q^l = \frac{1}{nN}\sum_{a,i}(h^l_{i,a})^2` is accumulated in float64.
    The mean-field prediction is
    :math:`q^l = \sigma_w^2\mu_2 q_{\mathrm{in}} (\sigma_w^2\mu_2/2)^{l-1} = 2q_{\mathrm{in}}(\sigma_w^2\mu_2/2)^l`.
    All weight variances share the standard-normal matrices :math:`\tilde W^l` (common random numbers:
    one draw per layer instead of 25); the noise is independent for every weight variance, layer,
    input and unit. On the CPU the cost is about
    :math:`\sum_s n\, N^2 \min(1000, 1.1 L^*_s)` multiply-adds: use a few dozen images there, and the
    full training set on a GPU.

    Examples
    --------
    >>> import torch
    >>> images = torch.rand(8, 20, generator=torch.Generator().manual_seed(0))
    >>> result = run_variance_depth(images, sigma_w2=[0.6, 2.0], width=50, max_layers=30, device="cpu")
    >>> result.q.shape, result.n_layers.tolist()
    ((2, 31), [30, 30])
    >>> slope = np.diff(result.log_q[:, 1:], axis=1).mean(axis=1)   # ln(sigma_w2 * mu2 / 2) per layer
    >>> bool(np.all(np.abs(slope - np.log([0.5, 5 / 3])) < 0.15))     # 8 images of width 50: within 0.15
    True
    """
    import torch

    noise = _check_noise(noise)
    sw = np.atleast_1d(check_in_range("sigma_w2", sigma_w2, 0.0, np.inf, low_open=True, max_ndim=1)).astype(float)
    if sw.size == 0:
        raise InvalidParameterError("sigma_w2 must hold at least one weight variance, got an empty array")
    width = check_int("width", width, 1, 2**31 - 1)
    batch_size = check_int("batch_size", batch_size, 1, 2**31 - 1)
    seed = check_int("seed", seed, 0)
    checkpoint_every = check_int("checkpoint_every", checkpoint_every, 1)
    keep_checkpoint = check_bool("keep_checkpoint", keep_checkpoint)
    if not isinstance(dataset, str):
        raise InvalidParameterError(f"dataset must be a name (a str), got {describe(dataset)}")
    if progress is not None and not callable(progress):
        raise InvalidParameterError(f"progress must be callable or None, got {describe(progress)}")
    checkpoint = check_path("checkpoint", checkpoint) if checkpoint is not None else None
    dev = resolve_device(device)
    x_all = _as_images(images)
    n_images, n_in = x_all.shape
    q_in = float(torch.mean(x_all.double() ** 2))
    if not q_in > 0:
        raise InvalidParameterError("images must not be all zero (their second moment q_in is 0)")
    if not math.isfinite(q_in):  # pragma: no cover - float32 input cannot overflow a float64 mean
        raise InvalidParameterError("images must have a finite second moment")
    n_layers = layer_caps(sw, noise, q_in, max_layers=max_layers, depth_factor=depth_factor)
    depth = int(n_layers.max())
    # one network per weight variance, deepest first (a prefix of the stack runs each layer), one weight seed
    order = np.argsort(-n_layers, kind="stable")
    networks = [NoisyNetwork(noise, float(sw[i]), 0.0, "relu", width=width, n_layers=int(n_layers[i]), input_width=n_in,
                             input_activation=False) for i in order]
    from .forward import network_seeds

    network_seed = network_seeds(seed, 1)[0]
    # per batch: one shared standard-normal matrix, and a few activations of every network
    check_memory(4.0 * (width * max(width, n_in) + 4 * len(sw) * min(batch_size, n_images) * width), "the variance-depth run",
                 {"width": width, "batch_size": batch_size, "sigma_w2": f"{len(sw)} values"}, dev)
    config = {
        "noise": _noise_to_dict(noise),
        "sigma_w2": [float(s) for s in sw],
        "width": width,
        "max_layers": int(max_layers),
        "depth_factor": float(depth_factor),
        "batch_size": batch_size,
        "seed": seed,
        "device": str(dev),
        "n_images": int(n_images),
        "dataset": dataset,
    }

    n_batches = math.ceil(n_images / batch_size)
    q_sum = torch.zeros((depth + 1, len(sw)), dtype=torch.float64, device=dev)
    start = 0
    identity = None
    if checkpoint is not None:
        identity = {
            "format": _CHECKPOINT_FORMAT,
            "config": {k: v for k, v in config.items() if k not in ("device", "dataset")},
            "device_type": dev.type,
            "images": _fingerprint(x_all),
        }
        state = _load_checkpoint(checkpoint, identity, q_sum.shape, n_batches)
        if state is not None:
            start = state[0]
            q_sum = torch.as_tensor(state[1], dtype=torch.float64, device=dev)
    for b in range(start, n_batches):
        x = x_all[b * batch_size : (b + 1) * batch_size].to(dev)
        q_sum += _batch_sums(x, b, networks, order, seed, network_seed, dev)
        done = b + 1
        if checkpoint is not None and (done % checkpoint_every == 0 or (keep_checkpoint and done == n_batches)):
            _save_checkpoint(checkpoint, identity, done, q_sum)
        if progress is not None:
            progress(done, n_batches)

    q = (q_sum / (n_images * width)).T.cpu().numpy()
    q[:, 0] = q_in
    q[np.arange(depth + 1)[None, :] > n_layers[:, None]] = np.nan
    if checkpoint is not None and not keep_checkpoint:
        checkpoint.unlink(missing_ok=True)
    return VarianceDepthResult(sw, noise, q, n_layers, q_in, int(n_images), width, dataset, config)


def _batch_sums(x, batch_index: int, networks, order, seed: int, network_seed: int, dev):
    r"""The forward pass of ONE batch: per-layer sums of squares of the pre-activations, shape ``(depth + 1, S)``.

    Row ``l`` holds :math:`\sum_{a,i} (h^l_{i,a})^2` of this batch for every weight variance (float64;
    row 0 and the layers beyond a weight variance's cap are 0). The networks run through the package's one
    forward pass (:func:`nsp_helpers.forward.run_networks`), all weight variances sharing the weight seed
    (one standard-normal matrix per layer); the noise of batch ``b`` is seeded by ``(seed, NOISE, b)``, so a
    batch's sums do not depend on the batches before it (which is what makes checkpoints exact).
    """
    import torch

    from . import _random
    from .forward import run_networks

    depth = networks[0].n_layers
    sums = torch.zeros((depth + 1, len(networks)), dtype=torch.float64, device=dev)
    index = torch.as_tensor(order, device=dev)

    def on_layer(layer, h, xin, eps):
        if layer != 0:  # sum of squares in float64 (exact where a float32 h*h would overflow or underflow)
            sums[layer, index[: h.shape[0]]] += torch.linalg.vector_norm(h, dim=(1, 2), dtype=torch.float64).square()

    run_networks(networks, [network_seed] * len(networks), x, noise_seed=(seed, _random.NOISE, batch_index),
                 on_layer=on_layer, device=dev)
    return sums


def _fingerprint(x) -> str:
    """A hash of the images (their float32 bytes and shape): a checkpoint resumes only on the same data."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr(tuple(x.shape)).encode())
    arr = x.detach().cpu().contiguous().numpy()
    step = 1 << 24
    flat = arr.reshape(-1).view(np.uint8)
    for i in range(0, flat.size, step):
        digest.update(flat[i : i + step])
    return digest.hexdigest()


def _save_checkpoint(path, identity: dict, batches_done: int, q_sum) -> None:
    q = q_sum.cpu().numpy()

    def write(f):
        np.savez(f, q_sum=q, batches_done=np.int64(batches_done), identity=np.str_(json.dumps(identity, sort_keys=True)))

    atomic_write(path, write)


def _load_checkpoint(path, identity: dict, shape, n_batches: int):
    """``(batches_done, q_sum)`` from checkpoint ``path``, or ``None`` (absent, or damaged and moved aside)."""
    from pathlib import Path as _Path

    path = _Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            q_sum = np.array(npz["q_sum"], dtype=np.float64)
            done = int(npz["batches_done"])
            stored = json.loads(str(npz["identity"]))
    except Exception as exc:  # noqa: BLE001 - zip, pickle, key and value errors of a truncated or foreign file
        move_aside(path, f"it cannot be read as a variance-depth checkpoint: {type(exc).__name__}: {exc}")
        return None
    if stored != json.loads(json.dumps(identity, sort_keys=True)):
        raise InvalidParameterError(
            f"checkpoint {path} belongs to another run (different configuration, images or device type); "
            "remove it or pass another checkpoint path"
        )
    if q_sum.shape != tuple(shape) or not 0 < done <= n_batches:
        move_aside(path, f"its sums have shape {q_sum.shape} and {done} batches, expected {tuple(shape)} and at most {n_batches}")
        return None
    return done, q_sum


def _as_images(images):
    import torch

    x = as_real_tensor("images", images, dtype=torch.float32)
    if x.dim() != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise InvalidParameterError(f"images must have shape (n_images, n_features), got {tuple(x.shape)}")
    return x


# ------------------------------------------------------------------------------------------------
# results on disk
# ------------------------------------------------------------------------------------------------
def save_result(result: VarianceDepthResult, path, *, wall_s: float | None = None, command: str | None = None) -> Path:
    """Write ``result`` and its provenance to the JSON file ``path`` atomically.

    The provenance records the configuration, the code version (``git describe`` or the package
    version), the device, the date (UTC), the wall time, the command and the torch version.
    Used by ``python -m nsp_helpers.variance_depth`` (chapter *Variance depth on real data*).

    Parameters
    ----------
    result : VarianceDepthResult
    path : str or os.PathLike
        Target file (its directory is created).
    wall_s : float, optional
        Seconds the run took.
    command : str, optional
        The command that produced the result.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    nsp_helpers.errors.StorageError
        The file cannot be written (disk full, no permission...); the message names it.

    Examples
    --------
    >>> import tempfile, torch
    >>> r = run_variance_depth(torch.rand(4, 10), sigma_w2=[2.0], width=20, max_layers=5, device="cpu")
    >>> path = save_result(r, Path(tempfile.mkdtemp()) / "demo.json", wall_s=0.1)
    >>> load_result(path).q.shape
    (1, 6)
    """

    if not isinstance(result, VarianceDepthResult):
        raise InvalidParameterError(f"result must be a VarianceDepthResult, got {describe(result)}")
    path = check_path("path", path)
    if wall_s is not None:
        wall_s = check_float("wall_s", wall_s, 0)
    if command is not None and not isinstance(command, str):
        raise InvalidParameterError(f"command must be a str or None, got {describe(command)}")
    payload = {
        "format": _FORMAT,
        "config": result.config,
        "provenance": provenance(command, device=device_description(str(result.config.get("device", "cpu"))),
                                 date_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                 wall_s=None if wall_s is None else round(float(wall_s), 3)),
        "result": result.to_dict(),
    }
    return write_json_atomic(payload, path)


def load_result(path) -> VarianceDepthResult:
    """Read a result written by :func:`save_result` (its provenance is in ``result.config["provenance"]``).

    Raises
    ------
    nsp_helpers.errors.DamagedFileError
        The file is missing, truncated, not JSON, or lacks a field; the message names it.

    Examples
    --------
    See :func:`save_result`.
    """
    path = check_path("path", path)
    try:
        payload = read_json(path, "variance-depth result")
    except DamagedFileError as exc:
        raise DamagedFileError(f"cannot read a variance-depth result from {path}: {exc}", path) from None
    if payload.get("format") != _FORMAT:
        raise DamagedFileError(f"{path} is not a variance-depth result (format {payload.get('format')!r})", path)
    if not isinstance(payload.get("result"), dict):
        raise DamagedFileError(f"{path} is not a valid variance-depth result: it lacks the field 'result'", path)
    config = dict(payload.get("config") or {}, provenance=payload.get("provenance", {}))
    try:
        return VarianceDepthResult.from_dict(payload["result"], config)
    except KeyError as exc:
        raise DamagedFileError(f"{path} is not a valid variance-depth result: its result lacks the field {exc}", path) from None
    except (TypeError, ValueError, IndexError) as exc:
        raise DamagedFileError(f"{path} is not a valid variance-depth result: {type(exc).__name__}: {exc}", path) from None


def results_name(config: dict) -> str:
    """File name of a run's result: ``{dataset}_{split}_{n_images}img_{hash}.json``.

    ``hash`` is :func:`nsp_helpers.storage.config_hash` of every setting that changes the result
    (data set, split, number of images, noise, weight variances, width, depth limits, batch size,
    seed), so that runs of different configurations never overwrite each other.

    Examples
    --------
    >>> cfg = {"dataset": "mnist", "split": "train", "n_images": 64, "seed": 0}
    >>> name = results_name(cfg)
    >>> name.startswith("mnist_train_64img_"), name == results_name(dict(cfg, seed=1))
    (True, False)
    """
    if not isinstance(config, dict) or not all(k in config for k in ("dataset", "split", "n_images")):
        raise InvalidParameterError(f"config must be a dict with at least dataset, split and n_images, got {describe(config)}")
    dataset, split = str(config["dataset"]), str(config["split"])
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", dataset) or not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", split):
        raise InvalidParameterError(f"config's dataset and split must be short names (they become part of a file name), got {dataset!r}, {split!r}")
    n_images = check_int("n_images", config["n_images"], 1)
    hashed = {k: v for k, v in config.items() if k not in ("device", "provenance")}
    return f"{dataset}_{split}_{n_images}img_{config_hash(hashed)}.json"


# ------------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nsp_helpers.variance_depth",
        description="Pretorius et al. (2018) Fig. 6a/6d: log q^l per layer of deep noisy ReLU networks fed "
        "real data, against the float32 failure depth L*. Writes <out>/<dataset>_<split>_<n>img_<hash>.json "
        "with provenance; an interrupted run resumes from its checkpoint when the command is run again.",
    )
    parser.add_argument("--dataset", choices=["mnist", "cifar10", "synthetic"], required=True,
                        help="synthetic: 512 random 64-pixel images (for smoke runs)")
    parser.add_argument("--split", choices=["train", "test"], default="train")
    parser.add_argument("--n-images", type=int, default=None, help="first N images only (default: all)")
    parser.add_argument("--keep-prob", type=float, default=0.6, help="dropout keep probability (default 0.6)")
    parser.add_argument("--n-sigma-w2", type=int, default=25, help="number of values in linspace(0.1, 2.5, n)")
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--max-layers", type=int, default=1000)
    parser.add_argument("--depth-factor", type=float, default=1.1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: a GPU when present)")
    parser.add_argument("--data-root", default=None, help="data directory (default: $NSP_DATA_DIR or ~/.cache)")
    parser.add_argument("--out", default="results/variance_depth", help="output directory")
    parser.add_argument("--checkpoint-dir", default=None,
                        help="where the checkpoint goes (default: $NSP_CHECKPOINT_DIR or ~/.cache/nsp_helpers/checkpoints)")
    parser.add_argument("--checkpoint-every", type=int, default=10, help="batches between checkpoints (default 10)")
    parser.add_argument("--overwrite", action="store_true", help="run again even if this configuration's result exists")
    return parser


_OPTION_OF = {"keep_prob": "--keep-prob", "width": "--width", "max_layers": "--max-layers", "depth_factor": "--depth-factor",
              "batch_size": "--batch-size", "seed": "--seed", "checkpoint_every": "--checkpoint-every"}


def main(argv=None) -> Path:
    """Run the experiment from the command line (``python -m nsp_helpers.variance_depth --help``).

    Bad options raise :class:`~nsp_helpers.errors.InvalidParameterError` naming the option (the
    shell entry point prints it as one line). The output folder is checked before anything runs.
    """
    from . import data

    args = _parser().parse_args(argv)
    command = "python -m nsp_helpers.variance_depth " + " ".join(sys.argv[1:] if argv is None else argv)
    noise = Dropout(keep_prob=check_float("--keep-prob", args.keep_prob, 0, 1, low_open=True))
    n_sigma = check_int("--n-sigma-w2", args.n_sigma_w2, 1, 10_000)
    for option in ("width", "max_layers", "batch_size", "checkpoint_every"):
        check_int(_OPTION_OF[option], getattr(args, option), 1)
    check_int("--seed", args.seed, 0)
    check_float("--depth-factor", args.depth_factor, 0, np.inf, low_open=True)
    if args.n_images is not None:
        check_int("--n-images", args.n_images, 1)
    out_dir = check_writable_dir("--out", args.out)
    ckpt_dir = check_writable_dir("--checkpoint-dir", args.checkpoint_dir if args.checkpoint_dir is not None else default_checkpoint_dir())

    if args.dataset == "synthetic":
        images, _ = data.synthetic_dataset(10_000 if args.split == "train" else 2_000, 64, seed=0 if args.split == "train" else 1)
    else:
        loader = data.load_mnist if args.dataset == "mnist" else data.load_cifar10
        images, _ = loader(args.data_root, split=args.split)
    if args.n_images is not None:
        if args.n_images > len(images):
            raise InvalidParameterError(
                f"--n-images must be at most {len(images)} (the size of the {args.dataset} {args.split} split), got {args.n_images}"
            )
        images = images[: args.n_images]
    sigma_w2 = np.linspace(0.1, 2.5, n_sigma)
    config = {
        "noise": _noise_to_dict(noise),
        "sigma_w2": [float(s) for s in sigma_w2],
        "width": args.width,
        "max_layers": args.max_layers,
        "depth_factor": float(args.depth_factor),
        "batch_size": args.batch_size,
        "seed": args.seed,
        "n_images": int(len(images)),
        "dataset": args.dataset,
        "split": args.split,
    }
    name = results_name(config)
    path = out_dir / name
    dev = resolve_device(args.device)
    stem = name[: -len(".json")]
    checkpoint = ckpt_dir / f"{stem}.{dev.type}.npz"
    with RunLock(ckpt_dir / f"{stem}.lock"):
        for stale in clean_stale_temporaries(checkpoint) + clean_stale_temporaries(path):
            print(f"removed the temporary file {stale} of an interrupted write", file=sys.stderr)
        if path.exists() and not args.overwrite:
            try:
                load_result(path)
            except DamagedFileError as exc:
                move_aside(path, str(exc))
            else:
                checkpoint.unlink(missing_ok=True)
                print(f"{path} already holds this configuration's result (--overwrite runs it again)")
                return path
        if checkpoint.exists():
            print(f"resuming from the checkpoint {checkpoint}", file=sys.stderr)
        start = time.perf_counter()

        def report(done, total):
            if done == total or done % max(1, total // 20) == 0:
                print(f"  batch {done}/{total}  ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)

        result = run_variance_depth(
            images, noise, sigma_w2, width=args.width, max_layers=args.max_layers, depth_factor=args.depth_factor,
            batch_size=args.batch_size, seed=args.seed, device=dev, dataset=args.dataset, progress=report,
            checkpoint=checkpoint, checkpoint_every=args.checkpoint_every, keep_checkpoint=True,
        )
        wall = time.perf_counter() - start
        result.config["split"] = args.split
        path = save_result(result, path, wall_s=wall, command=command)
        # written, read back and compared; only then is the checkpoint removed
        release_checkpoint(path, checkpoint, load_result, lambda back: np.array_equal(back.q, result.q, equal_nan=True))
    print(f"wrote {path} ({wall:.1f} s on {result.config['device']})")
    return path


def _cli(argv=None) -> int:
    """``main`` for the shell: bad options, unwritable folders and missing data print one line, exit status 2."""
    from .data import CorruptDataError, DataNotFoundError
    from .storage import RunLockedError

    try:
        main(argv)
    except (InvalidParameterError, StorageError, RunLockedError, DataNotFoundError, CorruptDataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume from the last checkpoint", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_cli())
