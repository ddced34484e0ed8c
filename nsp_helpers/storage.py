"""Writing results safely and recording where they came from.

Used by every long run that stores files (:mod:`nsp_helpers.train`, :mod:`nsp_helpers.variance_depth`,
:mod:`nsp_helpers.data`): a file is written to a temporary name beside its target and renamed into
place, so a reader never sees half a file and an interrupted run leaves the previous file intact.
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import os
import platform
import sys
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

from .errors import (
    DamagedFileError,
    InvalidParameterError,
    StorageError,
    check_float,
    check_int,
    check_path,
    describe,
    storage_error,
)

__all__ = [
    "atomic_write",
    "write_json_atomic",
    "read_json",
    "config_hash",
    "check_writable_dir",
    "clean_stale_temporaries",
    "move_aside",
    "DamagedFileWarning",
    "RunLock",
    "RunLockedError",
    "default_checkpoint_dir",
    "code_version",
    "device_description",
    "command_line",
    "provenance",
]

#: Suffix of the temporary files of :func:`atomic_write` (``.<name>.<random>.part`` beside the target).
PART_SUFFIX = ".part"


class DamagedFileWarning(UserWarning):
    """A damaged file (e.g. a truncated checkpoint) was moved aside and the run starts over."""


class RunLockedError(RuntimeError):
    """Another process is running the same configuration (it holds the run's lock file)."""


class _RecordingFile:
    """A file wrapper that remembers the operating-system error of a failed write.

    torch reports a failed write as ``RuntimeError: [enforce fail at inline_container.cc...]``; the
    recorded :class:`OSError` says what really happened (disk full, quota, ...).
    """

    def __init__(self, f):
        self._f = f
        self.error: OSError | None = None

    def write(self, data):
        try:
            return self._f.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self):
        try:
            self._f.flush()
        except OSError as exc:
            self.error = exc
            raise

    def __getattr__(self, name):
        return getattr(self._f, name)


def _open_temporary(fd: int, binary: bool):
    """Open the temporary file descriptor (a seam for tests that simulate a full disk)."""
    return os.fdopen(fd, "wb" if binary else "w")


def atomic_write(path, write: Callable, *, binary: bool = True, check: Callable[[Path], None] | None = None) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path``.

    The data are flushed to the disk (``fsync``) before the rename, so after the call returns the
    file survives a crash; before it returns, ``path`` is either the old file or absent, never half a
    file. An interrupted call leaves at most a temporary ``.<name>.<random>.part`` file (see
    :func:`clean_stale_temporaries`).

    Parameters
    ----------
    path : str or os.PathLike
        The target (its directory is created).
    write : callable
        Receives the open temporary file.
    binary : bool
        Open the temporary file in binary (default) or text mode.
    check : callable, optional
        Called with the temporary file's path before the rename (e.g. to verify a checksum); an
        exception it raises leaves the target untouched.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    nsp_helpers.errors.StorageError
        The folder or the file cannot be written (disk full, no permission, read-only file system);
        the message names the path and the reason.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "out.txt"
    >>> atomic_write(target, lambda f: f.write("done"), binary=False).read_text()
    'done'
    """
    path = check_path("path", path)
    if path.is_dir():
        raise InvalidParameterError(f"path must be a file name, but {path} is a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=PART_SUFFIX)
    except OSError as exc:
        raise storage_error(path, exc) from exc
    tmp = Path(tmp)
    recorder = None
    try:
        with _open_temporary(fd, binary) as f:
            recorder = _RecordingFile(f)
            write(recorder)
            f.flush()
            os.fsync(f.fileno())
        if check is not None:
            check(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results are ordinary files
        os.replace(tmp, path)
    except OSError as exc:
        if isinstance(exc, StorageError):
            raise
        raise storage_error(path, exc) from exc
    except Exception as exc:
        if recorder is not None and recorder.error is not None:  # e.g. torch's RuntimeError around a failed write
            raise storage_error(path, recorder.error) from exc
        raise
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # pragma: no cover - the folder vanished or became unwritable
            pass
    return path


def write_json_atomic(obj, path) -> Path:
    """Write ``obj`` as indented JSON (no ``nan``: store ``None`` instead), atomically.

    Examples
    --------
    >>> import tempfile
    >>> target = write_json_atomic({"loss": [0.1, None]}, Path(tempfile.mkdtemp()) / "r.json")
    >>> json.loads(target.read_text())
    {'loss': [0.1, None]}
    """

    def dump(f):
        json.dump(obj, f, indent=1, allow_nan=False)
        f.write("\n")

    return atomic_write(path, dump, binary=False)


def release_checkpoint(path, checkpoint, read_back: Callable, matches: Callable) -> None:
    """Remove a run's checkpoint only once its results, just written to ``path``, read back as written.

    ``read_back(path)`` loads the results (a :class:`~nsp_helpers.errors.DamagedFileError` if they do not
    load) and ``matches(written)`` compares them with what was written. The checkpoint is the only other
    copy of the run: on any mismatch it is kept, and a :class:`~nsp_helpers.errors.StorageError` says so.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> target, ckpt = write_json_atomic({"x": 1}, folder / "r.json"), folder / "r.ckpt"
    >>> _ = ckpt.write_text("state")
    >>> release_checkpoint(target, ckpt, read_json, lambda written: written == {"x": 2})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.StorageError: ... does not read back as written; the checkpoint ... is kept: run again
    >>> release_checkpoint(target, ckpt, read_json, lambda written: written == {"x": 1}); ckpt.exists()
    False
    """
    try:
        written = read_back(path)
    except DamagedFileError as exc:
        raise StorageError(f"{path} does not read back after writing ({exc}); the checkpoint {checkpoint} is kept: "
                           "run again", path) from exc
    if not matches(written):
        raise StorageError(f"{path} does not read back as written; the checkpoint {checkpoint} is kept: run again", path)
    Path(checkpoint).unlink(missing_ok=True)


def read_json(path, what: str = "JSON file") -> dict:
    """Read a JSON object from ``path``; a missing, unreadable, truncated or non-JSON file names itself.

    Raises
    ------
    nsp_helpers.errors.DamagedFileError
        The file cannot be read or is not a JSON object (``what`` describes the expected file).

    Examples
    --------
    >>> import tempfile
    >>> bad = Path(tempfile.mkdtemp()) / "r.json"
    >>> _ = bad.write_text('{"cells": [1, 2')
    >>> read_json(bad, "results file")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.DamagedFileError: .../r.json is not a valid results file: it is not complete JSON (...); ...
    """
    path = check_path("path", path)
    if not path.is_file():
        raise DamagedFileError(f"path must be an existing {what}, but {str(path)!r} {'is a folder' if path.is_dir() else 'does not exist'}", path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DamagedFileError(f"{path} is not a valid {what}: it cannot be read ({exc})", path) from exc
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DamagedFileError(
            f"{path} is not a valid {what}: it is not complete JSON ({exc}); it may be truncated or damaged: "
            "restore it (e.g. with git) or regenerate it",
            path,
        ) from exc
    if not isinstance(obj, dict):
        raise DamagedFileError(f"{path} is not a valid {what}: it holds a JSON {type(obj).__name__}, not an object", path)
    return obj


def config_hash(config, length: int = 10) -> str:
    """A short hash of a JSON-ready configuration (key order does not matter; ``1`` and ``1.0`` differ).

    Results and checkpoints carry it in their names, so that runs of different configurations
    never overwrite or resume each other.

    Examples
    --------
    >>> config_hash({"width": 64, "seed": 0}) == config_hash({"seed": 0, "width": 64})
    True
    >>> config_hash({"width": 64, "seed": 0}) == config_hash({"width": 64, "seed": 1})
    False
    >>> len(config_hash({}))
    10
    """
    length = check_int("length", length, 1, 64)
    try:
        text = json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"config must be JSON-ready (dicts, lists, str, finite numbers, None), got {describe(config)}: {exc}") from None
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def check_writable_dir(name: str, path) -> Path:
    """Create folder ``path`` if needed and check that files can be written in it, before any long work.

    Raises
    ------
    nsp_helpers.errors.InvalidParameterError
        ``path`` is an existing file (not a folder).
    nsp_helpers.errors.StorageError
        The folder cannot be created or written (permission, read-only file system, disk full).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> check_writable_dir("out", folder / "new") == folder / "new"
    True
    >>> _ = (folder / "file").write_text("x")
    >>> check_writable_dir("--out", folder / "file")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: --out must be a folder, but .../file is an existing file
    """
    path = check_path(name, path)
    if path.exists() and not path.is_dir():
        raise InvalidParameterError(f"{name} must be a folder, but {path} is an existing file")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".nsp-write-test.", suffix=PART_SUFFIX)
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise storage_error(path, exc, action=f"write to {name}") from exc
    return path


def clean_stale_temporaries(path, *, min_age_s: float = 0.0) -> list[Path]:
    """Remove the temporary files that interrupted :func:`atomic_write` calls for ``path`` left behind.

    Only ``.<name>.*.part`` files beside ``path`` that were not modified for ``min_age_s`` seconds
    are removed (use ``0`` only while holding the run's :class:`RunLock`, so that no other process
    is writing them).

    Returns
    -------
    list of pathlib.Path
        The removed files.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / ".r.json.x1y2.part").write_text("half")
    >>> [p.name for p in clean_stale_temporaries(folder / "r.json")]
    ['.r.json.x1y2.part']
    """
    path = check_path("path", path)
    min_age_s = check_float("min_age_s", min_age_s, 0)
    removed = []
    if not path.parent.is_dir():
        return removed
    now = time.time()
    for tmp in path.parent.glob(f".{_glob_escape(path.name)}.*{PART_SUFFIX}"):
        try:
            if now - tmp.stat().st_mtime >= min_age_s:
                tmp.unlink()
                removed.append(tmp)
        except OSError:  # vanished meanwhile, or not ours to remove
            continue
    return removed


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def move_aside(path, reason: str) -> Path:
    """Rename a damaged file to ``<name>.damaged-<UTC time>`` (nothing is deleted) and warn, naming both.

    Returns
    -------
    pathlib.Path
        The new name.

    Examples
    --------
    >>> import tempfile, warnings
    >>> bad = Path(tempfile.mkdtemp()) / "run.pt"
    >>> _ = bad.write_bytes(b"garbage")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     new = move_aside(bad, "it is not a checkpoint")
    >>> new.name.startswith("run.pt.damaged-"), bad.exists(), "run.pt" in str(caught[0].message)
    (True, False, True)
    """
    path = check_path("path", path)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    try:
        os.replace(path, target)
    except OSError as exc:
        raise storage_error(path, exc, action="move aside the damaged file") from exc
    warnings.warn(f"{path} is damaged ({reason}); moved it to {target} and starting over", DamagedFileWarning, stacklevel=2)
    return target


class RunLock:
    """An exclusive lock on ``path`` (``flock``), so that two processes never run one configuration at once.

    The operating system releases it when the process ends, even by ``SIGKILL``; the lock file itself
    stays (it is empty). Where the file system has no locks, the lock is skipped.

    Examples
    --------
    >>> import tempfile
    >>> lock_file = Path(tempfile.mkdtemp()) / "run.lock"
    >>> with RunLock(lock_file):
    ...     try:
    ...         RunLock(lock_file).acquire()
    ...     except RunLockedError as exc:
    ...         print("refused")
    refused
    """

    def __init__(self, path):
        self.path = check_path("path", path)
        self._fd = None

    def acquire(self) -> "RunLock":
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise storage_error(self.path, exc, action="create the lock file") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunLockedError(
                    f"another process is running this configuration (it holds the lock {self.path}); "
                    "wait for it to finish or stop it, then run again"
                ) from exc
            return self  # no locking on this file system (e.g. some network file systems)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def default_checkpoint_dir() -> Path:
    """``$NSP_CHECKPOINT_DIR``, else ``~/.cache/nsp_helpers/checkpoints`` (never inside ``results/``).

    Examples
    --------
    >>> default_checkpoint_dir().name
    'checkpoints'
    """
    env = os.environ.get("NSP_CHECKPOINT_DIR")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "nsp_helpers" / "checkpoints"


def code_version() -> str:
    """The code that is running: the git commit of the checkout (marked when ``nsp_helpers`` has
    uncommitted changes), or the package version outside a git checkout.

    Examples
    --------
    >>> code_version().startswith(("git ", "nsp_helpers "))
    True
    """
    from . import __version__

    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "nsp_helpers"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"nsp_helpers {__version__}"
    return f"git {commit}{' (nsp_helpers modified)' if dirty else ''}"


def device_description(device) -> str:
    """A human-readable name of a torch device (GPU model, or CPU architecture and core count).

    Examples
    --------
    >>> device_description("cpu").startswith("cpu")
    True
    """
    import torch

    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def command_line(module: str) -> str:
    """The command that is running, as a reader would retype it (``python -m MODULE ...`` when run as a
    script or from ``python -c``).

    Examples
    --------
    >>> command_line("nsp_helpers.train").split()[0] in ("python", sys.argv[0].split()[0])
    True
    """
    import shlex

    argv = list(sys.argv)
    if argv and argv[0].endswith((os.path.join(*module.split(".")) + ".py", "-c")):
        argv = ["python", "-m", module, *argv[1:]]
    return shlex.join(argv)


def provenance(command: str | None, *, version: str | None = None, started=None, **fields) -> dict:
    """The provenance record every stored result carries: the command that regenerates it, the code version,
    torch and Python versions, the host, when it started and finished (UTC), and ``fields`` (e.g. the device,
    the wall time, the configuration hash), in that order.

    Parameters
    ----------
    command : str or None
        The command line that regenerates the result (``None``: not recorded, e.g. a result made in a notebook).
    version : str, optional
        The code version (default: :func:`code_version` now; pass the one read before a long run started,
        so that edits of the checkout during the run are not recorded as its code).
    started : datetime.datetime, optional
        When the run started; with it, ``started`` and ``finished`` (now) are recorded.

    Examples
    --------
    >>> sorted(provenance("python -m demo", version="git abc", device="cpu"))
    ['code_version', 'command', 'device', 'host', 'python', 'torch']
    """
    import datetime as _dt

    import torch

    record = {"command": None if command is None else str(command), "code_version": code_version() if version is None else str(version),
              "torch": torch.__version__, "python": platform.python_version(), "host": platform.node()}
    if started is not None:
        record["started"] = started.isoformat(timespec="seconds")
        record["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return record | fields
