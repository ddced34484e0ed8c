"""The package's docstrings cite Huang et al. (2020) exactly as the book's bibliography does."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TITLE_START = "Mean field theory for deep dropout networks"


def _bib_entry(key: str) -> dict:
    text = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    match = re.search(r"@\w+\{" + re.escape(key) + r",(.*?)\n\}", text, re.S)
    assert match, f"{key} is not in book/references.bib"
    return {k.lower(): " ".join(v.split()) for k, v in re.findall(r"(\w+)\s*=\s*\{(.*?)\},?\s*\n", match.group(1) + "\n", re.S)}


def _initials(author: str) -> str:
    """'Xu, Richard Yi Da' -> 'R. Y. D. Xu'."""
    family, given = (s.strip() for s in author.split(",", 1))
    return " ".join(f"{name[0]}." for name in given.split()) + f" {family}"


def _docstrings():
    """(place, docstring) of every module, class and function of nsp_helpers."""
    for path in sorted((ROOT / "nsp_helpers").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in [tree, *ast.walk(tree)]:
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node, clean=True)
                if doc:
                    yield f"{path.relative_to(ROOT)}:{getattr(node, 'name', '<module>')}", " ".join(doc.split())


HUANG = _bib_entry("huang2020gradient")
DOCS = [(place, doc) for place, doc in _docstrings() if "Huang" in doc and ("1912.09132" in doc or TITLE_START in doc)]


def test_bibliography_entry_is_the_paper():
    assert HUANG["title"] == "Mean field theory for deep dropout networks: digging up gradient backpropagation deeply"
    assert [a.strip() for a in HUANG["author"].split(" and ")] == [
        "Huang, Wei", "Xu, Richard Yi Da", "Du, Weitao", "Zeng, Yutian", "Zhao, Yunce"]
    assert HUANG["pages"] == "1215--1222" and HUANG["year"] == "2020" and HUANG["eprint"] == "1912.09132"


def test_some_docstrings_cite_the_paper_in_full():
    full = [place for place, doc in DOCS if "R. Y. D. Xu" in doc]
    assert len(full) >= 4, full


@pytest.mark.parametrize("place,doc", DOCS, ids=[p for p, _ in DOCS])
def test_docstring_citation_matches_the_bibliography(place, doc):
    titles = re.findall(r"\*(" + TITLE_START + r"[^*]*?)\.?\*", doc)
    for title in titles:
        assert title == HUANG["title"], f"{place} cites the title {title!r}"
    for match in re.finditer(r"W\. Huang, ([^*]*?)\. \*" + TITLE_START, doc):
        cited = ["W. Huang", *[a.strip() for a in match.group(1).split(",")]]
        expected = [_initials(a) for a in HUANG["author"].split(" and ")]
        assert cited == expected, f"{place} cites the authors {cited}, the bibliography {expected}"
    for pages in re.findall(r"pp\. (\d+)\s*[-\u2013]+\s*(\d+)", doc):
        assert "--".join(pages) == HUANG["pages"], f"{place} cites pages {pages}"
    assert "2019" not in re.sub(r"arXiv:\d+\.\d+", "", doc).split("Huang", 1)[1][:200], f"{place}: the paper is from 2020"
    assert "Yunwen" not in doc and "Da Xu" not in doc
