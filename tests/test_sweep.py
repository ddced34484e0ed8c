"""The hostile sweep (tests/sweep.py) over every public callable of the package that takes parameters.

Covered here: errors, noise, data, storage, train (configuration, data preparation, optimisers, results,
orchestration and the model builders) and variance_depth (configuration, checkpoints, results); the
numeric modules (theory, network, forward, simulate, fits, analysis, init, activations, device, widgets,
plots) have their targets in ``tests/sweep_numeric.py``. A new module joins by adding its targets to
:func:`build_targets` and its module to :data:`MODULES`; callables of a swept module without a target are
listed by the report and fail :func:`test_every_public_callable_has_a_target`.

The default run samples the hostile values (the core ones and a few more per parameter, a few
hypothesis draws); ``-m slow`` runs :func:`test_exhaustive_sweep` over all of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nsp_helpers import data, errors, noise, storage, train
from nsp_helpers import variance_depth as vd

from sweep import Target, sweep
from sweep_numeric import NUMERIC_MODULES, numeric_targets

MODULES = {"errors": errors, "noise": noise, "data": data, "storage": storage, "train": train, "variance_depth": vd,
           **NUMERIC_MODULES}

#: Callables of the swept modules that take no numeric, boolean or choice parameter a user passes
#: (or only objects checked elsewhere); listed so that a new public callable is noticed.
NOT_SWEPT = [
    "errors.check_choice", "errors.check_path", "errors.check_memory", "errors.caller_sizes", "errors.describe",
    "errors.storage_error",
    "noise.NoiseModel", "noise.NoNoise",
    "data.CHECKSUMS",
    "storage.atomic_write", "storage.write_json_atomic", "storage.code_version", "storage.default_checkpoint_dir",
    "storage.DamagedFileWarning", "storage.RunLockedError", "storage.device_description", "storage.command_line",
    "storage.provenance",
    "train.grid_cells", "train.write_results", "train.load_results", "train.results_dir", "train.merge_results",
    "train.main", "train.TrainConfig.from_dict",
    "variance_depth.VarianceDepthResult", "variance_depth.VarianceDepthResult.from_dict", "variance_depth.FailureStatistics", "variance_depth.load_result",
    "variance_depth.main",
]


def _tiny_train(**kw):
    return dict(dict(depths=(1,), keep_probs=(1.0,), width=4, dataset="synthetic", n_examples=20, n_epochs=1), **kw)


def build_targets(tmp: Path) -> dict:
    """``{"module.callable": [Target, ...]}`` with valid baselines (files go under ``tmp``)."""
    cfg = train.TrainConfig(**_tiny_train())
    prepared = train.prepare_data(cfg)
    params = [torch.nn.Parameter(torch.zeros(2, 3))]
    results = train.train_grid(cfg, prepared, device="cpu", progress=False)
    sigma_results = train.train_grid(train.TrainConfig(**_tiny_train(sigma_w2s=(1.0, 2.0), activation="tanh")), prepared,
                                     device="cpu", progress=False)
    images = torch.rand(6, 5, generator=torch.Generator().manual_seed(0))
    vd_result = vd.run_variance_depth(images, noise.Dropout(0.6), [1.0, 2.0], width=6, max_layers=4, device="cpu")
    (tmp / "data").mkdir(parents=True, exist_ok=True)
    json_file = storage.write_json_atomic({"a": 1}, tmp / "r.json")
    T = Target
    targets = {
        # --- errors: the checks themselves (the message names the ``name`` they are given) -----------------
        "errors.check_in_range": [T("errors.check_in_range", errors.check_in_range, dict(name="x", value=0.5, low=0, high=1),
                                    params={"value": "reals"}, names={"value": ("x",)})],
        "errors.check_float": [T("errors.check_float", errors.check_float, dict(name="x", value=0.5, low=0, high=1),
                                 params={"value": "real"}, names={"value": ("x",)})],
        "errors.check_int": [T("errors.check_int", errors.check_int, dict(name="n", value=3, low=0),
                               params={"value": "int"}, names={"value": ("n",)})],
        "errors.as_float_array": [T("errors.as_float_array", errors.as_float_array, dict(name="x", value=[0.5]),
                                    params={"value": "reals"}, names={"value": ("x",)})],
        "errors.as_real_tensor": [T("errors.as_real_tensor", errors.as_real_tensor, dict(name="x", value=[[0.5]], ndim=2),
                                    params={"value": "reals"}, names={"value": ("x",)})],
        "errors.check_bool": [T("errors.check_bool", errors.check_bool, dict(name="b", value=True),
                                params={"value": "bool"}, names={"value": ("b",)})],
        "errors.check_ints": [T("errors.check_ints", errors.check_ints, dict(name="seeds", values=[1, 2], low=0),
                                params={"values": "ints"}, names={"values": ("seeds",)}, ranges={"values": (0, 2**63 - 1)})],
        "errors.check_objects": [T("errors.check_objects", errors.check_objects,
                                   dict(name="noises", value=[noise.Dropout(0.5)], cls=noise.NoiseModel, what="noise models"),
                                   params={"value": "object"}, names={"value": ("noises",)})],
        # --- noise ---------------------------------------------------------------------------------------
        "noise.Dropout": [T("noise.Dropout", noise.Dropout, dict(keep_prob=0.5), params={"keep_prob": "reals"})],
        "noise.Dropout.from_drop_prob": [T("noise.Dropout.from_drop_prob", noise.Dropout.from_drop_prob, dict(drop_prob=0.4),
                                           params={"drop_prob": "reals"})],
        "noise.Dropout.from_torch": [T("noise.Dropout.from_torch", noise.Dropout.from_torch, dict(module=torch.nn.Dropout(0.4)),
                                       params={"module": "object"})],
        "noise.MultiplicativeGaussian": [T("noise.MultiplicativeGaussian", noise.MultiplicativeGaussian, dict(std=0.5), params={"std": "reals"})],
        "noise.AdditiveGaussian": [T("noise.AdditiveGaussian", noise.AdditiveGaussian, dict(std=0.5), params={"std": "reals"})],
        "noise.MultiplicativeLaplace": [T("noise.MultiplicativeLaplace", noise.MultiplicativeLaplace, dict(scale=0.5), params={"scale": "reals"})],
        "noise.AdditiveLaplace": [T("noise.AdditiveLaplace", noise.AdditiveLaplace, dict(scale=0.5), params={"scale": "reals"})],
        "noise.MultiplicativePoisson": [T("noise.MultiplicativePoisson", noise.MultiplicativePoisson, dict(rate=1.0), params={"rate": "reals"})],
        "noise.as_noise_model": [T("noise.as_noise_model", noise.as_noise_model, dict(noise=noise.Dropout(0.5)), params={"noise": "object"})],
        # --- data ----------------------------------------------------------------------------------------
        "data.synthetic_dataset": [T("data.synthetic_dataset", data.synthetic_dataset, dict(n_examples=8, n_features=4, n_classes=3, seed=0))],
        "data.data_dir": [T("data.data_dir", data.data_dir, dict(root=str(tmp)), params={"root": "path"}, none_ok=("root",))],
        "data.load_mnist": [T("data.load_mnist", data.load_mnist, dict(root=str(tmp / "data"), split="test", download=False),
                              params={"split": "choice", "download": "bool", "root": "path"}, baseline_raises=data.DataNotFoundError,
                              none_ok=("root",))],
        "data.load_cifar10": [T("data.load_cifar10", data.load_cifar10, dict(root=str(tmp / "data"), split="test", download=False),
                                params={"split": "choice", "download": "bool", "root": "path"}, baseline_raises=data.DataNotFoundError,
                              none_ok=("root",))],
        # --- storage -------------------------------------------------------------------------------------
        "storage.config_hash": [T("storage.config_hash", storage.config_hash, dict(config={"a": 1}, length=10), params={"length": "int"})],
        "storage.read_json": [T("storage.read_json", storage.read_json, dict(path=str(json_file)), params={"path": "path"})],
        "storage.check_writable_dir": [T("storage.check_writable_dir", storage.check_writable_dir, dict(name="out", path=str(tmp / "w")),
                                         params={"path": "path"}, names={"path": ("out",)})],
        "storage.clean_stale_temporaries": [T("storage.clean_stale_temporaries", storage.clean_stale_temporaries,
                                              dict(path=str(tmp / "x.json"), min_age_s=60.0), params={"path": "path", "min_age_s": "real"})],
        "storage.move_aside": [T("storage.move_aside", storage.move_aside, dict(path=str(tmp / "missing.pt"), reason="test"),
                                 params={"path": "path"}, baseline_raises=OSError)],
        "storage.RunLock": [T("storage.RunLock", lambda path: storage.RunLock(path).acquire().release(),
                              dict(path=str(tmp / "l.lock")), params={"path": "path"})],
        # --- train: configuration and orchestration ----------------------------------------------------------
        "train.TrainConfig": [T("train.TrainConfig", train.TrainConfig, _tiny_train(depths=(1, 2), keep_probs=(0.5, 1.0)),
                                params={"depths": "ints", "keep_probs": "reals", "width": "int", "lr": "real", "batch_size": "int",
                                        "n_epochs": "int", "n_examples": "int", "val_fraction": "real", "seed": "int",
                                        "split_seed": "int", "sigma_b2": "real", "pool": "int", "dataset": "choice",
                                        "task": "choice", "optimizer": "choice", "activation": "choice", "weights": "choice",
                                        "sigma_w2s": "reals", "steps_per_epoch": "int"},
                                none_ok=("n_examples", "sigma_w2s", "steps_per_epoch"))],
        "train.TrainConfig.hash": None,
        "train.profile_config": [T("train.profile_config", train.profile_config, dict(profile="quick", dataset="mnist", task="classify", width=8),
                                   params={"profile": "choice", "dataset": "choice", "task": "choice", "width": "int"},
                                   none_ok=("width",))],
        "train.parse_shard": [T("train.parse_shard", train.parse_shard, dict(text="0/2"), params={"text": "text"}, names={"text": ("shard",)})],
        "train.shard_cells": [T("train.shard_cells", train.shard_cells, dict(cells=[(1, 0.5), (2, 0.5)], shard=0, n_shards=2))],
        "train.pool_images": [T("train.pool_images", train.pool_images, dict(images=np.ones((2, 16)), pool=2),
                                params={"images": "reals", "pool": "int"})],
        "train.prepare_data": [T("train.prepare_data", train.prepare_data,
                                 dict(config=cfg, images=np.ones((20, 4)), labels=np.arange(20) % 3),
                                 params={"images": "reals", "labels": "ints"})],
        "train.synthetic_dataset": [T("train.synthetic_dataset", train.synthetic_dataset, dict(n_examples=8, n_features=4, n_classes=3, seed=0))],
        "train.per_network_loss": [T("train.per_network_loss", train.per_network_loss,
                                     dict(outputs=torch.zeros(2, 1, 3), x=torch.ones(1, 3), y=torch.zeros(1, dtype=torch.long), task="reconstruct"),
                                     params={"task": "choice"})],
        "train.StackedSGD": [T("train.StackedSGD", train.StackedSGD, dict(params=params, lr=0.1), params={"lr": "real"})],
        "train.StackedAdam": [T("train.StackedAdam", train.StackedAdam, dict(params=params, lr=0.1, betas=(0.9, 0.999), eps=1e-8),
                                params={"lr": "real", "betas": "pair", "eps": "real"}, names={"betas": ("betas",)})],
        "train.make_optimizer": [T("train.make_optimizer", train.make_optimizer, dict(name="adam", params=params, lr=0.1),
                                   params={"name": "choice", "lr": "real"}, names={"name": ("optimizer",)})],
        "train.train_grid": [T("train.train_grid", train.train_grid,
                               dict(config=cfg, data=prepared, cells=[(1, 1.0)], device="cpu", progress=False, keep_checkpoint=False),
                               params={"cells": "pair", "progress": "bool", "keep_checkpoint": "bool"}, none_ok=("cells",))],
        "train.baselines": [T("train.baselines", train.baselines, dict(data=prepared, task="reconstruct"), params={"task": "choice"})],
        "train.results_grid": [T("train.results_grid", train.results_grid, dict(results=results, metric="val_loss", epoch=-1),
                                 params={"metric": "choice", "epoch": "int"})],
        "train.results_sigma_grid": [T("train.results_sigma_grid", train.results_sigma_grid,
                                       dict(results=sigma_results, metric="val_loss", epoch=-1, keep_prob=1.0),
                                       params={"metric": "choice", "epoch": "int", "keep_prob": "real"}, none_ok=("keep_prob",))],
        "train.stored_results": [T("train.stored_results", train.stored_results, dict(dataset="mnist", task="reconstruct", root=str(tmp), profiles=("quick",)),
                                   params={"dataset": "choice", "task": "choice", "root": "path"}, none_ok=("root",))],
        "train.results_name": [T("train.results_name", train.results_name, dict(config=cfg, profile="quick", shard=(0, 2)),
                                 params={"profile": "text", "shard": "pair"}, none_ok=("shard",))],
        "train.run": [T("train.run", train.run, dict(config=cfg, out_dir=str(tmp / "out"), profile="sweep", shard=None, device="cpu",
                                                    checkpoint_dir=str(tmp / "ckpt"), progress=False, overwrite=False),
                        params={"out_dir": "path", "profile": "text", "shard": "pair", "progress": "bool", "overwrite": "bool",
                                "checkpoint_dir": "path"}, none_ok=("shard", "checkpoint_dir"))],
        "train.default_checkpoint_dir": None,
        # --- variance depth ------------------------------------------------------------------------------
        "variance_depth.layer_caps": [T("variance_depth.layer_caps", vd.layer_caps,
                                        dict(sigma_w2=[0.6, 2.0], noise=noise.Dropout(0.6), q_in=0.5, max_layers=50, depth_factor=1.1),
                                        params={"sigma_w2": "reals", "q_in": "real", "max_layers": "int", "depth_factor": "real", "noise": "object"})],
        "variance_depth.run_variance_depth": [T("variance_depth.run_variance_depth", vd.run_variance_depth,
                                                dict(images=images, noise=noise.Dropout(0.6), sigma_w2=[1.0, 2.0], width=6, max_layers=4,
                                                     depth_factor=1.1, batch_size=4, seed=0, device="cpu", dataset="demo",
                                                     checkpoint_every=2, keep_checkpoint=False),
                                                params={"images": "reals", "noise": "object", "sigma_w2": "reals", "width": "int",
                                                        "max_layers": "int", "depth_factor": "real", "batch_size": "int", "seed": "int",
                                                        "checkpoint_every": "int", "keep_checkpoint": "bool", "dataset": "text"},
                                                nan_ok="q is NaN beyond a row's layers and once float32 overflowed (documented)")],
        "variance_depth.VarianceDepthResult.theory_log_q": [T("variance_depth.VarianceDepthResult.theory_log_q", vd_result.theory_log_q,
                                                              dict(q0=1.0), params={"q0": "real"}, none_ok=("q0",))],
        "variance_depth.save_result": [T("variance_depth.save_result", vd.save_result, dict(result=vd_result, path=str(tmp / "vd.json"), wall_s=1.0),
                                         params={"wall_s": "real", "path": "path"}, none_ok=("wall_s",))],
        "variance_depth.results_name": [T("variance_depth.results_name", vd.results_name,
                                          dict(config={"dataset": "mnist", "split": "train", "n_images": 64}), params={"config": "object"})],
    }
    for name in NOT_SWEPT:
        targets.setdefault(name, None)
    targets.update(numeric_targets())
    return targets


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    rep = sweep(MODULES, build_targets(tmp), hypothesis_examples=2, sample=1, variants=2, timeout_s=60)
    print("\n" + rep.table() + "\nslowest: " + rep.slowest() + "\n" + rep.summary())
    return rep


def test_every_public_callable_has_a_target(report):
    assert report.uncovered == [], f"add targets (or NOT_SWEPT entries) for {report.uncovered}"
    assert report.baseline_failures == []


def test_no_bad_value_is_accepted_silently(report):
    silent = [c for c in report.cases if c.outcome in ("silent", "nan", "wrong")]
    assert not silent, "\n".join(f"{c.target}({c.param}={c.label}): {c.outcome} {c.detail}" for c in silent[:40])


def test_every_error_names_the_parameter(report):
    unclear = [c for c in report.cases if c.outcome == "unclear"]
    assert not unclear, "\n".join(f"{c.target}({c.param}={c.label}): {c.detail}" for c in unclear[:40])


def test_the_sweep_classifies_a_broken_function():
    """The harness itself: a function that accepts anything, one that raises unclear errors, one that checks."""

    def silent(x=1.0):
        return float("nan") if x != x else 0.0

    def unclear(x=1.0):
        return 1.0 / (x - x) if x != 1.0 else 0.0

    def checked(x=1.0):
        return errors.check_float("x", x, 0, 2)

    targets = {"t.silent": [Target("t.silent", silent, dict(x=1.0))], "t.unclear": [Target("t.unclear", unclear, dict(x=1.0))],
               "t.checked": [Target("t.checked", checked, dict(x=1.0))]}
    rep = sweep({}, targets, hypothesis_examples=5)
    by = {name: {c.outcome for c in rep.cases if c.target == name} for name in targets}
    assert "silent" in by["t.silent"] and "unclear" in by["t.unclear"]
    assert by["t.checked"] <= {"clear", "accepted"} and "clear" in by["t.checked"]


@pytest.mark.slow
def test_exhaustive_sweep(tmp_path):
    """Every hostile value of every parameter, and more hypothesis draws: nothing silent, nothing unclear."""
    rep = sweep(MODULES, build_targets(tmp_path), hypothesis_examples=20, timeout_s=30)
    print("\n" + rep.table())
    assert rep.uncovered == [] and rep.baseline_failures == []
    assert not rep.problems(), "\n".join(f"{c.outcome} {c.target}({c.param}={c.label}): {c.detail}" for c in rep.problems()[:60])
