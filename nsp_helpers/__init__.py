"""nsp_helpers: the companion package of the *Noisy Signal Propagation* book.

Mean-field theory (:mod:`~nsp_helpers.theory`), noise models (:mod:`~nsp_helpers.noise`), Monte Carlo
simulation of wide noisy networks (:mod:`~nsp_helpers.simulate`) and more. Importing the package has no
side effects: no seeds are set, no plotting defaults changed, nothing downloaded. Submodules are
imported on first use, so ``import nsp_helpers`` does not import torch or matplotlib.
"""

from importlib import import_module

from .errors import InvalidParameterError, NoCriticalPointError

__version__ = "0.1.0"

_SUBMODULES = {
    "activations", "analysis", "data", "device", "errors", "fits", "forward", "glue", "gradient_runs", "init", "network",
    "noise", "plots", "reproduction", "simulate", "storage", "theory", "train", "trainable_length", "variance_depth",
    "widgets",
}


def __getattr__(name):
    if name in _SUBMODULES:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'nsp_helpers' has no attribute {name!r}")


__all__ = ["InvalidParameterError", "NoCriticalPointError", "__version__", *sorted(_SUBMODULES)]
