"""Exercises and the course page (book/_ext/exercises.py, issue 13).

* Every chapter's exercises are sphinx-exercise objects: ``{exercise}`` directives whose title ends with a
  difficulty and a time (``[★★, 15 min]``), labelled ``ex-<chapter>-<n>`` in order, each with a
  ``{solution}`` that refers to it; no exercise is left in an older format (``**Exercise 3.**``, an
  ``admonition`` solution), which the index could not see.
* The extension, on a small book of its own (plain Sphinx + MyST, built in a few seconds): the course
  page's exercise index lists every exercise of every chapter, with its number, title, difficulty and
  time, linked to it; the chapter table and the syllabus follow the chapters (a chapter twice as long
  gets two weeks); a title without difficulty, a label out of the scheme or an exercise without a solution
  is a warning (an error of the strict build).
* The built site (when there is one): the course page links every exercise of every chapter page
  (the browser test of the same, as a reader sees the page, is in tests/test_site.py).
"""

from __future__ import annotations

import importlib
import io
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
SITE = ROOT / "_build" / "html"

EXERCISE = re.compile(r"^```\{exercise\}\s*(?P<title>.*?)\s*\n:label:\s*(?P<label>\S+)\s*$", re.MULTILINE)
SOLUTION = re.compile(r"^```\{solution(?:-start)?\}\s*(?P<target>\S+)\s*$", re.MULTILINE)
META = re.compile(r"\[(★{1,3}), (\d+) min\]$")


def toc_docs() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    docs = []

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                docs.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc["parts"]:
        walk(part["chapters"])
    return docs


def chapters_with_exercises() -> list[str]:
    """The pages of the table of contents with an Exercises section (not the course page, which lists them)."""
    out = []
    for doc in toc_docs():
        path = ROOT / f"{doc}.md"
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        if re.search(r"^## Exercises\s*$", text, re.M) and "{exercise-index}" not in text:
            out.append(doc)
    return out


def source_exercises(doc: str) -> list[tuple[str, str]]:
    """(label, title) of each exercise directive of a chapter's source, in order."""
    return [(m.group("label"), m.group("title")) for m in EXERCISE.finditer((ROOT / f"{doc}.md").read_text(encoding="utf-8"))]


# ------------------------------------------------------------------------------------------- sources


@pytest.mark.parametrize("doc", chapters_with_exercises())
def test_every_exercise_is_an_exercise_object_with_difficulty_time_label_and_solution(doc):
    text = (ROOT / f"{doc}.md").read_text(encoding="utf-8")
    section = re.split(r"^## Exercises\s*$", text, maxsplit=1, flags=re.M)[1]
    section = re.split(r"^## ", section, maxsplit=1, flags=re.M)[0]
    assert not re.search(r"^\*\*Exercise\b", section, re.M), f"{doc}: an exercise as a bold heading, not an {{exercise}}"
    assert "{admonition} Solution" not in section, f"{doc}: a solution as an admonition, not a {{solution}}"
    exercises = source_exercises(doc)
    assert exercises, f"{doc}: an Exercises section without exercise directives"
    assert len(exercises) == section.count("```{exercise}"), f"{doc}: an exercise directive without a :label: line"
    slug = Path(doc).name.replace("_", "-")
    assert [label for label, _ in exercises] == [f"ex-{slug}-{k}" for k in range(1, len(exercises) + 1)]
    for label, title in exercises:
        assert META.search(title), f"{doc}: {label} has no [★.., N min] at the end of its title: {title!r}"
        assert META.sub("", title).strip(), f"{doc}: {label} has no title"
    targets = [m.group("target") for m in SOLUTION.finditer(text)]
    assert sorted(targets) == sorted(label for label, _ in exercises), f"{doc}: exercises and solutions do not pair up"


def test_no_page_outside_the_chapters_holds_exercises_in_the_old_format():
    for path in BOOK.glob("*.md"):
        assert not re.search(r"^\*\*Exercise \d", path.read_text(encoding="utf-8"), re.M), path


# ------------------------------------------------------------------------------- the extension itself

CONF = """
import sys
sys.path.insert(0, {ext!r})
extensions = ["myst_parser", "exercises"]
myst_enable_extensions = ["dollarmath", "colon_fence", "substitution"]
root_doc = "index"
numfig = True
exclude_patterns = ["_build"]
"""

CHAPTER = """# {title}

## Opening

{opening}

## More

{more}

## Exercises

{exercises}
"""


def exercise(slug, k, title="A title [★★, 15 min]", solution=True):
    out = f"```{{exercise}} {title}\n:label: ex-{slug}-{k}\n\nDo exercise {k} with $x^{k}$.\n```\n\n"
    if solution:
        out += f"```{{solution}} ex-{slug}-{k}\n:class: dropdown\n\nThe answer.\n```\n\n"
    return out


COURSE = """# Course

```{course-chapters}
one:
  covers: The first chapter, with $\\mu_2$
  prerequisites: []
two:
  covers: The second
  prerequisites: [one]
```

```{course-syllabus}
```

## Exercises

```{exercise-index}
```
"""


def build_small_book(tmp_path, chapters: dict[str, str], course: str = COURSE):
    """Build index + course + chapters with Sphinx; return (html of the course page, warnings)."""
    pytest.importorskip("sphinx_exercise")
    pytest.importorskip("myst_parser")
    from sphinx.application import Sphinx

    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(CONF.format(ext=str(BOOK / "_ext")), encoding="utf-8")
    names = ["course", *chapters]
    (src / "index.md").write_text("# Book\n\n```{toctree}\n" + "\n".join(names) + "\n```\n", encoding="utf-8")
    (src / "course.md").write_text(course, encoding="utf-8")
    for name, text in chapters.items():
        (src / f"{name}.md").write_text(text, encoding="utf-8")
    warnings = io.StringIO()
    sys.modules.pop("exercises", None)
    app = Sphinx(str(src), str(src), str(tmp_path / "out"), str(tmp_path / "doctrees"), "html",
                 status=io.StringIO(), warning=warnings, freshenv=True)
    app.build()
    # several Sphinx applications in one process re-register docutils' nodes and directives: not the book's warnings
    own = "\n".join(line for line in warnings.getvalue().splitlines() if "is already registered" not in line)
    return (tmp_path / "out" / "course.html").read_text(encoding="utf-8"), own, tmp_path / "out"


def chapter(slug, n, words=200, title=None):
    filler = " ".join(["word"] * words)
    return CHAPTER.format(title=title or slug.title(), opening=filler, more=filler,
                          exercises="".join(exercise(slug, k) for k in range(1, n + 1)))


def test_the_index_lists_every_exercise_of_every_chapter(tmp_path):
    html, warnings, out = build_small_book(tmp_path, {"one": chapter("one", 3), "two": chapter("two", 2)})
    assert "WARNING" not in warnings, warnings
    for slug, n in (("one", 3), ("two", 2)):
        for k in range(1, n + 1):
            assert f'href="{slug}.html#ex-{slug}-{k}"' in html, f"ex-{slug}-{k} missing from the index"
            page = (out / f"{slug}.html").read_text(encoding="utf-8")
            assert f'id="ex-{slug}-{k}"' in page
    index = html[html.find('id="exercises"'):]
    assert index.count("★★ <em>intermediate · about 15 min</em>") == 5
    assert "5 exercises in 2 chapters" in index
    # the syllabus says what each chapter covers, with its math
    assert '<span class="math notranslate nohighlight">\\(\\mu_2\\)</span>' in html
    # the exercise's own page shows the difficulty and time, and the title without them
    page = (out / "one.html").read_text(encoding="utf-8")
    assert "★★ <em>intermediate · about 15 min</em>" in page and "[★★" not in page


def test_the_index_follows_the_chapters(tmp_path):
    """A chapter added to the book is in the index without touching the course page."""
    html, warnings, _ = build_small_book(tmp_path, {"one": chapter("one", 1), "two": chapter("two", 1),
                                                     "three": chapter("three", 2)})
    assert 'href="three.html#ex-three-2"' in html
    assert "the chapter three is not described" in warnings  # the chapter table asks for what it covers


def test_a_long_chapter_gets_two_weeks(tmp_path):
    course = COURSE.replace("```\n\n```{course-syllabus}", "three:\n  covers: The third\n```\n\n```{course-syllabus}")
    html, warnings, _ = build_small_book(tmp_path, {"one": chapter("one", 1, words=400),
                                                     "three": chapter("three", 1, words=400),
                                                     "two": chapter("two", 1, words=900)}, course)
    assert "WARNING" not in warnings, warnings
    syllabus = html[html.find("nsp-course-syllabus"):]
    syllabus = syllabus[:syllabus.find('id="exercises"')]
    assert "4 weeks for 3 chapters" in html
    # week 2 reads the start of "two" and has no problem set yet; week 3 finishes it
    assert "none this week, the chapter goes on next week" in syllabus
    assert syllabus.count('href="two.html#ex-two-1"') == 1


@pytest.mark.parametrize("bad, message", [
    (exercise("one", 1, title="No difficulty"), "without a difficulty and a time"),
    (exercise("one", 2), "labelled 'ex-one-2', not 'ex-one-1'"),
    (exercise("one", 1, solution=False), "has no solution"),
])
def test_an_exercise_out_of_the_scheme_is_a_warning(tmp_path, bad, message):
    text = CHAPTER.format(title="One", opening="text", more="text", exercises=bad)
    _, warnings, _ = build_small_book(tmp_path, {"one": text, "two": chapter("two", 1)})
    assert message in warnings, warnings


def test_syllabus_plan_cuts_between_sections():
    sys.path.insert(0, str(BOOK / "_ext"))
    try:
        exercises = importlib.import_module("exercises")
    finally:
        sys.path.remove(str(BOOK / "_ext"))
    sec = lambda w: {"title": "s", "id": "s", "words": w, "equations": 0}  # noqa: E731
    plan = exercises.syllabus_plan({"a": {"sections": [sec(1200), sec(1200)]},
                                    "b": {"sections": [sec(1200), sec(1300)]},
                                    "c": {"sections": [sec(1200), sec(1200), sec(1300), sec(1200)]}})
    assert [(d, first, last, final) for d, first, last, _m, final in plan] == [
        ("a", 0, 1, True), ("b", 0, 1, True), ("c", 0, 1, False), ("c", 2, 3, True)]


# ------------------------------------------------------------------------------------- the built site


@pytest.mark.skipif(not (SITE / "book" / "course.html").is_file(), reason="no built site (_build/html)")
def test_the_built_course_page_links_every_exercise_of_the_built_chapters():
    course = (SITE / "book" / "course.html").read_text(encoding="utf-8")
    index = course[course.find('id="exercises"'):]
    linked = set(re.findall(r'href="([\w.]+\.html)#(ex-[\w-]+)"', index))
    built = set()
    for doc in chapters_with_exercises():
        page = SITE / f"{doc}.html"
        if page.is_file():
            ids = re.findall(r'<div class="exercise admonition" id="(ex-[\w-]+)"', page.read_text(encoding="utf-8"))
            assert [i for i in ids] == [label for label, _ in source_exercises(doc)], f"{doc}: exercises on the page"
            built |= {(page.name, i) for i in ids}
    assert built, "no chapter page with exercises in the built site"
    assert linked == built, f"missing from the index: {sorted(built - linked)}; not exercises: {sorted(linked - built)}"


# ------------------------------------------------------------------------------------------ notation


def test_the_notation_page_covers_every_chapter_and_is_not_pasted_into_one():
    notation = (BOOK / "notation.md").read_text(encoding="utf-8")
    for doc in chapters_with_exercises():
        assert f"<{Path(doc).name}>`" in notation, f"the notation page does not name {doc}"
    for symbol in (r"\chi_1", r"\xi_1", r"\xi_2", r"\delta^l", r"g^l_{aa}", r"g^l_{ab}", r"\rho", r"\mu_4",
                   r"\hat q", r"L^*", r"\xi_c^{\text{lin}}", r"\mu_2", r"c^*"):
        assert symbol in notation, f"{symbol} is missing from the notation page"
    for path in BOOK.glob("*.md"):
        assert "_notation.md" not in path.read_text(encoding="utf-8"), f"{path.name} pastes the notation table"
