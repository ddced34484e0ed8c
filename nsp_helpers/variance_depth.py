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
actually has). The full experiment is a command that writes ``results/variance_depth/<dataset>.json``
with its provenance::

    python -m nsp_helpers.variance_depth --dataset mnist            # the paper's Fig. 6a (use a GPU)
    python -m nsp_helpers.variance_depth --dataset cifar10          # Fig. 6d
    python -m nsp_helpers.variance_depth --dataset mnist --n-images 64 --out /tmp/vd   # a CPU slice

Introduced in the chapter *Variance depth on real data* (``book/variance_depth.md``).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import noise as noise_module
from . import theory
from .device import resolve_device
from .errors import InvalidParameterError, check_in_range, check_int
from .noise import Dropout, NoiseModel
from .storage import code_version, device_description, write_json_atomic
from .theory import FLOAT32_MAX, FLOAT32_TINY

__all__ = [
    "PAPER_SIGMA_W2",
    "VarianceDepthResult",
    "run_variance_depth",
    "layer_caps",
    "save_result",
    "load_result",
    "main",
]

#: The weight variances of Fig. 6a/6d: ``numpy.linspace(0.1, 2.5, 25)``.
PAPER_SIGMA_W2 = np.linspace(0.1, 2.5, 25)
_FORMAT = "nsp_helpers.variance_depth/1"


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
        return np.asarray(theory.failure_depth(self.noise, self.sigma_w2, q0=self.q0_data if q0 is None else q0))

    def theory_log_q(self, q0=None) -> np.ndarray:
        r"""Mean-field :math:`\ln q^l = \ln q^0 + l \ln(\sigma_w^2\mu_2/2)`, shape ``(S, max_layers + 1)``.

        Layer 0 is the input's :math:`\ln q_{\mathrm{in}}` when ``q0`` is ``None`` (the data's
        convention), else :math:`\ln q^0`.
        """
        q0_value = self.q0_data if q0 is None else float(q0)
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


def _encode(v: float):
    return float(v) if np.isfinite(v) else str(float(v))


def _noise_to_dict(noise: NoiseModel) -> dict:
    return {"class": type(noise).__name__, "params": {n: float(getattr(noise, n)) for n in noise._params}}


def _noise_from_dict(d: dict) -> NoiseModel:
    cls = getattr(noise_module, d["class"], None)
    if not (isinstance(cls, type) and issubclass(cls, NoiseModel)):
        raise InvalidParameterError(f"unknown noise model {d['class']!r} in a variance-depth result")
    return cls(**d["params"])


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
    q_in : float, > 0
        Second moment of the input.
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
    depth_factor = float(check_in_range("depth_factor", depth_factor, 0.0, np.inf, low_open=True))
    q_in = float(check_in_range("q_in", q_in, 0.0, np.inf, low_open=True))
    sw = np.atleast_1d(check_in_range("sigma_w2", sigma_w2, 0.0, np.inf, low_open=True))
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
    >>> images = torch.rand(8, 20)
    >>> result = run_variance_depth(images, sigma_w2=[0.6, 2.0], width=50, max_layers=30, device="cpu")
    >>> result.q.shape, result.n_layers.tolist()
    ((2, 31), [30, 30])
    >>> slope = np.diff(result.log_q[:, 1:], axis=1).mean(axis=1)   # ln(sigma_w2 * mu2 / 2) per layer
    >>> np.round(slope, 1).tolist(), np.round(np.log([0.5, 5 / 3]), 1).tolist()
    ([-0.7, 0.5], [-0.7, 0.5])
    """
    import torch

    noise = _check_noise(noise)
    sw = np.atleast_1d(check_in_range("sigma_w2", sigma_w2, 0.0, np.inf, low_open=True, max_ndim=1)).astype(float)
    width = check_int("width", width, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    seed = check_int("seed", seed, 0)
    dev = resolve_device(device)
    x_all = _as_images(images)
    n_images, n_in = x_all.shape
    q_in = float(torch.mean(x_all.double() ** 2))
    if not q_in > 0:
        raise InvalidParameterError("images must not be all zero (their second moment q_in is 0)")
    n_layers = layer_caps(sw, noise, q_in, max_layers=max_layers, depth_factor=depth_factor)
    depth = int(n_layers.max())
    weight_seeds = [int(s) for s in np.random.SeedSequence([seed, 0]).generate_state(depth)]

    q_sum = torch.zeros((depth + 1, len(sw)), dtype=torch.float64, device=dev)
    gen_w = torch.Generator(device=dev)
    gen_noise = torch.Generator(device=dev)
    n_batches = math.ceil(n_images / batch_size)
    weights = {}
    for b in range(n_batches):
        gen_noise.manual_seed(int(np.random.SeedSequence([seed, 1, b]).generate_state(1)[0]))
        x = x_all[b * batch_size : (b + 1) * batch_size].to(dev)
        active = np.arange(len(sw))
        h = x.expand(len(sw), *x.shape)  # layer 0: the input, for every weight variance
        for layer in range(1, depth + 1):
            post = h if layer == 1 else h.clamp_min(0)  # no ReLU on the input
            post = noise.apply(post, generator=gen_noise)
            fan_in = post.shape[-1]
            scale = torch.as_tensor(np.sqrt(sw[active] / fan_in), dtype=torch.float32, device=dev)
            post = post * scale[:, None, None]  # scale activations, not the shared weights
            shape = (fan_in, width)
            w = weights.get(shape)
            if w is None:
                w = weights[shape] = torch.empty(shape, dtype=torch.float32, device=dev)
            gen_w.manual_seed(weight_seeds[layer - 1])
            torch.randn(shape, generator=gen_w, out=w)
            h = (post.reshape(-1, fan_in) @ w).reshape(len(active), -1, width)
            # sum of squares in float64 (exact where a float32 h*h would overflow or underflow)
            sq = torch.linalg.vector_norm(h, dim=(1, 2), dtype=torch.float64).square()
            q_sum[layer, torch.as_tensor(active, device=dev)] += sq
            keep = n_layers[active] > layer
            if not keep.all():
                if not keep.any():
                    break
                h = h[torch.as_tensor(keep, device=dev)]
                active = active[keep]
        if progress is not None:
            progress(b + 1, n_batches)

    q = (q_sum / (n_images * width)).T.cpu().numpy()
    q[:, 0] = q_in
    q[np.arange(depth + 1)[None, :] > n_layers[:, None]] = np.nan
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
    return VarianceDepthResult(sw, noise, q, n_layers, q_in, int(n_images), width, dataset, config)


def _as_images(images):
    import torch

    x = images.detach() if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images, dtype=np.float32))
    if x.dim() != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise InvalidParameterError(f"images must have shape (n_images, n_features), got {tuple(x.shape)}")
    x = x.to(torch.float32)
    if not bool(torch.isfinite(x).all()):
        raise InvalidParameterError("images must be finite")
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

    Examples
    --------
    >>> import tempfile, torch
    >>> r = run_variance_depth(torch.rand(4, 10), sigma_w2=[2.0], width=20, max_layers=5, device="cpu")
    >>> path = save_result(r, Path(tempfile.mkdtemp()) / "demo.json", wall_s=0.1)
    >>> load_result(path).q.shape
    (1, 6)
    """
    import torch

    path = Path(path)
    payload = {
        "format": _FORMAT,
        "config": result.config,
        "provenance": {
            "code_version": code_version(),
            "device": device_description(str(result.config.get("device", "cpu"))),
            "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "wall_s": None if wall_s is None else round(float(wall_s), 3),
            "command": command,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "result": result.to_dict(),
    }
    return write_json_atomic(payload, path)


def load_result(path) -> VarianceDepthResult:
    """Read a result written by :func:`save_result` (its provenance is in ``result.config["provenance"]``).

    Examples
    --------
    See :func:`save_result`.
    """
    path = Path(path)
    try:
        payload = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidParameterError(f"cannot read a variance-depth result from {path}: {exc}") from exc
    if payload.get("format") != _FORMAT:
        raise InvalidParameterError(f"{path} is not a variance-depth result (format {payload.get('format')!r})")
    config = dict(payload.get("config", {}), provenance=payload.get("provenance", {}))
    return VarianceDepthResult.from_dict(payload["result"], config)


# ------------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------------
def main(argv=None) -> Path:
    """Run the experiment from the command line (``python -m nsp_helpers.variance_depth --help``)."""
    from . import data

    parser = argparse.ArgumentParser(
        prog="python -m nsp_helpers.variance_depth",
        description="Pretorius et al. (2018) Fig. 6a/6d: log q^l per layer of deep noisy ReLU networks fed "
        "real data, against the float32 failure depth L*. Writes <out>/<dataset>.json with provenance.",
    )
    parser.add_argument("--dataset", choices=["mnist", "cifar10"], required=True)
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
    args = parser.parse_args(argv)

    loader = data.load_mnist if args.dataset == "mnist" else data.load_cifar10
    images, _ = loader(args.data_root, split=args.split)
    if args.n_images is not None:
        images = images[: check_int("--n-images", args.n_images, 1)]
    start = time.perf_counter()

    def report(done, total):
        if done == total or done % max(1, total // 20) == 0:
            print(f"  batch {done}/{total}  ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)

    result = run_variance_depth(
        images,
        Dropout(keep_prob=args.keep_prob),
        np.linspace(0.1, 2.5, check_int("--n-sigma-w2", args.n_sigma_w2, 1)),
        width=args.width,
        max_layers=args.max_layers,
        depth_factor=args.depth_factor,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        dataset=args.dataset,
        progress=report,
    )
    wall = time.perf_counter() - start
    result.config["split"] = args.split
    path = save_result(
        result, Path(args.out) / f"{args.dataset}.json", wall_s=wall,
        command="python -m nsp_helpers.variance_depth " + " ".join(sys.argv[1:] if argv is None else argv),
    )
    print(f"wrote {path} ({wall:.1f} s on {result.config['device']})")
    return path


if __name__ == "__main__":  # pragma: no cover
    main()
