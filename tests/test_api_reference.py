"""The API reference (book/api/): generated for every module of the package, docstrings rendered.

The strict build (``jupyter-book build -W -n``) checks the pages themselves: every cross-reference to
``nsp_helpers`` resolves, every docstring is valid reStructuredText. These tests check the helpers of
``book/_ext/api_reference.py`` and, when a site has been built, that it has a page for every module.
"""

from __future__ import annotations

import os
import re
import pkgutil
import sys
from pathlib import Path

import pytest

import nsp_helpers

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("NSP_SITE_DIR") or ROOT / "_build" / "html").resolve()

sys.path.insert(0, str(ROOT / "book" / "_ext"))
try:
    import api_reference
finally:
    sys.path.remove(str(ROOT / "book" / "_ext"))


def package_modules() -> list[str]:
    """Every public module of nsp_helpers, recursively (what the API reference must cover)."""
    names = ["nsp_helpers"]
    for info in pkgutil.walk_packages(nsp_helpers.__path__, prefix="nsp_helpers."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


def test_module_exists_looks_in_the_package_folders():
    assert api_reference._module_exists("nsp_helpers.theory")
    assert api_reference._module_exists("nsp_helpers.plots.variance")
    assert not api_reference._module_exists("nsp_helpers.no_such_module")
    assert not api_reference._module_exists("no_such_package.theory")


def test_uncited_references_become_paragraphs_and_cited_ones_stay():
    lines = [
        "See the map [R1a-2]_.",
        "",
        ".. rubric:: References",
        "",
        ".. [R1a-1] B. Poole et al. *Exponential expressivity.*",
        "   NeurIPS 2016.",
        ".. [R1a-2] A. Pretorius et al. NeurIPS 2018.",
    ]
    api_reference.uncited_references(None, "function", "f", None, {}, lines)
    assert lines == [
        "See the map [R1a-2]_.",
        "",
        ".. rubric:: References",
        "",
        "[1] B. Poole et al. *Exponential expressivity.*",
        "NeurIPS 2016.",
        ".. [R1a-2] A. Pretorius et al. NeurIPS 2018.",
    ]


def test_pending_modules_are_ignored_only_while_missing():
    class Config:
        nitpick_ignore_regex = []

    config = Config()
    api_reference._nitpick_ignores(None, config)
    targets = [target for _, target in config.nitpick_ignore_regex]
    for module in api_reference.PENDING_MODULES:
        assert any(t.startswith(re.escape(module)) for t in targets) == (not api_reference._module_exists(module))
    own = [t for t in targets if t.startswith("nsp_helpers")]
    assert all(any(t.startswith(re.escape(m)) for m in api_reference.PENDING_MODULES) for t in own), own


@pytest.mark.site
@pytest.mark.skipif(not (SITE / "index.html").is_file(), reason=f"no built site at {SITE}")
def test_site_has_a_reference_page_for_every_module():
    pages = SITE / "book" / "api" / "generated"
    missing = [name for name in package_modules() if not (pages / f"{name}.html").is_file()]
    assert not missing, f"modules without a page in the API reference: {missing}"
    # the theory subpackage re-exports what its modules define; each function is documented on its module's page
    theory = (pages / "nsp_helpers.theory.variance.html").read_text(encoding="utf-8")
    assert 'id="nsp_helpers.theory.variance.variance_map"' in theory
    assert "&gt;&gt;&gt;" in theory, "the docstrings' examples are not rendered"
    assert "nsp_helpers.theory.variance" in (pages / "nsp_helpers.theory.html").read_text(encoding="utf-8")
