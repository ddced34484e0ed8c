"""Where torch work runs: CPU by default, a GPU automatically when one is present."""

from __future__ import annotations

from .errors import InvalidParameterError

__all__ = ["default_device", "resolve_device"]


def default_device():
    """``torch.device("cuda")`` when a CUDA GPU is available, else ``torch.device("cpu")``."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device=None):
    """Turn ``None`` (automatic), a string or a ``torch.device`` into a ``torch.device``.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    import torch

    if device is None:
        return default_device()
    try:
        dev = torch.device(device)
    except (TypeError, RuntimeError, ValueError, OverflowError) as exc:
        raise InvalidParameterError(f"device must be None, 'cpu', 'cuda' or a torch.device, got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidParameterError("device='cuda' was requested but no CUDA GPU is available (use device=None or 'cpu')")
    return dev
