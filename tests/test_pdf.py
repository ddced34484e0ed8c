"""The PDF edition (``scripts/build_pdf.sh``): it built, and it has every chapter, figure and equation.

Checked against the sources and the site built from the same execution cache:

* the PDF opens (poppler's ``pdfinfo``), is A4 and XeLaTeX typeset it with no missing glyph and no
  undefined reference or citation;
* every chapter of the PDF's table of contents (``_toc.yml`` less the API reference) is in it, by its
  title, in order;
* every figure: each chapter's LaTeX includes as many images as the chapter's HTML page shows
  (images plus sliders, which the PDF shows as their first frame), and the PDF holds them all;
* every equation: each chapter's labelled equations are in the LaTeX, typeset and numbered by chapter
  ("(7.3)"), and no unprocessed ``$...$`` is left in the text;
* the site offers it: ``_build/html/noisy-signal-propagation.pdf`` is this PDF and every chapter page's
  download menu links to it.

Marked ``pdf``; skipped, with the reason, when the PDF has not been built or poppler-utils is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NAME = "noisy-signal-propagation"
LATEX = ROOT / "_build" / "latex"
PDF = LATEX / f"{NAME}.pdf"
TEX = LATEX / f"{NAME}.tex"
SITE = ROOT / "_build" / "html"

pytestmark = [
    pytest.mark.pdf,
    pytest.mark.skipif(not PDF.is_file(), reason=f"no PDF edition at {PDF}: run scripts/build_pdf.sh"),
    pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext, pdfinfo) not installed"),
]


def poppler(*args: str) -> str:
    return subprocess.run(list(args), capture_output=True, text=True, check=True, timeout=300).stdout


def normalise(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u2013", "-").replace("\u2014", "-")
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def pdf_text() -> str:
    return normalise(poppler("pdftotext", "-layout", str(PDF), "-"))


@pytest.fixture(scope="module")
def tex() -> str:
    return TEX.read_text(encoding="utf-8")


def pdf_docs() -> list[str]:
    """The documents of the PDF edition, in order: _toc.yml less the part holding the API reference."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    docs = [toc["root"]]
    for part in toc["parts"]:
        files = [chapter["file"] for chapter in part["chapters"]]
        if "book/api/index" not in files:
            docs += files
    return docs


def title(doc: str) -> str:
    """A chapter's title as printed: its first heading, without markup and math."""
    heading = re.search(r"^# (.+)$", (ROOT / f"{doc}.md").read_text(encoding="utf-8"), re.MULTILINE).group(1)
    heading = re.sub(r"\$[^$]*\$", " ", heading)
    return normalise(re.sub(r"[*_`]", "", heading)).strip()


def tex_chapters(tex: str) -> dict[str, str]:
    """The LaTeX of each document, cut at the labels Sphinx puts at the start of each."""
    marks = [(m.start(), m.group(1)) for m in re.finditer(r"\\label\{\\detokenize\{(book/[\w/]+)::doc\}\}", tex)]
    return {doc: tex[start:(marks[i + 1][0] if i + 1 < len(marks) else len(tex))]
            for i, (start, doc) in enumerate(marks)}


def test_pdf_opens_and_latex_reports_no_problem():
    info = poppler("pdfinfo", str(PDF))
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))
    assert pages >= len(pdf_docs())
    assert "(A4)" in info
    log = (LATEX / f"{NAME}.log").read_text(encoding="utf-8", errors="replace")
    for problem in ("Missing character", "undefined references", "Citation `", "Reference `"):
        assert problem not in log, f"XeLaTeX reported {problem!r}: see {LATEX / (NAME + '.log')}"


def test_every_chapter_is_in_the_pdf_in_order(pdf_text, tex):
    chapters = tex_chapters(tex)
    assert list(chapters) == pdf_docs(), "the LaTeX does not hold the documents of the table of contents in order"
    positions = []
    for doc in pdf_docs()[1:]:
        heading = title(doc)
        assert heading and heading in pdf_text, f"chapter {doc} ({heading!r}) is not in the table of contents"
        # the chapter's opening page: "CHAPTER FIVE" and its title in capitals
        opening = re.search(rf"CHAPTER [A-Z]+ {re.escape(heading.upper())}", pdf_text)
        assert opening, f"chapter {doc} ({heading!r}) has no opening page in the PDF"
        positions.append(opening.start())
    assert positions == sorted(positions), "chapters are out of order"


def test_every_figure_is_in_the_pdf(tex):
    chapters = tex_chapters(tex)
    included = {doc: body.count(r"\sphinxincludegraphics") for doc, body in chapters.items()}
    assert sum(included.values()) > 0
    images = [line.split() for line in poppler("pdfimages", "-list", str(PDF)).splitlines()[2:]]
    assert sum(1 for row in images if row[2] == "image") >= sum(included.values())
    if not (SITE / "index.html").is_file():
        pytest.skip("no built site to compare figures with")
    for doc in pdf_docs():
        html = (SITE / f"{doc}.html").read_text(encoding="utf-8")
        article = html[html.find("<article"):html.find("</article>")]
        shown = len(re.findall(r"<img\b", article)) + article.count("application/vnd.jupyter.widget-view+json")
        assert included[doc] == shown, f"{doc}: {shown} figures on the site, {included[doc]} in the PDF"


def test_every_equation_is_typeset_and_numbered_by_chapter(pdf_text, tex):
    chapters = tex_chapters(tex)
    body = re.sub(r"\\begin\{sphinxVerbatim\}.*?\\end\{sphinxVerbatim\}", "", tex, flags=re.DOTALL)
    assert not re.search(r"\\\$", body), "unprocessed $...$ left in the text of the PDF"
    numbered = 0
    for number, doc in enumerate(pdf_docs()[1:], start=1):
        source = (ROOT / f"{doc}.md").read_text(encoding="utf-8")
        labels = re.findall(r"^\$\$.*\(([\w-]+)\)\s*$", source, re.MULTILINE)
        in_tex = re.findall(rf"\\label\{{equation:{re.escape(doc)}:([\w-]+)\}}", chapters[doc])
        assert sorted(in_tex) == sorted(labels), f"{doc}: labelled equations missing from the PDF"
        for k in range(1, len(labels) + 1):
            assert f"({number}.{k})" in pdf_text, f"{doc}: equation ({number}.{k}) is not numbered in the PDF"
        numbered += len(labels)
    assert numbered > 0
    assert body.count(r"\(") > 0 and body.count(r"\begin{equation}") == numbered


@pytest.mark.skipif(not (SITE / "index.html").is_file(), reason="no built site")
def test_the_site_offers_the_pdf():
    copy = SITE / f"{NAME}.pdf"
    assert copy.is_file() and copy.read_bytes() == PDF.read_bytes(), "the site does not hold this PDF"
    for doc in pdf_docs()[1:]:
        page = SITE / f"{doc}.html"
        links = re.findall(r'href="([^"]*)"[^>]*>\s*(?:<[^>]+>\s*)*Book \(PDF\)', page.read_text(encoding="utf-8"))
        hrefs = {(page.parent / href).resolve() for href in links}
        assert hrefs == {copy.resolve()}, f"{doc}: no 'Book (PDF)' download link to {copy.name}"
