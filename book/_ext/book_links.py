"""Sphinx extension: links that follow the book's configuration.

* ``{chapter}`Title <name>``` links to the page ``name`` (relative to the current page, like
  ``{doc}``, and titled with that page's own title) when the page is part of the build, and is the
  plain text ``Title`` otherwise, with no warning. The course page uses it to list chapters that
  may not be written yet (or that a one-chapter build with ``scripts/check_chapter.sh`` leaves
  out) without breaking a strict ``-W -n`` build.
* The repository URL is written in one place, ``repository: url:`` in ``_config.yml``. This
  extension turns it into MyST substitutions for the pages: ``{{ repository_link }}`` (a link to
  the repository), ``{{ binder_link }}`` (a link that opens the book on Binder) and
  ``{{ repository_url }}`` (the bare URL, as code).
* The version is written in one place, ``nsp_helpers.__version__``: this extension makes it Sphinx's
  ``release`` (the PDF's title page, the HTML pages' metadata) and the substitution
  ``{{ nsp_version }}``.
"""

from __future__ import annotations

from urllib.parse import urlparse

import re

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util import docname_join
from sphinx.util.docutils import SphinxRole


class ChapterRole(SphinxRole):
    """``{chapter}`Title <name>```: a link titled like the page if ``name`` is built, else ``Title`` as text."""

    def run(self):
        m = re.match(r"^(.*?)\s*<([^<>]+)>$", self.text, re.DOTALL)
        title, target = (m.group(1).strip(), m.group(2).strip()) if m else (self.text, self.text)
        docs = getattr(self.env, "nsp_chapter_docs", set())
        docs.add(self.env.docname)
        self.env.nsp_chapter_docs = docs
        if docname_join(self.env.docname, target) not in self.env.found_docs:
            return [nodes.inline(title, title, classes=["nsp-chapter-unavailable"])], []
        xref = addnodes.pending_xref(
            self.rawtext, nodes.inline(title, title, classes=["xref", "std", "std-doc"]),
            refdomain="std", reftype="doc", reftarget=target, refexplicit=False, refwarn=True,
            refdoc=self.env.docname)
        return [xref], []


def _outdated(app: Sphinx, env, added, changed, removed):
    """Re-read the pages that use {chapter} when pages come or go, so their links follow."""
    if added or removed:
        return sorted(getattr(env, "nsp_chapter_docs", set()) & env.found_docs)
    return []


def _merge(app: Sphinx, env, docnames, other):
    env.nsp_chapter_docs = getattr(env, "nsp_chapter_docs", set()) | getattr(other, "nsp_chapter_docs", set())


def _purge(app: Sphinx, env, docname):
    getattr(env, "nsp_chapter_docs", set()).discard(docname)


def _substitutions(app: Sphinx, config) -> None:
    theme = config.html_theme_options or {}
    url = (theme.get("repository_url") or "").rstrip("/")
    if not url:
        return
    branch = theme.get("repository_branch") or "main"
    binderhub = ((theme.get("launch_buttons") or {}).get("binderhub_url") or "https://mybinder.org").rstrip("/")
    parts = urlparse(url)
    path = parts.path.strip("/")
    if parts.netloc == "github.com":
        binder = f"{binderhub}/v2/gh/{path}/{branch}?urlpath=lab/tree/book/index.md"
    else:
        binder = f"{binderhub}/v2/git/{url.replace(':', '%3A').replace('/', '%2F')}/{branch}?urlpath=lab/tree/book/index.md"
    subs = dict(config.myst_substitutions or {})
    subs.setdefault("repository_url", f"`{url}`")
    subs.setdefault("repository_link", f"[{path or url}]({url})")
    subs.setdefault("binder_link", f"[Binder]({binder})")
    config.myst_substitutions = subs


def _version(app: Sphinx | None, config) -> None:
    """``release``/``version`` and ``{{ nsp_version }}`` from ``nsp_helpers.__version__``."""
    import nsp_helpers

    config.release = nsp_helpers.__version__
    config.version = ".".join(nsp_helpers.__version__.split(".")[:2])
    subs = dict(config.myst_substitutions or {})
    subs.setdefault("nsp_version", nsp_helpers.__version__)
    config.myst_substitutions = subs


def setup(app: Sphinx) -> dict:
    app.add_role("chapter", ChapterRole())
    app.connect("env-get-outdated", _outdated)
    app.connect("env-merge-info", _merge)
    app.connect("env-purge-doc", _purge)
    app.connect("config-inited", _substitutions, priority=900)
    app.connect("config-inited", _version, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
