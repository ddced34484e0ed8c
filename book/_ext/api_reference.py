"""Sphinx extension: housekeeping for the API reference generated from ``nsp_helpers`` (``book/api/``).

``book/api/index.md`` holds one recursive ``autosummary`` of the package; autosummary writes one page
per module into ``book/api/generated`` (git-ignored) when the build starts, and ``_toc.yml`` takes every
page there (a glob), so the reference follows the package's module list by itself. This extension:

* deletes generated pages of modules that no longer exist (a module renamed or turned into a
  subpackage) before autosummary writes the new ones, so that a stale page never breaks a strict
  build of a working copy;
* drops the toctrees that autosummary puts into those pages: the book's table of contents is
  ``_toc.yml`` alone (sphinx-external-toc warns about any other toctree);
* documents, as attribute entries, the attributes that a class's numpy-style ``Attributes``
  section lists (dataclass fields have no docstring of their own, so autodoc would leave them out),
  so that ``:attr:`` references to them resolve;
* turns a docstring's ``References`` entries that its text never cites (``.. [1] ...`` with no
  ``[1]_``) into plain numbered paragraphs, which docutils would otherwise report as unreferenced
  citations;
* resolves references to names that a subpackage re-exports (``nsp_helpers.theory.depth_scale``) to the
  page of the module that defines them (``nsp_helpers.theory.variance``);
* tells ``-n`` (nitpicky) builds which cross-references cannot be resolved offline: names from other
  libraries (numpy, torch, matplotlib, ipywidgets, scipy, and a few of the standard library's), which
  intersphinx would resolve but the book builds with no network. Names inside ``nsp_helpers`` are
  never ignored, except those of a module listed in ``PENDING_MODULES`` for as long as that module
  does not exist: a broken reference to the package fails the build.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.ext.autosummary import autosummary_toc
from sphinx.transforms import SphinxTransform
from sphinx.util import logging

logger = logging.getLogger(__name__)

GENERATED = Path("book") / "api" / "generated"
#: libraries whose names appear in signatures and docstrings (resolved by intersphinx when online)
EXTERNAL_PACKAGES = ("numpy", "torch", "matplotlib", "ipywidgets", "scipy", "myst_nb", "IPython")
#: names of the standard library that Sphinx cannot resolve without intersphinx
EXTERNAL_STDLIB = (r"pathlib\.Path", r"os\.PathLike", r"os\.replace", r"t\.Any")
#: modules of the package that docstrings already refer to but that are not written yet (core redesign,
#: issue 9): references to them are ignored only while the module cannot be found
PENDING_MODULES = ()


def _module_exists(name: str) -> bool:
    """Whether module ``name`` is in its package's folders (not merely importable through some finder)."""
    parent, _, child = name.rpartition(".")
    try:
        if not parent:
            return importlib.util.find_spec(name) is not None
        package = importlib.import_module(parent)
    except ImportError:
        return False
    return child in {m.name for m in pkgutil.iter_modules(getattr(package, "__path__", []))}


def remove_stale_pages(app: Sphinx) -> None:
    folder = Path(app.srcdir) / GENERATED
    if not folder.is_dir():
        return
    for page in sorted(folder.glob("*.rst")):
        if not _module_exists(page.stem):
            logger.info("[api_reference] removing %s: module %s no longer exists", page.name, page.stem)
            page.unlink()


class DropAutosummaryToctrees(SphinxTransform):
    """Remove autosummary's toctrees before sphinx-external-toc inserts the book's (priority 100)."""

    default_priority = 90

    def apply(self, **kwargs) -> None:
        for node in list(self.document.findall(autosummary_toc)):
            node.parent.remove(node)


_CITATION = re.compile(r"^(\s*)\.\. \[([^\]]+)\]\s?(.*)$")


def uncited_references(app, what, name, obj, options, lines: list[str]) -> None:
    """``.. [label] text`` never cited as ``[label]_`` in the same docstring -> a paragraph ``[n] text``."""
    text = "\n".join(lines)
    out: list[str] = []
    indent = None
    for line in lines:
        m = _CITATION.match(line)
        if m and f"[{m.group(2)}]_" not in text:
            indent = m.group(1)
            number = m.group(2).rsplit("-", 1)[-1]  # numpydoc renames [1] to [R<hash>-1]
            if out and out[-1].strip():
                out.append("")
            out.append(f"{indent}[{number}] {m.group(3)}")
            continue
        if indent is not None and line.startswith(indent + "   ") and line.strip():
            out.append(indent + line[len(indent) + 3:])  # continuation of that entry: same paragraph
            continue
        indent = None
        out.append(line)
    lines[:] = out


_ATTRIBUTES: dict[str, set[str]] = {}  # class name -> attributes its docstring lists


def record_attributes(app, what, name, obj, options, lines: list[str]) -> None:
    """Remember the names in a class docstring's ``Attributes`` section (before numpydoc rewrites it)."""
    if what != "class":
        return
    from numpydoc.docscrape import NumpyDocString

    try:
        section = NumpyDocString("\n".join(lines))["Attributes"]
    except Exception:  # a docstring numpydoc cannot parse: numpydoc itself reports it
        return
    _ATTRIBUTES[name] = {part.strip() for entry in section for part in entry.name.split(",") if part.strip()}


def keep_listed_attributes(app, what, name, obj, skip, options):
    """Document an undocumented class member when its class's ``Attributes`` section lists it."""
    if what == "class" and skip and not name.startswith("_"):
        parent = getattr(app.env, "temp_data", {}).get("autodoc:class")
        listed = _ATTRIBUTES.get(f"{app.env.temp_data.get('autodoc:module')}.{parent}", set()) if parent else set()
        if name in listed and not callable(obj) and not isinstance(obj, property):
            return False
    return None


def _nitpick_ignores(app: Sphinx, config) -> None:
    packages = "|".join(EXTERNAL_PACKAGES)
    patterns = [(r"py:.*", rf"(?:{packages})(?:\..+)?")]
    patterns += [(r"py:(class|obj|func)", pattern) for pattern in EXTERNAL_STDLIB]
    patterns += [(r"py:.*", rf"{re.escape(module)}(?:\..+)?")
                 for module in PENDING_MODULES if not _module_exists(module)]
    config.nitpick_ignore_regex = list(config.nitpick_ignore_regex or []) + patterns


def _defining_name(target: str) -> str | None:
    """The name under which the object ``target`` (e.g. ``nsp_helpers.theory.depth_scale``) is documented.

    Subpackages re-export what their modules define (``nsp_helpers.theory.depth_scale`` is
    ``nsp_helpers.theory.variance``'s, say); the reference documents each object once, where it is defined.
    """
    parts = target.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        attrs = parts[split:]
        owner_path = []
        try:
            for name in attrs:
                obj = getattr(obj, name)
                owner_path.append(obj)
        except AttributeError:
            return None
        # the first object along the path fixes the prefix: where it says it is defined, or, for data
        # (a constant has no __module__), the submodule of the package that holds the same object
        head = owner_path[0]
        module = getattr(head, "__module__", None)
        qualname = getattr(head, "__qualname__", None)
        if not (module and qualname) and not isinstance(head, type(importlib)):
            package = importlib.import_module(".".join(parts[:split]))
            for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
                sub = importlib.import_module(f"{package.__name__}.{info.name}")
                if getattr(sub, attrs[0], None) is head and attrs[0] in vars(sub).get("__all__", vars(sub)):
                    module, qualname = sub.__name__, attrs[0]
                    break
        if not module or not qualname or not module.startswith("nsp_helpers"):
            return None
        return ".".join([module, qualname, *attrs[1:]])
    return None


def resolve_reexports(app, env, node, contnode):
    """Resolve a reference to a re-exported name of ``nsp_helpers`` to the object's own page.

    A full name (``nsp_helpers.theory.depth_scale``) is looked up directly; a short one
    (``critical_parameters`` in a docstring of ``nsp_helpers.theory.correlation``) in the packages that
    contain the module it was written in, innermost first.
    """
    target = node.get("reftarget", "").lstrip("~.")
    if node.get("refdomain") != "py" or not target:
        return None
    if target.startswith("nsp_helpers."):
        candidates = [target]
    else:
        module = node.get("py:module") or ""
        parts = module.split(".") if module.startswith("nsp_helpers") else []
        candidates = [".".join(parts[:i] + [target]) for i in range(len(parts), 0, -1)]
    domain = env.get_domain("py")
    for candidate in candidates:
        real = _defining_name(candidate)
        if real is None:
            continue
        new = node.deepcopy()
        new["reftarget"] = real
        resolved = domain.resolve_xref(env, node.get("refdoc", ""), app.builder, node.get("reftype", "obj"), real,
                                       new, contnode)
        if resolved is not None:
            return resolved
    return None


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", _nitpick_ignores)
    app.connect("missing-reference", resolve_reexports)
    # before autosummary generates the pages (it runs at builder-inited, priority 500)
    app.connect("builder-inited", remove_stale_pages, priority=400)
    app.connect("autodoc-process-docstring", record_attributes, priority=400)
    app.connect("autodoc-skip-member", keep_listed_attributes)
    # after numpydoc (priority 500) has renamed the citations
    app.connect("autodoc-process-docstring", uncited_references, priority=600)
    app.add_transform(DropAutosummaryToctrees)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
