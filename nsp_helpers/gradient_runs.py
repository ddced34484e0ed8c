r"""Huang et al.'s gradient experiments at the paper's size: stored runs, their fits and their uncertainties.

:func:`nsp_helpers.simulate.gradient_statistics` measures per-layer gradient statistics of random noisy
networks by ordinary backpropagation (tied weights). This module runs it at the size of Huang et al.
(2020): 200 layers of width 500, 100 independent networks per setting, one pair of inputs
:math:`h^0_a, h^0_b \sim \mathcal{N}(0, I)` per network with independent dropout masks, the squared
error to a zero target, :math:`\sigma_b^2 = 0.1`, keep probabilities :math:`\rho \in \{0.6, \dots, 1\}`
and the activations of their stored runs (ReLU at :math:`\sigma_w^2 = 1`, tanh and hard-tanh at
:math:`\sigma_w^2 = 1.4`). It stores every run as a small JSON file with provenance, and reads the files
back for the chapter (:func:`load_run`, :func:`stored_runs`).

The statistics are the paper's, for input :math:`a` and the pair :math:`(a, b)` of each network:
:math:`g_{aa} = \overline{(\partial\mathcal{L}_a/\partial W^l)^2}`, :math:`g_{ab} =
\overline{(\partial\mathcal{L}_a/\partial W^l)(\partial\mathcal{L}_b/\partial W^l)}` (signed) and
:math:`\tilde g_{ab} = \overline{|(\partial\mathcal{L}_a/\partial W^l)(\partial\mathcal{L}_b/\partial W^l)|}`,
each averaged over the networks (:meth:`GradientRun.curve`). The typical size of the signed statistic,
its root mean square over networks (``"g_ab_rms"``), and the cosine :math:`r^l` of the two backward
signals are stored beside them.

Running
-------
``python -m nsp_helpers.gradient_runs`` runs every setting of :data:`RUN_SETS` (``--set paper`` one group
of them) into ``results/gradients/``. Each setting is computed in blocks of ``block`` networks, block
:math:`k` being ``gradient_statistics(..., n_networks=block, seed=block_seed(seed, k))``; completed blocks
are checkpointed (atomically, in ``--checkpoint-dir``), so an interrupted command resumes where it stopped
and gives the numbers of an uninterrupted run. A results file that exists is kept.

Uncertainties
-------------
Networks are the independent replicates. A decay rate is the slope of a straight line through
:math:`\ln` of a per-layer curve (:func:`nsp_helpers.fits.fit_log_decay`); its standard error is the
spread of that slope over bootstrap resamples of the networks (using the per-network values, which are
stored at every ``stride``-th layer counted from the output). The same bootstrap gives the uncertainty
of the universality exponent :math:`k` of :math:`V \propto m^k` (:meth:`GradientRun.universality`).

Introduced in the chapter *Gradients with tied weights at full size* (``book/tied_gradients.md``).

References
----------
.. [1] W. Huang, R. Y. D. Xu, W. Du, Y. Zeng, Y. Zhao. *Mean field theory for deep dropout networks:
   digging up gradient backpropagation deeply.* ECAI 2020 (Frontiers in Artificial Intelligence and
   Applications 325), pp. 1215-1222, arXiv:1912.09132.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import io
import math
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DamagedFileError, InvalidParameterError, check_bool, check_choice, check_float, check_int, check_path, describe
from .storage import (
    RunLock,
    atomic_write,
    check_writable_dir,
    clean_stale_temporaries,
    code_version,
    command_line,
    config_hash,
    default_checkpoint_dir,
    move_aside,
    provenance,
    read_json,
    release_checkpoint,
    write_json_atomic,
)

__all__ = [
    "GradientRunConfig",
    "GradientRun",
    "RateFit",
    "PowerLawFit",
    "SpreadFit",
    "RUN_SETS",
    "PAPER_KEEP_PROBS",
    "PAPER_SIGMA_W2",
    "block_seed",
    "compute_run",
    "run",
    "load_run",
    "stored_runs",
    "results_dir",
    "main",
]

FORMAT = "nsp_helpers.gradient_runs/1"
#: Huang et al.'s keep probabilities
PAPER_KEEP_PROBS = (0.6, 0.7, 0.8, 0.9, 1.0)
#: the weight variance of each activation of their stored runs
PAPER_SIGMA_W2 = {"relu": 1.0, "tanh": 1.4, "hard_tanh": 1.4}
BACKWARDS = ("tied", "independent")
#: curves of :meth:`GradientRun.curve`
CURVES = ("g_aa", "g_ab", "abs_ab", "g_ab_rms")
#: most bootstrap resamples a fit takes (a million already gives the standard error to 0.1 %)
MAX_BOOT = 10**6
#: arrays kept per network (at every ``stride``-th layer)
PER_NETWORK = ("g_aa", "g_ab", "abs_ab", "r")
_ACTIVATIONS = ("relu", "tanh", "hard_tanh", "linear")


# ----------------------------------------------------------------------------------------------------
# configuration
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GradientRunConfig:
    r"""One setting: a network and how many draws of it are measured.

    Parameters
    ----------
    activation : {"relu", "tanh", "hard_tanh", "linear"}
    sigma_w2 : float, > 0
    sigma_b2 : float, >= 0
    keep_prob : float, in (0, 1]
        Dropout keep probability :math:`\rho`.
    n_layers, width : int
        Depth :math:`L` and width :math:`N` (the paper: 200 and 500).
    n_networks : int
        Independent networks (the paper: 100); a multiple of ``block``.
    backward : {"tied", "independent"}
        Ordinary backpropagation, or fresh backward weights (the gradient independence assumption).
    seed : int
        Base seed of the blocks (:func:`block_seed`).
    block : int
        Networks per block (the unit of checkpointing; part of the configuration because it sets the seeds).
    stride : int
        Per-network values are kept at layers :math:`L, L - s, L - 2s, \dots` (``s = stride``).

    Examples
    --------
    >>> cfg = GradientRunConfig("tanh", 1.4, 0.1, 0.9)
    >>> cfg.n_layers, cfg.width, cfg.n_networks, cfg.name().startswith("tanh_keep0.9_N500_tied_")
    (200, 500, 100, True)
    >>> GradientRunConfig("tanh", 1.4, 0.1, 0.9, n_networks=15)
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: n_networks must be a multiple of block (10), got 15
    """

    activation: str
    sigma_w2: float
    sigma_b2: float
    keep_prob: float
    n_layers: int = 200
    width: int = 500
    n_networks: int = 100
    backward: str = "tied"
    seed: int = 0
    block: int = 10
    stride: int = 5

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen dataclass)
        set_("activation", check_choice("activation", self.activation, _ACTIVATIONS))
        set_("sigma_w2", check_float("sigma_w2", self.sigma_w2, 0, np.inf, low_open=True))
        set_("sigma_b2", check_float("sigma_b2", self.sigma_b2, 0, np.inf))
        set_("keep_prob", check_float("keep_prob", self.keep_prob, 0, 1, low_open=True))
        set_("n_layers", check_int("n_layers", self.n_layers, 2))
        set_("width", check_int("width", self.width, 2))
        set_("block", check_int("block", self.block, 1))
        set_("n_networks", check_int("n_networks", self.n_networks, 2))
        if self.n_networks % self.block:
            raise InvalidParameterError(f"n_networks must be a multiple of block ({self.block}), got {self.n_networks}")
        set_("backward", check_choice("backward", self.backward, BACKWARDS))
        set_("seed", check_int("seed", self.seed, 0))
        set_("stride", check_int("stride", self.stride, 1, self.n_layers))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GradientRunConfig":
        if not isinstance(d, dict):
            raise InvalidParameterError(f"config must be a dict of GradientRunConfig fields, got {describe(d)}")
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [n for n in names if n not in d]
        if missing:
            raise InvalidParameterError(f"config lacks the field(s) {', '.join(missing)}")
        return cls(**{k: d[k] for k in names})

    def hash(self) -> str:
        """:func:`nsp_helpers.storage.config_hash` of every field."""
        return config_hash(self.to_dict())

    def name(self) -> str:
        """File name of the results: ``{activation}_keep{rho}_N{width}_{backward}_{hash}.json``."""
        return f"{self.activation}_keep{self.keep_prob:g}_N{self.width}_{self.backward}_{self.hash()}.json"

    @property
    def n_blocks(self) -> int:
        return self.n_networks // self.block

    @property
    def kept_layers(self) -> np.ndarray:
        """Layers (1-based) whose per-network values are stored: ``L, L - stride, ...``, ascending."""
        return np.arange(self.n_layers, 0, -self.stride)[::-1]

    def network(self):
        """The :class:`~nsp_helpers.network.NoisyNetwork` measured."""
        from .network import NoisyNetwork
        from .noise import Dropout

        return NoisyNetwork(Dropout(keep_prob=self.keep_prob), self.sigma_w2, self.sigma_b2, self.activation,
                            width=self.width, n_layers=self.n_layers)


def _paper(backward: str, keep_probs=PAPER_KEEP_PROBS) -> list:
    return [GradientRunConfig(act, sw, 0.1, keep, backward=backward)
            for act, sw in PAPER_SIGMA_W2.items() for keep in keep_probs]


#: The stored settings, by group. ``paper``: Huang et al.'s three activations and five keep
#: probabilities, tied weights; ``gia``: the same at :math:`\rho = 0.6` and 0.9 with independent backward
#: weights; ``widths``: tanh,
#: :math:`\rho = 0.9`, at the other widths of their universality figure (500 is in ``paper``);
#: ``linear``: their linear networks (:math:`\sigma_w^2 = 0.5`), tied and independent; ``critical_relu``:
#: the critically initialised noisy ReLU network of the book (:math:`\rho = 0.9`, :math:`\sigma_w^2 =
#: 2\rho`, no biases) at three widths, tied, and at width 500 independent.
RUN_SETS = {
    "paper": _paper("tied"),
    "gia": _paper("independent", (0.6, 0.9)),
    "widths": [GradientRunConfig("tanh", 1.4, 0.1, 0.9, width=w) for w in (300, 700, 900)],
    "linear": [GradientRunConfig("linear", 0.5, 0.1, keep, backward=b) for b in BACKWARDS for keep in PAPER_KEEP_PROBS],
    "critical_relu": [GradientRunConfig("relu", 1.8, 0.0, 0.9, width=w) for w in (300, 500, 900)]
    + [GradientRunConfig("relu", 1.8, 0.0, 0.9, backward="independent")],
}


def block_seed(seed: int, block_index: int) -> int:
    """The seed of block ``block_index`` of a run seeded ``seed`` (independent streams per block).

    Examples
    --------
    >>> block_seed(0, 1) == block_seed(0, 1), block_seed(0, 1) == block_seed(0, 2)
    (True, False)
    """
    from ._random import derived_seeds

    return derived_seeds(check_int("seed", seed, 0), 0x6D, check_int("block_index", block_index, 0))[0]


# ----------------------------------------------------------------------------------------------------
# computing
# ----------------------------------------------------------------------------------------------------
def _block_arrays(config: GradientRunConfig, index: int, device="cpu") -> dict:
    """The per-network arrays of one block, shape ``(n_layers, block)`` each (float64)."""
    from .simulate.gradients import gradient_statistics

    s = gradient_statistics(config.network(), n_networks=config.block, n_pairs=1, backward=config.backward,
                            seed=block_seed(config.seed, index), device=device, cpu_threads=None)
    return {
        "g_aa": s.g_aa[:, :, 0],  # input a, as the paper
        "g_ab": s.g_ab[:, :, 0],
        "abs_ab": s.abs_ab[:, :, 0],
        "r": s.pair_correlation()[:, :, 0],
        "q_aa": s.q_aa[:, :, 0],
        "q_ab": s.q_ab[:, :, 0],
        "delta_aa": s.delta_aa[:, :, 0],
        "delta_ab": s.delta_ab[:, :, 0],
    }


def _summary(arrays: dict) -> dict:
    """Per-layer summaries over networks (lists, JSON-ready)."""
    out = {}
    for key in ("g_aa", "g_ab", "abs_ab"):
        v = arrays[key]
        out[key] = {"mean": v.mean(axis=1), "var": v.var(axis=1, ddof=1)}
    out["g_ab"]["rms"] = np.sqrt((arrays["g_ab"] ** 2).mean(axis=1))
    out["r"] = {"mean": arrays["r"].mean(axis=1), "rms": np.sqrt((arrays["r"] ** 2).mean(axis=1))}
    for key in ("q_aa", "q_ab", "delta_aa", "delta_ab"):
        out[key] = {"mean": arrays[key].mean(axis=1)}
    return {k: {kk: _encode(vv) for kk, vv in d.items()} for k, d in out.items()}


def _encode(values) -> list:
    """Floats with 7 significant digits (``None`` for non-finite values: JSON has no nan)."""
    return [float(f"{v:.7g}") if math.isfinite(v) else None for v in np.asarray(values, dtype=float).ravel()]


def _decode(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def compute_run(config: GradientRunConfig, *, checkpoint=None, progress: bool = False, device="cpu") -> dict:
    """Measure every block of ``config`` (resuming from ``checkpoint``) and return the results dict.

    The checkpoint (an ``.npz`` file, written atomically after every block) holds the completed blocks;
    a damaged one is moved aside and the run starts over. It is left in place: :func:`run` removes it
    after the results are written and read back.

    Examples
    --------
    >>> cfg = GradientRunConfig("tanh", 1.4, 0.1, 0.9, n_layers=6, width=20, n_networks=4, block=2, stride=2)
    >>> res = compute_run(cfg)
    >>> len(res["summary"]["g_aa"]["mean"]), res["per_network"]["layers"], len(res["per_network"]["g_aa"][0])
    (6, [2, 4, 6], 4)
    """
    if not isinstance(config, GradientRunConfig):
        raise InvalidParameterError(f"config must be a GradientRunConfig, got {describe(config)}")
    checkpoint = check_path("checkpoint", checkpoint) if checkpoint is not None else None
    progress = check_bool("progress", progress)
    blocks, cpu_before, wall_before = [], 0.0, 0.0
    if checkpoint is not None and checkpoint.exists():
        state = _load_checkpoint(checkpoint, config)
        if state is not None:
            blocks, cpu_before, wall_before = state
            if progress:
                print(f"resuming {config.name()} after {len(blocks)} of {config.n_blocks} blocks", file=sys.stderr, flush=True)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for index in range(len(blocks), config.n_blocks):
        blocks.append(_block_arrays(config, index, device))
        if checkpoint is not None:
            _save_checkpoint(checkpoint, config, blocks, cpu_before + time.process_time() - cpu0,
                             wall_before + time.perf_counter() - wall0)
        if progress:
            print(f"{config.name()}: block {index + 1}/{config.n_blocks}", file=sys.stderr, flush=True)
    arrays = {k: np.concatenate([b[k] for b in blocks], axis=1) for k in blocks[0]}
    kept = config.kept_layers - 1
    return {
        "format": FORMAT,
        "config": config.to_dict(),
        "layers": list(range(1, config.n_layers + 1)),
        "summary": _summary(arrays),
        "per_network": {"layers": [int(v) for v in config.kept_layers],
                        **{k: [_encode(row) for row in arrays[k][kept]] for k in PER_NETWORK}},
        "cpu_time_s": round(cpu_before + time.process_time() - cpu0, 1),
        "wall_time_s": round(wall_before + time.perf_counter() - wall0, 1),
    }


def _save_checkpoint(path: Path, config: GradientRunConfig, blocks: list, cpu_s: float, wall_s: float) -> None:
    arrays = {f"{k}_{i}": v for i, b in enumerate(blocks) for k, v in b.items()}

    def write(f):
        buffer = io.BytesIO()
        np.savez(buffer, config_hash=np.array(config.hash()), n_blocks=np.array(len(blocks)), cpu_s=np.array(cpu_s),
                 wall_s=np.array(wall_s), **arrays)
        f.write(buffer.getvalue())

    atomic_write(path, write)


def _load_checkpoint(path: Path, config: GradientRunConfig):
    """``(blocks, cpu_s, wall_s)`` from a checkpoint, or ``None`` after moving a damaged one aside."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["config_hash"]) != config.hash():
                raise InvalidParameterError(
                    f"checkpoint {path} belongs to another configuration; remove it or pass another checkpoint path")
            n = int(f["n_blocks"])
            blocks = [{k: f[f"{k}_{i}"] for k in ("g_aa", "g_ab", "abs_ab", "r", "q_aa", "q_ab", "delta_aa", "delta_ab")}
                      for i in range(n)]
            cpu_s, wall_s = float(f["cpu_s"]), float(f["wall_s"])
    except InvalidParameterError:
        raise
    except Exception as exc:  # noqa: BLE001 - zip, key and value errors of a damaged file
        move_aside(path, f"it cannot be read as a gradient-run checkpoint: {type(exc).__name__}: {exc}")
        return None
    if not 0 < n <= config.n_blocks or any(b["g_aa"].shape != (config.n_layers, config.block) for b in blocks):
        move_aside(path, "its blocks do not match its configuration")
        return None
    return blocks, cpu_s, wall_s


def results_dir() -> Path:
    """The repository's ``results/gradients`` folder."""
    return Path(__file__).resolve().parent.parent / "results" / "gradients"


def _command_line() -> str:
    return command_line("nsp_helpers.gradient_runs")


def run(config: GradientRunConfig, out_dir=None, *, checkpoint_dir=None, progress: bool = True, command: str | None = None,
        overwrite: bool = False, version: str | None = None) -> Path:
    """Compute one setting and write its results file with provenance (what the command line does).

    The file (:meth:`GradientRunConfig.name`) is written atomically, read back and compared before the
    checkpoint is removed; a file of the same configuration that exists is kept (``overwrite`` computes
    it again). A lock keeps two processes from computing one configuration at once. ``version`` is the
    code version recorded (default: :func:`nsp_helpers.storage.code_version` when the call starts; the
    command line takes it once, when it starts, so that later edits of the checkout are not recorded).

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> cfg = GradientRunConfig("relu", 1.0, 0.1, 0.8, n_layers=4, width=16, n_networks=2, block=1, stride=2)
    >>> path = run(cfg, folder, checkpoint_dir=folder, progress=False)
    >>> load_run(path).config == cfg, sorted(load_run(path).provenance)[:2]
    (True, ['code_version', 'command'])
    """
    if not isinstance(config, GradientRunConfig):
        raise InvalidParameterError(f"config must be a GradientRunConfig, got {describe(config)}")
    out_dir = check_writable_dir("out_dir", results_dir() if out_dir is None else out_dir)
    ckpt_dir = check_writable_dir("checkpoint_dir", default_checkpoint_dir() if checkpoint_dir is None else checkpoint_dir)
    path = out_dir / config.name()
    stem = "gradients_" + config.name()[: -len(".json")]
    ckpt = ckpt_dir / f"{stem}.npz"
    with RunLock(ckpt_dir / f"{stem}.lock"):
        for stale in clean_stale_temporaries(ckpt) + clean_stale_temporaries(path):
            if progress:
                print(f"removed the temporary file {stale} of an interrupted write", file=sys.stderr)
        if path.exists() and not overwrite:
            try:
                existing = load_run(path)
            except DamagedFileError as exc:
                move_aside(path, str(exc))
            else:
                if existing.config != config:
                    raise InvalidParameterError(f"{path} holds another configuration (a hash collision?); move it away")
                ckpt.unlink(missing_ok=True)
                if progress:
                    print(f"{path} exists (--overwrite computes it again)", file=sys.stderr)
                return path
        started = _dt.datetime.now(_dt.timezone.utc)
        version = code_version() if version is None else str(version)
        results = compute_run(config, checkpoint=ckpt, progress=progress)
        import torch

        results["provenance"] = provenance(
            command or _command_line(), version=version, started=started, numpy=np.__version__,
            device=f"cpu ({platform.machine()}), {torch.get_num_threads()} torch thread(s)",
            cpu_time_s=results["cpu_time_s"], wall_time_s=results["wall_time_s"], config_hash=config.hash())
        write_json_atomic(results, path)
        release_checkpoint(path, ckpt, load_run,
                           lambda written: written.config == config and written.raw["summary"] == results["summary"])
    return path


# ----------------------------------------------------------------------------------------------------
# reading and fitting
# ----------------------------------------------------------------------------------------------------
@dataclass
class RateFit:
    r"""A decay rate per layer: the slope of :math:`\ln g^l` against :math:`l` over ``layers``.

    Gradients that shrink by :math:`\chi` per layer going back from the output have rate
    :math:`-\ln\chi` (negative rates: they grow towards the input).

    Attributes
    ----------
    rate, stderr : float
        Slope and its bootstrap standard error over networks.
    first_layer, last_layer : int
        The window.
    n_points : int
        Layers fitted (those with a positive, finite value).
    """

    rate: float
    stderr: float
    first_layer: int
    last_layer: int
    n_points: int


@dataclass
class PowerLawFit:
    r"""A power law :math:`V = A\,m^k` over layers (:meth:`GradientRun.universality`).

    Attributes
    ----------
    exponent, stderr : float
        :math:`k` and its bootstrap standard error over networks.
    prefactor : float
        :math:`A`.
    mean, variance : numpy.ndarray
        :math:`|m_l|` and :math:`V_l` at the layers used (the stored per-network layers).
    """

    exponent: float
    stderr: float
    prefactor: float
    mean: np.ndarray
    variance: np.ndarray


@dataclass
class SpreadFit:
    r"""The variance over networks of :math:`\ln g` against the layers back from the output
    (:meth:`GradientRun.log_spread`).

    Attributes
    ----------
    per_layer, per_layer_stderr : float
        Growth per layer of :math:`\operatorname{Var}\ln g` (least-squares slope) and its standard error.
    predicted_exponent, predicted_exponent_stderr : float
        The exponent :math:`k` of :math:`V \propto m^k` that log-normal gradients with the measured
        :math:`\operatorname{Var}\ln g` would show.
    n_back, log_variance : numpy.ndarray
        Layers back from the output and :math:`\operatorname{Var}\ln g` at the stored layers.
    """

    per_layer: float
    per_layer_stderr: float
    predicted_exponent: float
    predicted_exponent_stderr: float
    n_back: np.ndarray
    log_variance: np.ndarray


def _curve_of(values: np.ndarray, name: str) -> np.ndarray:
    """The per-layer curve of per-network values ``(layers, networks)``."""
    if name == "g_ab_rms":
        return np.sqrt((values**2).mean(axis=1))
    return values.mean(axis=1)


def _slope(layers, values) -> tuple[float, int]:
    from .fits import fit_log_decay

    v = np.abs(values)
    ok = np.isfinite(v) & (v > 0)
    if ok.sum() < 2:
        return float("nan"), int(ok.sum())
    return fit_log_decay(layers[ok], v[ok]).slope, int(ok.sum())


class GradientRun:
    """One stored setting (:func:`load_run`): its configuration, per-layer curves and per-network values.

    Introduced in the chapter *Gradients with tied weights at full size* (``book/tied_gradients.md``).
    """

    def __init__(self, raw: dict, path: Path | None = None):
        if not isinstance(raw, dict) or not {"config", "layers", "summary", "per_network"} <= set(raw):
            raise InvalidParameterError(
                f"raw must be a results dict of a gradient run (compute_run, load_run), with config, layers, summary and "
                f"per_network, got {describe(raw)}")
        self.raw = raw
        self.path = path
        self.config = GradientRunConfig.from_dict(raw["config"])
        self.layers = np.asarray(raw["layers"], dtype=int)
        self.summary = {k: {kk: _decode(vv) for kk, vv in d.items()} for k, d in raw["summary"].items()}
        pn = raw["per_network"]
        self.kept_layers = np.asarray(pn["layers"], dtype=int)
        self.per_network = {k: np.array([_decode(row) for row in pn[k]]) for k in PER_NETWORK}
        self.provenance = raw.get("provenance", {})

    def __repr__(self) -> str:
        c = self.config
        return (f"GradientRun({c.activation}, sigma_w2={c.sigma_w2:g}, keep_prob={c.keep_prob:g}, width={c.width}, "
                f"{c.backward}, {c.n_networks} networks)")

    @property
    def n_networks(self) -> int:
        return self.config.n_networks

    def theory(self):
        """Mean-field factors :math:`\\chi_1`, :math:`\\chi(c^*)` (:func:`nsp_helpers.theory.gradient_slopes`)."""
        from . import theory

        return theory.gradient_slopes(self.config.network())

    def curve(self, name: str = "g_aa") -> np.ndarray:
        r"""Per-layer curve: the mean over networks of ``"g_aa"``, ``"g_ab"`` (signed) or ``"abs_ab"``,
        or ``"g_ab_rms"``, the root mean square of :math:`g_{ab}` over networks."""
        name = check_choice("name", name, CURVES)
        if name == "g_ab_rms":
            return self.summary["g_ab"]["rms"]
        return self.summary[name]["mean"]

    def standard_error(self, name: str = "g_ab") -> np.ndarray:
        """Standard error of the mean over networks of ``"g_aa"``, ``"g_ab"`` or ``"abs_ab"``, per layer."""
        name = check_choice("name", name, ("g_aa", "g_ab", "abs_ab"))
        return np.sqrt(self.summary[name]["var"] / self.n_networks)

    def significant_layers(self, name: str = "g_ab", z: float = 3.0) -> int:
        """How many layers below the output (counting the output) the mean of ``name`` stays more than
        ``z`` standard errors above zero, without interruption."""
        z = check_float("z", z, 0, np.inf, low_open=True)
        ok = self.curve(name) > z * self.standard_error(name)
        ok = ok[::-1]
        return int(np.argmin(ok)) if not ok.all() else int(ok.size)

    def fit_rate(self, name: str = "g_aa", first_layer: int | None = None, last_layer: int | None = None, *,
                 n_boot: int = 200, seed: int = 0) -> RateFit:
        r"""Decay rate of a curve over layers ``first_layer ... last_layer`` with a bootstrap standard error.

        Default window: all layers but the 10 next to the input and the 10 next to the output
        (transients of the forward variance and of the output layer). For ``"g_ab"`` the line is fitted
        through :math:`\ln|\text{mean}|` (layers where the mean is exactly 0 are left out).
        """
        name = check_choice("name", name, CURVES)
        L = self.config.n_layers
        first = 11 if first_layer is None else check_int("first_layer", first_layer, 1, L - 1)
        last = L - 10 if last_layer is None else check_int("last_layer", last_layer, first + 1, L)
        window = (self.layers >= first) & (self.layers <= last)
        rate, n_points = _slope(self.layers[window], self.curve(name)[window])
        kept = (self.kept_layers >= first) & (self.kept_layers <= last)
        values = self.per_network["g_ab" if name == "g_ab_rms" else name][kept]
        rng = np.random.default_rng(check_int("seed", seed, 0))
        boots = []
        for _ in range(check_int("n_boot", n_boot, 2, MAX_BOOT)):
            pick = rng.integers(0, values.shape[1], values.shape[1])
            boots.append(_slope(self.kept_layers[kept], _curve_of(values[:, pick], name))[0])
        boots = np.array(boots)
        boots = boots[np.isfinite(boots)]
        stderr = float(boots.std(ddof=1)) if boots.size > 1 else float("nan")
        return RateFit(rate=rate, stderr=stderr, first_layer=first, last_layer=last, n_points=n_points)

    def fit_significant_rate(self, name: str = "g_ab", z: float = 3.0) -> RateFit:
        r"""Decay rate of the mean of ``name`` over the layers next to the output where it is significant.

        The window is :meth:`significant_layers` (the output layer itself left out, as its backward
        signal is the loss's own); the standard error comes from the per-layer standard errors of the
        mean, propagated as if the layers were independent (:func:`nsp_helpers.fits.fit_log_decay`).
        ``nan`` with fewer than two layers.
        """
        from .fits import fit_log_decay

        n = self.significant_layers(name, z)
        L = self.config.n_layers
        first, last = L - n + 1, L - 1
        if last - first + 1 < 2:
            return RateFit(rate=float("nan"), stderr=float("nan"), first_layer=first, last_layer=last, n_points=max(0, last - first + 1))
        window = slice(first - 1, last)
        m, se = self.curve(name)[window], self.standard_error(name)[window]
        fit = fit_log_decay(self.layers[window], m, sigma_log=se / m)
        return RateFit(rate=fit.slope, stderr=fit.slope_stderr, first_layer=first, last_layer=last, n_points=fit.n_points)

    def log_spread(self, name: str = "g_aa", *, n_boot: int = 200, seed: int = 0) -> SpreadFit:
        r"""How far apart the networks' gradients are: the variance over networks of :math:`\ln g` at every
        stored layer, its growth per layer, and the exponent of :meth:`universality` it implies.

        If :math:`g` is log-normal over initialisations with :math:`\operatorname{Var}\ln g = v_n` at
        :math:`n` layers back from the output, then :math:`V/m^2 = e^{v_n} - 1`, so
        :math:`\ln V = 2\ln m + \ln(e^{v_n} - 1)`: a line through :math:`\ln V` against :math:`\ln m` has a
        slope :math:`k \ne 2` wherever :math:`v_n` changes with depth. ``predicted_exponent`` is the slope of
        :math:`2\ln m + \ln(e^{v_n} - 1)` against :math:`\ln m` over the stored layers (:meth:`universality`
        fits :math:`\ln V` itself). ``per_layer`` is the slope of :math:`v_n` against :math:`n` (least squares).
        Standard errors: bootstrap over networks (``n_boot`` resamples, 2 to 10⁶); a resample
        that draws one network every time has no spread at all and is left out (likely only for a run of
        a few networks); ``nan`` if fewer than two resamples remain. ``nan`` also where fewer than two
        stored layers have a positive spread.
        """
        name = check_choice("name", name, ("g_aa", "abs_ab"))
        n_boot = check_int("n_boot", n_boot, 2, MAX_BOOT)
        rng = np.random.default_rng(check_int("seed", seed, 0))
        values = self.per_network[name]
        n_back = (self.config.n_layers - self.kept_layers).astype(float)

        def fit(v):
            with np.errstate(divide="ignore", invalid="ignore"):
                logv = np.log(v).var(axis=1, ddof=1)
            m = v.mean(axis=1)
            ok = np.isfinite(logv) & (logv > 0) & np.isfinite(m) & (m > 0)
            if ok.sum() < 2:  # e.g. a resample of one network drawn n times: no spread at any layer
                return float("nan"), float("nan"), logv
            growth = float(np.polyfit(n_back[ok], logv[ok], 1)[0])
            k = float(np.polyfit(np.log(m[ok]), 2 * np.log(m[ok]) + np.log(np.expm1(logv[ok])), 1)[0])
            return growth, k, logv

        growth, k, logv = fit(values)
        boots = np.array([fit(values[:, rng.integers(0, values.shape[1], values.shape[1])])[:2]
                          for _ in range(n_boot)])
        boots = boots[np.isfinite(boots).all(axis=1)]
        se = boots.std(axis=0, ddof=1) if len(boots) > 1 else np.full(2, np.nan)
        return SpreadFit(per_layer=growth, per_layer_stderr=float(se[0]), predicted_exponent=k,
                         predicted_exponent_stderr=float(se[1]), n_back=n_back, log_variance=logv)

    def universality(self, name: str = "g_aa", *, n_boot: int = 200, seed: int = 0) -> PowerLawFit:
        r"""Variance against mean over networks of ``name`` at the stored layers, :math:`V = A|m|^k`,
        least squares in :math:`(\ln|m|, \ln V)`, with a bootstrap (over networks) standard error of
        :math:`k`."""
        name = check_choice("name", name, ("g_aa", "g_ab", "abs_ab"))
        values = self.per_network[name]

        def fit(v):
            m, var = np.abs(v.mean(axis=1)), v.var(axis=1, ddof=1)
            ok = np.isfinite(m) & np.isfinite(var) & (m > 0) & (var > 0)
            if ok.sum() < 2:
                return float("nan"), float("nan"), m, var
            k, log_a = np.polyfit(np.log(m[ok]), np.log(var[ok]), 1)
            return float(k), float(np.exp(log_a)), m, var

        n_boot = check_int("n_boot", n_boot, 2, MAX_BOOT)
        k, a, m, var = fit(values)
        rng = np.random.default_rng(check_int("seed", seed, 0))
        boots = np.array([fit(values[:, rng.integers(0, values.shape[1], values.shape[1])])[0]
                          for _ in range(n_boot)])
        boots = boots[np.isfinite(boots)]
        return PowerLawFit(exponent=k, stderr=float(boots.std(ddof=1)) if boots.size > 1 else float("nan"),
                           prefactor=a, mean=m, variance=var)


def load_run(path) -> GradientRun:
    """Read a results file written by :func:`run` (validated).

    Raises
    ------
    nsp_helpers.errors.DamagedFileError
        The file is missing, truncated, not JSON or lacks a field (the message names it).
    """
    path = check_path("path", path)
    raw = read_json(path, f"{FORMAT} results file")
    if raw.get("format") != FORMAT:
        raise DamagedFileError(f"{path} is not a {FORMAT} results file (format {raw.get('format')!r})", path)
    try:
        run_ = GradientRun(raw, path)
        shapes_ok = (run_.layers.size == run_.config.n_layers
                     and all(v.size == run_.config.n_layers for d in run_.summary.values() for v in d.values())
                     and all(v.shape == (run_.kept_layers.size, run_.config.n_networks) for v in run_.per_network.values()))
    except (KeyError, TypeError, ValueError) as exc:
        raise DamagedFileError(f"{path} is not a valid {FORMAT} results file: {type(exc).__name__}: {exc}", path) from exc
    if not shapes_ok:
        raise DamagedFileError(f"{path} is not a valid {FORMAT} results file: its arrays do not match its configuration", path)
    return run_


def stored_runs(group: str | None = None, *, root=None, **match) -> list[GradientRun]:
    """The stored runs (of one group of :data:`RUN_SETS`, and/or whose config fields equal ``match``).

    Examples
    --------
    >>> stored_runs(root="no/such/folder")
    []
    """
    root = results_dir() if root is None else check_path("root", root)
    wanted = None
    if group is not None:
        wanted = {c.name() for c in RUN_SETS[check_choice("group", group, tuple(RUN_SETS))]}
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.glob("*.json")):
        if wanted is not None and path.name not in wanted:
            continue
        r = load_run(path)
        if all(getattr(r.config, k) == v for k, v in match.items()):
            out.append(r)
    return out


# ----------------------------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m nsp_helpers.gradient_runs",
        description="Huang et al.'s gradient experiments at the paper's size (200 layers, width 500, 100 networks "
        "per setting), stored in results/gradients/ with provenance. Re-running an interrupted command resumes it.",
    )
    p.add_argument("--set", dest="sets", action="append", choices=sorted(RUN_SETS),
                   help="group of settings (repeatable; default: all)")
    p.add_argument("--out", default=None, help="output folder (default: the repository's results/gradients)")
    p.add_argument("--checkpoint-dir", default=None,
                   help="where block checkpoints go (default: $NSP_CHECKPOINT_DIR or ~/.cache/nsp_helpers/checkpoints)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1)")
    p.add_argument("--list", action="store_true", help="list the settings and whether their results exist, then stop")
    p.add_argument("--overwrite", action="store_true", help="compute again even if a results file exists")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv=None) -> int:
    """Command-line entry point (``python -m nsp_helpers.gradient_runs``)."""
    command = None if argv is None else shlex.join(["python", "-m", "nsp_helpers.gradient_runs", *argv])
    args = _parser().parse_args(argv)
    configs = [c for s in (args.sets or list(RUN_SETS)) for c in RUN_SETS[s]]
    out = results_dir() if args.out is None else Path(args.out)
    if args.list:
        for c in configs:
            print(f"{'done' if (out / c.name()).exists() else 'todo'}  {c.name()}")
        return 0
    import torch

    torch.set_num_threads(check_int("--threads", args.threads, 1, 4096))
    check_writable_dir("--out", out)
    version = code_version()  # the code imported now computes every setting, whatever happens to the checkout
    for c in configs:
        path = run(c, out, checkpoint_dir=args.checkpoint_dir, progress=not args.no_progress, command=command,
                   overwrite=args.overwrite, version=version)
        if not args.no_progress:
            print(f"results: {path}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
