"""The trainer generalised for Huang et al.'s trainable-length experiment (weight variances per cell, tanh,
orthogonal weights, a step budget), and the unchanged ReLU-dropout grid."""

from __future__ import annotations

import json

import pytest
import torch

from nsp_helpers import train
from nsp_helpers.errors import InvalidParameterError

#: Computed by the trainer before it was generalised (commit c95920b), same machine: every number of
#: two small critical ReLU-dropout grids (SGD reconstruction, Adam classification), and their hashes.
PINNED = json.loads('{"reconstruct": {"hash": "42edfe059a", "cells": [[1, 0.5, 1.0, 2128, [1.06483, 0.787758], [0.48033, 0.448456], null], [1, 1.0, 2.0, 2128, [0.80697, 0.686516], [0.658204, 0.57524], null], [3, 0.5, 1.0, 2672, [1.06304, 0.796846], [0.380401, 0.367943], null], [3, 1.0, 2.0, 2672, [0.761475, 0.563503], [0.723122, 0.577937], null]]}, "classify": {"hash": "92efc7829a", "cells": [[1, 0.5, 1.0, 1210, [2.70244, 2.36479], [2.20718, 2.32521], [0.333333, 0.0]], [1, 1.0, 2.0, 1210, [2.49107, 1.97433], [2.07644, 1.72189], [0.333333, 0.333333]], [3, 0.5, 1.0, 1754, [2.33503, 2.4205], [2.43776, 2.34801], [0.0, 0.0]], [3, 1.0, 2.0, 1754, [2.21753, 1.84473], [1.852, 1.44318], [0.5, 0.5]]]}}')


def _pinned_config(task):
    return train.TrainConfig(depths=(1, 3), keep_probs=(0.5, 1.0), width=16, dataset="synthetic", n_examples=60, n_epochs=2,
                             batch_size=16, task=task, optimizer="sgd" if task == "reconstruct" else "adam", lr=0.01)


@pytest.mark.parametrize("task", ["reconstruct", "classify"])
def test_relu_dropout_grid_trains_to_the_same_numbers_as_before(task):
    cfg = _pinned_config(task)
    assert cfg.hash() == PINNED[task]["hash"]  # names of stored results unchanged
    assert set(cfg.to_dict()) == {"depths", "keep_probs", "width", "dataset", "task", "optimizer", "lr", "batch_size",
                                  "n_epochs", "n_examples", "val_fraction", "seed", "split_seed", "sigma_b2", "pool"}
    res = train.train_grid(cfg, device="cpu", progress=False)
    got = [(c["depth"], c["keep_prob"], c["sigma_w2"], c["n_parameters"], c["train_loss"], c["val_loss"], c.get("val_accuracy"))
           for c in res["cells"]]
    for cell, expected in zip(got, PINNED[task]["cells"]):
        assert cell[:4] == tuple(expected[:4])
        for a, b in zip(cell[4:], expected[4:]):
            assert (a is None and b is None) or a == pytest.approx(b, rel=1e-5)


def _huang_config(**kw):
    settings = dict(depths=(2, 4), keep_probs=(0.9,), sigma_w2s=(1.0, 2.5), width=12, dataset="synthetic", n_examples=80,
                    n_epochs=2, batch_size=20, task="classify", optimizer="sgd", lr=0.05, sigma_b2=0.05, activation="tanh",
                    weights="orthogonal", steps_per_epoch=3)
    settings.update(kw)
    return train.TrainConfig(**settings)


def test_sigma_w2_grid_cells_networks_and_results():
    cfg = _huang_config()
    assert cfg.n_networks == 4 and train.grid_cells(cfg)[:2] == [(2, 0.9, 1.0), (2, 0.9, 2.5)]
    assert cfg.to_dict()["sigma_w2s"] == [1.0, 2.5] and train.TrainConfig.from_dict(cfg.to_dict()) == cfg
    net = train.cell_network(4, 0.9, 10, 3, 12, sigma_b2=0.05, sigma_w2=2.5, activation="tanh", weights="orthogonal")
    assert (net.sigma_w2, net.activation.name, net.weights, net.sigma_b2) == (2.5, "tanh", "orthogonal", 0.05)
    assert train.cell_seed(0, 4, 0.9, 2.5) != train.cell_seed(0, 4, 0.9, 1.0) != train.cell_seed(0, 4, 0.9)
    res = train.train_grid(cfg, device="cpu", progress=False)
    assert [(c["depth"], c["sigma_w2"]) for c in res["cells"]] == [(2, 1.0), (2, 2.5), (4, 1.0), (4, 2.5)]
    assert all(len(c["val_accuracy"]) == 2 for c in res["cells"])
    depths, sws, acc = train.results_sigma_grid(res)
    assert depths.tolist() == [2, 4] and sws.tolist() == [1.0, 2.5] and acc.shape == (2, 2)
    with pytest.raises(InvalidParameterError, match="results_sigma_grid"):
        train.results_grid(res, "val_accuracy")


def test_orthogonal_tanh_model_weights():
    model, order = train.grid_model([(3, 1.0, 2.0)], d_in=12, d_out=3, width=12, activation="tanh", weights="orthogonal",
                                    device="cpu")
    w = model.weights[1][0].detach().double()
    torch.testing.assert_close(w.T @ w, 2.0 * torch.eye(12, dtype=torch.float64), atol=1e-5, rtol=0)


def test_step_budget_counts_steps_not_epochs(monkeypatch):
    cfg = _huang_config(n_epochs=2, steps_per_epoch=5)
    calls = []
    original = train.StackedSGD.step

    def counting(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(train.StackedSGD, "step", counting)
    train.train_grid(cfg, device="cpu", progress=False)
    assert len(calls) == 10


def test_step_budget_run_resumes_and_round_trips(tmp_path):
    cfg = _huang_config()
    full = train.train_grid(cfg, device="cpu", progress=False)
    ckpt = tmp_path / "c.pt"

    class Stop(Exception):
        pass

    def stop(epoch, history):
        raise Stop

    with pytest.raises(Stop):
        train.train_grid(cfg, device="cpu", progress=False, checkpoint=ckpt, on_epoch_end=stop)
    resumed = train.train_grid(cfg, device="cpu", progress=False, checkpoint=ckpt)
    assert [c["val_accuracy"] for c in resumed["cells"]] == [c["val_accuracy"] for c in full["cells"]]
    path = train.run(cfg, tmp_path, profile="cpu", device="cpu", checkpoint_dir=tmp_path, progress=False)
    loaded = train.load_results(path)
    assert loaded["config"]["weights"] == "orthogonal" and loaded["cells"][3]["sigma_w2"] == 2.5


def test_cli_overrides_and_shards_of_a_sigma_grid(tmp_path):
    args = ["--profile", "quick", "--dataset", "synthetic", "--task", "classify", "--depths", "1,2", "--keep-probs", "1",
            "--sigma-w2s", "1,2", "--activation", "tanh", "--weights", "orthogonal", "--sigma-b2", "0.05",
            "--steps-per-epoch", "2", "--epochs", "1", "--width", "8", "--n-examples", "40", "--out", str(tmp_path),
            "--checkpoint-dir", str(tmp_path), "--no-progress"]
    for k in range(2):
        assert train.main(args + ["--shard", f"{k}/2"]) == 0
    shards = sorted(tmp_path.glob("*_shard*.json"))
    merged = train.merge_results(shards)
    assert [(c["depth"], c["sigma_w2"]) for c in merged["cells"]] == [(1, 1.0), (1, 2.0), (2, 1.0), (2, 2.0)]
    assert merged["config"]["activation"] == "tanh" and merged["config"]["steps_per_epoch"] == 2


@pytest.mark.parametrize("kw,name", [({"sigma_w2s": (1.0, -1.0)}, "sigma_w2s"), ({"sigma_w2s": (1.0, 1.0)}, "sigma_w2s"),
                                     ({"sigma_w2s": ()}, "sigma_w2s"), ({"activation": "sigmoid"}, "activation"),
                                     ({"weights": "uniform"}, "weights"), ({"steps_per_epoch": 0}, "steps_per_epoch")])
def test_bad_new_fields_are_refused(kw, name):
    with pytest.raises(InvalidParameterError, match=name):
        _huang_config(**kw)
