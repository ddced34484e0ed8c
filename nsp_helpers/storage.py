"""Writing results safely and recording where they came from.

Used by every long run that stores files (:mod:`nsp_helpers.train`, :mod:`nsp_helpers.variance_depth`,
:mod:`nsp_helpers.data`): a file is written to a temporary name beside its target and renamed into
place, so a reader never sees half a file and an interrupted run leaves the previous file intact.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

__all__ = ["atomic_write", "write_json_atomic", "code_version", "device_description"]


def atomic_write(path, write: Callable, *, binary: bool = True, check: Callable[[Path], None] | None = None) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path``.

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

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "out.txt"
    >>> atomic_write(target, lambda f: f.write("done"), binary=False).read_text()
    'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    tmp = Path(tmp)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
        if check is not None:
            check(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results are ordinary files
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
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
