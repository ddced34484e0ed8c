"""Fault injection: long runs (training grid, variance depth) that never lose work and never mix configurations.

Small synthetic runs are interrupted (SIGKILL of the command line at random points, exceptions at
chosen points), given damaged checkpoints and results files, full and unwritable disks, and two
configurations in one folder; every final result must equal that of an uninterrupted run.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nsp_helpers import storage, train
from nsp_helpers import variance_depth as vd
from nsp_helpers.errors import DamagedFileError, InvalidParameterError, StorageError
from nsp_helpers.noise import Dropout
from nsp_helpers.storage import DamagedFileWarning, RunLock, RunLockedError

REPO = Path(__file__).resolve().parent.parent


def tiny_config(**overrides):
    settings = dict(depths=(1, 2), keep_probs=(0.5, 1.0), width=8, dataset="synthetic", n_examples=80,
                    n_epochs=3, batch_size=16, optimizer="adam", lr=0.01)
    settings.update(overrides)
    return train.TrainConfig(**settings)


def run_tiny(tmp_path, config=None, **kwargs):
    kwargs.setdefault("checkpoint_dir", tmp_path / "ckpt")
    return train.run(config or tiny_config(), tmp_path / "out", profile="test", device="cpu", progress=False, **kwargs)


def numbers(results):
    """What must not change between an interrupted and an uninterrupted run."""
    return {k: results[k] for k in ("config", "cells", "baselines", "n_train", "n_val")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run of tiny_config()."""
    folder = tmp_path_factory.mktemp("reference")
    return numbers(train.load_results(run_tiny(folder)))


class Crash(Exception):
    """Stands for a kill at a chosen point."""


# --------------------------------------------------------------------------------------------------
# simulated disks
# --------------------------------------------------------------------------------------------------
class _FullDiskFile:
    """A file on a disk that fills up after ``budget`` bytes (then every write fails with ENOSPC)."""

    def __init__(self, f, budget):
        self._f, self._budget = f, budget

    def write(self, data):
        self._budget -= len(data)
        if self._budget < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


@pytest.fixture
def full_disk(monkeypatch):
    """``full_disk(on_call=k, budget=b)``: the k-th atomic write (counting from 1) finds a disk with b bytes free."""

    def arm(on_call=1, budget=100):
        real = storage._open_temporary
        calls = {"n": 0}

        def open_temporary(fd, binary):
            calls["n"] += 1
            f = real(fd, binary)
            return _FullDiskFile(f, budget) if calls["n"] == on_call else f

        monkeypatch.setattr(storage, "_open_temporary", open_temporary)
        return calls

    return arm


def make_unwritable(folder: Path, monkeypatch):
    """A folder nobody can write to: chmod for ordinary users; root ignores permissions, so the file
    system's answer (EACCES) is simulated for it."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve() == folder.resolve():
            raise PermissionError(errno.EACCES, "Permission denied", str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


# --------------------------------------------------------------------------------------------------
# training: interruptions and damaged files, in-process
# --------------------------------------------------------------------------------------------------
def test_kill_between_results_write_and_checkpoint_removal_loses_nothing(tmp_path, monkeypatch, reference):
    real_load = train.load_results

    def crash_on_read_back(path):
        raise Crash  # the results file is written; the checkpoint is still there

    monkeypatch.setattr(train, "load_results", crash_on_read_back)
    with pytest.raises(Crash):
        run_tiny(tmp_path)
    monkeypatch.setattr(train, "load_results", real_load)
    (results,) = (tmp_path / "out").glob("*.json")
    (checkpoint,) = (tmp_path / "ckpt").glob("*.pt")
    assert numbers(train.load_results(results)) == reference
    # the rerun recognises the finished results, keeps them and removes the leftover checkpoint
    assert run_tiny(tmp_path) == results and not checkpoint.exists()
    assert numbers(train.load_results(results)) == reference


def test_failed_results_write_keeps_the_checkpoint_and_the_rerun_needs_no_training(tmp_path, full_disk, monkeypatch, reference):
    calls = full_disk(on_call=tiny_config().n_epochs + 1)  # the epochs' checkpoints succeed, the results file does not
    with pytest.raises(StorageError, match=r"cannot write .*\.json: no space left on the device"):
        run_tiny(tmp_path)
    assert calls["n"] == tiny_config().n_epochs + 1
    assert not list((tmp_path / "out").iterdir())  # no results, no temporary file
    (checkpoint,) = (tmp_path / "ckpt").glob("*.pt")
    assert torch.load(checkpoint, weights_only=True)["epoch"] == tiny_config().n_epochs
    monkeypatch.undo()

    def no_training(*args, **kwargs):
        raise AssertionError("the complete checkpoint must make training unnecessary")

    monkeypatch.setattr(train, "per_network_loss", no_training)  # called by every training and evaluation step
    results = run_tiny(tmp_path)
    assert numbers(train.load_results(results)) == reference and not checkpoint.exists()


def test_disk_full_while_checkpointing_names_the_checkpoint_and_the_rerun_resumes(tmp_path, full_disk, monkeypatch, reference):
    full_disk(on_call=2, budget=1000)  # epoch 1 checkpointed, epoch 2's checkpoint hits a full disk (torch.save)
    with pytest.raises(StorageError, match=r"cannot write .*ckpt/.*\.cpu\.pt: no space left on the device"):
        run_tiny(tmp_path)
    (checkpoint,) = (tmp_path / "ckpt").glob("*.pt")
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 1  # the previous checkpoint is intact
    assert not [p for p in (tmp_path / "ckpt").iterdir() if p.suffix == ".part"]
    monkeypatch.undo()
    assert numbers(train.load_results(run_tiny(tmp_path))) == reference


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "foreign"])
def test_damaged_checkpoint_is_moved_aside_and_the_run_restarts(tmp_path, reference, damage):
    cfg = tiny_config()
    name = train.results_name(cfg, "test")[: -len(".json")]
    checkpoint = tmp_path / "ckpt" / f"{name}.cpu.pt"

    def stop(epoch, history):
        raise Crash

    with pytest.raises(Crash):
        train.train_grid(cfg, device="cpu", progress=False, checkpoint=checkpoint, on_epoch_end=stop)
    payload = checkpoint.read_bytes()
    checkpoint.write_bytes({"truncated": payload[: len(payload) // 2], "garbage": os.urandom(2000), "empty": b"",
                            "foreign": _torch_bytes({"epoch": 1})}[damage])
    with pytest.warns(DamagedFileWarning, match=rf"{checkpoint.name} is damaged .*moved it to .*{checkpoint.name}\.damaged-"):
        path = run_tiny(tmp_path)
    assert numbers(train.load_results(path)) == reference
    (aside,) = checkpoint.parent.glob("*.damaged-*")  # nothing deleted
    assert aside.read_bytes()[:0] == b"" and not checkpoint.exists()


def _torch_bytes(obj) -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def test_checkpoint_of_another_configuration_is_never_resumed(tmp_path):
    """Two configurations into one folder: separate files; an interrupted one resumes its own checkpoint only."""
    a, b = tiny_config(), tiny_config(seed=1)

    def stop_after_one(epoch, history):
        if epoch == 1:
            raise Crash

    with pytest.raises(Crash):  # a is interrupted, its checkpoint stays
        train.train_grid(a, device="cpu", progress=False, checkpoint=tmp_path / "ckpt" / (train.results_name(a, "test")[:-5] + ".cpu.pt"),
                         on_epoch_end=stop_after_one)
    path_b = run_tiny(tmp_path, b)
    path_a = run_tiny(tmp_path, a)
    assert path_a != path_b and sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([path_a.name, path_b.name])
    alone = tmp_path / "alone"
    assert numbers(train.load_results(path_b)) == numbers(train.load_results(run_tiny(alone, b)))
    assert numbers(train.load_results(path_a)) == numbers(train.load_results(run_tiny(alone, a)))
    assert train.load_results(path_a)["cells"] != train.load_results(path_b)["cells"]
    assert not list((tmp_path / "ckpt").glob("*.pt"))


def test_out_pointing_at_a_file_fails_before_training(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    target.write_text("precious")

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(train, "train_grid", no_training)
    args = ["--dataset", "synthetic", "--epochs", "1", "--n-examples", "40", "--width", "4", "--depths", "1",
            "--keep-probs", "1", "--no-progress", "--checkpoint-dir", str(tmp_path / "ckpt")]
    with pytest.raises(InvalidParameterError, match=rf"--out must be a folder, but {target} is an existing file"):
        train.main(args + ["--out", str(target)])
    assert target.read_text() == "precious"
    assert train._cli(args + ["--out", str(target)]) == 2


def test_unwritable_output_folder_fails_before_training_naming_it(tmp_path, monkeypatch):
    out = tmp_path / "out"
    make_unwritable(out, monkeypatch)
    started = []
    monkeypatch.setattr(train, "train_grid", lambda *a, **k: started.append(1))
    with pytest.raises(StorageError, match=rf"cannot write to out_dir {out}: permission denied"):
        run_tiny(tmp_path)
    assert not started


def test_stale_temporary_files_are_removed(tmp_path, reference):
    cfg = tiny_config()
    stem = train.results_name(cfg, "test")[: -len(".json")]
    for folder, name in ((tmp_path / "out", f"{stem}.json"), (tmp_path / "ckpt", f"{stem}.cpu.pt")):
        folder.mkdir(parents=True)
        (folder / f".{name}.k1ll3d.part").write_bytes(b"half a file")
    other = tmp_path / "out" / ".someone_else.json.abc.part"
    other.write_text("not ours")
    run_tiny(tmp_path)
    assert not list(tmp_path.rglob(f".{stem}*.part")) and other.exists()


def test_a_second_process_on_the_same_configuration_is_refused(tmp_path):
    cfg = tiny_config()
    stem = train.results_name(cfg, "test")[: -len(".json")]
    with RunLock(tmp_path / "ckpt" / f"{stem}.lock"):
        with pytest.raises(RunLockedError, match="another process is running this configuration"):
            run_tiny(tmp_path)
    run_tiny(tmp_path)  # the lock is released


# --------------------------------------------------------------------------------------------------
# results files: damaged, foreign, incomplete
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shards")
    cfg = tiny_config(n_epochs=1)
    return [train.load_results(run_tiny(folder, cfg, shard=(k, 2))) for k in range(2)]


@pytest.mark.parametrize("damage, reason", [
    (lambda text: text[: len(text) // 2], "not complete JSON"),
    (lambda text: "\x00\x01garbage", "not complete JSON"),
    (lambda text: "[1, 2]", "holds a JSON list"),
    (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "cells"}), "lacks the field 'cells'"),
    (lambda text: json.dumps(dict(json.loads(text), config={"depths": [1]})), "its config is invalid: config lacks"),
    (lambda text: text.replace('"val_loss": [', '"val_loss": ["x", '), "cells\\[0\\]\\['val_loss'\\] must be a list of 1 numbers"),
    (lambda text: json.dumps(dict(json.loads(text), shard=[5, 2])), "its shard must be"),
])
def test_damaged_results_files_name_the_file_and_the_problem(tmp_path, shards, damage, reason):
    path = tmp_path / "synthetic_reconstruct_quick.json"
    path.write_text(damage(json.dumps(shards[0])))
    with pytest.raises(DamagedFileError, match=reason) as info:
        train.load_results(path)
    assert str(path) in str(info.value) and info.value.path == path
    with pytest.raises(DamagedFileError, match=str(path)):
        train.stored_results("synthetic", root=tmp_path, profiles=("quick",))


def test_merge_checks_shards_and_grid(tmp_path, shards):
    merged = train.merge_results(shards)
    assert [(c["depth"], c["keep_prob"]) for c in merged["cells"]] == train.grid_cells(tiny_config(n_epochs=1))
    outside = json.loads(json.dumps(shards[1]))
    outside["cells"][0]["depth"] = 7
    with pytest.raises(InvalidParameterError, match=r"\(depth 7, keep_prob .*\) is not a cell of its config's grid"):
        train.merge_results([shards[0], outside])
    relabelled = dict(shards[1], shard=[0, 2])
    with pytest.raises(InvalidParameterError, match="not those of shard 0 of 2"):
        train.merge_results([shards[0], relabelled])
    with pytest.raises(InvalidParameterError, match="shard 0 of 2 appears twice"):
        train.merge_results([shards[0], shards[0]])
    no_shard = {k: v for k, v in shards[1].items() if k != "shard"}
    with pytest.raises(InvalidParameterError, match="must hold shards .* has none"):
        train.merge_results([shards[0], no_shard])
    with pytest.raises(InvalidParameterError, match="config of results_list\\[1\\] differs"):
        train.merge_results([shards[0], dict(shards[1], config=tiny_config(n_epochs=1, seed=5).to_dict())])


def test_merge_command_refuses_to_replace_other_results(tmp_path, shards):
    files = []
    for k, r in enumerate(shards):
        files.append(str(train.write_results(r, tmp_path / f"s{k}.json")))
    other = tmp_path / "other.json"
    other.write_text("{}")
    with pytest.raises(InvalidParameterError, match="exists and holds other results"):
        train.main(["merge", *files, "--out", str(other)])
    assert other.read_text() == "{}"
    assert train.main(["merge", *files, "--out", str(other), "--overwrite"]) == 0
    with pytest.raises(InvalidParameterError, match="is a folder"):
        train.main(["merge", *files, "--out", str(tmp_path)])


# --------------------------------------------------------------------------------------------------
# variance depth: checkpoint and resume
# --------------------------------------------------------------------------------------------------
VD = dict(sigma_w2=[0.3, 1.2, 2.4], width=16, max_layers=12, batch_size=4, device="cpu", seed=3)


def _vd_images():
    return torch.rand(22, 10, generator=torch.Generator().manual_seed(0))


def test_variance_depth_resumes_exactly(tmp_path):
    full = vd.run_variance_depth(_vd_images(), Dropout(0.6), **VD)
    checkpoint = tmp_path / "vd.npz"

    def stop_at_batch_4(done, total):
        if done == 4:
            raise Crash

    with pytest.raises(Crash):
        vd.run_variance_depth(_vd_images(), Dropout(0.6), checkpoint=checkpoint, checkpoint_every=2, progress=stop_at_batch_4, **VD)
    assert int(np.load(checkpoint)["batches_done"]) == 4
    seen = []
    resumed = vd.run_variance_depth(_vd_images(), Dropout(0.6), checkpoint=checkpoint, checkpoint_every=2,
                                    progress=lambda done, total: seen.append(done), **VD)
    assert seen == [5, 6]  # only the remaining batches ran
    np.testing.assert_array_equal(resumed.q, full.q)  # bit for bit
    assert not checkpoint.exists()


def test_variance_depth_checkpoint_of_other_images_or_settings_is_refused(tmp_path):
    checkpoint = tmp_path / "vd.npz"

    def stop(done, total):
        raise Crash

    with pytest.raises(Crash):
        vd.run_variance_depth(_vd_images(), Dropout(0.6), checkpoint=checkpoint, checkpoint_every=1, progress=stop, **VD)
    with pytest.raises(InvalidParameterError, match="belongs to another run"):
        vd.run_variance_depth(_vd_images() * 0.5, Dropout(0.6), checkpoint=checkpoint, **VD)
    with pytest.raises(InvalidParameterError, match="belongs to another run"):
        vd.run_variance_depth(_vd_images(), Dropout(0.7), checkpoint=checkpoint, **VD)


@pytest.mark.parametrize("damage", [lambda b: b[: len(b) // 3], lambda b: os.urandom(500), lambda b: b""])
def test_variance_depth_damaged_checkpoint_is_moved_aside(tmp_path, damage):
    checkpoint = tmp_path / "vd.npz"

    def stop(done, total):
        raise Crash

    with pytest.raises(Crash):
        vd.run_variance_depth(_vd_images(), Dropout(0.6), checkpoint=checkpoint, checkpoint_every=1, progress=stop, **VD)
    checkpoint.write_bytes(damage(checkpoint.read_bytes()))
    with pytest.warns(DamagedFileWarning, match="vd.npz is damaged"):
        r = vd.run_variance_depth(_vd_images(), Dropout(0.6), checkpoint=checkpoint, **VD)
    np.testing.assert_array_equal(r.q, vd.run_variance_depth(_vd_images(), Dropout(0.6), **VD).q)
    assert len(list(tmp_path.glob("vd.npz.damaged-*"))) == 1


def test_variance_depth_disk_full_while_checkpointing(tmp_path, full_disk):
    full_disk(on_call=2, budget=50)
    with pytest.raises(StorageError, match=r"cannot write .*vd\.npz: no space left"):
        vd.run_variance_depth(_vd_images(), Dropout(0.6), checkpoint=tmp_path / "vd.npz", checkpoint_every=1, **VD)
    assert int(np.load(tmp_path / "vd.npz")["batches_done"]) == 1 and not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("damage, reason", [
    (lambda t: t[:40], "not complete JSON"),
    (lambda t: json.dumps({k: v for k, v in json.loads(t).items() if k != "result"}), "lacks the field 'result'"),
    (lambda t: json.dumps(dict(json.loads(t), result={"q": []})), "lacks the field 'n_layers'"),
])
def test_variance_depth_damaged_result_names_the_file(tmp_path, damage, reason):
    path = vd.save_result(vd.run_variance_depth(_vd_images(), Dropout(0.6), **VD), tmp_path / "r.json")
    path.write_text(damage(path.read_text()))
    with pytest.raises(DamagedFileError, match=reason) as info:
        vd.load_result(path)
    assert str(path) in str(info.value)


def test_variance_depth_names_and_sizes(tmp_path):
    base = {"dataset": "mnist", "split": "train", "n_images": 64, "width": 1000, "noise": {"class": "Dropout", "params": {"keep_prob": 0.6}}}
    names = {vd.results_name(dict(base, **change)) for change in
             ({}, {"n_images": 65}, {"split": "test"}, {"noise": {"class": "Dropout", "params": {"keep_prob": 0.7}}}, {"width": 999})}
    assert len(names) == 5 and all(n.startswith(("mnist_train_", "mnist_test_")) for n in names)
    assert vd.results_name(dict(base, device="cuda")) == vd.results_name(base)  # the device does not name the result
    with pytest.raises(InvalidParameterError, match=r"--n-images must be at most 10000 \(the size of the synthetic train split\)"):
        vd.main(["--dataset", "synthetic", "--n-images", "10000000", "--out", str(tmp_path / "o"), "--checkpoint-dir", str(tmp_path / "c")])


# --------------------------------------------------------------------------------------------------
# SIGKILL at random points of the command lines (subprocesses)
# --------------------------------------------------------------------------------------------------
def _env(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               NSP_CHECKPOINT_DIR=str(tmp_path / "ckpt"), OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    return env


def _checkpoint_state(watch: Path, pattern: str):
    found = sorted(watch.glob(pattern))
    return [(p.name, p.stat().st_mtime_ns) for p in found if p.exists()]


def _kill_at_random_points(command, tmp_path, watch: Path, pattern: str, rng: random.Random, n_kills: int, max_delay: float):
    """Start ``command`` ``n_kills`` times; each time wait until it has written a checkpoint of its own (so the
    kill lands in the work, not in Python's start-up), wait a random delay more and SIGKILL it.

    Returns the progress seen after each kill (the checkpoint files' states), one entry per real kill.
    """
    progress = []
    for _ in range(n_kills):
        before = _checkpoint_state(watch, pattern)
        proc = subprocess.Popen(command, env=_env(tmp_path), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while proc.poll() is None and _checkpoint_state(watch, pattern) in (before, []) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, max_delay))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            progress.append(_checkpoint_state(watch, pattern))
        proc.wait()
    return progress


@pytest.mark.parametrize("n_kills", [3, pytest.param(10, marks=pytest.mark.slow)])
def test_sigkill_of_the_training_command_loses_nothing(tmp_path, n_kills):
    rng = random.Random(15 + n_kills)
    overrides = dict(n_epochs=40, n_examples=400, width=24, depths=(1, 3), keep_probs=(0.5, 1.0), pool=1, batch_size=16)
    args = ["--dataset", "synthetic", "--epochs", "40", "--n-examples", "400", "--width", "24", "--depths", "1,3",
            "--keep-probs", "0.5,1.0", "--pool", "1", "--batch-size", "16", "--no-progress", "--threads", "1"]
    command = [sys.executable, "-m", "nsp_helpers.train", *args, "--out", str(tmp_path / "out")]
    kills = _kill_at_random_points(command, tmp_path, tmp_path / "ckpt", "*.pt", rng, n_kills=n_kills, max_delay=0.5)
    done = subprocess.run(command, env=_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (path,) = (tmp_path / "out").glob("*.json")
    # the uninterrupted run, in this process, on one thread like the command
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        uninterrupted = train.train_grid(train.profile_config("quick", "synthetic", **overrides), device="cpu", progress=False)
    finally:
        torch.set_num_threads(threads)
    assert numbers(train.load_results(path)) == numbers(uninterrupted)
    assert not list((tmp_path / "ckpt").glob("*.pt")) and not list(tmp_path.rglob("*.part"))
    assert len(kills) >= min(2, n_kills)  # most runs were killed in the middle of their work


@pytest.mark.parametrize("n_kills", [3, pytest.param(10, marks=pytest.mark.slow)])
def test_sigkill_of_the_variance_depth_command_loses_nothing(tmp_path, n_kills):
    rng = random.Random(6 + n_kills)
    args = ["--dataset", "synthetic", "--n-images", "480", "--n-sigma-w2", "3", "--width", "24", "--max-layers", "150",
            "--batch-size", "8", "--checkpoint-every", "1", "--device", "cpu"]
    command = [sys.executable, "-m", "nsp_helpers.variance_depth", *args, "--out", str(tmp_path / "out")]
    kills = _kill_at_random_points(command, tmp_path, tmp_path / "ckpt", "*.npz", rng, n_kills=n_kills, max_delay=0.5)
    done = subprocess.run(command, env=_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (path,) = (tmp_path / "out").glob("*.json")
    from nsp_helpers import data

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        images = data.synthetic_dataset(10_000, 64, seed=0)[0][:480]
        uninterrupted = vd.run_variance_depth(images, Dropout(0.6), np.linspace(0.1, 2.5, 3), width=24, max_layers=150,
                                              batch_size=8, device="cpu")
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(vd.load_result(path).q, uninterrupted.q)
    assert not list((tmp_path / "ckpt").glob("*.npz")) and not list(tmp_path.rglob("*.part"))
    assert len(kills) >= min(2, n_kills)
