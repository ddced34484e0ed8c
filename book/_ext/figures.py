"""Sphinx extension: the book's figures on the site (the style itself is ``nsp_helpers/plots/style.py``).

A figure of ``nsp_helpers.plots`` displays as an HTML ``<picture class="nsp-figure">`` with two PNG
variants (panels side by side; panels stacked for narrow windows) written into the notebook output as
``data:`` URIs, and as a PNG for renderers without HTML (the PDF edition). This extension

* moves those images out of the pages into ``_images/`` (one file per image, named by its hash, as
  myst-nb names the images it writes), so that a page loads only the variant the window shows;
* adds the stylesheet ``nsp-figures.css``: pictures fit the column and are never stretched, and in the
  dark theme a figure keeps its white background (the theme's light card around outputs) at full size;
  code wraps at the column's width, and a display equation wider than the column scrolls in its own
  box rather than widening the page;
* gives every image of a notebook output an alternative text: an image inside a captioned figure that
  has none (or only its file name, Sphinx's default) gets the caption's text;
* fails a strict build (a warning) where a notebook output shows a figure or a slider that is not in a
  captioned, named figure (``mystnb: figure: {caption, name}`` in the cell's metadata): every figure of
  the book is numbered and has a caption;
* leaves out of the API reference the ``set`` method that matplotlib writes into every Artist subclass
  (:class:`nsp_helpers.plots.style.BookFigure`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

CSS_FILE = "nsp-figures.css"
CSS = """\
/* Written by book/_ext/figures.py: the book's figures (nsp_helpers/plots/style.py), and what fits the column. */
/* code wraps at the column's width rather than scrolling (as the PDF edition wraps it), inline code
   (a long file name) too, rather than widening the page on a phone */
.bd-content div.highlight pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.bd-content code.literal, .bd-content code.literal span.pre { white-space: pre-wrap; overflow-wrap: anywhere; }
/* long names (a module's dotted name in a title, a signature of the API reference) wrap on a phone */
.bd-content h1, .bd-content h2, .bd-content h3 { overflow-wrap: anywhere; }
.bd-content dt.sig, .bd-content dt.sig span.pre { overflow-wrap: anywhere; white-space: normal; }
.bd-content dl.field-list > dt, .bd-content dl.field-list > dd { min-width: 0; overflow-wrap: anywhere; }
/* the general index: its columns share the column's width (long names wrap) */
.bd-content table.indextable { width: 100%; table-layout: fixed; }
.bd-content table.indextable td { overflow-wrap: anywhere; }
/* a long word (a URL with a commit hash) breaks rather than widening the page on a phone */
.bd-content p, .bd-content li { overflow-wrap: break-word; }
/* a table wider than the column (a glued Markdown table is not wrapped in the theme's scrolling container)
   scrolls inside its own box, never the page */
.bd-content table.table { display: block; max-width: 100%; overflow-x: auto; }
/* a display equation wider than the column scrolls inside its own box, never the page */
.bd-content mjx-container[display="true"] { overflow-x: auto; overflow-y: hidden; max-width: 100%; }
picture.nsp-figure { display: block; max-width: 100%; }
picture.nsp-figure img { display: block; max-width: 100%; height: auto; margin: 0; }
figure picture.nsp-figure img { margin-left: auto; margin-right: auto; }
/* the dark theme puts a light card (padding .5rem) around outputs; the image needs no second one */
html[data-theme=dark] .bd-content picture.nsp-figure img { padding: 0; border-radius: 0; background: #fff; }
html[data-theme=dark] .bd-content div.cell_output .text_html:has(picture.nsp-figure) { padding: .25rem; }
"""

PICTURE = re.compile(r'<picture class="nsp-figure">.*?</picture>', re.DOTALL)
DATA_URI = re.compile(r'(src|srcset)="data:image/png;base64,([A-Za-z0-9+/=\s]+)"')
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _write_images(app: Sphinx, pagename: str, templatename, context, doctree) -> None:
    """Replace the data: URIs of the pictures in a page's body by files in ``_images``."""
    body = context.get("body")
    if app.builder.format != "html" or not body or 'class="nsp-figure"' not in body:
        return
    images = Path(app.outdir) / "_images"
    images.mkdir(parents=True, exist_ok=True)

    def to_file(match: re.Match) -> str:
        data = base64.b64decode(re.sub(r"\s+", "", match.group(2)))
        name = f"{hashlib.sha256(data).hexdigest()}.png"
        target = images / name
        if not target.is_file():
            target.write_bytes(data)
        return f'{match.group(1)}="{context["pathto"]("_images/" + name, 1)}"'

    context["body"] = PICTURE.sub(lambda m: DATA_URI.sub(to_file, m.group(0)), body)


def _in_figure(node: nodes.Node) -> nodes.figure | None:
    parent = node.parent
    while parent is not None:
        if isinstance(parent, nodes.figure):
            return parent
        parent = parent.parent
    return None


def _in_cell_output(node: nodes.Node) -> bool:
    parent = node.parent
    while parent is not None:
        if "cell_output" in parent.get("classes", []):
            return True
        parent = parent.parent
    return False


def _check_figures(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Alternative texts for output images, and a warning for any output figure without a caption."""
    for node in list(doctree.findall(nodes.image)):
        figure = _in_figure(node)
        alt = node.get("alt", "")
        if figure is not None and (not alt or alt == node.get("uri") or alt.endswith(".png")):
            caption = next(iter(figure.findall(nodes.caption)), None)
            if caption is not None:
                node["alt"] = " ".join(caption.astext().split())
        if _in_cell_output(node) and (figure is None or not figure.get("ids")):
            logger.warning("a figure in a notebook output has no caption and name (give its cell "
                           "`mystnb: figure: {caption: ..., name: ...}`)", location=node, type="nsp",
                           subtype="figure")
    for node in doctree.findall(nodes.raw):
        text = node.astext()
        if 'class="nsp-figure"' not in text and WIDGET_VIEW not in text:
            continue
        figure = _in_figure(node)
        if figure is None or not figure.get("ids") or next(iter(figure.findall(nodes.caption)), None) is None:
            what = "slider" if WIDGET_VIEW in text else "figure"
            logger.warning(f"a {what} in a notebook output has no caption and name (give its cell "
                           "`mystnb: figure: {caption: ..., name: ...}`)", location=node, type="nsp",
                           subtype="figure")


def _add_css(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    (static / CSS_FILE).write_text(CSS, encoding="utf-8")


def _skip_generated_set(app: Sphinx, what, name, obj, skip, options):
    """matplotlib writes a ``set`` method into every Artist subclass (BookFigure's): not the book's API."""
    if name == "set" and getattr(obj, "__module__", None) == "matplotlib.artist":
        return True
    return None


def setup(app: Sphinx) -> dict:
    app.add_css_file(CSS_FILE)
    app.connect("autodoc-skip-member", _skip_generated_set)
    app.connect("builder-inited", _add_css)
    app.connect("doctree-resolved", _check_figures)
    app.connect("html-page-context", _write_images)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
