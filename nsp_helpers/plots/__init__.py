"""Figure functions used by the chapters (matplotlib), one module per topic.

Every public figure function of a topic module (``plots/variance.py``, ``plots/correlation.py``, ...) is
available directly as ``nsp_helpers.plots.<name>``; each returns a :class:`matplotlib.figure.Figure` and
never changes global plotting state.
"""

from importlib import import_module
from pkgutil import iter_modules

__all__: list[str] = []


def _topic_modules():
    return sorted(m.name for m in iter_modules(__path__) if not m.name.startswith("_"))


def __getattr__(name):
    for mod_name in _topic_modules():
        mod = import_module(f".{mod_name}", __name__)
        if name in getattr(mod, "__all__", ()):
            return getattr(mod, name)
    if name in _topic_modules():
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'nsp_helpers.plots' has no figure function {name!r}")


def __dir__():
    names = []
    for mod_name in _topic_modules():
        names.extend(getattr(import_module(f".{mod_name}", __name__), "__all__", ()))
    return sorted(set(names) | set(globals()))
