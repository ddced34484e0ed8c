"""Seeded random numbers for the torch code: derived seeds and parallel generator streams.

Every random tensor of the package is drawn through :class:`RandomStreams`, seeded from a tuple of
integers (the user's seed and tags saying what is drawn) with :class:`numpy.random.SeedSequence`, so
that independent draws never replay each other's numbers and a draw does not depend on what was drawn
before it. Imported lazily: it imports torch.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

__all__ = ["RandomStreams", "derived_seeds"]

#: tags of the random numbers of a network (second entry of the seed tuple)
WEIGHTS, BIASES, NOISE, INPUTS, GRAM, NETWORKS = 0x57, 0xB1, 0x4E, 0x1A, 0x6A, 0x7E


def derived_seeds(*entropy: int, n: int = 1) -> list[int]:
    """``n`` independent 63-bit seeds derived from the integers ``entropy``.

    Examples
    --------
    >>> derived_seeds(0, 1, n=2) == derived_seeds(0, 1, n=2), derived_seeds(0, 1) == derived_seeds(0, 2)
    (True, False)
    """
    state = np.random.SeedSequence([int(e) for e in entropy]).generate_state(n, dtype=np.uint64)
    return [int(s) >> 1 for s in state]


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(RandomStreams.N_STREAMS, thread_name_prefix="nsp-random")
        return _POOL


class RandomStreams:
    """Fill large tensors from several independent ``torch.Generator`` streams at once.

    On the CPU a generator fills a tensor in one serial loop, which would make drawing fresh weights as
    slow as the matrix product that uses them. A tensor of at least :attr:`MIN_PARALLEL` elements is
    therefore cut into :attr:`N_STREAMS` contiguous slices, each filled by its own generator in a thread
    of its own (ATen releases the GIL while it fills). The cut does not depend on the number of
    threads, so neither do the numbers. On a GPU one generator is already parallel and is used alone.

    Parameters
    ----------
    *entropy : int
        The seed tuple (e.g. ``(seed, WEIGHTS, network_seed, layer)``).
    device : torch.device
        Where the tensors live.
    """

    N_STREAMS = 4
    MIN_PARALLEL = 2**16

    def __init__(self, *entropy: int, device=None):
        device = torch.device("cpu") if device is None else torch.device(device)
        n = self.N_STREAMS if device.type == "cpu" else 1
        self.device = device
        self.generators = [torch.Generator(device=device).manual_seed(s) for s in derived_seeds(*entropy, n=n)]

    @classmethod
    def from_generator(cls, generator) -> "RandomStreams":
        """Wrap one ``torch.Generator`` (one stream; its state advances as it is used)."""
        self = cls.__new__(cls)
        self.device = generator.device
        self.generators = [generator]
        return self

    @property
    def generator(self):
        """The first stream, for draws that cannot be split (``torch.poisson``...)."""
        return self.generators[0]

    def _fill(self, tensor: torch.Tensor, fill) -> torch.Tensor:
        flat = tensor.view(-1)
        if len(self.generators) == 1 or flat.numel() < self.MIN_PARALLEL:
            fill(flat, self.generators[0])
            return tensor
        parts = torch.tensor_split(flat, len(self.generators))
        if torch.get_num_threads() == 1:
            for part, gen in zip(parts, self.generators):
                fill(part, gen)
        else:
            pool = _pool()
            for future in [pool.submit(fill, part, gen) for part, gen in zip(parts, self.generators)]:
                future.result()
        return tensor

    def normal_(self, tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
        """Fill a contiguous tensor with :math:`\\mathcal{N}(\\mathrm{mean}, \\mathrm{std}^2)` in place."""
        return self._fill(tensor, lambda part, gen: part.normal_(mean, std, generator=gen))

    def uniform_(self, tensor: torch.Tensor, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        """Fill a contiguous tensor with uniform numbers on ``[low, high)`` in place."""
        return self._fill(tensor, lambda part, gen: part.uniform_(low, high, generator=gen))

    def random_(self, tensor: torch.Tensor, low: int, high: int) -> torch.Tensor:
        """Fill a contiguous integer tensor with integers uniform on ``[low, high)`` in place."""
        return self._fill(tensor, lambda part, gen: part.random_(low, high, generator=gen))


def as_streams(generator, device=None) -> RandomStreams:
    """``None`` (a fresh, unseeded-by-user stream is refused), a ``torch.Generator`` or :class:`RandomStreams`."""
    if isinstance(generator, RandomStreams):
        return generator
    if isinstance(generator, torch.Generator):
        return RandomStreams.from_generator(generator)
    if generator is None:
        gen = torch.Generator(device=torch.device("cpu") if device is None else device)
        gen.seed()
        return RandomStreams.from_generator(gen)
    from .errors import InvalidParameterError

    raise InvalidParameterError(f"generator must be a torch.Generator or None, got {generator!r}")
