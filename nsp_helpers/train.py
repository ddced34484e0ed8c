r"""Training many noisy ReLU networks at once: the trainable-depth experiment (Fig. 6b, c, e, f).

Pretorius et al. (2018) trained a grid of fully connected ReLU networks, one per depth :math:`L` and
dropout keep probability :math:`p`, each initialised critically (:math:`\sigma_w^2 = 2p`,
:math:`\sigma_b = 0`), and showed that only networks shallower than about six times the correlation
depth scale :math:`\xi_c` train. This module trains such a grid as **one batched model** on CPU or GPU.

The network
-----------
A network of depth :math:`L` has :math:`L` hidden ReLU layers of ``width`` units and one linear output
layer; **depth counts the hidden (ReLU) layers**, so it has :math:`L + 1` weight matrices. Dropout
(inverted, keep probability :math:`p`) acts on the input and after every ReLU:

.. math::

    h^{1} = W^{1}(\epsilon^{0} \odot x) + b^{1},\qquad
    h^{l} = W^{l}(\epsilon^{l-1} \odot \mathrm{relu}(h^{l-1})) + b^{l}\ (l \le L),\qquad
    y = W^{L+1}(\epsilon^{L} \odot \mathrm{relu}(h^{L})) + b^{L+1},

with :math:`\epsilon = \mathrm{Bernoulli}(p)/p` drawn per unit, per input and per network,
:math:`W^{l}_{ij} \sim \mathcal{N}(0, \sigma_w^2/N_{l-1})` for *every* layer (the output layer
included) and zero biases. The reconstruction task (the paper's) has :math:`y \in \mathbb{R}^{784}`
and the loss :math:`\frac{1}{784}\lVert y - x\rVert^2` (MSE, target = input); the classification variant
has 10 logits and the cross-entropy loss.

Batching: grouped by depth, no padding
--------------------------------------
All networks of one run (different depths *and* keep probabilities) form one
:class:`nsp_helpers.forward.NoisyMLP` (:func:`grid_model`), run by the package's one forward pass.
Each cell is a :class:`~nsp_helpers.network.NoisyNetwork` (:func:`cell_network`). The networks are sorted
by depth, deepest first. Layer :math:`l` is one :func:`torch.baddbmm` over the
networks that have a layer :math:`l`, which are a *prefix* of the sorted stack; a network that ends
at layer :math:`l` leaves the stack there and joins the others for one batched output layer. Nothing
is padded and nothing is masked: every network computes exactly its own layers (no wasted FLOPs, no
identity layers), and its loss, gradient and update are exactly those of the network trained alone
(tested against plain ``torch.nn.Linear`` models and ``torch.optim``).

The loss that is back-propagated is the **sum** of the per-network losses, so each network's gradient
is its own. :class:`StackedSGD` and :class:`StackedAdam` update the stacked parameters elementwise,
so each network's optimiser state is its own as well. All networks see the same minibatches; each
draws its own dropout masks.

Reproducibility
---------------
A network's initial weights depend only on ``(seed, depth, keep_prob)`` (:func:`cell_seed`; drawn on the
CPU by :func:`nsp_helpers.forward.draw_weights_`, so they are the same on every device and in every shard). Minibatch order depends only on ``seed``. Dropout masks
come from one generator on the training device, so they also depend on which networks are trained
together: a shard of a grid sees other (equally distributed) masks than the full grid. The same
command on the same device gives the same numbers, and a run interrupted after any epoch resumes from
its checkpoint to exactly the numbers of an uninterrupted run.

Running the grid
----------------
``python -m nsp_helpers.train --profile paper --dataset mnist`` trains the paper's grid;
``--shard k/n`` (``k = 0 .. n-1``) trains one slice of it, so a Slurm job array runs the grid, and
``python -m nsp_helpers.train merge FILES... --out FILE`` joins the slices. Results are small JSON files
with a provenance record (:func:`load_results`, :func:`results_grid`).

Introduced in the chapter *Trainable depth on real data* (``book/trainable_depth.md``).

References
----------
.. [1] A. Pretorius, E. van Biljon, S. Kroon, H. Kamper. *Critical initialisation for deep signal
   propagation in noisy rectifier neural networks.* NeurIPS 2018, arXiv:1811.00293.
.. [2] S. S. Schoenholz, J. Gilmer, S. Ganguli, J. Sohl-Dickstein. *Deep information propagation.*
   ICLR 2017.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import math
import os
import re
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import theory
from .data import synthetic_dataset
from .device import resolve_device
from .errors import (
    DamagedFileError,
    InvalidParameterError,
    StorageError,
    as_real_tensor,
    check_bool,
    check_choice,
    check_float,
    check_in_range,
    check_int,
    check_path,
    describe,
)
from .forward import NoisyMLP
from .network import NoisyNetwork
from .noise import Dropout
from .storage import (
    RunLock,
    atomic_write,
    check_writable_dir,
    clean_stale_temporaries,
    code_version,
    command_line,
    config_hash,
    device_description,
    move_aside,
    provenance,
    read_json,
    release_checkpoint,
    write_json_atomic,
)
from .storage import default_checkpoint_dir  # noqa: F401  (re-exported: the CLI's default)

__all__ = [
    "TrainConfig",
    "PROFILES",
    "profile_config",
    "grid_cells",
    "shard_cells",
    "parse_shard",
    "prepare_data",
    "pool_images",
    "synthetic_dataset",
    "cell_network",
    "cell_seed",
    "grid_model",
    "per_network_loss",
    "StackedSGD",
    "StackedAdam",
    "make_optimizer",
    "train_grid",
    "baselines",
    "run",
    "results_name",
    "default_checkpoint_dir",
    "write_results",
    "load_results",
    "stored_results",
    "stored_seed_results",
    "results_dir",
    "merge_results",
    "results_grid",
    "results_sigma_grid",
    "main",
]

RESULTS_FORMAT = "nsp_helpers.train/1"
ACTIVATIONS = ("relu", "tanh", "hard_tanh", "linear")
WEIGHT_KINDS = ("gaussian", "orthogonal")
TASKS = ("reconstruct", "classify")
DATASETS = ("mnist", "cifar10", "synthetic")
OPTIMIZERS = ("sgd", "adam")
PAPER_DEPTHS = (2, 6, 10, 14, 18, 23, 27, 31, 35, 40)
PAPER_KEEP_PROBS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


# ----------------------------------------------------------------------------------------------------
# configuration
# ----------------------------------------------------------------------------------------------------
_check_choice = check_choice


def _unique(name: str, values) -> None:
    seen = set()
    for v in values:
        if v in seen:
            raise InvalidParameterError(f"{name} must not repeat a value (each cell of the grid is trained once), got {v!r} twice")
        seen.add(v)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (and is stored with its results).

    Introduced in the chapter *Trainable depth on real data* (``book/trainable_depth.md``).

    Parameters
    ----------
    depths : tuple of int
        Numbers of hidden ReLU layers (each >= 1); the output layer comes on top.
    keep_probs : tuple of float
        Dropout keep probabilities in (0, 1]; each network is initialised critically,
        ``sigma_w2 = 2 * keep_prob`` (:func:`nsp_helpers.theory.critical_weight_variance`).
    width : int
        Units per hidden layer (the paper: 1000).
    dataset : {"mnist", "cifar10", "synthetic"}
        ``"synthetic"`` is a small random data set for tests and smoke runs.
    task : {"reconstruct", "classify"}
        Input reconstruction with MSE (the paper) or 10-class cross-entropy.
    optimizer : {"sgd", "adam"}
        Plain SGD (the paper) or Adam (torch's defaults for betas and eps).
    lr : float
        Learning rate.
    batch_size : int
        Minibatch size.
    n_epochs : int
        Passes over the training split.
    n_examples : int or None
        Use only the first ``n_examples`` of a fixed random permutation of the training set (before
        the train/validation split); ``None`` uses all of it.
    val_fraction : float
        Fraction of the (sub)set held out for validation (the paper: 0.1).
    seed : int
        Seed of initialisation, minibatch order and dropout masks.
    split_seed : int
        Seed of the subset and of the train/validation split (fixed, so all runs share one split).
    sigma_b2 : float
        Bias variance at initialisation (the paper: 0, zero biases).
    pool : int
        Average-pool the images over ``pool x pool`` pixel blocks (1: full resolution, the paper;
        2: MNIST at 14 x 14 = 196 pixels, CIFAR-10 at 3 x 16 x 16 = 768).
    activation : {"relu", "tanh", "hard_tanh", "linear"}
        Activation of the hidden layers (default ``"relu"``, Pretorius et al.'s; Huang et al. train tanh).
    sigma_w2s : tuple of float or None
        ``None`` (default): one network per ``(depth, keep_prob)``, initialised critically. A tuple:
        one network per ``(depth, keep_prob, sigma_w2)``, the cells of Huang et al.'s
        :math:`(\\sigma_w^2, L)` maps.
    weights : {"gaussian", "orthogonal"}
        How the initial weights are drawn (the ``weights`` field of :class:`nsp_helpers.network.NoisyNetwork`).
    steps_per_epoch : int or None
        ``None`` (default): an epoch is one pass over the shuffled training split. An integer: an
        "epoch" is this many SGD steps on minibatches drawn afresh at random (without replacement within
        a minibatch), so that the run is a step budget, ``n_epochs * steps_per_epoch`` steps, recorded
        every ``steps_per_epoch`` steps.

    The four fields after ``pool`` were added for Huang et al.'s trainable-length experiment; at their
    defaults they are left out of :meth:`to_dict` (and so of :meth:`hash`), so that configurations and
    results files written before them keep their names and hashes.

    Examples
    --------
    >>> TrainConfig(depths=(2, 4), keep_probs=(0.5, 1.0), width=8).n_networks
    4
    >>> TrainConfig(depths=(0,), keep_probs=(0.5,))
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: depths[0] must be an integer >= 1, got 0
    """

    depths: tuple = PAPER_DEPTHS
    keep_probs: tuple = PAPER_KEEP_PROBS
    width: int = 1000
    dataset: str = "mnist"
    task: str = "reconstruct"
    optimizer: str = "sgd"
    lr: float = 1e-3
    batch_size: int = 128
    n_epochs: int = 200
    n_examples: int | None = None
    val_fraction: float = 0.1
    seed: int = 0
    split_seed: int = 0
    sigma_b2: float = 0.0
    pool: int = 1
    activation: str = "relu"
    sigma_w2s: tuple | None = None
    weights: str = "gaussian"
    steps_per_epoch: int | None = None

    def __post_init__(self):
        raw_depths = self.depths
        if isinstance(raw_depths, (str, bytes)):
            raise InvalidParameterError(f"depths must be a sequence of integers, got {describe(raw_depths)}")
        if isinstance(raw_depths, (list, tuple)):
            listed = list(raw_depths)
        else:
            try:
                listed = np.atleast_1d(np.asarray(raw_depths, dtype=object)).tolist()
            except ValueError:  # ragged
                listed = [raw_depths]
        if any(isinstance(d, (list, tuple, np.ndarray)) for d in listed) or np.ndim(np.asarray(listed, dtype=object)) != 1:
            raise InvalidParameterError(f"depths must be a flat sequence of integers, got {describe(raw_depths)}")
        depths = tuple(check_int(f"depths[{i}]", d, 1) for i, d in enumerate(listed))
        keeps = check_in_range("keep_probs", np.atleast_1d(_as_array_or_self(self.keep_probs)), 0, 1, low_open=True, max_ndim=1)
        if len(depths) == 0 or keeps.size == 0:
            raise InvalidParameterError("depths and keep_probs must each hold at least one value")
        _unique("depths", depths)
        _unique("keep_probs", keeps.tolist())
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen dataclass)
        set_("depths", depths)
        set_("keep_probs", tuple(float(k) for k in keeps.ravel()))
        # normalised to plain Python types: numpy scalars would not survive the JSON results at the end
        set_("width", check_int("width", self.width, 1))
        set_("dataset", check_choice("dataset", self.dataset, DATASETS))
        set_("task", check_choice("task", self.task, TASKS))
        set_("optimizer", check_choice("optimizer", self.optimizer, OPTIMIZERS))
        set_("lr", check_float("lr", self.lr, 0, np.inf, low_open=True))
        set_("batch_size", check_int("batch_size", self.batch_size, 1))
        set_("n_epochs", check_int("n_epochs", self.n_epochs, 1))
        if self.n_examples is not None:
            set_("n_examples", check_int("n_examples", self.n_examples, 10))
        set_("val_fraction", check_float("val_fraction", self.val_fraction, 0, 1, low_open=True, high_open=True))
        set_("seed", check_int("seed", self.seed, 0))
        set_("split_seed", check_int("split_seed", self.split_seed, 0))
        set_("sigma_b2", check_float("sigma_b2", self.sigma_b2, 0, np.inf))
        set_("pool", check_int("pool", self.pool, 1))
        set_("activation", check_choice("activation", self.activation, ACTIVATIONS))
        set_("weights", check_choice("weights", self.weights, WEIGHT_KINDS))
        if self.steps_per_epoch is not None:
            set_("steps_per_epoch", check_int("steps_per_epoch", self.steps_per_epoch, 1))
        if self.sigma_w2s is not None:
            raw = self.sigma_w2s
            if isinstance(raw, (str, bytes)) or np.ndim(np.asarray(raw, dtype=object)) != 1:
                raise InvalidParameterError(f"sigma_w2s must be None or a flat sequence of positive numbers, got {describe(raw)}")
            sws = check_in_range("sigma_w2s", np.atleast_1d(_as_array_or_self(raw)), 0, np.inf, low_open=True, max_ndim=1)
            if sws.size == 0:
                raise InvalidParameterError("sigma_w2s must hold at least one value (or be None: critical)")
            _unique("sigma_w2s", sws.tolist())
            set_("sigma_w2s", tuple(float(v) for v in sws.ravel()))

    @property
    def n_networks(self) -> int:
        """Number of cells of the grid (depths x keep probabilities [x weight variances])."""
        return len(self.depths) * len(self.keep_probs) * (1 if self.sigma_w2s is None else len(self.sigma_w2s))

    def to_dict(self) -> dict:
        """A JSON-ready dictionary (lists instead of tuples); fields added later are left out at their defaults."""
        d = dataclasses.asdict(self)
        d["depths"] = list(self.depths)
        d["keep_probs"] = list(self.keep_probs)
        if self.sigma_w2s is not None:
            d["sigma_w2s"] = list(self.sigma_w2s)
        for name, default in _LATER_FIELDS.items():
            if d[name] == default:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; every field must be present (unknown keys are ignored).

        Examples
        --------
        >>> cfg = TrainConfig(depths=(2,), keep_probs=(0.5,), width=8)
        >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
        True
        >>> TrainConfig.from_dict({"depths": [2]})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        nsp_helpers.errors.InvalidParameterError: config lacks the field(s) keep_probs, width, ...
        """
        if not isinstance(d, dict):
            raise InvalidParameterError(f"config must be a dict of TrainConfig fields, got {describe(d)}")
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [n for n in names if n not in d and n not in _LATER_FIELDS]
        if missing:
            raise InvalidParameterError(f"config lacks the field(s) {', '.join(missing)}")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names})

    def hash(self) -> str:
        """A short hash of every field (:func:`nsp_helpers.storage.config_hash`); it names results and checkpoints.

        Examples
        --------
        >>> a, b = TrainConfig(seed=0), TrainConfig(seed=1)
        >>> a.hash() == TrainConfig(seed=0).hash(), a.hash() == b.hash()
        (True, False)
        """
        return config_hash(self.to_dict())


#: fields added after results were first stored, and their defaults (left out of to_dict at the default)
_LATER_FIELDS = {"activation": "relu", "sigma_w2s": None, "weights": "gaussian", "steps_per_epoch": None}


def _as_array_or_self(value):
    """Lists and tuples as object arrays (so that strings or booleans inside them are seen), anything else as is."""
    return np.asarray(value, dtype=object) if isinstance(value, (list, tuple)) else value


#: The profiles. ``paper`` is Pretorius et al.'s Fig. 6 setting; ``quick`` keeps the paper's grid
#: of depths and keep probabilities but shrinks everything else so that the MNIST grid trains on a
#: 2-core CPU in minutes (width 64, images average-pooled to half resolution, 4000 examples, 5 epochs
#: of batch 64, Adam instead of SGD so that a few hundred steps separate trainable from untrainable
#: networks); ``medium`` is the same at width 128 for 20 epochs (the wall time of every stored run is in
#: its provenance; on a 2-core CPU it depends on how busy the machine is).
PROFILES = {
    "paper": dict(width=1000, optimizer="sgd", lr=1e-3, batch_size=128, n_epochs=200, n_examples=None),
    "medium": dict(width=128, optimizer="adam", lr=1e-3, batch_size=64, n_epochs=20, n_examples=4000, pool=2),
    "quick": dict(width=64, optimizer="adam", lr=1e-3, batch_size=64, n_epochs=5, n_examples=4000, pool=2),
}


def profile_config(profile: str = "quick", dataset: str = "mnist", task: str = "reconstruct", **overrides) -> TrainConfig:
    """The :class:`TrainConfig` of a named profile (``"paper"``, ``"medium"`` or ``"quick"``), with overrides.

    Parameters
    ----------
    profile : {"paper", "medium", "quick"}
        See :data:`PROFILES`.
    dataset, task : str
        See :class:`TrainConfig`.
    **overrides
        Any other :class:`TrainConfig` field (``n_epochs=2``...); ``None`` values are ignored.

    Returns
    -------
    TrainConfig

    Examples
    --------
    >>> cfg = profile_config("paper")
    >>> cfg.width, cfg.n_epochs, cfg.optimizer, cfg.lr, cfg.depths[-1], cfg.n_networks
    (1000, 200, 'sgd', 0.001, 40, 100)
    """
    check_choice("profile", profile, tuple(PROFILES))
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    for key in overrides:
        if key not in fields or key in ("dataset", "task"):
            raise InvalidParameterError(f"overrides must be TrainConfig fields ({', '.join(f for f in fields if f not in ('dataset', 'task'))}), got {key!r}")
    settings = dict(PROFILES[profile], dataset=dataset, task=task)
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**settings)


def grid_cells(config: TrainConfig) -> list[tuple]:
    """The ``(depth, keep_prob)`` cells of the grid in canonical order (depth-major), or
    ``(depth, keep_prob, sigma_w2)`` when the config has ``sigma_w2s``.

    Examples
    --------
    >>> grid_cells(TrainConfig(depths=(2, 6), keep_probs=(0.5, 1.0)))
    [(2, 0.5), (2, 1.0), (6, 0.5), (6, 1.0)]
    >>> grid_cells(TrainConfig(depths=(2,), keep_probs=(1.0,), sigma_w2s=(1.0, 2.0)))
    [(2, 1.0, 1.0), (2, 1.0, 2.0)]
    """
    if config.sigma_w2s is None:
        return [(d, k) for d in config.depths for k in config.keep_probs]
    return [(d, k, s) for d in config.depths for k in config.keep_probs for s in config.sigma_w2s]


def _cell_key(cell: dict, over_sigma_w2: bool) -> tuple:
    """The grid cell of a results cell: ``(depth, keep_prob)``, with ``sigma_w2`` for grids over weight variances."""
    if over_sigma_w2:
        return (cell["depth"], cell["keep_prob"], cell.get("sigma_w2"))
    return (cell["depth"], cell["keep_prob"])


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``"k/n"`` (``0 <= k < n``) into ``(k, n)``.

    Examples
    --------
    >>> parse_shard("3/8")
    (3, 8)
    >>> parse_shard("8/8")
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: shard must be 'k/n' with integers 0 <= k < n, got '8/8'
    """
    if not isinstance(text, str):
        raise InvalidParameterError(f"shard must be a string 'k/n' with integers 0 <= k < n, got {describe(text)}")
    try:
        k, n = (int(s) for s in text.split("/"))
    except ValueError:
        k, n = -1, 0
    if not 0 <= k < n:
        raise InvalidParameterError(f"shard must be 'k/n' with integers 0 <= k < n, got {text!r}")
    return k, n


def shard_cells(cells, shard: int, n_shards: int) -> list:
    """Slice ``shard`` of ``n_shards`` of a list of cells (round robin, so shards mix depths).

    Examples
    --------
    >>> shard_cells([(2, 0.5), (2, 1.0), (6, 0.5), (6, 1.0)], 1, 2)
    [(2, 1.0), (6, 1.0)]
    """
    n_shards = check_int("n_shards", n_shards, 1)
    shard = check_int("shard", shard, 0, n_shards - 1)
    return list(cells)[shard::n_shards]


# ----------------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------------
def pool_images(images, pool: int):
    """Average-pool flattened square images (1 or 3 channels, channel-first) over ``pool x pool`` blocks.

    Examples
    --------
    >>> pool_images(torch.arange(16.0).reshape(1, 16), 2)
    tensor([[ 2.5000,  4.5000, 10.5000, 12.5000]])
    """
    images = as_real_tensor("images", images, ndim=2)
    pool = check_int("pool", pool, 1)
    n, d = images.shape
    for channels in (1, 3):
        side = math.isqrt(d // channels)
        if channels * side * side == d:
            break
    else:
        raise InvalidParameterError(f"images must be flattened square images with 1 or 3 channels to pool, got {d} features")
    if side % pool:
        raise InvalidParameterError(f"pool must divide the image side {side}, got {pool}")
    x = images.reshape(n, channels, side, side)
    return torch.nn.functional.avg_pool2d(x, pool).reshape(n, -1).contiguous()


def prepare_data(config: TrainConfig, *, images=None, labels=None) -> dict:
    """Load the training set, take the configured subset and split it into train/validation.

    Parameters
    ----------
    config : TrainConfig
        Gives the data set, ``n_examples``, ``val_fraction`` and ``split_seed``.
    images, labels : torch.Tensor, optional
        Use these instead of loading ``config.dataset`` (pixels in [0, 1], int64 labels).

    Returns
    -------
    dict
        ``x_train, y_train, x_val, y_val`` (CPU tensors) and ``n_classes``.

    Examples
    --------
    >>> data = prepare_data(TrainConfig(dataset="synthetic", n_examples=100))
    >>> len(data["x_train"]), len(data["x_val"])
    (90, 10)
    """
    _check_config(config)
    if (images is None) != (labels is None):
        raise InvalidParameterError("images and labels must be given together (or neither)")
    if images is None:
        if config.dataset == "synthetic":
            images, labels = synthetic_dataset(max(config.n_examples or 512, 10))
        else:
            from . import data

            loader = data.load_mnist if config.dataset == "mnist" else data.load_cifar10
            images, labels = loader(split="train")
    images = as_real_tensor("images", images, ndim=2, min_shape=(1, 1))
    labels = _as_labels(labels)
    if len(images) != len(labels):
        raise InvalidParameterError(f"images must be (n, d) with n labels, got {tuple(images.shape)} and {tuple(labels.shape)}")
    if config.pool > 1:
        images = pool_images(images, config.pool)
    g = torch.Generator().manual_seed(int(config.split_seed))
    perm = torch.randperm(len(images), generator=g)
    if config.n_examples is not None:
        if config.n_examples > len(images):
            raise InvalidParameterError(f"n_examples must be <= {len(images)} (the data set size), got {config.n_examples}")
        perm = perm[: config.n_examples]
    n_val = max(1, int(round(config.val_fraction * len(perm))))
    val, train = perm[:n_val], perm[n_val:]
    return dict(
        x_train=images[train].contiguous(),
        y_train=labels[train].contiguous(),
        x_val=images[val].contiguous(),
        y_val=labels[val].contiguous(),
        n_classes=int(labels.max()) + 1,
    )


def _as_labels(labels):
    """Class labels as a 1-D int64 tensor of non-negative integers."""
    if isinstance(labels, torch.Tensor):
        if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
            raise InvalidParameterError(f"labels must hold integer class indices, got a tensor of {labels.dtype}")
        y = labels.detach().to(torch.int64)
    else:
        try:
            arr = np.asarray(labels)
        except ValueError:  # ragged
            raise InvalidParameterError(f"labels must be a 1-D array of integer class indices, got {describe(labels)}") from None
        if arr.dtype.kind not in "iu":
            raise InvalidParameterError(f"labels must hold integer class indices, got {describe(labels)} of dtype {arr.dtype}")
        y = torch.from_numpy(arr.astype(np.int64))
    if y.dim() != 1 or y.numel() == 0:
        raise InvalidParameterError(f"labels must be a non-empty 1-D array, got shape {tuple(y.shape)}")
    if int(y.min()) < 0:
        raise InvalidParameterError(f"labels must be class indices >= 0, got {int(y.min())}")
    return y


def _check_config(config) -> "TrainConfig":
    if not isinstance(config, TrainConfig):
        raise InvalidParameterError(f"config must be a TrainConfig (see profile_config), got {describe(config)}")
    return config


# ----------------------------------------------------------------------------------------------------
# the networks: NoisyNetwork descriptions, run by the package's one forward pass
# ----------------------------------------------------------------------------------------------------
def cell_network(depth: int, keep_prob: float, d_in: int, d_out: int, width: int, *, sigma_b2: float = 0.0,
                 sigma_w2: float | None = None, activation: str = "relu", weights: str = "gaussian") -> NoisyNetwork:
    r"""The network of one grid cell: ``depth`` hidden layers, dropout ``keep_prob``, critical weights by default.

    ``sigma_w2=None``: the critical :math:`\sigma_w^2` (:func:`nsp_helpers.theory.critical_parameters`;
    exactly ``2 * keep_prob`` for ReLU); biases :math:`\mathcal{N}(0, \sigma_b^2)` (Pretorius et al.: zero),
    dropout on the input and after every hidden layer's activation, a linear read-out of ``d_out`` units,
    and inputs that are data (no activation on them). ``activation`` and ``weights`` (``"gaussian"`` or
    ``"orthogonal"``) are those of :class:`~nsp_helpers.network.NoisyNetwork`.

    Examples
    --------
    >>> net = cell_network(3, 0.6, d_in=784, d_out=784, width=1000)
    >>> net.sigma_w2, net.widths[:2], net.output_width, net.input_activation
    (1.2, (784, 1000), 784, False)
    >>> cell_network(3, 0.95, 784, 10, 400, sigma_b2=0.05, sigma_w2=2.5, activation="tanh", weights="orthogonal").label
    'tanh, dropout, keep p = 0.95, orthogonal weights, σ_w² = 2.5, σ_b² = 0.05'
    """
    depth, keep_prob = _check_cell(depth, keep_prob)
    d_in, d_out, width = (check_int(name, v, 1) for name, v in (("d_in", d_in), ("d_out", d_out), ("width", width)))
    sigma_b2 = check_float("sigma_b2", sigma_b2, 0.0)
    if sigma_w2 is not None:
        sigma_w2 = check_float("sigma_w2", sigma_w2, 0.0, low_open=True)
    noise = Dropout(keep_prob=float(keep_prob))
    if sigma_w2 is None:
        if activation == "relu":
            sigma_w2, _ = theory.critical_parameters(noise)
        else:
            sigma_w2, sigma_b2 = theory.critical_parameters(noise, activation, sigma_b2)
    return NoisyNetwork(noise, sigma_w2, sigma_b2, activation, width=width, n_layers=depth, input_width=d_in,
                        output_width=d_out, input_activation=False, weights=weights)


def _check_cell(depth, keep_prob, sigma_w2=None, *, cell=None) -> tuple:
    """``(depth, keep_prob[, sigma_w2])`` of one grid cell, checked (``cell``: what was given instead of a
    pair or a triple)."""
    if cell is not None:
        raise InvalidParameterError(
            f"cells must hold (depth, keep_prob) pairs or (depth, keep_prob, sigma_w2) triples, got {describe(cell)}")
    checked = (check_int("depth", depth, 0), check_float("keep_prob", keep_prob, 0.0, 1.0, low_open=True))
    if sigma_w2 is not None:
        checked += (check_float("sigma_w2", sigma_w2, 0.0, low_open=True),)
    return checked


def cell_seed(seed: int, depth: int, keep_prob: float, sigma_w2: float | None = None) -> int:
    """The weight seed of a grid cell: it depends on ``(seed, depth, keep_prob[, sigma_w2])`` only (the same
    in every shard)."""
    seed, depth = check_int("seed", seed, 0), check_int("depth", depth, 0)
    keep_prob = check_float("keep_prob", keep_prob, 0.0, 1.0)
    entropy = [int(seed), int(depth), int(round(keep_prob * 1_000_000))]
    if sigma_w2 is not None:
        sigma_w2 = check_float("sigma_w2", sigma_w2, 0.0)
        entropy.append(int(round(sigma_w2 * 1_000_000)))
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def grid_model(cells, d_in: int, d_out: int, width: int, *, seed: int = 0, sigma_b2: float = 0.0, device=None,
               dtype=None, activation: str = "relu", weights: str = "gaussian") -> tuple[NoisyMLP, list[int]]:
    """One :class:`~nsp_helpers.forward.NoisyMLP` for all ``cells`` and the stack order (deepest first).

    ``cells`` are ``(depth, keep_prob)`` pairs (critical weights) or ``(depth, keep_prob, sigma_w2)``
    triples. Returns ``(model, order)``: network ``i`` of the model is cell ``order[i]``.

    Examples
    --------
    >>> model, order = grid_model([(1, 0.5), (3, 1.0)], d_in=4, d_out=4, width=8, device="cpu")
    >>> order, model.depths, model(torch.rand(5, 4), train=False).shape
    ([1, 0], [3, 1], torch.Size([2, 5, 4]))
    """
    if not isinstance(cells, (list, tuple)) or not cells:
        raise InvalidParameterError(
            f"cells must be a non-empty list of (depth, keep_prob) pairs or (depth, keep_prob, sigma_w2) triples, got {describe(cells)}")
    cells = [_check_cell(*cell) if isinstance(cell, (list, tuple)) and len(cell) in (2, 3) else _check_cell(None, None, cell=cell)
             for cell in cells]
    order = sorted(range(len(cells)), key=lambda i: -cells[i][0])  # deepest first (stable)
    networks = [cell_network(cells[i][0], cells[i][1], d_in, d_out, width, sigma_b2=sigma_b2,
                             sigma_w2=cells[i][2] if len(cells[i]) == 3 else None, activation=activation, weights=weights)
                for i in order]
    seeds = [cell_seed(seed, *cells[i]) for i in order]
    return NoisyMLP(networks, seeds, device=device, dtype=dtype), order


def per_network_loss(outputs, x, y, task: str):
    r"""Loss of each network on one batch.

    Parameters
    ----------
    outputs : torch.Tensor, shape (G, batch, d_out)
        Outputs of the grid model (:meth:`nsp_helpers.forward.NoisyMLP.forward`).
    x : torch.Tensor, shape (batch, d_in)
        Inputs (the targets of reconstruction).
    y : torch.Tensor, shape (batch,)
        Class labels (used by classification only).
    task : {"reconstruct", "classify"}

    Returns
    -------
    torch.Tensor, shape (G,)

    Notes
    -----
    Reconstruction: :math:`\frac{1}{BD}\sum_{b,i} (\hat x_{gbi} - x_{bi})^2`; classification: the mean
    cross-entropy of the logits. The trainer back-propagates the *sum* over networks, so each network's
    gradient is that of its own loss.

    Examples
    --------
    >>> per_network_loss(torch.zeros(2, 1, 3), torch.ones(1, 3), None, "reconstruct")
    tensor([1., 1.])
    """
    task = check_choice("task", task, TASKS)
    if task == "reconstruct":
        return (outputs - x).pow(2).mean(dim=(1, 2))
    n_nets, batch, n_classes = outputs.shape
    ce = torch.nn.functional.cross_entropy(outputs.reshape(-1, n_classes), y.repeat(n_nets), reduction="none")
    return ce.view(n_nets, batch).mean(dim=1)


# ----------------------------------------------------------------------------------------------------
# optimisers on stacked parameters
# ----------------------------------------------------------------------------------------------------
class StackedSGD:
    r"""Plain SGD on stacked parameters: :math:`\theta \leftarrow \theta - \eta\, g`.

    Elementwise, so each network's update equals ``torch.optim.SGD(lr=lr)`` on that network alone.

    Examples
    --------
    >>> import torch
    >>> w = torch.nn.Parameter(torch.ones(2, 3)); w.grad = torch.full((2, 3), 2.0)
    >>> StackedSGD([w], lr=0.1).step(); w[0, 0].item()
    0.8
    """

    def __init__(self, params, lr: float):
        self.params = _check_params(params)
        self.lr = check_float("lr", lr, 0, np.inf, low_open=True)
        self.n_steps = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        with torch.no_grad():
            for p in self.params:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-self.lr)
        self.n_steps += 1

    def state_dict(self) -> dict:
        return {"n_steps": self.n_steps}

    def load_state_dict(self, state: dict):
        self.n_steps = int(state["n_steps"])


class StackedAdam(StackedSGD):
    r"""Adam on stacked parameters, the same arithmetic as ``torch.optim.Adam`` (no weight decay).

    .. math::

        m \leftarrow \beta_1 m + (1-\beta_1) g,\quad v \leftarrow \beta_2 v + (1-\beta_2) g^2,\quad
        \theta \leftarrow \theta - \frac{\eta}{1-\beta_1^t}\,\frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}.

    Every state entry belongs to one parameter entry, so each network's update equals Adam on that
    network alone.

    Examples
    --------
    >>> import torch
    >>> w = torch.nn.Parameter(torch.zeros(3)); w.grad = torch.tensor([1.0, -2.0, 0.0])
    >>> StackedAdam([w], lr=0.1).step(); [round(v, 4) for v in w.tolist()]
    [-0.1, 0.1, 0.0]
    """

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, lr)
        if isinstance(betas, (str, bytes)) or np.ndim(betas) != 1 or len(betas) != 2:
            raise InvalidParameterError(f"betas must be a pair (beta1, beta2) of numbers in [0, 1), got {describe(betas)}")
        self.betas = (check_float("betas[0]", betas[0], 0, 1, high_open=True), check_float("betas[1]", betas[1], 0, 1, high_open=True))
        self.eps = check_float("eps", eps, 0, np.inf, low_open=True)
        self.exp_avg = [None] * len(self.params)
        self.exp_avg_sq = [None] * len(self.params)

    def step(self):
        self.n_steps += 1
        beta1, beta2 = self.betas
        bias1 = 1 - beta1**self.n_steps
        bias2_sqrt = math.sqrt(1 - beta2**self.n_steps)
        with torch.no_grad():
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                if self.exp_avg[i] is None:
                    self.exp_avg[i] = torch.zeros_like(p)
                    self.exp_avg_sq[i] = torch.zeros_like(p)
                m, v = self.exp_avg[i], self.exp_avg_sq[i]
                m.lerp_(p.grad, 1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                denom = v.sqrt().div_(bias2_sqrt).add_(self.eps)
                p.addcdiv_(m, denom, value=-self.lr / bias1)

    def state_dict(self) -> dict:
        return {"n_steps": self.n_steps, "exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq}

    def load_state_dict(self, state: dict):
        self.n_steps = int(state["n_steps"])
        self.exp_avg = list(state["exp_avg"])
        self.exp_avg_sq = list(state["exp_avg_sq"])


def make_optimizer(name: str, params, lr: float):
    """:class:`StackedSGD` (``"sgd"``) or :class:`StackedAdam` (``"adam"``) over ``params``.

    Examples
    --------
    >>> type(make_optimizer("adam", [torch.nn.Parameter(torch.zeros(1))], lr=1e-3)).__name__
    'StackedAdam'
    >>> make_optimizer("rmsprop", [], lr=1e-3)
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: optimizer must be one of 'sgd', 'adam', got 'rmsprop'
    """
    check_choice("optimizer", name, OPTIMIZERS)
    return StackedSGD(params, lr) if name == "sgd" else StackedAdam(params, lr)


def _check_params(params) -> list:
    if isinstance(params, torch.Tensor):
        raise InvalidParameterError("params must be an iterable of tensors (e.g. [w, b] or model.parameters()), got a single tensor")
    try:
        params = list(params)
    except TypeError:
        raise InvalidParameterError(f"params must be an iterable of tensors, got {describe(params)}") from None
    for i, p in enumerate(params):
        if not isinstance(p, torch.Tensor) or not p.is_floating_point():
            raise InvalidParameterError(f"params[{i}] must be a floating-point torch tensor, got {describe(p)}")
    return params


# ----------------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------------
def _evaluate(model, x, y, task: str, batch_size: int = 1000):
    """Mean loss (and accuracy) of every network without dropout, shape (G,)."""
    loss = torch.zeros(model.n_networks, dtype=torch.float64, device=model.device)
    correct = torch.zeros_like(loss)
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb, yb = x[i : i + batch_size], y[i : i + batch_size]
            out = model(xb, train=False)
            loss += per_network_loss(out, xb, yb, task).double() * len(xb)
            if task == "classify":
                correct += (out.argmax(-1) == yb).sum(-1).double()
    return (loss / len(x)).cpu(), (correct / len(x)).cpu()


def _shuffle_generator(seed: int):
    """The CPU generator of the minibatch order (one ``randperm`` per epoch); depends on ``seed`` only."""
    return torch.Generator().manual_seed(cell_seed(seed, 0, 0.0))


def _atomic_save(obj, path: Path):
    atomic_write(path, lambda f: torch.save(obj, f))


_CHECKPOINT_KEYS = ("identity", "epoch", "model", "optimizer", "shuffle_gen", "mask_gen", "history")


def _load_checkpoint(path: Path, n_epochs: int):
    """The state in checkpoint ``path``, or ``None`` after moving a damaged checkpoint aside.

    Damaged: not a torch file (truncated, garbage), or without the fields of a checkpoint, or with
    an inconsistent history. Nothing is deleted: the file is renamed (:func:`nsp_helpers.storage.move_aside`).
    """
    try:
        # weights_only: a checkpoint holds only tensors and plain containers; anything else is refused
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError, EOFError, UnpicklingError, zip errors...
        move_aside(path, f"it cannot be read as a checkpoint: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
        return None
    problem = None
    if not isinstance(state, dict) or any(k not in state for k in _CHECKPOINT_KEYS):
        problem = "it lacks the fields of a training checkpoint"
    elif not isinstance(state["epoch"], int) or not 0 < state["epoch"] <= n_epochs:
        problem = f"its epoch {state['epoch']!r} is not in [1, {n_epochs}]"
    elif not isinstance(state["history"], dict) or len(state["history"].get("val_loss", ())) != state["epoch"]:
        problem = "its history does not match its epoch"
    if problem is not None:
        move_aside(path, problem)
        return None
    return state


def _check_cells(cells, size: int = 2) -> list:
    what = "(depth, keep_prob) pairs" if size == 2 else "(depth, keep_prob, sigma_w2) triples"
    if isinstance(cells, (str, bytes)):
        raise InvalidParameterError(f"cells must be a list of {what}, got {describe(cells)}")
    try:
        cells = list(cells)
    except TypeError:
        raise InvalidParameterError(f"cells must be a list of {what}, got {describe(cells)}") from None
    out = []
    for i, cell in enumerate(cells):
        if isinstance(cell, (str, bytes)) or np.ndim(cell) != 1 or len(cell) != size:
            raise InvalidParameterError(f"cells[{i}] must be a {what[:-1]}, got {describe(cell)}")
        checked = (check_int(f"cells[{i}] depth", cell[0], 1), check_float(f"cells[{i}] keep_prob", cell[1], 0, 1, low_open=True))
        if size == 3:
            checked += (check_float(f"cells[{i}] sigma_w2", cell[2], 0, np.inf, low_open=True),)
        out.append(checked)
    if not out:
        raise InvalidParameterError(f"cells must contain at least one cell, {what[:-1]}")
    _unique("cells", out)
    return out


def train_grid(config: TrainConfig, data: dict | None = None, *, cells=None, device=None, checkpoint=None, progress: bool = True, on_epoch_end=None, keep_checkpoint: bool = False) -> dict:
    """Train every ``(depth, keep_prob)`` cell of ``config`` (or ``cells``) as one batched model.

    Introduced in the chapter *Trainable depth on real data* (``book/trainable_depth.md``).

    Parameters
    ----------
    config : TrainConfig
        The run's settings.
    data : dict, optional
        Output of :func:`prepare_data` (loaded from ``config`` when omitted).
    cells : list of (int, float), optional
        A subset of the grid (a shard); default: all of :func:`grid_cells`.
    device : str or torch.device, optional
        Default: a GPU when present, else the CPU.
    checkpoint : path, optional
        File written (atomically) after every epoch. If it exists when the call starts, training
        resumes from it (its config, cells and device type must match, else the call is refused);
        a damaged checkpoint (truncated, garbage) is moved aside with a warning
        (:class:`nsp_helpers.storage.DamagedFileWarning`) and training starts over. Removed after a
        successful run unless ``keep_checkpoint``.
    progress : bool
        Show a tqdm progress bar.
    on_epoch_end : callable, optional
        Called as ``on_epoch_end(epoch, history)`` after each epoch's checkpoint is written
        (``epoch`` counts from 1); an exception raised there interrupts the run, which the
        checkpoint lets resume.
    keep_checkpoint : bool
        Leave the (complete) checkpoint in place: :func:`run` removes it only after the results
        are written and verified, so that no interruption can lose the run.

    Returns
    -------
    dict
        ``config``, ``cells`` (canonical order; each with ``depth``, ``keep_prob``, ``sigma_w2``,
        ``n_parameters`` and per-epoch ``train_loss`` (dropout on, mean over the epoch's
        minibatches), ``val_loss`` (dropout off) and, for classification, ``val_accuracy``),
        ``baselines`` (:func:`baselines`), ``n_train``, ``n_val``, ``device``, ``wall_time_s``.

    Examples
    --------
    >>> cfg = TrainConfig(depths=(1, 2), keep_probs=(0.5, 1.0), width=8, dataset="synthetic",
    ...                   n_examples=40, n_epochs=2, batch_size=16)
    >>> res = train_grid(cfg, device="cpu", progress=False)
    >>> [(c["depth"], c["keep_prob"], len(c["val_loss"])) for c in res["cells"]]
    [(1, 0.5, 2), (1, 1.0, 2), (2, 0.5, 2), (2, 1.0, 2)]
    """
    start = time.perf_counter()
    _check_config(config)
    device = resolve_device(device)
    cells = _check_cells(grid_cells(config) if cells is None else cells, 2 if config.sigma_w2s is None else 3)
    progress = check_bool("progress", progress)
    keep_checkpoint = check_bool("keep_checkpoint", keep_checkpoint)
    if on_epoch_end is not None and not callable(on_epoch_end):
        raise InvalidParameterError(f"on_epoch_end must be callable or None, got {describe(on_epoch_end)}")
    checkpoint = check_path("checkpoint", checkpoint) if checkpoint is not None else None
    if data is None:
        data = prepare_data(config)
    elif not isinstance(data, dict) or any(k not in data for k in ("x_train", "y_train", "x_val", "y_val", "n_classes")):
        raise InvalidParameterError(f"data must be the dict of prepare_data (x_train, y_train, x_val, y_val, n_classes), got {describe(data)}")
    n_classes = data["n_classes"]
    x_train, y_train = data["x_train"].to(device), data["y_train"].to(device)
    x_val, y_val = data["x_val"].to(device), data["y_val"].to(device)
    d_in = x_train.shape[1]
    d_out = d_in if config.task == "reconstruct" else n_classes

    try:
        model, order = grid_model(cells, d_in, d_out, config.width, seed=config.seed, sigma_b2=config.sigma_b2,
                                  device=device, activation=config.activation, weights=config.weights)
    except (MemoryError, RuntimeError) as exc:
        if not isinstance(exc, MemoryError) and "alloc" not in str(exc).lower() and "out of memory" not in str(exc).lower():
            raise
        dims = lambda depth: [d_in] + [config.width] * depth + [d_out]  # noqa: E731
        n_params = sum(sum(a * b + b for a, b in zip(dims(cell[0])[:-1], dims(cell[0])[1:])) for cell in cells)
        raise InvalidParameterError(
            f"the grid does not fit in memory on {device}: {len(cells)} networks of width {config.width} hold "
            f"{n_params:,} parameters ({4 * n_params / 2**30:.1f} GiB, more with optimiser state and activations); "
            "use a smaller width, fewer or shallower depths, or train the grid in shards (--shard k/n)"
        ) from exc
    params = list(model.weights) + list(model.biases)
    optimizer = make_optimizer(config.optimizer, params, config.lr)
    shuffle_gen = _shuffle_generator(config.seed)
    mask_gen = torch.Generator(device=device).manual_seed(cell_seed(config.seed, 1, 1.0))
    history = {"train_loss": [], "val_loss": [], "val_accuracy": []}
    start_epoch = 0
    elapsed_before = 0.0
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    identity = {"config": config.to_dict(), "cells": cells, "n_train": len(x_train), "format": RESULTS_FORMAT,
                "device_type": device.type}
    # load on the CPU: generator states must stay CPU tensors; parameters are copied to the device
    state = _load_checkpoint(checkpoint, config.n_epochs) if checkpoint is not None and checkpoint.exists() else None
    if state is not None:
        if _plain(state["identity"]) != _plain(identity):
            raise InvalidParameterError(
                f"checkpoint {checkpoint} belongs to another run (different config or cells); "
                "remove it or pass another checkpoint path"
            )
        try:
            model.load_state_dict(state["model"])
            opt_state = state["optimizer"]
            if "exp_avg" in opt_state:
                opt_state = dict(opt_state, exp_avg=[t if t is None else t.to(device) for t in opt_state["exp_avg"]],
                                 exp_avg_sq=[t if t is None else t.to(device) for t in opt_state["exp_avg_sq"]])
            optimizer.load_state_dict(opt_state)
            shuffle_gen.set_state(state["shuffle_gen"])
            mask_gen.set_state(state["mask_gen"])
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            raise DamagedFileError(
                f"checkpoint {checkpoint} matches this run but its state cannot be restored ({type(exc).__name__}: {exc}); "
                "move it away to start over", checkpoint,
            ) from exc
        history = state["history"]
        start_epoch = state["epoch"]
        elapsed_before = float(state.get("elapsed_s", 0.0))

    steps = config.steps_per_epoch
    n_batches = math.ceil(len(x_train) / config.batch_size) if steps is None else steps
    from tqdm.auto import tqdm

    bar = tqdm(total=config.n_epochs * n_batches, initial=start_epoch * n_batches, disable=not progress,
               desc=f"{len(cells)} networks", unit="step", mininterval=2.0)
    try:
        for epoch in range(start_epoch, config.n_epochs):
            if steps is None:
                perm = torch.randperm(len(x_train), generator=shuffle_gen).to(device)
            total = torch.zeros(model.n_networks, dtype=torch.float64, device=device)
            n_seen = 0
            for b in range(n_batches):
                if steps is None:
                    idx = perm[b * config.batch_size : (b + 1) * config.batch_size]
                else:  # a step budget: each minibatch drawn afresh
                    idx = torch.randperm(len(x_train), generator=shuffle_gen)[: config.batch_size].to(device)
                n_seen += len(idx)
                xb, yb = x_train[idx], y_train[idx]
                out = model(xb, train=True, generator=mask_gen)
                losses = per_network_loss(out, xb, yb, config.task)
                optimizer.zero_grad()
                losses.sum().backward()  # the sum: each network receives exactly its own gradient
                optimizer.step()
                total += losses.detach().double() * len(idx)
                bar.update(1)
            train_loss = (total / (len(x_train) if steps is None else n_seen)).cpu()
            val_loss, val_acc = _evaluate(model, x_val, y_val, config.task)
            history["train_loss"].append(train_loss.tolist())
            history["val_loss"].append(val_loss.tolist())
            if config.task == "classify":
                history["val_accuracy"].append(val_acc.tolist())
            bar.set_postfix(epoch=epoch + 1, val=f"{float(val_loss.nanmedian()):.4f}")
            if checkpoint is not None:
                _atomic_save(
                    {"identity": identity, "epoch": epoch + 1, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "shuffle_gen": shuffle_gen.get_state(), "mask_gen": mask_gen.get_state(), "history": history,
                     "elapsed_s": elapsed_before + time.perf_counter() - start},
                    checkpoint,
                )
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, history)
    finally:
        bar.close()

    # back to canonical (grid) order
    position = {cell_index: pos for pos, cell_index in enumerate(order)}
    n_params = model.n_parameters()
    out_cells = []
    for i, (depth, keep, *sigma_w2) in enumerate(cells):
        pos = position[i]
        cell = {"depth": depth, "keep_prob": keep,
                "sigma_w2": sigma_w2[0] if sigma_w2 else _round(model.stack.members[pos].sigma_w2),
                "n_parameters": n_params[pos]}
        for key, series in history.items():
            if series:
                cell[key] = [_round(epoch_values[pos]) for epoch_values in series]
        out_cells.append(cell)
    if checkpoint is not None and not keep_checkpoint:
        checkpoint.unlink(missing_ok=True)
    return {
        "format": RESULTS_FORMAT,
        "config": config.to_dict(),
        "cells": out_cells,
        "baselines": baselines(data, config.task),
        "n_train": len(x_train),
        "n_val": len(x_val),
        "device": device_description(device),
        "wall_time_s": round(elapsed_before + time.perf_counter() - start, 2),
    }


def _plain(obj):
    """Tuples as lists, recursively (a checkpoint may store either), for comparing identities."""
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def baselines(data: dict, task: str) -> dict:
    """Validation scores of trivial predictors, the reference levels of the heatmaps.

    Reconstruction: the MSE of predicting zeros and of predicting the mean training image.
    Classification: the cross-entropy of uniform logits (ln of the number of classes) and the
    accuracy of always predicting the most frequent training class.

    Examples
    --------
    >>> data = prepare_data(TrainConfig(dataset="synthetic", n_examples=100))
    >>> sorted(baselines(data, "reconstruct"))
    ['predict the mean image', 'predict zeros']
    """
    task = check_choice("task", task, TASKS)
    x_train, x_val = data["x_train"].double(), data["x_val"].double()
    if task == "reconstruct":
        return {
            "predict zeros": _round(float(x_val.pow(2).mean())),
            "predict the mean image": _round(float((x_val - x_train.mean(0)).pow(2).mean())),
        }
    counts = torch.bincount(data["y_train"], minlength=data["n_classes"])
    return {
        "uniform logits (loss)": _round(math.log(data["n_classes"])),
        "most frequent class (accuracy)": _round(float((data["y_val"] == counts.argmax()).double().mean())),
    }


def _round(value: float, digits: int = 6):
    """Round to ``digits`` significant digits; ``None`` for nan/inf (JSON has no nan)."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


# ----------------------------------------------------------------------------------------------------
# results files
# ----------------------------------------------------------------------------------------------------
METRICS = ("train_loss", "val_loss", "val_accuracy")
_NAME_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _check_results(results, source) -> dict:
    """Check the structure of a results dict (from :func:`train_grid`, :func:`run` or a file).

    ``source`` is the file it came from (errors are then :class:`~nsp_helpers.errors.DamagedFileError`
    naming it) or a description of the argument.
    """

    def bad(reason):
        if isinstance(source, Path):
            return DamagedFileError(f"{source} is not a valid {RESULTS_FORMAT} results file: {reason}", source)
        return InvalidParameterError(f"{source} must be a {RESULTS_FORMAT} results dict: {reason}")

    if not isinstance(results, dict):
        raise bad(f"it is {describe(results)}, not a dict")
    if results.get("format") != RESULTS_FORMAT:
        raise bad(f"its format is {results.get('format')!r}")
    for key in ("config", "cells"):
        if key not in results:
            raise bad(f"it lacks the field {key!r}")
    try:
        config = TrainConfig.from_dict(results["config"])
    except InvalidParameterError as exc:
        raise bad(f"its config is invalid: {exc}") from None
    cells = results["cells"]
    if not isinstance(cells, list) or not cells:
        raise bad("its cells must be a non-empty list")
    grid = set(grid_cells(config))
    over_sigma = config.sigma_w2s is not None
    metrics = ["train_loss", "val_loss"] + (["val_accuracy"] if config.task == "classify" else [])
    seen = set()
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise bad(f"cells[{i}] is {describe(cell)}, not a dict")
        for key in ("depth", "keep_prob", *(("sigma_w2",) if over_sigma else ()), *metrics):
            if key not in cell:
                raise bad(f"cells[{i}] lacks the field {key!r}")
        key = _cell_key(cell, over_sigma)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in key) or key not in grid:
            shown = f"(depth {key[0]!r}, keep_prob {key[1]!r}" + (f", sigma_w2 {key[2]!r})" if over_sigma else ")")
            raise bad(f"cells[{i}] = {shown} is not a cell of its config's grid")
        if key in seen:
            shown = f"(depth {key[0]}, keep_prob {key[1]}" + (f", sigma_w2 {key[2]})" if over_sigma else ")")
            raise bad(f"the cell {shown} appears twice")
        seen.add(key)
        for m in metrics:
            series = cell[m]
            if not isinstance(series, list) or len(series) != config.n_epochs or not all(
                v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)) for v in series
            ):
                raise bad(f"cells[{i}][{m!r}] must be a list of {config.n_epochs} numbers (or null), got {describe(series)}")
    shard = results.get("shard")
    if shard is not None:
        if (not isinstance(shard, list) or len(shard) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in shard)
                or not 0 <= shard[0] < shard[1]):
            raise bad(f"its shard must be [k, n] with integers 0 <= k < n, got {shard!r}")
        expected = set(shard_cells(grid_cells(config), *shard))
        if seen != expected:
            raise bad(f"its cells are not those of shard {shard[0]} of {shard[1]} of its grid")
    return results


def write_results(results: dict, path) -> Path:
    """Write results as JSON atomically (a temporary file in the same folder, then :func:`os.replace`).

    A reader never sees a half-written file, and an interrupted write leaves the old file in place.
    ``nan`` is not allowed (:func:`train_grid` stores ``None`` for diverged values). The results are
    checked first (:func:`load_results` would refuse anything else), so nothing invalid is written.

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
    >>> import tempfile
    >>> cfg = TrainConfig(depths=(1,), keep_probs=(1.0,), width=4, dataset="synthetic", n_examples=20, n_epochs=1)
    >>> res = train_grid(cfg, device="cpu", progress=False)
    >>> folder = tempfile.mkdtemp()
    >>> write_results(res, folder + "/r.json").name
    'r.json'
    >>> load_results(folder + "/r.json")["cells"][0]["depth"]
    1
    """
    _check_results(results, "results")
    return write_json_atomic(results, check_path("path", path))


def load_results(path) -> dict:
    """Read a results file written by :func:`run` or :func:`merge_results` (validated).

    Raises
    ------
    nsp_helpers.errors.InvalidParameterError
        ``path`` is not an existing file.
    nsp_helpers.errors.DamagedFileError
        The file is truncated, not JSON, or lacks a field; the message names the file and the problem.

    Examples
    --------
    >>> load_results("no/such/file.json")
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: path must be an existing results file, got 'no/such/file.json'
    """
    path = check_path("path", path)
    if not path.is_file():
        raise InvalidParameterError(f"path must be an existing results file, got {str(path)!r}")
    return _check_results(read_json(path, f"{RESULTS_FORMAT} results file"), path)


def results_grid(results: dict, metric: str = "val_loss", epoch: int = -1):
    """The grid of one metric as arrays for plotting.

    Introduced in the chapter *Trainable depth on real data* (``book/trainable_depth.md``).

    Parameters
    ----------
    results : dict
        From :func:`load_results` (or :func:`train_grid`).
    metric : {"train_loss", "val_loss", "val_accuracy"}
        Which per-epoch series.
    epoch : int
        Which epoch (``-1``: the last; ``k`` counts from 1 like the epochs of the run).

    Returns
    -------
    depths : ndarray, shape (n_depths,)
    keep_probs : ndarray, shape (n_keep,)
    values : ndarray, shape (n_depths, n_keep)
        ``nan`` where a cell is missing or diverged.

    Examples
    --------
    >>> res = {"cells": [{"depth": 2, "keep_prob": 0.5, "val_loss": [0.2, 0.1]},
    ...                  {"depth": 6, "keep_prob": 0.5, "val_loss": [0.3, None]}]}
    >>> depths, keeps, values = results_grid(res)
    >>> depths.tolist(), keeps.tolist(), values.ravel().tolist()
    ([2, 6], [0.5], [0.1, nan])
    """
    if not isinstance(results, dict) or not isinstance(results.get("cells"), list) or not results["cells"]:
        raise InvalidParameterError(f"results must be a results dict with a non-empty list of cells, got {describe(results)}")
    cells = results["cells"]
    if not all(isinstance(c, dict) and "depth" in c and "keep_prob" in c for c in cells):
        raise InvalidParameterError("results must have cells with 'depth' and 'keep_prob' (a damaged results dict?)")
    if isinstance(results.get("config"), dict) and results["config"].get("sigma_w2s") is not None:
        raise InvalidParameterError("results must be a (depth, keep_prob) grid; this one is over sigma_w2 too: use results_sigma_grid")
    available = sorted(k for k in cells[0] if isinstance(cells[0][k], list))
    if not isinstance(metric, str) or metric not in available:
        check_choice("metric", metric, available)
    lengths = {len(c[metric]) if isinstance(c.get(metric), list) else -1 for c in cells}
    if len(lengths) != 1 or -1 in lengths or 0 in lengths:
        raise InvalidParameterError(f"results must have the same non-empty {metric!r} series in every cell")
    n_epochs = lengths.pop()
    if not (isinstance(epoch, (int, np.integer)) and not isinstance(epoch, (bool, np.bool_)) and (epoch == -1 or 1 <= epoch <= n_epochs)):
        raise InvalidParameterError(f"epoch must be -1 or in [1, {n_epochs}], got {epoch!r}")
    epoch = n_epochs if epoch == -1 else int(epoch)
    depths = np.array(sorted({c["depth"] for c in cells}))
    keeps = np.array(sorted({c["keep_prob"] for c in cells}))
    values = np.full((depths.size, keeps.size), np.nan)
    for c in cells:
        v = c[metric][epoch - 1]
        values[np.searchsorted(depths, c["depth"]), np.searchsorted(keeps, c["keep_prob"])] = np.nan if v is None else v
    return depths, keeps, values


def results_sigma_grid(results: dict, metric: str = "val_accuracy", epoch: int = -1, keep_prob: float | None = None):
    """The :math:`(\\sigma_w^2, L)` map of one metric at one keep probability (grids with ``sigma_w2s``).

    Introduced in the chapter *Trainable length after Huang et al.* (``book/trainable_length.md``).

    Parameters
    ----------
    results : dict
        From :func:`load_results` (or :func:`train_grid`) of a config with ``sigma_w2s``.
    metric : {"train_loss", "val_loss", "val_accuracy"}
    epoch : int
        ``-1``: the last; ``k`` counts from 1.
    keep_prob : float, optional
        Required when the grid has several keep probabilities.

    Returns
    -------
    depths : ndarray, shape (n_depths,)
    sigma_w2s : ndarray, shape (n_sigma,)
    values : ndarray, shape (n_depths, n_sigma)
        ``nan`` where a cell is missing or diverged.

    Examples
    --------
    >>> res = {"config": {"sigma_w2s": [1.0, 2.0]},
    ...        "cells": [{"depth": d, "keep_prob": 1.0, "sigma_w2": s, "val_accuracy": [0.1 * d * s]}
    ...                  for d in (1, 2) for s in (1.0, 2.0)]}
    >>> depths, sws, acc = results_sigma_grid(res)
    >>> depths.tolist(), sws.tolist(), acc.round(2).tolist()
    ([1, 2], [1.0, 2.0], [[0.1, 0.2], [0.2, 0.4]])
    """
    if not isinstance(results, dict) or not isinstance(results.get("cells"), list) or not results["cells"]:
        raise InvalidParameterError(f"results must be a results dict with a non-empty list of cells, got {describe(results)}")
    cells = results["cells"]
    if not all(isinstance(c, dict) and {"depth", "keep_prob", "sigma_w2"} <= set(c) for c in cells):
        raise InvalidParameterError("results must have cells with 'depth', 'keep_prob' and 'sigma_w2' (a grid over sigma_w2)")
    keeps = sorted({c["keep_prob"] for c in cells})
    if keep_prob is not None:
        keep_prob = check_float("keep_prob", keep_prob, 0, 1, low_open=True)
    if keep_prob is None:
        if len(keeps) > 1:
            raise InvalidParameterError(f"keep_prob must be given: the grid has keep probabilities {keeps}")
        keep_prob = keeps[0]
    if keep_prob not in keeps:
        raise InvalidParameterError(f"keep_prob must be one of the grid's {keeps}, got {keep_prob!r}")
    sub = [c for c in cells if c["keep_prob"] == keep_prob]
    depths, keep_axis, values = results_grid({"cells": [dict(c, keep_prob=c["sigma_w2"]) for c in sub]}, metric, epoch)
    return depths, keep_axis, values


def results_dir() -> Path:
    """The repository's ``results/trainable_depth`` folder (where the CLI writes by default)."""
    return Path(__file__).resolve().parent.parent / "results" / "trainable_depth"


def _check_name_token(name: str, value) -> str:
    if not isinstance(value, str) or not _NAME_TOKEN.fullmatch(value):
        raise InvalidParameterError(
            f"{name} must be a short name of letters, digits, '.', '_' or '-' (it becomes part of a file name), got {describe(value)}"
        )
    return value


def stored_results(dataset: str = "mnist", task: str = "reconstruct", *, root=None, profiles=("paper", "medium", "quick")):
    """The stored results of one data set and task, preferring the first profile found, or ``None``.

    Introduced in the chapter *Trainable depth on real data* (``book/trainable_depth.md``).

    Chapters call this to *load* results instead of training. ``profiles`` is the order of
    preference (the paper's settings first); the returned dict says which one it is in ``"profile"``.
    Within a profile, the file of the profile's own configuration (no overrides) comes first, then
    the most recently finished one. Files are ``{dataset}_{task}_{profile}_{hash}.json``
    (:func:`results_name`) or, written before configuration hashes, ``{dataset}_{task}_{profile}.json``.

    Parameters
    ----------
    dataset, task : str
        See :class:`TrainConfig`.
    root : path, optional
        Folder of results files (default :func:`results_dir`).
    profiles : sequence of str
        Profiles to look for, best first.

    Returns
    -------
    dict or None

    Raises
    ------
    nsp_helpers.errors.DamagedFileError
        A matching file is damaged (the message names it).

    Examples
    --------
    >>> stored_results("synthetic", root="no/such/folder") is None
    True
    """
    dataset = check_choice("dataset", dataset, DATASETS)
    task = check_choice("task", task, TASKS)
    if isinstance(profiles, str):
        profiles = (profiles,)
    try:
        profiles = [_check_name_token(f"profiles[{i}]", p) for i, p in enumerate(profiles)]
    except TypeError:
        raise InvalidParameterError(f"profiles must be a sequence of profile names, got {describe(profiles)}") from None
    if not profiles:
        raise InvalidParameterError("profiles must name at least one profile, got an empty sequence")
    root = check_path("root", root) if root is not None else results_dir()
    if not root.is_dir():
        return None
    for profile in profiles:
        pattern = re.compile(rf"{re.escape(dataset)}_{re.escape(task)}_{re.escape(profile)}(_[0-9a-f]{{10}})?\.json")
        candidates = [load_results(path) | {"path": str(path)} for path in sorted(root.iterdir()) if pattern.fullmatch(path.name)]
        if not candidates:
            continue
        canonical = profile_config(profile, dataset, task).to_dict() if profile in PROFILES else None
        candidates.sort(key=lambda r: (r["config"] == canonical, str(r.get("provenance", {}).get("finished", ""))), reverse=True)
        results = candidates[0]
        results.setdefault("profile", profile)
        return results
    return None


def stored_seed_results(dataset: str = "mnist", task: str = "reconstruct", profile: str = "medium", *, root=None) -> list:
    """Every stored seed of one profile: the runs whose configuration is the profile's own but for ``seed``.

    Introduced in the chapter *Trainable depth on real data* (``book/trainable_depth.md``), which shows
    the spread across seeds (:func:`nsp_helpers.analysis.seed_grid`).

    Files are found as by :func:`stored_results`; where several files hold the same seed (a file
    written before configuration hashes and a newer one), the most recently finished is used.

    Parameters
    ----------
    dataset, task : str
        See :class:`TrainConfig`.
    profile : str
        One of :data:`PROFILES`.
    root : path, optional
        Folder of results files (default :func:`results_dir`).

    Returns
    -------
    list of dict
        One results dict per seed, sorted by seed (empty when none is stored); each has ``"path"`` and
        ``"profile"``.

    Examples
    --------
    >>> stored_seed_results("synthetic", root="no/such/folder")
    []
    """
    dataset = check_choice("dataset", dataset, DATASETS)
    task = check_choice("task", task, TASKS)
    profile = check_choice("profile", profile, tuple(PROFILES))
    root = check_path("root", root) if root is not None else results_dir()
    if not root.is_dir():
        return []
    canonical = profile_config(profile, dataset, task).to_dict()
    pattern = re.compile(rf"{re.escape(dataset)}_{re.escape(task)}_{re.escape(profile)}(_[0-9a-f]{{10}})?\.json")
    by_seed: dict[int, dict] = {}
    for path in sorted(root.iterdir()):
        if not pattern.fullmatch(path.name):
            continue
        results = load_results(path) | {"path": str(path), "profile": profile}
        config = results["config"]
        if {k: v for k, v in config.items() if k != "seed"} != {k: v for k, v in canonical.items() if k != "seed"}:
            continue
        seed = int(config["seed"])
        finished = str(results.get("provenance", {}).get("finished", ""))
        if seed not in by_seed or finished > str(by_seed[seed].get("provenance", {}).get("finished", "")):
            by_seed[seed] = results
    return [by_seed[seed] for seed in sorted(by_seed)]


def merge_results(results_list) -> dict:
    """Join the shards of one grid (results dicts or paths) into one results dict.

    All shards must have the same config and a ``shard`` field ``[k, n]`` with the same ``n``;
    together they must be shards ``0 .. n-1``, each exactly once, each holding exactly its cells.

    Examples
    --------
    >>> cfg = TrainConfig(depths=(2,), keep_probs=(0.5, 1.0)).to_dict()
    >>> cell = lambda k: {"depth": 2, "keep_prob": k, "train_loss": [0.1] * 200, "val_loss": [0.1] * 200}
    >>> a = {"format": RESULTS_FORMAT, "config": cfg, "cells": [cell(0.5)], "shard": [0, 2], "provenance": {}}
    >>> b = dict(a, cells=[cell(1.0)], shard=[1, 2])
    >>> [c["keep_prob"] for c in merge_results([b, a])["cells"]]
    [0.5, 1.0]
    >>> merge_results([a])
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: results_list must cover the grid: shard(s) 1 of 2 missing, e.g. cell (2, 1.0)
    """
    if isinstance(results_list, (str, bytes, os.PathLike, dict)):
        raise InvalidParameterError(f"results_list must be a list of results files or dicts, got {describe(results_list)}")
    try:
        items = list(results_list)
    except TypeError:
        raise InvalidParameterError(f"results_list must be a list of results files or dicts, got {describe(results_list)}") from None
    if not items:
        raise InvalidParameterError("results_list must hold at least one results file")
    loaded = [load_results(r) if isinstance(r, (str, os.PathLike)) else _check_results(r, f"results_list[{i}]") for i, r in enumerate(items)]
    names = [str(r) if isinstance(r, (str, os.PathLike)) else f"results_list[{i}]" for i, r in enumerate(items)]
    config = loaded[0]["config"]
    for name, r in zip(names[1:], loaded[1:]):
        if r["config"] != config:
            raise InvalidParameterError(f"results_list must come from one grid: the config of {name} differs from that of {names[0]}")
    shards = [r.get("shard") for r in loaded]
    if any(sh is None for sh in shards):
        name = names[shards.index(None)]
        raise InvalidParameterError(f"results_list must hold shards (results with a 'shard' field), but {name} has none")
    n_shards = {sh[1] for sh in shards}
    if len(n_shards) != 1:
        raise InvalidParameterError(f"results_list must hold shards of one split, got shards of {sorted(n_shards)} parts")
    n = n_shards.pop()
    by_index = {}
    for name, sh in zip(names, shards):
        if sh[0] in by_index:
            raise InvalidParameterError(f"results_list must cover each cell once: shard {sh[0]} of {n} appears twice ({by_index[sh[0]]} and {name})")
        by_index[sh[0]] = name
    full = TrainConfig.from_dict(config)
    wanted = grid_cells(full)
    found = {_cell_key(c, full.sigma_w2s is not None): c for r in loaded for c in r["cells"]}
    missing = [k for k in range(n) if k not in by_index]
    if missing:
        example = shard_cells(wanted, missing[0], n)
        raise InvalidParameterError(
            f"results_list must cover the grid: shard(s) {', '.join(map(str, missing))} of {n} missing"
            + (f", e.g. cell {example[0]}" if example else "")
        )
    merged = {k: v for k, v in loaded[0].items() if k not in ("cells", "shard", "provenance", "wall_time_s", "path")}
    merged["cells"] = [found[w] for w in wanted]
    merged["provenance"] = {
        "merged_from": [dict(r.get("provenance", {}), shard=r.get("shard")) for r in loaded],
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": _command_line(),
    }
    merged["wall_time_s"] = round(sum(float(r.get("wall_time_s", 0.0) or 0.0) for r in loaded), 2)
    return merged


def _command_line() -> str:
    return command_line("nsp_helpers.train")


def _check_shard(shard):
    if shard is None:
        return None
    if isinstance(shard, str):
        return parse_shard(shard)
    if isinstance(shard, (bytes, dict)) or np.ndim(shard) != 1 or len(shard) != 2:
        raise InvalidParameterError(f"shard must be None, 'k/n' or a pair (k, n) with 0 <= k < n, got {describe(shard)}")
    n = check_int("shard n", shard[1], 1)
    return check_int("shard k", shard[0], 0, n - 1), n


def results_name(config: TrainConfig, profile: str, shard: tuple[int, int] | None = None) -> str:
    """File name of a run's results: ``{dataset}_{task}_{profile}_{hash}[_shard{k}of{n}].json``.

    ``hash`` is :meth:`TrainConfig.hash`, of every setting (overrides such as ``--seed`` included), so
    that runs of different configurations never overwrite each other; checkpoints carry the same name.

    Examples
    --------
    >>> name = results_name(profile_config("paper"), "paper", (3, 20))
    >>> name.startswith("mnist_reconstruct_paper_"), name.endswith("_shard3of20.json")
    (True, True)
    >>> results_name(profile_config("paper", seed=1), "paper") == results_name(profile_config("paper"), "paper")
    False
    """
    _check_config(config)
    profile = _check_name_token("profile", profile)
    shard = _check_shard(shard)
    name = f"{config.dataset}_{config.task}_{profile}_{config.hash()}"
    if shard is not None:
        name += f"_shard{shard[0]}of{shard[1]}"
    return name + ".json"


def _say(message: str, progress: bool) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def run(config: TrainConfig, out_dir, *, profile: str = "custom", shard=None, device=None, checkpoint_dir=None,
        progress: bool = True, data=None, command: str | None = None, overwrite: bool = False) -> Path:
    """Train a grid (or one shard of it) and write its results with provenance (what the CLI does).

    Nothing is lost whenever the run is interrupted, and no run touches another configuration's files:

    * the output folder is checked (a folder, writable) **before** training;
    * the results file and the checkpoint are named by a hash of the whole configuration
      (:func:`results_name`); the checkpoint lives in ``checkpoint_dir`` (:func:`nsp_helpers.storage.default_checkpoint_dir`),
      is written atomically after every epoch and resumed by re-running the same command;
    * a lock file beside it keeps a second process from running the same configuration at once;
    * a damaged checkpoint is moved aside (with a warning naming it) and training starts over;
      temporary files of interrupted writes are removed;
    * the results are written atomically, read back and compared, and only **then** is the
      checkpoint removed; a results file of the same configuration that already exists is kept
      and returned (``overwrite=True`` trains again and replaces it).

    Parameters
    ----------
    config : TrainConfig
        The run's settings.
    out_dir : path
        Folder of the results file (:func:`results_name`).
    profile : str
        Name recorded in the results and used in the file name.
    shard : (int, int) or "k/n", optional
        Train only slice ``k`` of ``n`` (:func:`shard_cells`).
    device, progress, data
        As in :func:`train_grid`; ``progress`` also prints what happens to files.
    checkpoint_dir : path, optional
        Default :func:`nsp_helpers.storage.default_checkpoint_dir`.
    command : str, optional
        Command line recorded in the provenance (default: ``sys.argv``).
    overwrite : bool
        Train again even if the results file exists.

    Returns
    -------
    pathlib.Path
        The results file.

    Examples
    --------
    >>> import tempfile
    >>> cfg = TrainConfig(depths=(1,), keep_probs=(1.0,), width=4, dataset="synthetic", n_examples=20, n_epochs=1)
    >>> folder = tempfile.mkdtemp()
    >>> path = run(cfg, folder, profile="demo", device="cpu", checkpoint_dir=folder, progress=False)
    >>> path.name == f"synthetic_reconstruct_demo_{cfg.hash()}.json", sorted(load_results(path)["provenance"])[:3]
    (True, ['code_version', 'command', 'config_hash'])
    """
    _check_config(config)
    name = results_name(config, profile, shard)
    shard = _check_shard(shard)
    progress = check_bool("progress", progress)
    overwrite = check_bool("overwrite", overwrite)
    dev = resolve_device(device)
    out_dir = check_writable_dir("out_dir", out_dir)
    ckpt_dir = check_writable_dir("checkpoint_dir", checkpoint_dir if checkpoint_dir is not None else default_checkpoint_dir())
    path = out_dir / name
    stem = name[: -len(".json")]
    ckpt = ckpt_dir / f"{stem}.{dev.type}.pt"
    with RunLock(ckpt_dir / f"{stem}.lock"):
        for stale in clean_stale_temporaries(ckpt) + clean_stale_temporaries(path):
            _say(f"removed the temporary file {stale} of an interrupted write", progress)
        if path.exists() and not overwrite:
            try:
                existing = load_results(path)
            except DamagedFileError as exc:
                move_aside(path, str(exc))
            else:
                if existing["config"] != config.to_dict() or existing.get("shard") != (list(shard) if shard else None):
                    raise InvalidParameterError(
                        f"out_dir already holds {path} of another configuration (a hash collision?); move it away"
                    )
                ckpt.unlink(missing_ok=True)  # left over if the last run was stopped after writing its results
                _say(f"{path} already holds this configuration's results (overwrite=True / --overwrite trains again)", progress)
                return path
        cells = grid_cells(config)
        if shard is not None:
            cells = shard_cells(cells, *shard)
        if ckpt.exists():
            _say(f"resuming from the checkpoint {ckpt}", progress)
        started = _dt.datetime.now(_dt.timezone.utc)
        version = code_version()  # the code that trains (edits of the checkout while it runs are not it)
        results = train_grid(config, data, cells=cells, device=dev, checkpoint=ckpt, progress=progress, keep_checkpoint=True)
        results["profile"] = profile
        if shard is not None:
            results["shard"] = list(shard)
        results["provenance"] = provenance(command or _command_line(), version=version, started=started,
                                           device=results["device"], wall_time_s=results["wall_time_s"],
                                           config_hash=config.hash())
        write_results(results, path)
        release_checkpoint(path, ckpt, load_results, lambda written: written["cells"] == json.loads(json.dumps(
            results["cells"])) and written["config"] == results["config"])
    return path


# ----------------------------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------------------------
def comma_separated_ints(text: str) -> tuple:
    """``"2,6,10"`` -> ``(2, 6, 10)`` (the type of ``--depths``)."""
    return tuple(int(v) for v in text.split(","))


def comma_separated_floats(text: str) -> tuple:
    """``"0.5,1"`` -> ``(0.5, 1.0)`` (the type of ``--keep-probs``)."""
    return tuple(float(v) for v in text.split(","))


#: TrainConfig fields and the command-line options that set them (named in error messages).
_FLAGS = {"width": "--width", "n_epochs": "--epochs", "n_examples": "--n-examples", "optimizer": "--optimizer", "lr": "--lr",
          "batch_size": "--batch-size", "seed": "--seed", "pool": "--pool", "depths": "--depths", "keep_probs": "--keep-probs",
          "sigma_b2": "--sigma-b2", "activation": "--activation", "sigma_w2s": "--sigma-w2s", "weights": "--weights",
          "steps_per_epoch": "--steps-per-epoch"}
#: the overrides the command line passes to profile_config
_OVERRIDES = ("width", "n_epochs", "n_examples", "optimizer", "lr", "batch_size", "seed", "depths", "pool", "keep_probs",
              "sigma_b2", "activation", "sigma_w2s", "weights", "steps_per_epoch")


def _train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m nsp_helpers.train",
        description="Train the trainable-depth grid (Pretorius et al. 2018, Fig. 6b,c,e,f). "
        "'python -m nsp_helpers.train merge FILES... --out FILE' joins shards. Results are named "
        "{dataset}_{task}_{profile}_{config hash}[_shard{k}of{n}].json; re-running an interrupted command resumes it.",
    )
    p.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    p.add_argument("--dataset", choices=DATASETS, default="mnist")
    p.add_argument("--task", choices=TASKS, default="reconstruct")
    p.add_argument("--out", default="results/trainable_depth", help="output folder (default: results/trainable_depth)")
    p.add_argument("--shard", default=None, help="train slice k of n of the grid, 'k/n' with 0 <= k < n")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: a GPU when present)")
    p.add_argument("--checkpoint-dir", default=None, help="where per-epoch checkpoints go (default: $NSP_CHECKPOINT_DIR or ~/.cache/nsp_helpers/checkpoints)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (1 is fastest on a busy shared CPU)")
    p.add_argument("--overwrite", action="store_true", help="train again even if this configuration's results file exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    g = p.add_argument_group("overrides of the profile (recorded in the results and in the file name's hash)")
    g.add_argument("--width", type=int)
    g.add_argument("--epochs", type=int, dest="n_epochs")
    g.add_argument("--n-examples", type=int)
    g.add_argument("--optimizer", choices=OPTIMIZERS)
    g.add_argument("--lr", type=float)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--seed", type=int)
    g.add_argument("--pool", type=int, help="average-pool images over pool x pool blocks")
    g.add_argument("--depths", type=comma_separated_ints, help="comma-separated")
    g.add_argument("--keep-probs", type=comma_separated_floats, help="comma-separated")
    g.add_argument("--sigma-b2", type=float, help="bias variance")
    g.add_argument("--activation", choices=ACTIVATIONS)
    g.add_argument("--sigma-w2s", type=comma_separated_floats,
                   help="comma-separated weight variances: one network per (depth, keep_prob, sigma_w2) instead of critical ones")
    g.add_argument("--weights", choices=WEIGHT_KINDS, help="initial weights (default gaussian)")
    g.add_argument("--steps-per-epoch", type=int, help="a step budget: SGD steps per recorded 'epoch' (fresh random minibatches)")
    return p


def _merge_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m nsp_helpers.train merge", description="Join the shards of one grid.")
    p.add_argument("files", nargs="+", help="shard results files")
    p.add_argument("--out", required=True, help="merged results file")
    p.add_argument("--overwrite", action="store_true", help="replace --out even if it holds another configuration")
    return p


def main(argv=None) -> int:
    """Command-line entry point (``python -m nsp_helpers.train``); raises on bad input (the CLI prints it)."""
    command = None if argv is None else shlex.join(["python", "-m", "nsp_helpers.train", *argv])
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("merge", "--merge"):
        args = _merge_parser().parse_args(argv[1:])
        out = check_path("--out", args.out)
        if out.is_dir():
            raise InvalidParameterError(f"--out must be a file name, but {out} is a folder")
        merged = merge_results(args.files)
        if out.exists() and not args.overwrite:
            try:
                previous = load_results(out)
            except DamagedFileError:
                previous = None
            if previous is None or previous["config"] != merged["config"]:
                raise InvalidParameterError(f"--out {out} exists and holds other results; choose another name or pass --overwrite")
        merged["provenance"]["command"] = command or merged["provenance"]["command"]
        path = write_results(merged, out)
        print(f"merged {len(args.files)} file(s) into {path}")
        return 0
    args = _train_parser().parse_args(argv)
    overrides = {k: getattr(args, k) for k in _OVERRIDES}
    try:
        config = profile_config(args.profile, args.dataset, args.task, **overrides)
    except InvalidParameterError as exc:
        field = str(exc).split(" ", 1)[0].split("[", 1)[0]
        raise InvalidParameterError(f"{exc} (set by {_FLAGS[field]})" if field in _FLAGS else str(exc)) from None
    shard = parse_shard(args.shard) if args.shard else None
    # before any work: the output and checkpoint folders must be writable folders
    check_writable_dir("--out", args.out)
    check_writable_dir("--checkpoint-dir", args.checkpoint_dir if args.checkpoint_dir is not None else default_checkpoint_dir())
    if args.threads is not None:
        torch.set_num_threads(check_int("--threads", args.threads, 1, 4096))
    path = run(config, args.out, profile=args.profile, shard=shard, device=args.device, checkpoint_dir=args.checkpoint_dir,
               progress=not args.no_progress, command=command, overwrite=args.overwrite)
    print(f"results: {path}")
    return 0


def _cli(argv=None) -> int:
    """``main`` for the shell: bad input, unwritable folders and missing data print one line, exit status 2."""
    from .data import CorruptDataError, DataNotFoundError
    from .storage import RunLockedError

    try:
        return main(argv)
    except (InvalidParameterError, StorageError, RunLockedError, DataNotFoundError, CorruptDataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume from the last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_cli())
