"""Sphinx extension: the MyST ``{eval}`` role for glued values, under ``execute_notebooks: cache``.

The book writes computed numbers into its prose as ``{eval}`glue.text("KEY:FORMAT")``` (and Markdown as
``{eval}`glue.md("KEY:FORMAT")```), so that a chapter opened in JupyterLab shows them too:
``jupyterlab-myst`` evaluates an ``{eval}`` expression in the kernel, where ``glue`` is
:data:`nsp_helpers.glue.glue`. myst-nb 1.4 evaluates ``{eval}`` only in its ``inline`` execution mode,
with a live kernel and variable names only; under the book's ``cache`` mode its role has no kernel and
fails ("This document does not have a running kernel"). This extension replaces the role: it accepts
exactly the two forms above and pastes the value glued under ``KEY`` in the executed notebook with
myst-nb's own ``{glue:text}`` and ``{glue:md}`` code, so the HTML is what those roles would give (with
numbers in e-notation and infinities written for readers, ``2.15 × 10⁶`` and ``∞``, as ``glue.text``
writes them: :func:`nsp_helpers.glue.for_readers`).
Any other expression is a warning (an error in the strict ``-W`` build): under ``cache`` there is no
kernel to evaluate it.

``glue.md`` alone in a paragraph (nothing else in it) is pasted as a block, like the ``{glue:md}``
directive (tables, admonitions); anywhere else it is pasted inline, like the ``{glue:md}`` role.
"""

from __future__ import annotations

import re

from docutils import nodes
from docutils.transforms import Transform
from sphinx.application import Sphinx
from sphinx.util import logging

from myst_nb.core.render import MimeData
from myst_nb.core.variables import RetrievalError
from myst_nb.ext.glue.roles import PasteMarkdownRole, PasteTextRole
from myst_nb.ext.glue.utils import retrieve_glue_data

logger = logging.getLogger(__name__)

#: The expressions this role accepts: glue.text("KEY[:FORMAT]") and glue.md("KEY[:FORMAT]").
EXPRESSION = re.compile(r"""^\s*glue\.(?P<kind>text|md)\(\s*(?P<q>["'])(?P<arg>[^"'\\]+)(?P=q)\s*\)\s*$""")


class glued_block(nodes.container):
    """Block-level pasted Markdown waiting to replace the paragraph that holds only its role."""


def _warning(inliner, lineno, message):
    msg = inliner.reporter.warning(f"{{eval}}: {message}", line=lineno)
    return [], [msg]


def _for_readers(node):
    """The pasted number as glue.text writes it in JupyterLab: 2.15 × 10⁶, ∞ (nsp_helpers.glue.for_readers)."""
    from nsp_helpers.glue import for_readers

    for text in list(node.findall(nodes.Text)):
        readable = for_readers(str(text))
        if readable != str(text):
            text.parent.replace(text, nodes.Text(readable))
    return node


def eval_role(name, rawtext, text, lineno, inliner, options=None, content=()):
    """``{eval}`glue.text("KEY:FMT")``` / ``{eval}`glue.md("KEY:FMT")```, resolved from the glued values."""
    m = EXPRESSION.match(text)
    if not m:
        return _warning(
            inliner, lineno,
            f"{text!r} is not glue.text(\"KEY[:FORMAT]\") or glue.md(\"KEY[:FORMAT]\"): with execute_notebooks: "
            "cache the book has no kernel to evaluate other expressions (book/_ext/glue_eval.py)",
        )
    kind, arg = m.group("kind"), m.group("arg")
    options = options or {}
    if kind == "text":
        pasted, messages = PasteTextRole()("glue:text", rawtext, arg, lineno, inliner, options, content)
        return [_for_readers(node) for node in pasted], messages
    paragraph = getattr(inliner, "parent", None)
    alone = isinstance(paragraph, nodes.paragraph) and paragraph.rawsource.strip() == f"{{eval}}`{text}`"
    if not alone:
        return PasteMarkdownRole()("glue:md", rawtext, arg, lineno, inliner, options, content)
    # a paragraph of its own: paste as a block, as the {glue:md} directive does
    key, _, fmt = arg.partition(":")
    try:
        result = retrieve_glue_data(inliner.document, key)
    except RetrievalError as exc:
        return _warning(inliner, lineno, str(exc))
    if "text/markdown" not in result.data:
        return _warning(inliner, lineno, f"No text/markdown found in {key!r} data")
    cell_key = result.nb_renderer.renderer.nb_config.cell_metadata_key
    mime = MimeData("text/markdown", result.data["text/markdown"],
                    cell_metadata={cell_key: {"markdown_format": fmt or "commonmark"}},
                    output_metadata=result.metadata, line=lineno)
    block = glued_block("", *result.nb_renderer.render_markdown(mime))
    return [block], []


class HoistGluedBlocks(Transform):
    """Replace each paragraph that holds only a :class:`glued_block` with the block's content."""

    default_priority = 200  # early: before Sphinx's own transforms look at paragraphs

    def apply(self, **kwargs):
        for block in list(self.document.findall(glued_block)):
            paragraph = block.parent
            if isinstance(paragraph, nodes.paragraph) and len(paragraph.children) == 1:
                paragraph.replace_self(block.children)
            else:  # cannot happen: the role checked the paragraph's source
                block.replace_self(block.children)


def setup(app: Sphinx) -> dict:
    app.setup_extension("myst_nb")
    app.add_role("eval", eval_role, override=True)  # replaces myst-nb's (inline execution mode only)
    app.add_transform(HoistGluedBlocks)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
