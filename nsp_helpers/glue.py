"""Numbers and Markdown glued from code into the prose, alike in the HTML book and in JupyterLab.

A chapter computes a value in a code cell and writes it into the prose with the MyST ``{eval}`` role::

    ```{code-cell} ipython3
    from nsp_helpers.glue import glue
    glue("ch1_mu2_dropout", float(noise.mu2), display=False)
    ```

    Dropout with $p = 0.6$ has $\\mu_2 =$ {eval}`glue.text("ch1_mu2_dropout:.4f")`.

* In **JupyterLab** (with ``jupyterlab-myst``) a Markdown cell's ``{eval}`` expressions are evaluated
  in the kernel when the cell is run: ``glue.text("KEY:FORMAT")`` returns the value glued under
  ``KEY``, formatted with ``FORMAT``.
* In the **HTML book** (myst-nb, ``execute_notebooks: cache``, no live kernel while pages are written)
  the local Sphinx extension ``book/_ext/glue_eval.py`` reads the same expression and pastes the same
  value from the executed notebook, through myst-nb's own ``{glue:text}`` code. Both sides format
  the same ``text/plain`` representation with the same function
  (``myst_nb.core.variables.format_plain_text``), so the HTML page and the notebook show the same
  characters.

The three forms the book accepts (``{eval}`` with any other expression fails the strict build):

* ``glue.text("KEY")`` / ``glue.text("KEY:FORMAT")``: the value as text, ``FORMAT`` a Python format
  specification ending in its type (``.4f``, ``d``, ``.2e``, ``s``), like ``{glue:text}``, with numbers
  in e-notation written ``2.15 × 10⁶`` and infinities ``∞`` (:func:`for_readers`);
* ``glue.md("KEY")`` / ``glue.md("KEY:myst")``: a glued :class:`IPython.display.Markdown`, rendered as
  MyST (``{glue:md}``); a paragraph that holds nothing but this role is pasted as a block (a table,
  an admonition), anywhere else inline.

:func:`glue` itself stores the value for both: it calls :func:`myst_nb.glue` (the record that the HTML
build reads) when it runs in a kernel, and keeps the value for ``glue.text``/``glue.md``.

Examples
--------
>>> from nsp_helpers.glue import Glue
>>> g = Glue()               # chapters use the shared instance: ``from nsp_helpers.glue import glue``
>>> g("mu2", 1 / 0.6, display=False)
>>> g.text("mu2:.4f"), g.text("mu2")
(1.6667, 1.6666666666666667)
>>> g("n_layers", 200, display=False)
>>> g.text("n_layers:d")
200
>>> g("big", 2.15e6, display=False)
>>> g.text("big:.3g")
2.15 × 10⁶
>>> g.text("q_star:.3f")
Traceback (most recent call last):
...
KeyError: "glue.text: nothing is glued under 'q_star' yet (glued so far: big, mu2, n_layers); run the cell that glues it first"

This module is the top layer of the package, with :mod:`nsp_helpers.plots` and
:mod:`nsp_helpers.widgets`: nothing else imports it. Introduced in *How to use this book*.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["Glue", "GluedText", "for_readers", "glue"]

_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_E_NOTATION = re.compile(r"^(-?\d+(?:\.\d+)?)[eE]([+-]\d+)$")


def for_readers(text: str) -> str:
    """A formatted number as a reader writes it: ``2.15 × 10⁶`` rather than ``2.15e+06``, ``∞`` rather than ``inf``.

    Anything that is not a number in e-notation or an infinity is returned unchanged. Both the HTML book
    (``book/_ext/glue_eval.py``) and ``glue.text`` in JupyterLab apply it, so both show the same text.

    Examples
    --------
    >>> for_readers("2.15e+06"), for_readers("3.2e-16"), for_readers("1e+00"), for_readers("inf"), for_readers("0.25")
    ('2.15 × 10⁶', '3.2 × 10⁻¹⁶', '1', '∞', '0.25')
    """
    stripped = text.strip()
    if stripped in ("inf", "+inf", "Infinity"):
        return "∞"
    if stripped in ("-inf", "-Infinity"):
        return "−∞"
    match = _E_NOTATION.match(stripped)
    if not match:
        return text
    mantissa, exponent = match.group(1), int(match.group(2))
    if exponent == 0:
        return mantissa
    return f"{mantissa} × 10{str(exponent).translate(_SUPERSCRIPTS)}"


class GluedText(str):
    """A formatted glued value: a ``str`` whose ``repr`` is the text itself.

    JupyterLab shows an ``{eval}`` result through its ``text/plain`` representation, which for a plain
    ``str`` would carry quotes.

    Examples
    --------
    >>> GluedText("0.25")
    0.25
    """

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython's text/plain formatter
        printer.text(str(self))


def _split_key(what: str, key_format: str, default: str) -> tuple[str, str]:
    if not isinstance(key_format, str) or not key_format.strip():
        raise ValueError(f"glue.{what}: give 'KEY' or 'KEY:FORMAT', got {key_format!r}")
    parts = key_format.rsplit(":", 1)  # as myst-nb's {glue:text} and {glue:md}
    return (parts[0], parts[1]) if len(parts) == 2 else (parts[0], default)


class Glue:
    """Glue values from code cells into the prose (see the module docstring).

    Call it like :func:`myst_nb.glue`; read values back with :meth:`text` and :meth:`md`.
    """

    def __init__(self) -> None:
        self._bundles: dict[str, dict[str, Any]] = {}

    def __call__(self, name: str, variable: Any, display: bool = True) -> None:
        """Glue ``variable`` under ``name``, for the HTML book and for ``{eval}`` in JupyterLab.

        Parameters
        ----------
        name : str
            The key (no ``:``); the same rules as :func:`myst_nb.glue`.
        variable : object
            Anything IPython can display; what is stored is its display representation
            (``text/plain``, ``text/markdown``, ...), as for :func:`myst_nb.glue`.
        display : bool
            Also show the value as an output of the cell (as :func:`myst_nb.glue`).
        """
        import IPython
        from IPython.core.formatters import format_display_data

        if not isinstance(name, str) or not name or ":" in name:
            raise ValueError(f"glue: the name must be a non-empty string without ':', got {name!r}")
        if IPython.get_ipython() is not None:  # in a kernel: the record that the HTML build pastes
            from myst_nb import glue as myst_nb_glue

            myst_nb_glue(name, variable, display=display)
        bundle, _ = format_display_data(variable)  # what myst_nb.glue stores
        self._bundles[name] = bundle

    def _bundle(self, what: str, key: str) -> dict[str, Any]:
        try:
            return self._bundles[key]
        except KeyError:
            known = ", ".join(sorted(self._bundles)) or "nothing"
            raise KeyError(
                f"glue.{what}: nothing is glued under {key!r} yet (glued so far: {known}); "
                "run the cell that glues it first"
            ) from None

    def text(self, key_format: str) -> GluedText:
        """The value glued under ``KEY`` as text, formatted like ``{glue:text}`KEY:FORMAT```.

        Parameters
        ----------
        key_format : str
            ``"KEY"`` or ``"KEY:FORMAT"``; ``FORMAT`` is a format specification ending in its type.

        Returns
        -------
        GluedText
            A ``str`` that JupyterLab shows without quotes.
        """
        from myst_nb.core.variables import format_plain_text

        key, fmt = _split_key("text", key_format, "s")
        bundle = self._bundle("text", key)
        if "text/plain" not in bundle:
            raise ValueError(f"glue.text: the value glued under {key!r} has no text/plain representation")
        return GluedText(for_readers(format_plain_text(bundle["text/plain"], fmt)))

    def md(self, key_format: str):
        """The Markdown glued under ``KEY`` (``"KEY"`` or ``"KEY:myst"``), like ``{glue:md}``.

        Returns
        -------
        IPython.display.Markdown
            JupyterLab renders it with ``jupyterlab-myst`` (MyST, whatever the format suffix says).
        """
        from IPython.display import Markdown

        key, _fmt = _split_key("md", key_format, "commonmark")
        bundle = self._bundle("md", key)
        if "text/markdown" not in bundle:
            raise ValueError(f"glue.md: the value glued under {key!r} is not Markdown (glue an IPython.display.Markdown)")
        return Markdown(bundle["text/markdown"])

    def keys(self) -> list[str]:
        """The names glued so far, sorted."""
        return sorted(self._bundles)


#: The instance the chapters use: ``from nsp_helpers.glue import glue``.
glue = Glue()
