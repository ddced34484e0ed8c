r"""Huang et al.'s trainable-length experiment on the batched trainer: tanh dropout networks over :math:`(\sigma_w^2, L)`.

Huang et al. (2020) trained fully connected tanh networks with dropout on MNIST and CIFAR-10 for every
weight variance :math:`\sigma_w^2 \in \{1.0, 1.1, \dots, 4.0\}` and depth :math:`L \in \{10, 20, \dots, 250\}`
(width 400, :math:`\sigma_b^2 = 0.05`, orthogonal or Gaussian weights, plain SGD with learning rate 0.003
on minibatches of 1000 for 1,000 to 10,000 steps), drew the accuracy as a heat map and compared it with
:math:`12\xi_1`, :math:`6\xi_2` and :math:`12\xi_2`. This module runs that experiment with
:mod:`nsp_helpers.train` (a :class:`~nsp_helpers.train.TrainConfig` with ``sigma_w2s``, ``activation="tanh"``,
``weights`` and a step budget ``steps_per_epoch``) and names two settings:

* ``paper``: their setting, all four keep probabilities :math:`\rho \in \{1, 0.99, 0.98, 0.95\}`,
  3,000 steps of SGD (``--weights gaussian --epochs 100`` gives their 10,000-step Gaussian panel):
  3,100 networks of up to 250 layers, a job for GPUs (``--shard k/n``);
* ``cpu``: the same experiment shrunk to run on one CPU core in about ten minutes of CPU time:
  :math:`\rho \in \{1, 0.95\}`, seven weight variances, ten depths, width 48, MNIST average-pooled to
  14 x 14 pixels, 6,000 examples, 300 SGD steps of batch 100 at learning rate 0.03 (the same product of
  learning rate and steps as their 3,000 steps at 0.003).

Differences from their code that do not change what is measured: depth counts the hidden tanh layers
(their ``_Layer`` counts weight matrices, one more); the read-out is linear with the cross-entropy of its
logits (theirs is a softmax of tanh outputs); accuracy is measured on held-out validation images without
dropout (theirs: the last training minibatch, with dropout).

``python -m nsp_helpers.trainable_length --profile cpu`` trains and stores the grid in
``results/trainable_length/`` (resumable, with provenance; see :func:`nsp_helpers.train.run`);
:func:`stored_results` loads it and :func:`nsp_helpers.analysis.trainable_length_rules` compares it with
the rules.

Introduced in the chapter *Trainable length after Huang et al.* (``book/trainable_length.md``).

References
----------
.. [1] W. Huang, R. Y. D. Xu, W. Du, Y. Zeng, Y. Zhao. *Mean field theory for deep dropout networks:
   digging up gradient backpropagation deeply.* ECAI 2020 (Frontiers in Artificial Intelligence and
   Applications 325), pp. 1215-1222, arXiv:1912.09132.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path

import numpy as np

from . import train
from .errors import InvalidParameterError, check_choice, check_int, check_path
from .storage import check_writable_dir

__all__ = ["PROFILES", "PUBLISHED_PANELS", "profile_config", "results_dir", "stored_results",
           "read_published_heatmap", "fit_published", "write_published_fits", "stored_published_fits", "main"]

#: The profiles (fields of :class:`nsp_helpers.train.TrainConfig`; dataset and task are added).
PROFILES = {
    "paper": dict(depths=tuple(range(10, 251, 10)), keep_probs=(1.0, 0.99, 0.98, 0.95),
                  sigma_w2s=tuple(round(1.0 + 0.1 * i, 10) for i in range(31)), width=400, activation="tanh",
                  sigma_b2=0.05, weights="orthogonal", optimizer="sgd", lr=0.003, batch_size=1000, steps_per_epoch=100,
                  n_epochs=30, n_examples=None, pool=1),
    "cpu": dict(depths=(10, 20, 30, 45, 60, 80, 110, 150, 200, 250), keep_probs=(1.0, 0.95),
                sigma_w2s=(1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0), width=48, activation="tanh", sigma_b2=0.05,
                weights="orthogonal", optimizer="sgd", lr=0.03, batch_size=100, steps_per_epoch=30, n_epochs=10,
                n_examples=6000, pool=2),
}


def profile_config(profile: str = "cpu", dataset: str = "mnist", **overrides) -> train.TrainConfig:
    """The :class:`~nsp_helpers.train.TrainConfig` of a profile (classification), with overrides.

    Examples
    --------
    >>> cfg = profile_config("paper")
    >>> cfg.n_networks, cfg.width, cfg.lr, cfg.batch_size, cfg.n_epochs * cfg.steps_per_epoch, cfg.weights
    (3100, 400, 0.003, 1000, 3000, 'orthogonal')
    >>> profile_config("cpu").n_networks
    140
    """
    check_choice("profile", profile, tuple(PROFILES))
    fields = set(train.TrainConfig.__dataclass_fields__) - {"dataset", "task"}
    for key in overrides:
        if key not in fields:
            raise InvalidParameterError(f"overrides must be TrainConfig fields ({', '.join(sorted(fields))}), got {key!r}")
    settings = dict(PROFILES[profile], dataset=dataset, task="classify")
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return train.TrainConfig(**settings)


def results_dir() -> Path:
    """The repository's ``results/trainable_length`` folder."""
    return Path(__file__).resolve().parent.parent / "results" / "trainable_length"


def stored_results(profile: str = "cpu", dataset: str = "mnist", *, root=None):
    """The stored grid of a profile (its own configuration first, then the most recently finished), or ``None``.

    Examples
    --------
    >>> stored_results(root="no/such/folder") is None
    True
    """
    profile = check_choice("profile", profile, tuple(PROFILES))
    dataset = check_choice("dataset", dataset, train.DATASETS)
    root = results_dir() if root is None else check_path("root", root)
    if not root.is_dir():
        return None
    pattern = re.compile(rf"{re.escape(dataset)}_classify_{re.escape(profile)}_[0-9a-f]{{10}}\.json")
    found = [train.load_results(p) | {"path": str(p)} for p in sorted(root.iterdir()) if pattern.fullmatch(p.name)]
    if not found:
        return None
    canonical = profile_config(profile, dataset).to_dict()
    found.sort(key=lambda r: (r["config"] == canonical, str(r.get("provenance", {}).get("finished", ""))), reverse=True)
    return found[0] | {"profile": profile}


#: The accuracy maps of Huang et al.'s Fig. 7 as stored in their repository (``data/heatmap/``), as their
#: figure code reads them: panel -> folder, file prefix, keep probability, description, and the stride of
#: the rows that hold the accuracies (their CIFAR-10 files log every step).
PUBLISHED_PANELS = {
    "a": ("heatmap_s2_gau_l1", "tanh2_gau_L", 1.0, "Gaussian, SGD, 2,000 steps", 1),
    "b": ("heatmap_s1_gau_RMP", "tanh2_orth_L", 1.0, "Gaussian, RMSProp, 1,000 steps", 1),
    "c": ("heatmap", "tanh2_orth_L", 1.0, "orthogonal, SGD, 2,000 steps", 1),
    "d": ("heatmap_cifar", "tanh2_orth_L", 1.0, "orthogonal, SGD, 3,000 steps, CIFAR-10", 3000),
    "e": ("heatmap_r99_s3", "tanh2_orth_r99_L", 0.99, "orthogonal, SGD, 3,000 steps", 1),
    "f": ("heatmap_r98_s3_l2", "tanh2_orth_r98_L", 0.98, "orthogonal, SGD, 3,000 steps", 1),
    "g": ("heatmap_r98_s10_Gau", "tanh2_orth_r98_L", 0.98, "Gaussian, SGD, 10,000 steps", 1),
    "h": ("heatmap_r95_RMP", "tanh2_orth_L", 0.95, "orthogonal, SGD, 3,000 steps", 1),
}
PUBLISHED_REPOSITORY = "https://github.com/WeiHuang05/Mean-field-theory-for-deep-dropout-networks"
PUBLISHED_FORMAT = "nsp_helpers.trainable_length.published/1"


def read_published_heatmap(root, panel: str):
    """One accuracy map of Huang et al.'s repository: ``(depths, sigma_w2s, accuracy)``.

    ``root`` is a copy of their repository (or of its ``data/heatmap`` folder's parent ``data``'s parent).
    Depths are converted to hidden layers (their ``L`` counts weight matrices: ``L - 1`` hidden layers);
    the accuracy is that of the last training minibatch, as they stored it; missing files are ``nan``.
    """
    folder, prefix, _, _, every = PUBLISHED_PANELS[check_choice("panel", panel, tuple(PUBLISHED_PANELS))]
    base = check_path("root", root) / "data" / "heatmap" / folder
    if not base.is_dir():
        raise InvalidParameterError(f"root must be a copy of {PUBLISHED_REPOSITORY} (no {base})")
    depths = np.arange(10, 251, 10)
    sigma_w2s = np.round(np.linspace(1.0, 4.0, 31), 10)
    accuracy = np.full((depths.size, sigma_w2s.size), np.nan)
    for i, depth in enumerate(depths):
        path = base / f"{prefix}{depth}.csv"
        if not path.is_file():
            continue
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
        values = [float(r[1]) for j, r in enumerate(rows, 1) if j % every == 0]
        accuracy[i, : min(len(values), sigma_w2s.size)] = values[: sigma_w2s.size]
    return depths - 1, sigma_w2s, accuracy


def fit_published(root, *, n_boot: int = 500, seed: int = 0) -> dict:
    """The rules and the best multiples of :math:`\\xi_1` and :math:`\\xi_2` for every published map.

    A cell counts as trained above the midpoint between chance (0.1) and the map's best accuracy.
    Returns ``{panel: {...}}`` (JSON-ready) with the agreement of ``12·xi_1``, ``6·xi_2``, ``12·xi_2`` and,
    per depth scale, the best multiple, its bootstrap standard error, its 16-84 % interval and its agreement.
    """
    from . import analysis

    out, cache = {}, {}
    n_boot, seed = check_int("n_boot", n_boot, 2), check_int("seed", seed, 0)
    for panel, (_, _, keep, what, _) in PUBLISHED_PANELS.items():
        depths, sws, acc = read_published_heatmap(root, panel)
        ok = np.isfinite(acc)
        threshold = 0.5 * (0.1 + float(np.nanmax(acc)))
        trained = ok & (acc > threshold)
        if keep not in cache:
            cache[keep] = analysis.huang_depth_scales(sws, keep)
        scales = cache[keep]
        L = np.broadcast_to(depths[:, None], acc.shape)
        entry = {"keep_prob": keep, "setting": what, "n_cells": int(ok.sum()), "threshold": round(threshold, 6),
                 "trained_fraction": round(float(trained[ok].mean()), 6), "agreement": {}, "fits": {}}
        for rule, k, scale in (("12·xi_1", 12, "xi_1"), ("6·xi_2", 6, "xi_2"), ("12·xi_2", 12, "xi_2")):
            predicted = L <= k * np.broadcast_to(scales[scale][None, :], acc.shape)
            entry["agreement"][rule] = round(float((predicted == trained)[ok].mean()), 6)
        for scale, xi in scales.items():
            fit = analysis.fit_depth_scale_multiple(L[ok], np.broadcast_to(xi[None, :], acc.shape)[ok], trained[ok],
                                                    n_boot=n_boot, seed=seed)
            entry["fits"][scale] = {"multiple": round(fit.multiple, 6), "stderr": round(fit.stderr, 6),
                                    "interval": [round(v, 6) for v in fit.interval],
                                    "agreement": round(fit.agreement, 6)}
        out[panel] = entry
    return out


def write_published_fits(root, out=None, *, commit: str | None = None, command: str | None = None) -> Path:
    """Fit every published map (:func:`fit_published`) and store the fits (not their data) with provenance
    in ``results/trainable_length/huang2020_published_fits.json``."""
    import datetime as _dt

    from .storage import code_version, write_json_atomic

    fits = fit_published(root)
    path = (results_dir() if out is None else check_path("out", out))
    path = check_writable_dir("out", path) / "huang2020_published_fits.json"
    record = {"format": PUBLISHED_FORMAT, "panels": fits,
              "provenance": {"source": PUBLISHED_REPOSITORY + "/tree/" + (commit or "unknown") + "/data/heatmap",
                             "command": command or shlex.join(["python", "-m", "nsp_helpers.trainable_length", *sys.argv[1:]]),
                             "code_version": code_version(),
                             "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}}
    return write_json_atomic(record, path)


def stored_published_fits(*, root=None):
    """The stored fits of Huang et al.'s published maps (:func:`write_published_fits`), or ``None``."""
    from .storage import read_json

    path = (results_dir() if root is None else check_path("root", root)) / "huang2020_published_fits.json"
    if not path.is_file():
        return None
    record = read_json(path, f"{PUBLISHED_FORMAT} file")
    if record.get("format") != PUBLISHED_FORMAT or not isinstance(record.get("panels"), dict):
        from .errors import DamagedFileError

        raise DamagedFileError(f"{path} is not a {PUBLISHED_FORMAT} file", path)
    return record


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m nsp_helpers.trainable_length",
        description="Huang et al.'s trainable-length grid (tanh dropout networks over sigma_w2 and depth), trained by "
        "nsp_helpers.train and stored in results/trainable_length/; re-running an interrupted command resumes it.",
    )
    p.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    p.add_argument("--dataset", choices=("mnist", "cifar10", "synthetic"), default="mnist")
    p.add_argument("--out", default=None, help="output folder (default: the repository's results/trainable_length)")
    p.add_argument("--shard", default=None, help="train slice k of n of the grid, 'k/n'")
    p.add_argument("--device", default=None)
    p.add_argument("--checkpoint-dir", default=None)
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    g = p.add_argument_group("overrides of the profile (recorded in the results and in the file name's hash)")
    g.add_argument("--keep-probs", type=train.comma_separated_floats)
    g.add_argument("--sigma-w2s", type=train.comma_separated_floats)
    g.add_argument("--depths", type=train.comma_separated_ints)
    g.add_argument("--weights", choices=train.WEIGHT_KINDS)
    g.add_argument("--epochs", type=int, dest="n_epochs", help="recorded epochs (steps = epochs x steps-per-epoch)")
    g.add_argument("--steps-per-epoch", type=int)
    g.add_argument("--width", type=int)
    g.add_argument("--lr", type=float)
    g.add_argument("--seed", type=int)
    g.add_argument("--n-examples", type=int)
    p.add_argument("--fit-published", metavar="PATH", default=None,
                   help="instead of training: fit the accuracy maps stored in a copy of Huang et al.'s repository at PATH "
                        "and store the fits (not the data) in results/trainable_length/")
    p.add_argument("--published-commit", default=None, help="the commit of that copy (recorded in the provenance)")
    return p


def main(argv=None) -> int:
    """Command-line entry point (``python -m nsp_helpers.trainable_length``)."""
    command = None if argv is None else shlex.join(["python", "-m", "nsp_helpers.trainable_length", *argv])
    if command is None:
        command = shlex.join(["python", "-m", "nsp_helpers.trainable_length", *sys.argv[1:]])
    args = _parser().parse_args(argv)
    if args.fit_published is not None:
        path = write_published_fits(args.fit_published, args.out, commit=args.published_commit, command=command)
        print(f"fits: {path}")
        return 0
    overrides = {k: getattr(args, k) for k in ("keep_probs", "sigma_w2s", "depths", "weights", "n_epochs", "steps_per_epoch",
                                               "width", "lr", "seed", "n_examples")}
    config = profile_config(args.profile, args.dataset, **overrides)
    out = check_writable_dir("--out", results_dir() if args.out is None else args.out)
    if args.threads is not None:
        import torch

        torch.set_num_threads(check_int("--threads", args.threads, 1, 4096))
    path = train.run(config, out, profile=args.profile, shard=args.shard, device=args.device, checkpoint_dir=args.checkpoint_dir,
                     progress=not args.no_progress, command=command, overwrite=args.overwrite)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
