"""Sliders over figures that work in a live kernel *and* in the static HTML book.

The book's interactive figures are made with one function, :func:`slider_figure`. It takes a figure
function ``figure_fn(**kwargs) -> matplotlib.figure.Figure`` and one or two keyword *grids* (lists of
values), and returns an ipywidgets box holding the slider(s) and the figure.

API
---
``slider_figure(figure_fn, *, dpi=96, width=None, labels=None, formats=None, initial=None,
max_frames=60, live=None, live_steps=100, grid_only=(), **grids) -> SliderFigure``

* ``grids``: one or two keyword arguments, each a non-empty list of distinct values, e.g.
  ``keep_prob=[0.5, 0.7, 0.9]``. ``figure_fn`` is called with one value from each grid as keywords.
* ``labels``: slider descriptions by grid name (default: the grid name).
* ``formats``: how values are written on the slider, by grid name: a format string such as
  ``"{:.2f}"`` or a callable ``value -> str`` (default ``"{:g}"`` for numbers, ``str`` otherwise).
* ``initial``: starting value by grid name (default: the first value of each grid).
* ``dpi`` and ``width``: the scale at which a frame is shown, in CSS pixels per inch of the figure
  (default 96, the scale of the book's static figures: a figure's points are the page's points), or
  its shown width in CSS pixels. The PNGs have :data:`~nsp_helpers.plots.style.RESOLUTION` (2) image
  pixels per CSS pixel, sharp on high-DPI screens.
* ``max_frames``: a larger grid product raises :class:`~nsp_helpers.errors.InvalidParameterError`
  (keeps page weight reasonable); a ``UserWarning`` is issued above 4 MB of PNG in one widget.
* ``live``: see *Behaviour* below; ``None`` reads the environment variable ``NSP_LIVE_WIDGETS``
  (``"1"`` turns live mode on), so a reader on Binder can make every slider of a chapter live
  without editing it.

Behaviour
---------
**Precomputed mode** (``live=False``, the default, and what the book uses). Every frame is rendered once,
when the cell runs, as the book shows a static figure (:mod:`nsp_helpers.plots.style`): an HTML
``<picture>`` in an :class:`ipywidgets.HTML`, with an alternative text and, for a figure of
:mod:`nsp_helpers.plots`, a narrow variant with the panels stacked that windows narrower than
:data:`~nsp_helpers.plots.style.NARROW_BREAKPOINT` CSS pixels show; PNGs that lose nothing visible
in 256 colours are stored with a palette (about a third of the bytes). The frames sit in a
:class:`ipywidgets.Stack` whose ``selected_index`` is joined to the slider's ``index`` by
:func:`ipywidgets.jslink`. A link runs in the browser, from the widget state embedded in the page, so
the slider moves through the frames in the static site with no kernel, and in a live kernel alike.
Two sliders use a Stack of Stacks: the outer one follows slider 1, and each inner Stack (one per value
of grid 1) follows slider 2. The slider is a :class:`ipywidgets.SelectionSlider`: it only takes grid
values.

**Live mode** (``live=True``; only meaningful in a running kernel, never in the built book). Numeric
grids become continuous :class:`ipywidgets.FloatSlider` from the smallest to the largest grid value
(with ``live_steps`` steps); integer grids become :class:`ipywidgets.IntSlider` (step: the greatest
common divisor of the gaps, so a depth grid ``[10, 20, 40]`` moves in steps of 10); other grids stay
selection sliders. Moving a slider calls
``figure_fn`` again at the new value, *including values between grid points*. A grid named in
``grid_only`` (``grid_only=True``: every grid) is for a ``figure_fn`` that can only take the grid's own
values (data computed or stored at those values): its live slider snaps to the grid values, and a
note under the sliders says so. Nothing is precomputed, there is no frame limit, and the figure is
re-rendered into a single Image when the slider is released, at the size it is shown (``width`` CSS
pixels, else the figure's own size at ``dpi``: never stretched). If ``figure_fn`` raises, the
traceback appears in an output area under the figure (and the figure stays as it was), not only in
the kernel's log.

Every figure made by ``figure_fn`` is closed after rendering, so nothing leaks into the notebook's
output or memory.

Examples
--------
>>> import numpy as np
>>> import matplotlib.figure
>>> def parabola(scale):
...     fig = matplotlib.figure.Figure(figsize=(3, 2))
...     x = np.linspace(-1, 1, 50)
...     fig.add_subplot().plot(x, scale * x**2)
...     return fig
>>> box = slider_figure(parabola, scale=[0.5, 1.0, 2.0], labels={"scale": "a"}, formats={"scale": "{:.1f}"})
>>> box.n_frames, [s.description for s in box.sliders], box.sliders[0].options
(3, ['a'], (('0.5', 0.5), ('1.0', 1.0), ('2.0', 2.0)))
>>> box.frame_png(0)[:4] == b"\\x89PNG", "<picture" in box.frames[0].value
(True, True)
>>> slider_figure(parabola, scale=[])
Traceback (most recent call last):
...
nsp_helpers.errors.InvalidParameterError: grid 'scale' must be a non-empty list of distinct values, got []

This module is the top layer of the package (with :mod:`nsp_helpers.plots`): nothing else imports it.
Introduced in the chapter *How to use this book* (``book/how_to_use.md``).
"""

from __future__ import annotations

import base64
import html
import io
import math
import numbers
import os
import warnings
from typing import Callable, Iterable, Mapping

import ipywidgets as widgets

from .errors import InvalidParameterError, check_bool, check_float, check_int

__all__ = ["SliderFigure", "slider_figure", "render_png", "MAX_WIDGET_BYTES"]

#: CSS pixels per inch of a figure (the scale of the book's static figures: nsp_helpers.plots.style)
_CSS_PX_PER_INCH = 96
#: image pixels per CSS pixel of a frame (nsp_helpers.plots.style.RESOLUTION)
_RESOLUTION = 2

#: A precomputed widget larger than this (sum of its PNG frames, in bytes) triggers a ``UserWarning``.
MAX_WIDGET_BYTES = 4_000_000


class SliderFigure(widgets.VBox):
    """The box returned by :func:`slider_figure`: slider(s) on top, figure below.

    It is a plain :class:`ipywidgets.VBox` (same front-end model), with a few read-only conveniences
    for tests and for readers.

    Attributes
    ----------
    sliders : list of ipywidgets widgets
        One slider per grid, in the order the grids were given.
    frames : list of ipywidgets.HTML or ipywidgets.Image
        The precomputed frames (HTML ``<picture>`` elements), row-major over (grid 1, grid 2); in live
        mode, the single live Image.
    links : list of ipywidgets.widgets.widget_link.Link
        The client-side links (slider index -> Stack selected_index); empty in live mode.
    live : bool
        Whether the widget re-renders in the kernel (live mode) or shows precomputed frames.
    output : ipywidgets.Output or None
        Live mode: the area under the figure where an error of ``figure_fn`` is shown; else ``None``.
    """

    def __init__(self, children, *, sliders, frames, links, live, output=None, pngs=None, **kwargs):
        super().__init__(children=children, **kwargs)
        self._sliders = list(sliders)
        self._frames = list(frames)
        self._pngs = list(pngs) if pngs is not None else None
        self._links = list(links)
        self._live = bool(live)
        self._output = output

    def shown_frame(self) -> bytes:
        """The PNG bytes of the figure the widget shows now (the frame its stacks select).

        Examples
        --------
        >>> import matplotlib.figure
        >>> def dot(size):
        ...     fig = matplotlib.figure.Figure(figsize=(1, 1))
        ...     fig.add_subplot().plot([0], [0], "o", markersize=size)
        ...     return fig
        >>> box = slider_figure(dot, size=[2, 8], initial={"size": 8}, dpi=30)
        >>> box.shown_frame() == box.frame_png(1), "image/png" in box._repr_mimebundle_()
        (True, True)
        """
        if self._pngs is None:  # live mode: the one live Image (the last child is the error area under it)
            return bytes(self._frames[0].value)
        node = self.children[-1]
        while isinstance(node, widgets.Stack):
            node = node.children[node.selected_index or 0]
        return self._pngs[self._frames.index(node)]

    def frame_png(self, index: int) -> bytes:
        """The (wide) PNG of precomputed frame ``index`` (row-major over the grids); live mode: the Image's."""
        if self._pngs is None:
            return bytes(self._frames[index].value)
        return self._pngs[index]

    def _repr_mimebundle_(self, **kwargs):
        """The widget, plus its shown frame as ``image/png`` for renderers without widgets.

        Front ends that render widgets (JupyterLab, the HTML book) show the sliders; the PDF edition,
        GitHub's notebook viewer and other static renderers fall back to the PNG of the figure shown.
        """
        data = super()._repr_mimebundle_(**kwargs)
        if data is not None:
            data = {**data, "image/png": base64.b64encode(self.shown_frame()).decode("ascii")}
        return data

    sliders = property(lambda self: list(self._sliders))
    frames = property(lambda self: list(self._frames))
    links = property(lambda self: list(self._links))
    live = property(lambda self: self._live)
    output = property(lambda self: self._output)
    n_frames = property(lambda self: len(self._frames), doc="Number of precomputed frames (1 in live mode).")


def render_png(fig, *, dpi: float = 72) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure; it is closed afterwards (also when made with ``pyplot``).
    dpi : float
        Resolution in dots per inch, in (0, 600].

    Returns
    -------
    bytes
        The PNG file.

    Examples
    --------
    >>> import matplotlib.figure
    >>> png = render_png(matplotlib.figure.Figure(figsize=(1, 1)), dpi=50)
    >>> png[:4] == b"\\x89PNG"
    True
    """
    import matplotlib.figure
    import matplotlib.pyplot as plt

    if not isinstance(fig, matplotlib.figure.Figure):
        raise InvalidParameterError(
            f"figure_fn must return a matplotlib.figure.Figure, got {type(fig).__name__}"
        )
    dpi = check_float("dpi", dpi, 0, 600, low_open=True)
    pixels = fig.get_size_inches() * dpi
    if min(pixels) < 1:
        plt.close(fig)
        raise InvalidParameterError(
            f"dpi = {dpi:g} leaves no pixel: the figure is {fig.get_size_inches()[0]:g} x {fig.get_size_inches()[1]:g} "
            f"inches, {pixels[0]:.3g} x {pixels[1]:.3g} pixels; raise dpi"
        )
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)  # not "tight": every frame keeps the same pixel size
    finally:
        plt.close(fig)
    return buf.getvalue()


def _compact_png(png: bytes) -> bytes:
    """The PNG with a 256-colour palette when that changes nothing visible (line plots), else unchanged.

    Heat maps with smooth colour gradients would band: they keep their full colours.
    """
    import numpy as np
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    palette = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    error = np.abs(np.asarray(palette.convert("RGB"), dtype=np.int16) - np.asarray(image, dtype=np.int16)).mean()
    if error > 0.25:
        return png
    buf = io.BytesIO()
    palette.save(buf, format="PNG")
    return buf.getvalue() if buf.tell() < len(png) else png


def render_frame(fig, *, dpi: float = _CSS_PX_PER_INCH, width: int | None = None) -> tuple[list[bytes], str]:
    """Render a figure as a slider frame: its PNG(s), and the HTML ``<picture>`` that shows them; close it.

    As the book shows a static figure (:class:`nsp_helpers.plots.style.BookFigure`): shown at ``dpi``
    CSS pixels per inch (or ``width`` CSS pixels wide) from PNGs with twice as many pixels, with an
    alternative text, and for a figure of :mod:`nsp_helpers.plots` a narrow variant with its panels
    stacked.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    dpi : float
        CSS pixels per inch at which the frame is shown, in (0, 600].
    width : int, optional
        Shown width in CSS pixels (instead of ``dpi``).

    Returns
    -------
    pngs : list of bytes
        The wide PNG, then the narrow one if there is one.
    html : str

    Examples
    --------
    >>> import matplotlib.figure
    >>> fig = matplotlib.figure.Figure(figsize=(2, 1))
    >>> _ = fig.add_subplot().set(xlabel="x", ylabel="y")
    >>> pngs, text = render_frame(fig, dpi=50)
    >>> len(pngs), _png_size(pngs[0]), 'width="100" height="50"' in text, 'alt="Figure: y against x."' in text
    (1, (200, 100), True, True)
    """
    import matplotlib.figure
    import matplotlib.pyplot as plt

    from .plots.style import picture_html

    if not isinstance(fig, matplotlib.figure.Figure):
        raise InvalidParameterError(f"figure_fn must return a matplotlib.figure.Figure, got {type(fig).__name__}")
    try:
        scale = width / fig.get_figwidth() if width is not None else float(dpi)
        css = (round(fig.get_figwidth() * scale), round(fig.get_figheight() * scale))
        name, value = ("width", width) if width is not None else ("dpi", dpi)
        pixels = fig.get_size_inches() * scale * _RESOLUTION
        if min(pixels) < 1:
            raise InvalidParameterError(
                f"{name} = {value:g} leaves no pixel: the figure is {fig.get_size_inches()[0]:g} x "
                f"{fig.get_size_inches()[1]:g} inches, {pixels[0]:.3g} x {pixels[1]:.3g} pixels; raise {name}")
        try:
            wide, alt, narrow = _render_wide_narrow(fig, scale)
        except RuntimeError as exc:  # FreeType cannot draw text below one pixel per em
            if "ppem" not in str(exc) and "FT_" not in str(exc):
                raise
            raise InvalidParameterError(
                f"{name} = {value:g} is too small to draw the figure's text ({scale * _RESOLUTION:.3g} pixels per "
                f"inch); raise {name}") from exc
    finally:
        plt.close(fig)
    text = picture_html(wide, css, alt, narrow=narrow)
    return [wide] + ([narrow[0]] if narrow else []), text


def _render_wide_narrow(fig, scale: float):
    """The wide PNG, the alternative text and the narrow ``(PNG, CSS size)`` (or ``None``) of a frame."""
    from .plots.style import BookFigure, describe

    if isinstance(fig, BookFigure):
        wide = _compact_png(fig.png(resolution=scale * _RESOLUTION / _CSS_PX_PER_INCH))
        alt = fig.alt
        narrow = None
        if fig._has_narrow():
            narrow = (_compact_png(fig.png(narrow=True)), fig.css_size(narrow=True))
    else:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=scale * _RESOLUTION)  # not "tight": every frame keeps its size
        wide, alt, narrow = _compact_png(buf.getvalue()), describe(fig), None
    return wide, alt, narrow


def _default_format(value) -> str:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"{value:g}"
    return str(value)


def _formatter(name: str, formats: Mapping) -> Callable[[object], str]:
    fmt = formats.get(name)
    if fmt is None:
        return _default_format
    if callable(fmt):
        return fmt
    if isinstance(fmt, str):
        return fmt.format
    raise InvalidParameterError(f"formats[{name!r}] must be a format string or a callable, got {fmt!r}")


def _as_grid(name: str, values) -> list:
    if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__iter__"):
        raise InvalidParameterError(f"grid {name!r} must be a non-empty list of distinct values, got {values!r}")
    grid = list(values.tolist() if hasattr(values, "tolist") else values)  # numpy scalars -> Python
    if not grid or len(set(map(repr, grid))) != len(grid):
        raise InvalidParameterError(f"grid {name!r} must be a non-empty list of distinct values, got {grid!r}")
    numeric = [isinstance(v, numbers.Real) and not isinstance(v, bool) for v in grid]
    if any(numeric) and not all(numeric):
        raise InvalidParameterError(f"grid {name!r} must hold numbers only or no numbers at all, got {grid!r}")
    if all(numeric) and not all(math.isfinite(v) for v in grid):
        raise InvalidParameterError(f"grid {name!r} must hold finite numbers, got {grid!r}")
    return grid


def _is_numeric(grid) -> bool:
    return all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in grid)


def _is_integer(grid) -> bool:
    return all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in grid)


def _live_default() -> bool:
    return os.environ.get("NSP_LIVE_WIDGETS", "").strip().lower() in {"1", "true", "yes", "on"}


def _png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels of a PNG file, from its header."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _live_slider_figure(figure_fn, names, grid, start, labels, formats, snapped, *, dpi, width, live_steps, style,
                        slider_layout) -> SliderFigure:
    """The live-mode widget of :func:`slider_figure` (see its docstring)."""
    import traceback

    sliders = []
    for name in names:
        fmt = _formatter(name, formats)
        desc = labels.get(name, name)
        g = grid[name]
        if name in snapped or not _is_numeric(g):
            sliders.append(widgets.SelectionSlider(
                options=[(fmt(v), v) for v in g], index=start[name], description=desc,
                continuous_update=False, style=style, layout=slider_layout))
        elif _is_integer(g):
            lo, hi = min(g), max(g)
            step = math.gcd(*(b - a for a, b in zip(sorted(g), sorted(g)[1:]))) if len(g) > 1 else 1
            sliders.append(widgets.IntSlider(
                value=g[start[name]], min=lo, max=hi, step=step, description=desc,
                continuous_update=False, style=style, layout=slider_layout))
        else:
            lo, hi = min(g), max(g)
            step = (hi - lo) / live_steps if hi > lo else 1.0
            sliders.append(widgets.FloatSlider(
                value=g[start[name]], min=lo, max=hi, step=step, description=desc,
                continuous_update=False, readout_format=".4g", style=style, layout=slider_layout))

    def render(values) -> bytes:
        fig = figure_fn(**values)
        scale = dpi
        if width is not None and hasattr(fig, "get_figwidth") and fig.get_figwidth() > 0:
            scale = width / fig.get_figwidth()  # drawn at the size it is shown: width CSS pixels
        return render_png(fig, dpi=min(600.0, scale * _RESOLUTION))

    # shown at its own size (or `width`), never stretched to the output's width; narrower screens shrink it
    image_layout = widgets.Layout(max_width="100%", height="auto", align_self="flex-start")
    image = widgets.Image(format="png", layout=image_layout)

    def show(png: bytes) -> None:
        image.value = png
        image.width = str(width if width is not None else round(_png_size(png)[0] / _RESOLUTION))

    show(render({n: s.value for n, s in zip(names, sliders)}))
    output = widgets.Output(layout=widgets.Layout(max_width="100%"))

    def update(_change=None):
        output.outputs = ()  # clears the area in the front-end too
        try:
            show(render({n: s.value for n, s in zip(names, sliders)}))
        except Exception:  # shown under the figure: a live callback's errors would otherwise only reach the log
            output.append_stderr(traceback.format_exc())

    for s in sliders:
        s.observe(update, names="value")
    children = list(sliders)
    grid_note = [labels.get(n, n) for n in names if n in snapped and _is_numeric(grid[n])]
    if grid_note:
        text = html.escape(", ".join(grid_note))
        children.append(widgets.HTML(
            f"<small>{text}: the values of the grid only (the figure is made from data computed at those "
            "values), not values in between.</small>"))
    children += [image, output]
    return SliderFigure(children, sliders=sliders, frames=[image], links=[], live=True, output=output)


def slider_figure(
    figure_fn: Callable[..., object],
    *,
    dpi: float = _CSS_PX_PER_INCH,
    width: int | None = None,
    labels: Mapping[str, str] | None = None,
    formats: Mapping[str, object] | None = None,
    initial: Mapping[str, object] | None = None,
    max_frames: int = 60,
    live: bool | None = None,
    live_steps: int = 100,
    grid_only: bool | Iterable[str] = (),
    **grids,
) -> SliderFigure:
    """A figure with one or two sliders that works live in a kernel and precomputed in the static book.

    See the module docstring for the two modes. Introduced in *How to use this book*.

    Parameters
    ----------
    figure_fn : callable
        ``figure_fn(**values)`` returns a :class:`matplotlib.figure.Figure`, where ``values`` maps each
        grid name to one of its values. The figure is closed after rendering. It is saved at its own
        size (not cropped), so that all frames have the same size and the page does not jump when the
        slider moves: make it with ``layout="constrained"`` (or call ``tight_layout``) and fixed axis
        limits.
    dpi : float
        Scale at which frames are shown, CSS pixels per inch of the figure, in (0, 600]. The default 96
        shows them as the book's static figures (a 7-inch figure fills the 672-pixel column with its
        text at its own size); the PNGs have twice as many pixels.
    width : int or None
        Shown width in CSS pixels, in [1, 10000], instead of ``dpi`` (``None``: at ``dpi``).
    labels : dict, optional
        Slider description per grid name; default: the grid name.
    formats : dict, optional
        Per grid name, a format string (``"{:.2f}"``) or a callable returning the label of a value.
    initial : dict, optional
        Initial value per grid name (must be in the grid); default: the first grid value.
    max_frames : int
        Largest allowed number of precomputed frames (product of the grid lengths), at least 1.
    live : bool or None
        ``True``: re-render in the kernel at any slider value (between grid points too);
        ``False``: precompute frames (works in static HTML); ``None``: ``True`` iff the environment
        variable ``NSP_LIVE_WIDGETS`` is ``1``.
    live_steps : int
        Number of steps of a live float slider between its smallest and largest grid value, in [1, 100000].
    grid_only : bool or iterable of str
        Grids whose values ``figure_fn`` can only take from the grid itself (stored or precomputed data);
        ``True`` for all grids. In live mode their sliders snap to the grid values and a note says so;
        in precomputed mode every slider takes grid values only anyway.
    **grids : list
        One or two grids, each a non-empty list of distinct values.

    Returns
    -------
    SliderFigure
        An :class:`ipywidgets.VBox` with the slider(s) and the figure.

    Raises
    ------
    InvalidParameterError
        If there are not one or two grids, a grid is empty or has repeated values, a label, format or
        initial value or ``grid_only`` names an unknown grid, an initial value is not in its grid, the frame count
        exceeds ``max_frames``, ``dpi``/``width``/``max_frames``/``live_steps`` are out of range, or
        ``figure_fn`` does not return a Figure.

    Examples
    --------
    Two sliders (a Stack of Stacks, 2 x 3 frames):

    >>> import matplotlib.figure
    >>> def line(slope, offset):
    ...     fig = matplotlib.figure.Figure(figsize=(2, 2))
    ...     fig.add_subplot().plot([0, 1], [offset, offset + slope])
    ...     return fig
    >>> box = slider_figure(line, slope=[1, 2], offset=[0.0, 0.5, 1.0], width=300)
    >>> box.n_frames, len(box.links), 'width="300"' in box.frames[0].value
    (6, 3, True)
    >>> slider_figure(line, slope=[1, 2], offset=list(range(40)), max_frames=60)
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: max_frames: the grids give 80 frames, more than max_frames=60 (use coarser grids or raise max_frames)
    """
    if not callable(figure_fn):
        raise InvalidParameterError(f"figure_fn must be callable, got {figure_fn!r}")
    if not 1 <= len(grids) <= 2:
        raise InvalidParameterError(
            f"grids: give one or two keyword grids (e.g. keep_prob=[0.5, 0.9]), got {len(grids)}: {sorted(grids)}"
        )
    labels, formats, initial = dict(labels or {}), dict(formats or {}), dict(initial or {})
    if grid_only is True or grid_only is False:
        snapped = set(grids) if grid_only else set()
    elif isinstance(grid_only, str):
        snapped = {grid_only}
    else:
        snapped = set(grid_only)
    for what, mapping in (("labels", labels), ("formats", formats), ("initial", initial),
                          ("grid_only", dict.fromkeys(snapped))):
        unknown = sorted(set(mapping) - set(grids))
        if unknown:
            raise InvalidParameterError(f"{what} names unknown grid(s) {unknown}; the grids are {sorted(grids)}")
    dpi = check_float("dpi", dpi, 0, 600, low_open=True)
    if width is not None:
        width = check_int("width", width, 1, 10_000)
    max_frames = check_int("max_frames", max_frames, 1)
    live_steps = check_int("live_steps", live_steps, 1, 100_000)
    if live is not None:
        live = check_bool("live", live)
    names = list(grids)
    grid = {name: _as_grid(name, grids[name]) for name in names}
    start = {}
    for name in names:
        value = initial.get(name, grid[name][0])
        if value not in grid[name]:
            raise InvalidParameterError(f"initial[{name!r}] must be one of the grid values {grid[name]}, got {value!r}")
        start[name] = grid[name].index(value)
    if live is None:
        live = _live_default()

    style = {"description_width": "initial"}
    slider_layout = widgets.Layout(width="min(100%, 480px)")
    pngs: list[bytes] = []
    weight = [0]

    def frame(**values) -> widgets.HTML:
        images, text = render_frame(figure_fn(**values), dpi=dpi, width=width)
        pngs.append(images[0])
        weight[0] += sum(len(p) for p in images)
        return widgets.HTML(value=text, layout=widgets.Layout(max_width="100%"))

    if live:
        return _live_slider_figure(figure_fn, names, grid, start, labels, formats, snapped, dpi=dpi, width=width,
                                   live_steps=live_steps, style=style, slider_layout=slider_layout)

    n_frames = 1
    for name in names:
        n_frames *= len(grid[name])
    if n_frames > max_frames:
        raise InvalidParameterError(
            f"max_frames: the grids give {n_frames} frames, more than max_frames={max_frames} "
            "(use coarser grids or raise max_frames)"
        )
    sliders = [
        widgets.SelectionSlider(
            options=[(_formatter(name, formats)(v), v) for v in grid[name]], index=start[name],
            description=labels.get(name, name), continuous_update=True, style=style, layout=slider_layout)
        for name in names
    ]
    frames, links = [], []
    if len(names) == 1:
        (name,) = names
        frames = [frame(**{name: v}) for v in grid[name]]
        figure = widgets.Stack(frames, selected_index=start[name])
        links.append(widgets.jslink((sliders[0], "index"), (figure, "selected_index")))
    else:
        first, second = names
        inner_stacks = []
        for v1 in grid[first]:
            row = [frame(**{first: v1, second: v2}) for v2 in grid[second]]
            frames.extend(row)
            inner = widgets.Stack(row, selected_index=start[second])
            links.append(widgets.jslink((sliders[1], "index"), (inner, "selected_index")))
            inner_stacks.append(inner)
        figure = widgets.Stack(inner_stacks, selected_index=start[first])
        links.insert(0, widgets.jslink((sliders[0], "index"), (figure, "selected_index")))
    total = weight[0]
    if total > MAX_WIDGET_BYTES:
        warnings.warn(
            f"slider_figure: {len(frames)} frames weigh {total / 1e6:.1f} MB of PNG (> {MAX_WIDGET_BYTES / 1e6:.0f} MB);"
            " lower dpi, the figure size or the number of grid values",
            UserWarning,
            stacklevel=2,
        )
    return SliderFigure([*sliders, figure], sliders=sliders, frames=frames, links=links, live=False, pngs=pngs)
