"""Tests of the batched trainer (nsp_helpers.train), chapter *Trainable depth on real data*.

All tests use small synthetic data; none downloads anything.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nsp_helpers import train
from nsp_helpers.errors import InvalidParameterError


def tiny_config(**overrides):
    settings = dict(
        depths=(1, 3), keep_probs=(0.5, 1.0), width=8, dataset="synthetic", n_examples=96,
        n_epochs=3, batch_size=16, optimizer="sgd", lr=0.05,
    )
    settings.update(overrides)
    return train.TrainConfig(**settings)


def reference_network(model, index):
    """Network ``index`` of a grid model as plain torch.nn.Linear layers (same weights)."""
    layers = []
    for w, b in model.network_layers(index):
        lin = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(w)
            lin.bias.copy_(b)
        layers.append(lin)
    return layers


def reference_forward(layers, x, masks, index):
    """Plain forward of one network: dropout multipliers masks[l][index] on the input and after each ReLU."""
    h = x * masks[0][index] if masks is not None else x
    for l, lin in enumerate(layers[:-1], start=1):
        h = torch.relu(lin(h))
        if masks is not None:
            h = h * masks[l][index]
    return layers[-1](h)


def recorded_masks(n_networks, depths):
    """An ``on_layer`` callback that keeps the dropout multipliers the grid model drew, per layer and network.

    ``masks[0]`` is the input's, ``masks[l]`` the one after hidden layer ``l`` (read-out input included),
    each a list over networks (networks that have no such layer get ``None``).
    """
    masks = [[None] * n_networks for _ in range(max(depths) + 1)]

    def on_layer(layer, h, x, eps):
        if layer == 0:
            return
        if layer == "readout":  # the read-out input of network g is the mask after its last hidden layer
            for g, depth in enumerate(depths):
                masks[depth][g] = eps[g].detach().clone()
            return
        for g in range(eps.shape[0]):  # the input of hidden layer `layer` carries the mask after layer - 1
            masks[layer - 1][g] = eps[g].detach().clone()

    return masks, on_layer


# --------------------------------------------------------------------------------------------------
# equivalence: batched = each network trained alone
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("task", ["reconstruct", "classify"])
def test_batched_steps_equal_plain_torch_models_with_same_masks(optimizer, task):
    cells = [(4, 0.5), (2, 0.8), (2, 1.0), (1, 0.3)]
    d_in, width = 6, 5
    d_out = d_in if task == "reconstruct" else 3
    model, order = train.grid_model(cells, d_in, d_out, width, seed=3, device="cpu")
    assert order == [0, 1, 2, 3] and model.depths == [4, 2, 2, 1]
    opt = train.make_optimizer(optimizer, list(model.weights) + list(model.biases), lr=0.01)
    refs = [reference_network(model, i) for i in range(len(cells))]
    torch_opt = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
    ref_opts = [torch_opt([p for lin in layers for p in lin.parameters()], lr=0.01) for layers in refs]
    g = torch.Generator().manual_seed(0)
    for step in range(4):
        x = torch.rand(7, d_in, generator=g)
        y = torch.randint(0, 3, (7,), generator=g)
        masks, on_layer = recorded_masks(len(cells), model.depths)
        out = model(x, generator=step, on_layer=on_layer, record_noise=True)
        losses = train.per_network_loss(out, x, y, task)
        opt.zero_grad()
        losses.sum().backward()
        opt.step()
        for i, layers in enumerate(refs):
            out_ref = reference_forward(layers, x, masks, i)
            if task == "reconstruct":
                ref_loss = torch.nn.functional.mse_loss(out_ref, x)
            else:
                ref_loss = torch.nn.functional.cross_entropy(out_ref, y)
            assert torch.allclose(losses[i], ref_loss, rtol=1e-5, atol=1e-7), (step, i)
            ref_opts[i].zero_grad()
            ref_loss.backward()
            ref_opts[i].step()
    for i, layers in enumerate(refs):
        for (w, b), lin in zip(model.network_layers(i), layers):
            torch.testing.assert_close(w, lin.weight.detach(), rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(b, lin.bias.detach(), rtol=1e-5, atol=1e-6)
    # the networks did change (the comparison above is not trivially between initial weights)
    start, _ = train.grid_model(cells, d_in, d_out, width, seed=3, device="cpu")
    assert not torch.allclose(start.network_layers(0)[0][0], model.network_layers(0)[0][0])


def test_sampled_dropout_has_keep_prob_and_inverted_scale():
    keeps = [0.2, 0.7, 1.0]
    model, _ = train.grid_model([(1, k) for k in keeps], 2000, 1, 8, device="cpu")
    masks, on_layer = recorded_masks(3, model.depths)
    with torch.no_grad():
        model(torch.ones(50, 2000), generator=1, on_layer=on_layer, record_noise=True)
    for i, keep in enumerate(keeps):
        eps = masks[0][i]  # the input's dropout multipliers
        kept = eps != 0
        assert abs(kept.float().mean().item() - keep) < 0.01
        torch.testing.assert_close(eps[kept], torch.full_like(eps[kept], 1 / keep))
        assert abs(eps.mean().item() - 1.0) < 0.02  # inverted dropout keeps the mean


@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.05), ("adam", 0.01)])
def test_grid_trained_together_equals_each_network_alone_without_dropout(optimizer, lr):
    cfg = tiny_config(keep_probs=(1.0,), depths=(1, 2, 4), optimizer=optimizer, lr=lr)
    data = train.prepare_data(cfg)
    together = train.train_grid(cfg, data, device="cpu", progress=False)
    for cell in together["cells"]:
        alone = train.train_grid(cfg, data, cells=[(cell["depth"], 1.0)], device="cpu", progress=False)["cells"][0]
        np.testing.assert_allclose(alone["val_loss"], cell["val_loss"], rtol=1e-5)
        np.testing.assert_allclose(alone["train_loss"], cell["train_loss"], rtol=1e-5)


def test_train_grid_loop_equals_plain_torch_training_without_dropout():
    cfg = tiny_config(keep_probs=(1.0,), depths=(2,), n_epochs=2)
    data = train.prepare_data(cfg)
    res = train.train_grid(cfg, data, device="cpu", progress=False)["cells"][0]
    model, _ = train.grid_model([(2, 1.0)], 64, 64, 8, seed=cfg.seed, device="cpu")
    layers = reference_network(model, 0)
    opt = torch.optim.SGD([p for lin in layers for p in lin.parameters()], lr=cfg.lr)
    shuffle = train._shuffle_generator(cfg.seed)
    x_train, x_val = data["x_train"], data["x_val"]
    for epoch in range(cfg.n_epochs):
        perm = torch.randperm(len(x_train), generator=shuffle)
        for start in range(0, len(x_train), cfg.batch_size):
            xb = x_train[perm[start : start + cfg.batch_size]]
            loss = torch.nn.functional.mse_loss(reference_forward(layers, xb, None, 0), xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            val = torch.nn.functional.mse_loss(reference_forward(layers, x_val, None, 0), x_val).item()
        assert res["val_loss"][epoch] == pytest.approx(val, rel=1e-5)


# --------------------------------------------------------------------------------------------------
# initialisation, data, training signal
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("keep_prob", [0.3, 1.0])
def test_init_is_critical_and_reproducible(keep_prob):
    model, _ = train.grid_model([(2, keep_prob)], 300, 300, 400, seed=5, device="cpu")
    assert train.cell_network(2, keep_prob, 300, 300, 400).sigma_w2 == 2 * keep_prob  # exactly
    layers = model.network_layers(0)
    for w, b in layers:
        fan_in = w.shape[1]
        assert w.var().item() * fan_in == pytest.approx(2 * keep_prob, rel=0.02)  # sigma_w2 = 2 p
        assert torch.count_nonzero(b) == 0  # zero biases
    again = train.grid_model([(2, keep_prob)], 300, 300, 400, seed=5, device="cpu")[0].network_layers(0)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(layers, again))
    # a cell's weights depend on (seed, depth, keep_prob) only, not on the other cells of the grid
    shard = train.grid_model([(6, 0.5), (2, keep_prob)], 300, 300, 400, seed=5, device="cpu")[0].network_layers(1)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(layers, shard))
    other = train.grid_model([(2, keep_prob)], 300, 300, 400, seed=6, device="cpu")[0].network_layers(0)
    assert not torch.equal(layers[0][0], other[0][0])


def test_prepare_data_split_is_fixed_and_disjoint():
    images = torch.arange(200, dtype=torch.float32).reshape(100, 2) / 200
    labels = torch.arange(100) % 10
    cfg = tiny_config(n_examples=None)
    a = train.prepare_data(cfg, images=images, labels=labels)
    b = train.prepare_data(train.TrainConfig(**{**cfg.to_dict(), "seed": 9, "depths": (1,), "keep_probs": (1,)}), images=images, labels=labels)
    assert len(a["x_train"]) == 90 and len(a["x_val"]) == 10
    assert torch.equal(a["x_val"], b["x_val"])  # the split ignores the training seed
    rows = {tuple(r.tolist()) for r in a["x_train"]} & {tuple(r.tolist()) for r in a["x_val"]}
    assert not rows


def test_pool_images_averages_blocks_of_colour_images():
    img = torch.rand(2, 3, 4, 4)
    pooled = train.pool_images(img.reshape(2, -1), 2).reshape(2, 3, 2, 2)
    torch.testing.assert_close(pooled[1, 2, 0, 1], img[1, 2, 0:2, 2:4].mean())
    with pytest.raises(InvalidParameterError, match="pool"):
        train.pool_images(torch.rand(1, 48), 3)


def test_training_reduces_the_loss_of_a_shallow_network():
    cfg = tiny_config(depths=(1,), keep_probs=(1.0,), optimizer="adam", lr=1e-2, n_epochs=8, width=32, n_examples=300)
    cell = train.train_grid(cfg, device="cpu", progress=False)["cells"][0]
    assert cell["val_loss"][-1] < 0.5 * cell["val_loss"][0]


# --------------------------------------------------------------------------------------------------
# checkpoints, results files, shards
# --------------------------------------------------------------------------------------------------
def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path):
    cfg = tiny_config(keep_probs=(0.5, 0.9), optimizer="adam", lr=0.01)
    data = train.prepare_data(cfg)
    full = train.train_grid(cfg, data, device="cpu", progress=False, checkpoint=tmp_path / "a.pt")

    class Interrupt(Exception):
        pass

    def stop_after_two(epoch, history):
        if epoch == 2:
            raise Interrupt

    ckpt = tmp_path / "b.pt"
    with pytest.raises(Interrupt):
        train.train_grid(cfg, data, device="cpu", progress=False, checkpoint=ckpt, on_epoch_end=stop_after_two)
    assert ckpt.exists() and torch.load(ckpt, weights_only=False)["epoch"] == 2
    resumed = train.train_grid(cfg, data, device="cpu", progress=False, checkpoint=ckpt)
    assert [c["train_loss"] for c in resumed["cells"]] == [c["train_loss"] for c in full["cells"]]
    assert [c["val_loss"] for c in resumed["cells"]] == [c["val_loss"] for c in full["cells"]]
    assert not ckpt.exists()  # removed after success


def test_checkpoint_of_another_run_is_refused(tmp_path):
    cfg = tiny_config(n_epochs=2)
    ckpt = tmp_path / "c.pt"

    def interrupt(epoch, history):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train.train_grid(cfg, device="cpu", progress=False, checkpoint=ckpt, on_epoch_end=interrupt)
    with pytest.raises(InvalidParameterError, match="another run"):
        train.train_grid(tiny_config(n_epochs=2, lr=0.1), device="cpu", progress=False, checkpoint=ckpt)


CLI_ARGS = ["--dataset", "synthetic", "--profile", "quick", "--epochs", "2", "--n-examples", "120", "--width", "8",
            "--depths", "1,2", "--keep-probs", "0.5,1.0", "--pool", "1", "--no-progress"]


def test_cli_shards_merge_into_the_full_grid(tmp_path):
    out = tmp_path / "results"
    args = CLI_ARGS + ["--out", str(out), "--checkpoint-dir", str(tmp_path / "ckpt")]
    assert train.main(args + ["--shard", "0/2"]) == 0
    assert train.main(args + ["--shard", "1/2"]) == 0
    assert train.main(args) == 0
    shards = sorted(out.glob("*_shard*of2.json"))
    config = train.profile_config("quick", "synthetic", n_epochs=2, n_examples=120, width=8, depths=(1, 2), keep_probs=(0.5, 1.0), pool=1)
    stem = f"synthetic_reconstruct_quick_{config.hash()}"  # names carry the hash of the whole configuration
    assert [p.name for p in shards] == [f"{stem}_shard0of2.json", f"{stem}_shard1of2.json"]
    merged_path = tmp_path / "merged.json"
    assert train.main(["merge", *map(str, shards), "--out", str(merged_path)]) == 0
    merged = train.load_results(merged_path)
    full = train.load_results(out / f"{stem}.json")
    assert [(c["depth"], c["keep_prob"]) for c in merged["cells"]] == [(1, 0.5), (1, 1.0), (2, 0.5), (2, 1.0)]
    assert len(merged["provenance"]["merged_from"]) == 2
    # without dropout, a cell does not depend on which networks share its run (init and batches are per cell)
    for m, f in zip(merged["cells"], full["cells"]):
        if m["keep_prob"] == 1.0:
            np.testing.assert_allclose(m["val_loss"], f["val_loss"], rtol=1e-5)
    # provenance of a single run
    prov = full["provenance"]
    for key in ("command", "code_version", "device", "started", "finished", "wall_time_s", "torch"):
        assert prov[key] not in (None, "")
    assert "nsp_helpers.train" in prov["command"] and "--epochs 2" in prov["command"]
    assert full["config"]["n_epochs"] == 2 and full["config"]["width"] == 8
    assert not list(out.glob("*.tmp"))  # atomic writes leave no temporary files
    with pytest.raises(InvalidParameterError, match="missing"):
        train.merge_results([shards[0]])
    with pytest.raises(InvalidParameterError, match="twice"):
        train.merge_results([shards[0], shards[0], shards[1]])


def test_results_grid_and_load_results(tmp_path):
    cfg = tiny_config(n_epochs=2)
    res = train.train_grid(cfg, device="cpu", progress=False)
    path = train.write_results(res, tmp_path / "r.json")
    loaded = train.load_results(path)
    depths, keeps, values = train.results_grid(loaded, "val_loss")
    assert depths.tolist() == [1, 3] and keeps.tolist() == [0.5, 1.0] and values.shape == (2, 2)
    assert values[1, 0] == loaded["cells"][2]["val_loss"][-1]
    _, _, first = train.results_grid(loaded, "train_loss", epoch=1)
    assert first[0, 1] == loaded["cells"][1]["train_loss"][0]
    with pytest.raises(InvalidParameterError, match="metric"):
        train.results_grid(loaded, "accuracy")
    with pytest.raises(InvalidParameterError, match="epoch"):
        train.results_grid(loaded, epoch=3)
    (tmp_path / "bad.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(InvalidParameterError, match="results file"):
        train.load_results(tmp_path / "bad.json")


def test_classification_records_accuracy():
    cfg = tiny_config(task="classify", n_epochs=2, optimizer="adam", lr=0.01)
    res = train.train_grid(cfg, device="cpu", progress=False)
    acc = np.array([c["val_accuracy"] for c in res["cells"]])
    assert acc.shape == (4, 2) and np.all((acc >= 0) & (acc <= 1))


# --------------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "overrides, name",
    [
        ({"keep_probs": (0.0,)}, "keep_probs"),
        ({"keep_probs": (1.5,)}, "keep_probs"),
        ({"depths": (0,)}, "depths"),
        ({"width": 0}, "width"),
        ({"task": "segment"}, "task"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"lr": -1.0}, "lr"),
    ],
)
def test_bad_config_raises_naming_the_parameter(overrides, name):
    with pytest.raises(InvalidParameterError, match=name):
        tiny_config(**overrides)


def test_bad_model_and_shard_arguments_raise():
    from nsp_helpers.forward import NoisyMLP

    nets = [train.cell_network(d, 1.0, 2, 2, 2) for d in (1, 2)]
    with pytest.raises(InvalidParameterError, match="deepest first"):
        NoisyMLP(nets, [0, 1], device="cpu")
    with pytest.raises(InvalidParameterError, match="shard"):
        train.parse_shard("2")
    with pytest.raises(InvalidParameterError, match="shard"):
        train.shard_cells([(1, 1.0)], 3, 2)
    with pytest.raises(InvalidParameterError, match="profile"):
        train.profile_config("huge")
    with pytest.raises(InvalidParameterError, match="n_examples"):
        train.prepare_data(tiny_config(n_examples=100), images=torch.rand(50, 4), labels=torch.zeros(50, dtype=torch.long))


def test_baselines_are_the_losses_of_trivial_predictors():
    x = torch.tensor([[0.0, 1.0], [1.0, 1.0], [0.5, 0.0], [0.5, 0.5]])
    data = {"x_train": x[:2], "x_val": x[2:], "y_train": torch.tensor([1, 1]), "y_val": torch.tensor([1, 0]), "n_classes": 2}
    rec = train.baselines(data, "reconstruct")
    assert rec["predict zeros"] == pytest.approx((0.25 + 0 + 0.25 + 0.25) / 4)
    # mean training image (0.5, 1.0): errors (0, 1) and (0, 0.25)
    assert rec["predict the mean image"] == pytest.approx((0 + 1 + 0 + 0.25) / 4)
    cls = train.baselines(data, "classify")
    assert cls["most frequent class (accuracy)"] == 0.5
    assert cls["uniform logits (loss)"] == pytest.approx(np.log(2), rel=1e-6)


def test_stored_results_prefers_the_paper_profile(tmp_path):
    res = train.train_grid(tiny_config(n_epochs=1, depths=(1,), keep_probs=(1.0,)), device="cpu", progress=False)
    assert train.stored_results("synthetic", root=tmp_path) is None
    train.write_results(dict(res, profile="quick"), tmp_path / "synthetic_reconstruct_quick.json")
    assert train.stored_results("synthetic", root=tmp_path)["profile"] == "quick"
    train.write_results(dict(res, profile="paper"), tmp_path / "synthetic_reconstruct_paper.json")
    assert train.stored_results("synthetic", root=tmp_path)["profile"] == "paper"


def test_heatmap_figure_draws_the_grid_and_the_depth_scale_curve():
    from nsp_helpers import plots, theory
    from nsp_helpers.noise import Dropout

    res = {"cells": [{"depth": d, "keep_prob": k, "val_loss": [float(d * k)], "train_loss": [1.0]}
                     for d in (2, 6, 10) for k in (0.5, 0.9, 1.0)]}
    fig = plots.trainable_depth_heatmap_figure(res, metrics=("val_loss",))
    ax = fig.axes[0]
    mesh = ax.collections[0]
    assert mesh.get_array().shape == (3, 3)
    assert mesh.get_array()[1, 0] == 6 * 0.5  # row = depth, column = keep probability
    curve = ax.lines[-1]
    p, y = curve.get_data()
    np.testing.assert_allclose(y, 6 * theory.depth_scale(Dropout(keep_prob=p)))
    centred = plots.trainable_depth_heatmap_figure(res, metrics=("val_loss",), center=4.0).axes[0].collections[0]
    assert centred.norm.vcenter == 4.0 and centred.norm(4.0) == pytest.approx(0.5)
    with pytest.raises(InvalidParameterError, match="vmin"):
        plots.trainable_depth_heatmap_figure(res, vmin=[0, 1, 2])


# --------------------------------------------------------------------------------------------------
# the stored results behind the chapter
# --------------------------------------------------------------------------------------------------
def test_stored_mnist_results_match_the_quick_profile_and_support_the_chapter():
    from nsp_helpers import theory
    from nsp_helpers.noise import Dropout

    res = train.stored_results("mnist", "reconstruct", profiles=("quick",))
    assert res is not None, "the stored quick-profile MNIST results (results/trainable_depth) are missing"
    assert train.TrainConfig.from_dict(res["config"]) == train.profile_config("quick")
    assert res["provenance"]["command"].startswith("python -m nsp_helpers.train --profile quick")
    depths, keeps, val = train.results_grid(res, "val_loss")
    mean_image = res["baselines"]["predict the mean image"]
    inside = depths[:, None] <= 6 * np.asarray(theory.depth_scale(Dropout(keep_prob=keeps)))[None, :]
    # the chapter's reading: without dropout every depth beats the mean image clearly ...
    assert np.all(val[:, -1] < 0.9 * mean_image)
    # ... above 6 xi_c the networks sit at the mean-image loss, below it they do better
    assert abs(np.median(val[~inside]) / mean_image - 1) < 0.02
    assert np.median(val[inside]) < 0.95 * mean_image
    assert res["provenance"]["wall_time_s"] < 15 * 60  # the quick profile's budget on a 2-core CPU


def test_stored_mnist_classification_results_support_the_chapter():
    from nsp_helpers import theory
    from nsp_helpers.noise import Dropout

    res = train.stored_results("mnist", "classify", profiles=("quick",))
    assert res is not None, "the stored quick-profile MNIST classification results (results/trainable_depth) are missing"
    depths, keeps, acc = train.results_grid(res, "val_accuracy")
    inside = depths[:, None] <= 6 * np.asarray(theory.depth_scale(Dropout(keep_prob=keeps)))[None, :]
    chance = res["baselines"]["most frequent class (accuracy)"]
    assert np.median(acc[~inside]) < chance + 0.01
    assert np.median(acc[inside]) > 0.5


# --------------------------------------------------------------------------------------------------
# the GPU path (runs wherever CUDA exists; skipped only without it)
# --------------------------------------------------------------------------------------------------
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_the_gpu_learns_resumes_and_writes_cuda_provenance(tmp_path):
    """The trainer on CUDA: the same initial weights as on the CPU (drawn there), a trainable cell learns, an
    interrupted GPU run resumes to the uninterrupted result, and the results file names the CUDA device."""
    cfg = tiny_config(keep_probs=(0.5, 1.0), optimizer="adam", lr=0.01, n_epochs=3)
    data = train.prepare_data(cfg)
    cells, d = train.grid_cells(cfg), data["x_train"].shape[1]
    cpu_model, _ = train.grid_model(cells, d, d, cfg.width, seed=cfg.seed, device="cpu")
    gpu_model, _ = train.grid_model(cells, d, d, cfg.width, seed=cfg.seed, device="cuda")
    assert gpu_model.device.type == "cuda"
    for a, b in zip(cpu_model.parameters(), gpu_model.parameters()):
        torch.testing.assert_close(a.detach(), b.detach().cpu(), rtol=0, atol=0)

    full = train.train_grid(cfg, data, device="cuda", progress=False, checkpoint=tmp_path / "a.pt")
    assert full["device"].startswith("cuda")
    shallow = next(c for c in full["cells"] if c["depth"] == 1 and c["keep_prob"] == 1.0)
    assert all(np.isfinite(shallow["val_loss"])) and shallow["val_loss"][-1] < shallow["val_loss"][0]

    class Interrupt(Exception):
        pass

    def stop_after_two(epoch, history):
        if epoch == 2:
            raise Interrupt

    ckpt = tmp_path / "b.pt"
    with pytest.raises(Interrupt):
        train.train_grid(cfg, data, device="cuda", progress=False, checkpoint=ckpt, on_epoch_end=stop_after_two)
    resumed = train.train_grid(cfg, data, device="cuda", progress=False, checkpoint=ckpt)
    for a, b in zip(resumed["cells"], full["cells"]):
        np.testing.assert_allclose(a["val_loss"], b["val_loss"], rtol=1e-5)

    path = train.run(cfg, tmp_path / "out", profile="gpu-test", device="cuda", checkpoint_dir=tmp_path, progress=False)
    assert train.load_results(path)["provenance"]["device"].startswith("cuda")
