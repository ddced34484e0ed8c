r"""The book's figure style, in one place: sizes, fonts, colours and line widths, and how a figure is shown.

Every figure function of :mod:`nsp_helpers.plots` is wrapped by :func:`figure_function`: its body runs
under the book's matplotlib settings (:data:`RC`, in a :func:`matplotlib.rc_context`, so global
plotting state is never changed) and its figure is finished by :func:`finish` (no text under
:data:`MIN_FONT_SIZE`, the colour cycle resolved to the book's colours). Figures are made by
:func:`new_figure`, which returns a :class:`BookFigure`.

Sizes are chosen for the page that shows the figure. A browser draws 96 CSS pixels per inch; the
content column of the HTML book is 672 CSS pixels wide at a 1280-pixel window and 342 on a
390-pixel phone. A figure :data:`TEXT_WIDTH` = 7 inches wide shown at 96 CSS pixels per inch fills
the column *at its own size*, so 9-point text in the figure is 9-point text on the page. Each
figure is shown as an HTML ``<picture>`` with two PNG images at twice that resolution
(:data:`RESOLUTION`, sharp on high-DPI screens):

* a *wide* one, the panels side by side, shown from :data:`NARROW_BREAKPOINT` CSS pixels of window
  width up;
* a *narrow* one, :data:`NARROW_WIDTH` = 3.5 inches wide with the panels stacked in one column
  (and figure legends in one column), shown below it: on a phone the panels stack rather than
  shrink, and the text keeps its size.

The PDF edition and other static renderers get the wide PNG. Slider frames
(:func:`nsp_helpers.widgets.slider_figure`) are shown the same way.

Colours are the colour-blind-safe palette of Okabe and Ito (:data:`COLOURS`; ``"C0"``, ``"C1"``, ... in
a figure function mean these), figures have an opaque white background (they read on the dark
theme of the site as on paper), and every figure has an alternative text for screen readers
(:attr:`BookFigure.alt`), made from its panel titles, axis labels and legend unless a chapter sets
it.

Examples
--------
>>> fig, axes = new_figure(1, 2)
>>> fig.get_size_inches().tolist(), axes.shape
([7.0, 2.8], (1, 2))
>>> ax = axes[0, 0]
>>> _ = ax.plot([0, 1], [0, 1], label="theory")
>>> _ = ax.set(xlabel=r"$\sigma_w^2$", ylabel="layers", title="(a) a line")
>>> _ = ax.legend()
>>> fig.alt
'Figure in 2 panels. Panel (a) a line: layers against σ_w²; legend: theory. Panel 2: empty.'
>>> wide, narrow = fig.png(), fig.png(narrow=True)
>>> fig.css_size(), fig.css_size(narrow=True)
((672, 269), (336, 538))
"""

from __future__ import annotations

import base64
import functools
import html
import io
import math
import numbers
import re
from contextlib import contextmanager

import numpy as np

from matplotlib.figure import Figure

from ..errors import InvalidParameterError, check_float, check_int
from ..errors import describe as _describe_value
from ..theory import FLOAT32_MAX, FLOAT32_TINY

__all__ = [
    "ACCENT",
    "BookFigure",
    "COLOURS",
    "CSS_PX_PER_INCH",
    "FLOAT32_MAX",
    "FLOAT32_TINY",
    "FONT_SIZE",
    "LINE_WIDTH",
    "LN_FLOAT32_MAX",
    "LN_FLOAT32_TINY",
    "MIN_FONT_SIZE",
    "NARROW_BREAKPOINT",
    "NARROW_WIDTH",
    "RC",
    "RESOLUTION",
    "SMALL_FONT_SIZE",
    "TEXT_WIDTH",
    "colour",
    "family_name",
    "figure_function",
    "finish",
    "legend_below",
    "new_figure",
    "number",
    "plain_text",
    "style_context",
]

#: CSS pixels per inch: browsers show a figure at this scale, so a figure's points are the page's points.
CSS_PX_PER_INCH = 96
#: Width of a full-width figure, inches: the HTML content column (672 CSS pixels at a 1280-pixel window).
TEXT_WIDTH = 7.0
#: Width of the narrow (phone) variant of a figure, inches (336 CSS pixels: a 390-pixel phone shows 342).
NARROW_WIDTH = 3.5
#: Window width (CSS pixels) below which the narrow variant is shown: there the column is narrower than
#: a full-width figure.
NARROW_BREAKPOINT = 720
#: Image pixels per CSS pixel of the PNGs (2: sharp on high-DPI screens).
RESOLUTION = 2
#: Font size of axis labels and titles, points.
FONT_SIZE = 10.0
#: Font size of tick labels, legends and annotations, points.
SMALL_FONT_SIZE = 9.0
#: The smallest font size of any text in a figure, points (:func:`finish` raises smaller text to it).
MIN_FONT_SIZE = 9.0
#: Width of data lines, points.
LINE_WIDTH = 1.5
#: The colour cycle: Okabe & Ito's colour-blind-safe palette (without its yellow, which does not read
#: on white), then two dark colours.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#882255")
#: An accent that reads on dark colour maps (Okabe & Ito's yellow), for marks drawn on heat maps.
ACCENT = "#F0E442"
#: The float32 limits of :mod:`nsp_helpers.theory` (defined there) and their natural logarithms.
LN_FLOAT32_MAX = math.log(FLOAT32_MAX)
LN_FLOAT32_TINY = math.log(FLOAT32_TINY)

#: The book's matplotlib settings, applied while a figure function runs and while a figure is rendered.
#:
#: :meta hide-value:
RC = {
    "figure.dpi": CSS_PX_PER_INCH,
    "savefig.dpi": CSS_PX_PER_INCH * RESOLUTION,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "axes.facecolor": "white",
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE,
    "axes.labelsize": FONT_SIZE,
    "figure.titlesize": FONT_SIZE,
    "xtick.labelsize": SMALL_FONT_SIZE,
    "ytick.labelsize": SMALL_FONT_SIZE,
    "legend.fontsize": SMALL_FONT_SIZE,
    "legend.title_fontsize": SMALL_FONT_SIZE,
    "legend.framealpha": 0.9,
    "legend.edgecolor": "0.8",
    "legend.borderaxespad": 0.4,
    "legend.handlelength": 1.8,
    "mathtext.fontset": "dejavusans",
    "lines.linewidth": LINE_WIDTH,
    "lines.markersize": 4.5,
    "errorbar.capsize": 0,
    "axes.linewidth": 0.8,
    "xtick.major.width": 0.8,
    "ytick.major.width": 0.8,
    "axes.prop_cycle": None,  # set below (cycler)
    "image.cmap": "viridis",
    "figure.constrained_layout.use": True,
    "figure.constrained_layout.h_pad": 0.04,
    "figure.constrained_layout.w_pad": 0.04,
}


def _cycler():
    from cycler import cycler

    return cycler(color=list(COLOURS))


RC["axes.prop_cycle"] = _cycler()


@contextmanager
def style_context():
    """Run a block under the book's matplotlib settings (:data:`RC`); global settings are restored after.

    Examples
    --------
    >>> import matplotlib as mpl
    >>> with style_context():
    ...     mpl.rcParams["font.size"]
    10.0
    """
    import matplotlib as mpl

    with mpl.rc_context(RC):
        yield


def family_name(noise) -> str:
    """A reader's name for a noise model or a family of them (``"dropout"``, ``"Gaussian"``), not a class name.

    Examples
    --------
    >>> from nsp_helpers.noise import AdditiveGaussian, Dropout
    >>> family_name(Dropout(keep_prob=[0.5, 0.9])), family_name(AdditiveGaussian(std=1.0))
    ('dropout', 'additive Gaussian')
    """
    from ..noise import NoiseModel

    if not isinstance(noise, NoiseModel):
        raise InvalidParameterError(f"noise must be a NoiseModel, got {_describe_value(noise)}")
    single = noise if noise.shape == () else noise[0]
    return single.label.split(",")[0]


def number(value, spec: str = ".3g") -> str:
    """A number as a reader writes it: ``3.4 × 10³⁸`` rather than ``3.4e+38``, ``∞``, a true minus sign.

    Parameters
    ----------
    value : float
    spec : str
        A Python format specification (``".3g"``, ``".2e"``, ``".1f"``, ``"d"``).

    Returns
    -------
    str

    Examples
    --------
    >>> number(3.4028e38), number(-0.02, ".2f"), number(float("inf")), number(2.5e-6, ".2e"), number(1e6, ".3g")
    ('3.4 × 10³⁸', '−0.02', '∞', '2.50 × 10⁻⁶', '1 × 10⁶')
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InvalidParameterError(f"value must be a real number, got {_describe_value(value)}")
    if not isinstance(spec, str):
        raise InvalidParameterError(f"spec must be a format specification string such as '.3g', got {_describe_value(spec)}")
    try:
        format(0 if spec.endswith("d") else 0.0, spec)
    except (ValueError, TypeError) as exc:
        raise InvalidParameterError(f"spec must be a format specification such as '.3g' or 'd', got {_describe_value(spec)} "
                                    f"({exc})") from None
    value = float(value)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    from ..glue import for_readers

    return for_readers(format(int(round(value)) if spec.endswith("d") else value, spec)).replace("-", "−")


def colour(k: int) -> str:
    """The ``k``-th colour of the book's cycle (:data:`COLOURS`), cycling.

    Examples
    --------
    >>> colour(0), colour(len(COLOURS))
    ('#0072B2', '#0072B2')
    """
    return COLOURS[check_int("k", k, 0) % len(COLOURS)]


# ------------------------------------------------------------------------------------------------
# text for readers: TeX in labels -> plain Unicode (alternative texts)
# ------------------------------------------------------------------------------------------------
_GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π",
    "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "φ", "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
    "Delta": "Δ", "Gamma": "Γ", "Sigma": "Σ", "Phi": "Φ", "Omega": "Ω",
}
_SYMBOLS = {
    "times": "×", "pm": "±", "infty": "∞", "leq": "≤", "le": "≤", "geq": "≥", "ge": "≥", "approx": "≈",
    "cdot": "·", "to": "→", "rightarrow": "→", "mapsto": "↦", "propto": "∝", "ln": "ln", "log": "log",
    "exp": "exp", "max": "max", "min": "min", "partial": "∂", "nabla": "∇", "odot": "⊙", "ell": "ℓ",
    "sqrt": "√", "cos": "cos", "sin": "sin", "tanh": "tanh", "quad": " ", "qquad": " ", ",": " ", ";": " ",
    "!": "", " ": " ", "%": "%", "_": "_", "{": "{", "}": "}",
}
_SUP = str.maketrans("0123456789+-=()niklx*", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱᵏˡˣ*")
_SUB = str.maketrans("0123456789+-=()aeijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ")


def _script(text: str, table: dict, marker: str) -> str:
    """Super- or subscript characters where Unicode has them all, else ``^x`` / ``_(xy)``."""
    if text and all(ch == "*" or ch.translate(table) != ch for ch in text):
        return text.translate(table)
    return f"{marker}{text}" if len(text) == 1 else f"{marker}({text})"


def _math_to_text(tex: str) -> str:
    s = tex
    s = re.sub(r"\\(?:mathrm|text|mathbf|mathit|operatorname|mathcal|mathbb|rm|bf|it)\s*\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)\s*", "", s)
    s = re.sub(r"\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"(\1)/(\2)", s)
    s = re.sub(r"\\sqrt\s*\{([^{}]*)\}", r"√(\1)", s)
    s = re.sub(r"\\overline\s*\{([^{}]*)\}|\\bar\s*\{([^{}]*)\}|\\bar\s*(\w)",
               lambda m: "mean " + (m.group(1) or m.group(2) or m.group(3)), s)
    s = re.sub(r"\\([A-Za-z]+|.)", lambda m: _GREEK.get(m.group(1), _SYMBOLS.get(m.group(1), m.group(1))), s)

    def sup(m):
        body = m.group(1) if m.group(1) is not None else m.group(2)
        return _script(body, _SUP, "^")

    def sub(m):
        body = m.group(1) if m.group(1) is not None else m.group(2)
        return _script(body, _SUB, "_")

    s = re.sub(r"\^\{([^{}]*)\}|\^(\S)", sup, s)
    s = re.sub(r"_\{([^{}]*)\}|_(\S)", sub, s)
    s = s.replace("{", "").replace("}", "")
    return re.sub(r"\s+", " ", s).strip()


def plain_text(label: str) -> str:
    r"""A matplotlib label with mathtext (``$...$``) written as plain Unicode text, for alternative texts.

    Parameters
    ----------
    label : str
        Text as given to matplotlib, with ``$...$`` math.

    Returns
    -------
    str

    Examples
    --------
    >>> plain_text(r"weight variance $\sigma_w^2$")
    'weight variance σ_w²'
    >>> plain_text(r"$\chi(c^*) < 1$, $q^l$ $\times 10$")
    'χ(c*) < 1, qˡ × 10'
    """
    if not isinstance(label, str):
        raise InvalidParameterError(f"label must be a string, got {_describe_value(label)}")
    parts = re.split(r"(?<!\\)\$", label)
    out = [p if i % 2 == 0 else _math_to_text(p) for i, p in enumerate(parts)]
    return re.sub(r"\s+", " ", "".join(out).replace("\\$", "$")).strip()


# ------------------------------------------------------------------------------------------------
# the figure
# ------------------------------------------------------------------------------------------------
class BookFigure(Figure):
    """A :class:`matplotlib.figure.Figure` that knows how the book shows it.

    Made by :func:`new_figure`. In a notebook (and in the HTML book) it displays as a ``<picture>``
    of its wide and narrow PNG variants with an alternative text; renderers without HTML (the PDF
    edition) get the wide PNG.

    Attributes
    ----------
    panels : list of matplotlib.axes.Axes
        The panels in reading order (colour bars are not panels); the narrow variant stacks them.
    narrow_panel_height : float
        Height of one panel in the narrow variant, inches.
    """

    panels: list
    narrow_panel_height: float
    _alt: str | None = None

    # -- alternative text ----------------------------------------------------------------------
    @property
    def alt(self) -> str:
        """The alternative text: set by a chapter, else a description of the panels (:func:`describe`)."""
        return self._alt if self._alt else describe(self)

    @alt.setter
    def alt(self, text: str | None) -> None:
        self._alt = None if text is None else " ".join(str(text).split())

    # -- rendering -----------------------------------------------------------------------------
    def _has_narrow(self) -> bool:
        return self.get_figwidth() > NARROW_WIDTH + 1e-6

    def css_size(self, *, narrow: bool = False) -> tuple[int, int]:
        """Width and height, in CSS pixels, at which the page shows the (wide or narrow) figure."""
        with self._narrow_layout(narrow):
            w, h = self.get_size_inches()
        return round(w * CSS_PX_PER_INCH), round(h * CSS_PX_PER_INCH)

    def png(self, *, narrow: bool = False, resolution: float = RESOLUTION) -> bytes:
        """The figure as PNG bytes: :data:`RESOLUTION` image pixels per CSS pixel, wide or narrow layout."""
        buf = io.BytesIO()
        with style_context(), self._narrow_layout(narrow):
            self.draw_without_rendering()  # the layout uses the tick labels of the last draw: settle it first
            self.savefig(buf, format="png", dpi=CSS_PX_PER_INCH * float(resolution), facecolor="white")
        return buf.getvalue()

    @contextmanager
    def _narrow_layout(self, narrow: bool):
        """Temporarily stack the panels in one column at :data:`NARROW_WIDTH` (restored afterwards)."""
        if not narrow or not self._has_narrow():
            yield
            return
        panels = [ax for ax in getattr(self, "panels", []) if ax.get_visible()]
        size = self.get_size_inches().copy()
        specs = [ax.get_subplotspec() for ax in panels]
        legends = list(self.legends)
        try:
            if len(panels) > 1:
                grid = self.add_gridspec(len(panels), 1)
                for i, ax in enumerate(panels):
                    ax.set_subplotspec(grid[i, 0])
            extra = 0.0
            for i, leg in enumerate(legends):  # figure legends made by legend_below: one column
                args = getattr(leg, "_nsp_args", None)
                if args is not None:
                    one_column = self.legend(args[0], args[1], **{**args[2], "ncols": 1})
                    self.legends.pop()
                    self.legends[i] = one_column
                    extra += _legend_height(len(args[1]))
                else:
                    extra += _legend_height(len(leg.texts))
            if self._suptitle is not None and self._suptitle.get_text():
                extra += 0.3
            height = max(1, len(panels)) * getattr(self, "narrow_panel_height", 2.6) + extra
            self.set_size_inches(NARROW_WIDTH, _whole_pixels(height), forward=False)
            yield
        finally:
            for ax, spec in zip(panels, specs):
                if spec is not None:
                    ax.set_subplotspec(spec)
            self.legends[:] = legends
            self.set_size_inches(*size, forward=False)

    def to_html(self) -> str:
        """The ``<picture>`` element that shows the figure: narrow variant below :data:`NARROW_BREAKPOINT`."""
        return picture_html(self.png(), self.css_size(), self.alt,
                            narrow=(self.png(narrow=True), self.css_size(narrow=True)) if self._has_narrow() else None)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        bundle = {
            "text/html": self.to_html(),
            "image/png": base64.b64encode(self.png()).decode("ascii"),
            "text/plain": f"<figure: {self.alt}>",
        }
        display(bundle, raw=True)


def picture_html(png: bytes, size: tuple[int, int], alt: str, *, narrow=None) -> str:
    """An HTML ``<picture>`` of a PNG shown at ``size`` CSS pixels, with an optional narrow variant.

    Parameters
    ----------
    png : bytes
        The wide image.
    size : (int, int)
        Its width and height on the page, CSS pixels.
    alt : str
        Alternative text.
    narrow : (bytes, (int, int)), optional
        The narrow image and its size, shown in windows narrower than :data:`NARROW_BREAKPOINT`.

    Returns
    -------
    str

    Examples
    --------
    >>> picture_html(b"x", (10, 5), 'a "b"')
    '<picture class="nsp-figure"><img src="data:image/png;base64,eA==" width="10" height="5" alt="a &quot;b&quot;" style="max-width: 100%; height: auto"></picture>'
    """
    def uri(data: bytes) -> str:
        return "data:image/png;base64," + base64.b64encode(data).decode("ascii")

    source = ""
    if narrow is not None:
        data, (w, h) = narrow
        source = (f'<source media="(max-width: {NARROW_BREAKPOINT - 0.02:g}px)" srcset="{uri(data)}" '
                  f'width="{w}" height="{h}">')
    w, h = size
    return (f'<picture class="nsp-figure">{source}<img src="{uri(png)}" width="{w}" height="{h}" '
            f'alt="{html.escape(alt, quote=True)}" style="max-width: 100%; height: auto"></picture>')


def describe(fig) -> str:
    """An alternative text for a figure: its panels' titles, axis labels and legends, as plain text.

    Examples
    --------
    >>> fig, axes = new_figure(1, 1, width=3.0, height=2.0)
    >>> _ = axes[0, 0].set(xlabel="layer $l$", ylabel="variance $q^l$")
    >>> describe(fig)
    'Figure: variance qˡ against layer l.'
    """
    panels = [ax for ax in getattr(fig, "panels", fig.axes) if ax.get_visible()]
    parts = []
    for k, ax in enumerate(panels):
        title = " ".join(plain_text(ax.get_title(loc=where)) for where in ("left", "center", "right")
                         if ax.get_title(loc=where)).strip()
        x, y = plain_text(ax.get_xlabel()), plain_text(ax.get_ylabel())
        what = f"{y or 'values'} against {x or 'position'}" if (x or y) else "empty"
        legend = ax.get_legend()
        entries = [plain_text(t.get_text()) for t in legend.get_texts()] if legend is not None else []
        text = (title + ": " if title else "") + what
        if entries:
            text += "; legend: " + ", ".join(entries)
        if len(panels) > 1 and not re.match(r"\(\w\)", title):
            text = f"Panel {k + 1}" + (" " if title else ": ") + text
        elif len(panels) > 1:
            text = "Panel " + text
        parts.append(text)
    fig_entries = [text for leg in fig.legends for t in leg.get_texts() if (text := plain_text(t.get_text()))]
    if len(fig_entries) > 8:  # a long legend is for the eye; the caption says what the marks mean
        fig_entries = []
    head = f"Figure in {len(panels)} panels." if len(panels) > 1 else "Figure:"
    suptitle = plain_text(fig._suptitle.get_text()) if getattr(fig, "_suptitle", None) is not None else ""
    text = head + (f" {suptitle}." if suptitle else "") + " " + ". ".join(parts) + "."
    if fig_entries:
        text += " Legend: " + ", ".join(fig_entries) + "."
    return re.sub(r"\s+", " ", text).strip()


def _cell_edges(centres, single: float = 0.5) -> np.ndarray:
    """Edges of heat-map cells around sorted centres, half-way between neighbours (uneven grids too).

    A single centre gets a cell ``2 * single`` wide.

    Examples
    --------
    >>> _cell_edges([2, 6, 10, 18]).tolist()
    [0.0, 4.0, 8.0, 14.0, 22.0]
    >>> _cell_edges([0.6], single=0.05).tolist()
    [0.55, 0.65]
    """
    c = np.asarray(centres, dtype=float)
    if c.size == 1:
        return np.array([c[0] - single, c[0] + single])
    mid = (c[:-1] + c[1:]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = TEXT_WIDTH, height: float | None = None,
               narrow_panel_height: float | None = None, **subplot_kw):
    """A :class:`BookFigure` with a grid of panels, in the book's style.

    Parameters
    ----------
    nrows, ncols : int
        The grid of panels (wide layout); the narrow layout stacks them in one column, row by row.
    width : float
        Width in inches (default :data:`TEXT_WIDTH`, the column; at most :data:`TEXT_WIDTH`).
    height : float, optional
        Height in inches of the panels (default: 2.8 inches per row); :func:`legend_below` adds the
        height of its legend.
    narrow_panel_height : float, optional
        Height of one panel in the narrow layout (default: the height of a row, between 2.3 and 3 inches).
    **subplot_kw
        Passed to :meth:`matplotlib.figure.Figure.subplots` (``sharex``, ``sharey``, ``width_ratios``, ...).

    Returns
    -------
    fig : BookFigure
    axes : numpy.ndarray of matplotlib.axes.Axes, shape ``(nrows, ncols)``

    Examples
    --------
    >>> fig, axes = new_figure(2, 2)
    >>> fig.get_size_inches().tolist(), len(fig.panels)
    ([7.0, 5.6], 4)
    """
    width = check_float("width", width, 0.0, TEXT_WIDTH, low_open=True, hint="inches; TEXT_WIDTH is the page's column")
    nrows, ncols = check_int("nrows", nrows, 1, 100), check_int("ncols", ncols, 1, 100)
    height = _whole_pixels(2.8 * nrows if height is None else check_float("height", height, 0.0, 100.0, low_open=True,
                                                                           hint="inches"))
    if narrow_panel_height is not None:
        narrow_panel_height = check_float("narrow_panel_height", narrow_panel_height, 0.0, 100.0, low_open=True, hint="inches")
    width = _whole_pixels(width)
    with style_context():
        fig = BookFigure(figsize=(float(width), height), dpi=CSS_PX_PER_INCH, layout="constrained",
                         facecolor="white")
        axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    fig.panels = list(axes.flat)
    fig.narrow_panel_height = float(narrow_panel_height) if narrow_panel_height is not None else min(
        3.0, max(2.3, height / nrows))
    return fig, axes


def legend_below(fig, ax=None, *, ncols: int = 2, handles=None, labels=None, groups=None):
    """One legend for the whole figure, below the panels (off the data); one column in the narrow variant.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes, optional
        Take the entries from this panel (default: every panel, without repeats).
    ncols : int
        Columns in the wide layout.
    handles, labels : list, optional
        Explicit entries.
    groups : sequence of (str, list, list), optional
        ``(title, handles, labels)`` per column: each group gets a column of its own under its title
        (for example one per panel), instead of the entries above.

    Returns
    -------
    matplotlib.legend.Legend

    Examples
    --------
    >>> fig, axes = new_figure(1, 2)
    >>> a = axes[0, 0].plot([0, 1], label="one")
    >>> b = axes[0, 1].plot([1, 0], label="two")
    >>> [t.get_text() for t in legend_below(fig).get_texts()]
    ['one', 'two']
    >>> legend = legend_below(fig, groups=[("(a)", a, ["one"]), ("(b)", b + b, ["two", "three"])])
    >>> [t.get_text() for t in legend.get_texts()]
    ['(a)', 'one', '', '(b)', 'two', 'three']
    """
    from matplotlib.patches import Rectangle

    if groups is not None:
        def blank():
            return Rectangle((0, 0), 1, 1, visible=False)

        groups = [(title, list(h), list(lab)) for title, h, lab in groups]
        rows = max(len(h) for _, h, _ in groups) + 1
        handles, labels, narrow_handles, narrow_labels = [], [], [], []
        for title, h, lab in groups:
            column = [(blank(), title)] + list(zip(h, lab))
            column += [(blank(), "")] * (rows - len(column))
            handles += [c[0] for c in column]
            labels += [c[1] for c in column]
            narrow_handles += [blank()] + h
            narrow_labels += [title] + lab
        ncols = len(groups)
    elif handles is None:
        handles, labels, seen = [], [], set()
        for a in [ax] if ax is not None else getattr(fig, "panels", fig.axes):
            for h, lab in zip(*a.get_legend_handles_labels()):
                if lab not in seen:
                    seen.add(lab)
                    handles.append(h)
                    labels.append(lab)
    if groups is None:
        narrow_handles, narrow_labels = list(handles), list(labels)
    kwargs = dict(loc="outside lower center", frameon=False)
    ncols = max(1, min(ncols, len(labels)))
    legend = fig.legend(handles, labels, ncols=ncols, **kwargs)
    legend._nsp_args = (narrow_handles, narrow_labels, kwargs)  # the narrow variant remakes it in one column
    # the figure grows by the legend's height, so that the panels keep theirs
    width, height = fig.get_size_inches()
    fig.set_size_inches(width, _whole_pixels(height + _legend_height(-(-len(labels) // ncols))), forward=False)
    return legend


def _whole_pixels(inches: float) -> float:
    """A length in inches rounded to whole CSS pixels (so that the PNGs are exactly twice the shown size)."""
    return round(inches * CSS_PX_PER_INCH) / CSS_PX_PER_INCH


def _legend_height(rows: int) -> float:
    """Height in inches of a legend of ``rows`` rows at :data:`SMALL_FONT_SIZE` (with its padding)."""
    return 0.1 + rows * SMALL_FONT_SIZE * 1.55 / 72


# ------------------------------------------------------------------------------------------------
# finishing a figure
# ------------------------------------------------------------------------------------------------
def finish(fig):
    """Apply what the book asks of every figure, after a figure function has drawn it.

    * no text smaller than :data:`MIN_FONT_SIZE` (tick labels, legends, annotations, contour labels);
    * tick labels of every axes at :data:`SMALL_FONT_SIZE` (also those matplotlib makes while drawing);
    * the colour cycle (``"C0"``, ``"C1"``, ...) resolved to :data:`COLOURS`, so the figure looks the same
      wherever it is rendered;
    * an opaque white background;
    * tick labels of logarithmic axes written for readers (``0.5``, ``2``, ``1000``; ``10⁻⁶`` far from 1),
      and ticks at whole numbers on axes of layers and epochs.

    Parameters
    ----------
    fig : matplotlib.figure.Figure

    Returns
    -------
    matplotlib.figure.Figure
        The same figure.
    """
    from matplotlib.colors import to_rgba
    from matplotlib.lines import Line2D
    from matplotlib.text import Text

    with style_context():
        fig.set_facecolor("white")
        for ax in fig.axes:
            ax.tick_params(which="both", labelsize=max(SMALL_FONT_SIZE, MIN_FONT_SIZE))
            for axis in (ax.xaxis, ax.yaxis):  # 0.5, 2, 1000 rather than 5 x 10^-1; 10^-6 where it must
                if axis.get_scale() == "log" and type(axis.get_major_formatter()).__name__ == "LogFormatterSciNotation":
                    _reader_log_formatters(axis)
                elif axis.get_scale() == "linear" and _COUNTED.match(axis.get_label_text()):
                    from matplotlib.ticker import MaxNLocator

                    axis.set_major_locator(MaxNLocator(integer=True))  # layers and epochs are whole numbers
        for text in fig.findobj(Text):
            if text.get_fontsize() < MIN_FONT_SIZE:
                text.set_fontsize(MIN_FONT_SIZE)
            colour_ = text.get_color()
            if isinstance(colour_, str) and re.fullmatch(r"C\d+", colour_):
                text.set_color(to_rgba(colour_))
        for line in fig.findobj(Line2D):
            for get, set_ in ((line.get_color, line.set_color), (line.get_markerfacecolor, line.set_markerfacecolor),
                              (line.get_markeredgecolor, line.set_markeredgecolor)):
                value = get()
                if isinstance(value, str) and re.fullmatch(r"C\d+", value):
                    set_(to_rgba(value))
    return fig


#: axis labels of quantities that are counted (ticks at whole numbers only)
_COUNTED = re.compile(r"^(layer\b|layers back|depth \$L\$|epoch)")


def _log_tick_label(value: float, decades: float, minor: bool) -> str:
    """A tick label of a logarithmic axis: ``0.2``, ``5``, ``1000`` in a reader's range, ``10⁻⁶`` outside it.

    Minor ticks (2 and 5 times a power of ten) are labelled only on axes spanning about one decade,
    where the decades alone would leave too few labels.
    """
    if not np.isfinite(value) or value <= 0:
        return ""
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = value / 10.0**exponent
    if minor and (decades > 1.5 or not any(abs(mantissa - m) < 1e-6 for m in (2, 3, 5))):
        return ""
    if 1e-3 <= value < 1e4:
        return f"{value:g}"
    if abs(mantissa - 1) < 1e-6:
        return f"$10^{{{exponent}}}$"
    return f"${mantissa:g}\\times 10^{{{exponent}}}$"


def _reader_log_formatters(axis):
    from matplotlib.ticker import Formatter

    class ReaderLogFormatter(Formatter):
        def __init__(self, minor: bool):
            self.minor = minor

        def __call__(self, value, pos=None):
            low, high = sorted(abs(v) for v in self.axis.get_view_interval())
            decades = math.log10(high / low) if low > 0 else np.inf
            return _log_tick_label(value, decades, self.minor)

    axis.set_major_formatter(ReaderLogFormatter(False))
    axis.set_minor_formatter(ReaderLogFormatter(True))


def figure_function(fn):
    """Decorator of every figure function: run it in the book's style and :func:`finish` its figure.

    The wrapped function is marked with ``__book_figure__ = True`` (the tests check that every public
    figure function of :mod:`nsp_helpers.plots` is).
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with style_context():
            fig = fn(*args, **kwargs)
        return finish(fig)

    wrapper.__book_figure__ = True
    return wrapper
