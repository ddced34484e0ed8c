"""Sphinx extension: the PDF edition of the book, linked from every page of the site.

``scripts/build_pdf.sh`` builds the PDF edition from the same sources with LaTeX (``jupyter-book build
--builder pdflatex``, reusing the HTML build's execution cache) and copies it to the root of the site as
``nsp_pdf_edition`` (``_config.yml``). This extension

* adds a "Book (PDF)" entry to the theme's download menu of every page (the menu's ".pdf" entry prints
  the current page only), linking to that file relative to the page, so the link works on GitHub
  Pages and in a local copy of ``_build/html`` alike;
* copies the PDF into the site at the end of an HTML build when it has already been built
  (``_build/latex``), so the order of the two builds does not matter.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)


def add_download_entry(app: Sphinx, pagename, templatename, context, doctree) -> None:
    name = app.config.nsp_pdf_edition
    if not name or app.builder.format != "html":
        return
    entry = {
        "type": "link",
        "url": context["pathto"](name, 1),
        "text": "Book (PDF)",
        "tooltip": "Download the whole book as a PDF",
        "icon": "fas fa-book",
        "label": "download-book-pdf-button",
    }
    for button in context.get("header_buttons", []):
        if button.get("label") == "download-buttons":
            button["buttons"].append(entry)


def copy_pdf(app: Sphinx, exception) -> None:
    name = app.config.nsp_pdf_edition
    if exception is not None or not name or app.builder.format != "html":
        return
    pdf = Path(app.outdir).parent / "latex" / name
    if pdf.is_file():
        shutil.copy2(pdf, Path(app.outdir) / name)
        logger.info("[pdf_edition] copied %s into the site", pdf.name)


def setup(app: Sphinx) -> dict:
    app.add_config_value("nsp_pdf_edition", "noisy-signal-propagation.pdf", "html", types=[str])
    # after sphinx-book-theme fills the header buttons (priority 501)
    app.connect("html-page-context", add_download_entry, priority=600)
    app.connect("build-finished", copy_pdf)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
