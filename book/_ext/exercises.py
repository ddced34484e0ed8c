r"""Sphinx extension: the book's exercises, and the course page made from them and from the build.

Exercises are `sphinx-exercise <https://ebp-sphinx-exercise.readthedocs.io>`_ objects. A chapter writes

.. code-block:: markdown

    ```{exercise} Where does $\mu_2$ go? [★★, 15 min]
    :label: ex-correlations-2

    Suppose, wrongly, that both inputs of a pair share one dropout mask ...
    ```

    ```{solution} ex-correlations-2
    :class: dropdown

    With a shared mask ...
    ```

* The title ends with the difficulty and the estimated time in brackets: ``[★, 10 min]`` (basic: apply a
  result of the chapter), ``[★★, 20 min]`` (intermediate: a short derivation or computation),
  ``[★★★, 45 min]`` (advanced: open-ended, or a run of the code beyond the chapter's). JupyterLab
  (jupyterlab-myst, which knows the ``exercise`` and ``solution`` directives) shows the title as
  written; the site and the PDF show the title without the brackets and the difficulty and time as the
  exercise's first line.
* The label is ``ex-<chapter>-<n>``: ``<chapter>`` the file name with hyphens for underscores, ``<n>``
  the exercise's position in the chapter. Every exercise has a solution (``:class: dropdown``: closed
  until clicked). A title without difficulty and time, a label out of this scheme or an exercise
  without a solution is a warning, and so an error of the strict build.
* A solution with code cells is written with the gated form, ``{solution-start}`` ... ``{solution-end}``;
  the cells between them execute with the chapter.

The course page (``book/course.md``) uses three directives, filled in when the page is written, from what
the build read (so they are complete by construction and follow the chapters when these change):

``{exercise-index}``
    Every exercise of every chapter in the build, by chapter in the order of the table of contents:
    its number (as the chapter prints it), title, difficulty and time, linked to it.
``{course-chapters}``
    One row per chapter: reading time (from the words and display equations of its prose), compute time
    (from the build's execution statistics, as on the execution statistics page), exercises and
    prerequisites. The content is YAML: ``name: {covers: ..., prerequisites: [..]}`` for each chapter
    (names relative to the course page, like ``{doc}``); a chapter with exercises that it does not describe
    is a warning.
``{course-syllabus}``
    A week-by-week plan: a chapter whose reading time is about k times the median chapter's gets k weeks,
    cut between its sections so that each week reads about as much; the first week of a chapter says what
    it covers (from ``{course-chapters}``); each week's problem set is the exercises of the chapter it
    finishes.

Chapters are the documents with exercises and those ``{course-chapters}`` describes, in the order of the
table of contents. Pages with these directives are read again whenever any page changes.
"""

from __future__ import annotations

import posixpath
import re
import statistics
from pathlib import Path

import yaml
from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.errors import NoUri
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import docname_join, logging
from sphinx.util.docutils import SphinxDirective
from sphinx_exercise.directive import ExerciseDirective, ExerciseStartDirective
from sphinx_exercise.nodes import (
    exercise_enumerable_node,
    exercise_latex_number_reference,
    exercise_node,
    exercise_subtitle,
    exercise_title,
    solution_node,
)

logger = logging.getLogger(__name__)

#: ``[★★, 15 min]`` at the end of an exercise's title
META = re.compile(r"\s*\[\s*(?P<stars>★{1,3})\s*,\s*(?P<minutes>\d+)\s*min\s*\]\s*$")
LEVELS = {1: "basic", 2: "intermediate", 3: "advanced"}
#: reading speed for the reading times: a careful first reading of technical prose
WORDS_PER_MINUTE = 120
#: minutes to read one display equation
EQUATION_MINUTES = 0.5
EXERCISE_NODES = (exercise_node, exercise_enumerable_node)


def chapter_slug(docname: str) -> str:
    """``book/noisy_networks`` -> ``noisy-networks``, the middle of the chapter's exercise labels."""
    return posixpath.basename(docname).replace("_", "-")


def meta_nodes(difficulty: int, minutes: int) -> list:
    """``★★ intermediate · about 15 min``, the words in italics (the stars upright: the PDF's italic font has none)."""
    return [nodes.Text(f"{'★' * difficulty} "), nodes.emphasis(text=f"{LEVELS[difficulty]} · about {minutes} min")]


# ------------------------------------------------------------------------------------------ exercises


class _ExerciseMeta:
    """Reads ``[★★, 15 min]`` off the title, then lets sphinx-exercise make the exercise."""

    def run(self):
        difficulty = minutes = None
        if self.arguments:
            m = META.search(self.arguments[0])
            if m:
                difficulty, minutes = len(m.group("stars")), int(m.group("minutes"))
                self.arguments[0] = self.arguments[0][: m.start()].strip()
                if not self.arguments[0]:
                    self.arguments = []
        if difficulty is None:
            logger.warning(
                "exercise without a difficulty and a time: end its title with [★, 10 min], [★★, 20 min] or "
                "[★★★, 45 min] (book/_ext/exercises.py)", location=self.get_location(), type="nsp", subtype="exercise")
        result = super().run()
        label = self.options.get("label", "")
        copies = [n for n in result if isinstance(n, EXERCISE_NODES)]
        registry = getattr(self.env, "sphinx_exercise_registry", {})
        if label in registry:
            copies.append(registry[label]["node"])
        for node in copies:
            node["nsp_difficulty"] = difficulty
            node["nsp_minutes"] = minutes
        for node in result:
            if isinstance(node, EXERCISE_NODES) and difficulty is not None:
                section = next(c for c in node.children if isinstance(c, nodes.section))
                line = nodes.paragraph("", "", *meta_nodes(difficulty, minutes), classes=["nsp-exercise-meta"])
                section.insert(0, line)
        return result


class BookExercise(_ExerciseMeta, ExerciseDirective):
    pass


class BookExerciseStart(_ExerciseMeta, ExerciseStartDirective):
    pass


def _exercises_of(doctree) -> list:
    return [n for n in doctree.findall(lambda n: isinstance(n, EXERCISE_NODES))]


def _title_nodes(node) -> list:
    """A copy of the exercise's own title (its subtitle), or [] if it has none."""
    title = node.children[0] if node.children else None
    if isinstance(title, exercise_title):
        for child in title.children:
            if isinstance(child, exercise_subtitle):
                return [c.deepcopy() for c in child.children]
    return []


# --------------------------------------------------------------------------------- reading the pages

SKIP_FOR_READING = (nodes.literal_block, nodes.raw, nodes.comment, nodes.substitution_definition,
                    nodes.target, addnodes.toctree, nodes.system_message, solution_node) + EXERCISE_NODES


def _reading(node) -> tuple[int, int]:
    """(words, display equations) of a node's prose: no code cells or their outputs, no exercises."""
    if isinstance(node, nodes.math_block):
        return 0, 1
    if isinstance(node, SKIP_FOR_READING):
        return 0, 0
    if isinstance(node, nodes.Element) and str(node.get("nb_element", "")).startswith("cell_code"):
        # a code cell: its figures' captions are read, its code and other outputs are not
        return sum(len(c.astext().split()) for c in node.findall(nodes.caption)), 0
    if isinstance(node, nodes.Text):
        return len(node.astext().split()), 0
    if isinstance(node, nodes.math):
        return 1, 0
    words = equations = 0
    for child in node.children:
        w, e = _reading(child)
        words += w
        equations += e
    return words, equations


def reading_minutes(words: int, equations: int) -> float:
    return words / WORDS_PER_MINUTE + equations * EQUATION_MINUTES


def _sections(doctree, title: str) -> list[dict]:
    """The chapter cut at its second-level headings: [{title, id, words, equations}], the opening first."""
    top = next(iter(doctree.findall(nodes.section)), None)
    if top is None:
        return []
    parts = [{"title": title, "id": "", "words": 0, "equations": 0}]
    for child in top.children:
        if isinstance(child, nodes.section):
            heading = child.next_node(nodes.title)
            parts.append({"title": heading.astext() if heading else "", "id": child["ids"][0] if child["ids"] else "",
                          "words": 0, "equations": 0})
        w, e = _reading(child)
        parts[-1]["words"] += w
        parts[-1]["equations"] += e
    return parts


def _collect(app: Sphinx, doctree) -> None:
    env = app.env
    docname = env.docname
    slug = chapter_slug(docname)
    found = []
    solved = {n.get("target_label") for n in doctree.findall(solution_node)}
    for k, node in enumerate(_exercises_of(doctree), start=1):
        label = node.get("label", "")
        expected = f"ex-{slug}-{k}"
        if label != expected:
            logger.warning(f"exercise {k} of {docname} is labelled {label!r}, not {expected!r} "
                           "(ex-<chapter>-<n>, book/_ext/exercises.py)", location=node, type="nsp", subtype="exercise")
        if label not in solved:
            logger.warning(f"exercise {label!r} has no solution in {docname}", location=node,
                           type="nsp", subtype="exercise")
        found.append({"label": label, "title": _title_nodes(node), "difficulty": node.get("nsp_difficulty"),
                      "minutes": node.get("nsp_minutes"), "position": k})
    env.nsp_exercises = getattr(env, "nsp_exercises", {})
    env.nsp_exercises[docname] = found
    title = env.titles[docname].astext() if docname in env.titles else docname
    sections = _sections(doctree, title)
    env.nsp_reading = getattr(env, "nsp_reading", {})
    env.nsp_reading[docname] = {
        "words": sum(s["words"] for s in sections), "equations": sum(s["equations"] for s in sections),
        "sections": sections}
    if docname == app.config.root_doc:
        env.nsp_parts = [(t.get("caption") or "", [d for _title, d in t["entries"]])
                         for t in doctree.findall(addnodes.toctree)]


def _purge(app: Sphinx, env, docname: str) -> None:
    for attr in ("nsp_exercises", "nsp_reading"):
        getattr(env, attr, {}).pop(docname, None)
    getattr(env, "nsp_course_docs", set()).discard(docname)


def _merge(app: Sphinx, env, docnames, other) -> None:
    for attr in ("nsp_exercises", "nsp_reading"):
        mine = getattr(env, attr, {})
        mine.update({d: v for d, v in getattr(other, attr, {}).items() if d in docnames})
        setattr(env, attr, mine)
    env.nsp_course_docs = getattr(env, "nsp_course_docs", set()) | getattr(other, "nsp_course_docs", set())
    if app.config.root_doc in docnames and hasattr(other, "nsp_parts"):
        env.nsp_parts = other.nsp_parts


def _outdated(app: Sphinx, env, added, changed, removed):
    """The course page is made from the other pages: read it again whenever one of them changes."""
    if added or changed or removed:
        return sorted(getattr(env, "nsp_course_docs", set()) & env.found_docs)
    return []


# ------------------------------------------------------------------------------------ course directives


class course_placeholder(nodes.General, nodes.Element):
    """Where a course directive's content goes, once every page has been read."""


def _skip_placeholder(self, node):
    raise nodes.SkipNode


class _CourseDirective(SphinxDirective):
    kind = ""
    has_content = False

    def run(self):
        self.env.nsp_course_docs = getattr(self.env, "nsp_course_docs", set()) | {self.env.docname}
        node = course_placeholder(kind=self.kind, docname=self.env.docname)
        self.set_source_info(node)
        return [node]


class ExerciseIndexDirective(_CourseDirective):
    kind = "index"


class CourseSyllabusDirective(_CourseDirective):
    kind = "syllabus"


class CourseChaptersDirective(_CourseDirective):
    """The chapters' table; the content (YAML) says what each covers and what it builds on."""

    kind = "chapters"
    has_content = True

    def run(self):
        result = super().run()
        node = result[0]
        try:
            data = yaml.safe_load("\n".join(self.content)) or {}
        except yaml.YAMLError as exc:
            logger.warning(f"course-chapters: the content is not YAML: {exc}", location=node)
            data = {}
        described = {}
        for name, entry in data.items():
            docname = docname_join(self.env.docname, str(name))
            if not self.source_exists(docname):
                logger.warning(f"course-chapters: no chapter {name!r} ({docname})", location=node)
                continue
            entry = entry or {}
            prerequisites = [docname_join(self.env.docname, str(p)) for p in entry.get("prerequisites") or []]
            for p, raw in zip(prerequisites, entry.get("prerequisites") or []):
                if not self.source_exists(p):
                    logger.warning(f"course-chapters: {name}: no prerequisite chapter {raw!r}", location=node)
            covers = []
            if entry.get("covers"):
                covers, messages = self.state.inline_text(str(entry["covers"]), self.lineno)
                covers = covers + messages
            described[docname] = {"covers": covers, "prerequisites": prerequisites}
        node["described"] = described
        return result

    def source_exists(self, docname: str) -> bool:
        """Whether the page has a source file (it may be left out of this build, as one-chapter builds do)."""
        if docname in self.env.found_docs:
            return True
        base = Path(self.env.srcdir, docname)
        return any(base.with_name(base.name + suffix).is_file() for suffix in self.config.source_suffix)


# ------------------------------------------------------------------------------ filling in the course


def _toc_order(env, root: str) -> list[str]:
    order, seen = [], set()

    def walk(doc):
        if doc in seen:
            return
        seen.add(doc)
        order.append(doc)
        for child in env.toctree_includes.get(doc, []):
            walk(child)

    walk(root)
    return order


def _chapters(env, config, described=()) -> list[str]:
    exercises = getattr(env, "nsp_exercises", {})
    return [d for d in _toc_order(env, config.root_doc)
            if (exercises.get(d) or d in described) and d in env.found_docs]


def _fmt_minutes(minutes: float) -> str:
    if minutes < 1:
        return "under a minute"
    if minutes < 10:
        return f"about {round(minutes)} min"
    minutes = 5 * round(minutes / 5)
    if minutes < 60:
        return f"about {minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"about {hours} h" + (f" {rest} min" if rest else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _fmt_seconds(seconds) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def _compute_seconds(env, docname):
    try:
        from myst_nb.sphinx_ import NbMetadataCollector
    except ImportError:  # a build without myst-nb: no notebooks, no execution
        return None
    data = NbMetadataCollector.get_doc_data(env).get(docname, {}).get("exec_data")
    return data.get("runtime") if data else None


class FillCoursePages(SphinxPostTransform):
    """Replace each course placeholder with its content, now that every page has been read."""

    default_priority = 5  # before references are resolved (10): the content holds pending references

    def run(self, **kwargs):
        placeholders = list(self.document.findall(course_placeholder))
        if not placeholders:
            return
        self._described = self.described()
        for node in placeholders:
            kind = node["kind"]
            content = {"index": self.index, "chapters": self.chapters_table, "syllabus": self.syllabus}[kind](node)
            node.replace_self(content or [nodes.paragraph(text="No chapter is in this build.")])

    # -- links

    def doc_link(self, docname: str, text: str | None = None):
        text = text or self.env.titles[docname].astext()
        xref = addnodes.pending_xref("", nodes.inline(text, text), refdomain="std", reftype="doc",
                                     reftarget="/" + docname, refexplicit=True, refwarn=True, refdoc=self.env.docname)
        return xref

    def anchor_link(self, docname: str, anchor: str, children: list):
        """A link to an element of another page (a section), or the children alone where there is no URI."""
        try:
            uri = self.app.builder.get_relative_uri(self.env.docname, docname)
        except NoUri:
            return nodes.inline("", "", *children)
        return nodes.reference("", "", *children, internal=True, refuri=uri + ("#" + anchor if anchor else ""))

    def exercise_link(self, docname: str, label: str, text: str):
        if self.app.builder.format == "latex":
            if docname not in getattr(self.app.builder, "docnames", {docname}):
                return nodes.inline(text, text)
            ref = exercise_latex_number_reference(refid=label)
            ref += nodes.Text(text)
            return ref
        return self.anchor_link(docname, label, [nodes.inline(text, text)])

    def exercise_number(self, docname: str, exercise: dict) -> str:
        number = self.env.toc_fignumbers.get(docname, {}).get("exercise", {}).get(exercise["label"])
        return ".".join(map(str, number)) if number else str(exercise["position"])

    def exercise_entry(self, docname, exercise, with_time=True) -> list:
        """``Exercise 4.2 (Where does μ₂ go?) ★★ 15 min``, the number linked."""
        text = f"Exercise {self.exercise_number(docname, exercise)}"
        out = [self.exercise_link(docname, exercise["label"], text)]
        if exercise["title"]:
            out += [nodes.Text(" (")] + [n.deepcopy() for n in exercise["title"]] + [nodes.Text(")")]
            if any(isinstance(n, nodes.math) for n in exercise["title"]):
                self.env.get_domain("math").data["has_equations"][self.env.docname] = True
        if with_time and exercise["difficulty"]:
            out.append(nodes.Text(" — "))
            out += meta_nodes(exercise["difficulty"], exercise["minutes"])
        return out

    def described(self) -> dict:
        for node in self.document.findall(course_placeholder):
            if node["kind"] == "chapters":
                return node["described"]
        found = {}
        for docname in sorted(getattr(self.env, "nsp_course_docs", set())):
            try:
                doctree = self.env.get_doctree(docname)
            except Exception:  # noqa: BLE001 - a page not pickled yet has nothing to tell
                continue
            for node in doctree.findall(course_placeholder):
                if node["kind"] == "chapters":
                    found.update(node["described"])
        return found

    # -- the three directives

    def index(self, node):
        exercises = getattr(self.env, "nsp_exercises", {})
        out = []
        chapters = _chapters(self.env, self.config)
        total = sum(len(exercises[d]) for d in chapters)
        if not total:
            return []
        minutes = sum(e["minutes"] or 0 for d in chapters for e in exercises[d])
        out.append(nodes.paragraph(text=f"{_count(total, 'exercise')} in {_count(len(chapters), 'chapter')}, "
                                        f"{_fmt_minutes(minutes)} of work in all."))
        for number, docname in enumerate(chapters, start=1):
            items = exercises.get(docname, [])
            if not items:
                continue
            head = nodes.paragraph(classes=["nsp-exercise-index-chapter"])
            head += nodes.strong("", f"{number}. ", self.doc_link(docname))
            head += nodes.Text(f" — {_count(len(items), 'exercise')}, {_fmt_minutes(sum(e['minutes'] or 0 for e in items))}")
            out.append(head)
            listing = nodes.bullet_list(classes=["nsp-exercise-index"])
            for exercise in items:
                listing += nodes.list_item("", nodes.paragraph("", "", *self.exercise_entry(docname, exercise)))
            out.append(listing)
        return [nodes.container("", *out, classes=["nsp-exercise-index"])]

    def chapters_table(self, node):
        described = node["described"]
        chapters = _chapters(self.env, self.config, described)
        if not chapters:
            return []
        exercises = getattr(self.env, "nsp_exercises", {})
        reading = getattr(self.env, "nsp_reading", {})
        for docname in chapters:
            if docname not in described:
                logger.warning(f"course-chapters: the chapter {docname} is not described (what it covers, its "
                               "prerequisites): add it to the directive's content", location=node)
        number = {d: k for k, d in enumerate(chapters, start=1)}
        header = ["", "Chapter", "Reading", "Compute", "Exercises", "Prerequisites"]
        rows = []
        for docname in chapters:
            info = described.get(docname, {"covers": [], "prerequisites": []})
            r = reading.get(docname, {"words": 0, "equations": 0})
            items = exercises.get(docname, [])
            prereq = [p for p in info["prerequisites"] if p in number]
            cell_prereq = nodes.paragraph()
            for k, p in enumerate(prereq):
                if k:
                    cell_prereq += nodes.Text(", ")
                cell_prereq += self.doc_link(p, str(number[p]))
            if not prereq:
                cell_prereq += nodes.Text("—")
            rows.append([
                nodes.paragraph(text=str(number[docname])),
                nodes.paragraph("", "", self.doc_link(docname)),
                nodes.paragraph(text=_fmt_minutes(reading_minutes(r["words"], r["equations"]))),
                nodes.paragraph(text=_fmt_seconds(_compute_seconds(self.env, docname))),
                nodes.paragraph(text=f"{len(items)} ({sum(e['minutes'] or 0 for e in items)} min)" if items else "—"),
                cell_prereq,
            ])
        return [_table(header, rows, classes=["nsp-course-chapters"], widths=[4, 40, 14, 12, 14, 16],
                       given=self.app.builder.format == "latex")]

    def syllabus(self, node):
        described = self._described
        chapters = _chapters(self.env, self.config, described)
        if not chapters:
            return []
        reading = getattr(self.env, "nsp_reading", {})
        exercises = getattr(self.env, "nsp_exercises", {})
        plan = syllabus_plan({d: reading.get(d, {"words": 0, "equations": 0, "sections": []}) for d in chapters})
        weeks_list = nodes.bullet_list(classes=["nsp-course-syllabus"])
        for week, (docname, first, last, minutes, final) in enumerate(plan, start=1):
            sections = reading[docname]["sections"]
            what = nodes.paragraph("", "", nodes.strong(text=f"Week {week}: "), self.doc_link(docname))
            if not (first == 0 and last == len(sections) - 1):
                a, b = sections[first], sections[last]
                what += nodes.Text(", from ")
                what += self.anchor_link(docname, a["id"], [nodes.Text("its start" if first == 0 else a["title"])])
                what += nodes.Text(" to ")
                what += self.anchor_link(docname, b["id"], [nodes.Text(b["title"])])
            what += nodes.Text(f" ({_fmt_minutes(minutes)} of reading).")
            covers = described.get(docname, {}).get("covers") if first == 0 else None
            if covers:
                what += nodes.Text(" ")
                what += [n.deepcopy() for n in covers]
                what += nodes.Text(".")
            problems = nodes.paragraph("", "", nodes.emphasis(text="Problem set: "))
            items = exercises.get(docname, []) if final else []
            if items:
                for k, exercise in enumerate(items):
                    if k:
                        problems += nodes.Text("; ")
                    problems += self.exercise_entry(docname, exercise, with_time=False)
                    problems += nodes.Text(f" {'★' * (exercise['difficulty'] or 0)}")
                problems += nodes.Text(f"; {_fmt_minutes(sum(e['minutes'] or 0 for e in items))} in all.")
            else:
                problems += nodes.Text("none this week, the chapter goes on next week." if not final else "none.")
            weeks_list += nodes.list_item("", what, problems)
        total = sum(p[3] for p in plan)
        intro = nodes.paragraph()
        intro += nodes.Text(f"{_count(len(plan), 'week')} for {_count(len(chapters), 'chapter')}")
        longer = [d for d in chapters if sum(1 for p in plan if p[0] == d) > 1]
        for k, docname in enumerate(longer):
            weeks = sum(1 for p in plan if p[0] == docname)
            intro += nodes.Text(": " if k == 0 else "; ")
            intro += self.doc_link(docname)
            intro += nodes.Text(f" takes {weeks} weeks")
        intro += nodes.Text(f". {_fmt_minutes(total)[0].upper()}{_fmt_minutes(total)[1:]} of reading in all.")
        return [intro, weeks_list]


def syllabus_plan(reading: dict) -> list[tuple]:
    """Weeks as ``(docname, first section, last section, reading minutes, finishes the chapter)``.

    A chapter gets ``max(1, round(minutes / median))`` weeks, ``minutes`` its reading time and ``median``
    the median over the chapters; its sections are cut into that many runs of about equal reading time.

    Examples
    --------
    >>> sec = lambda w: {"title": "s", "id": "s", "words": w, "equations": 0}
    >>> plan = syllabus_plan({"a": {"sections": [sec(1200), sec(1200)]},
    ...                       "b": {"sections": [sec(1200), sec(1300)]},
    ...                       "c": {"sections": [sec(1200), sec(1200), sec(1300), sec(1200)]}})
    >>> [(d, first, last, final) for d, first, last, _m, final in plan]
    [('a', 0, 1, True), ('b', 0, 1, True), ('c', 0, 1, False), ('c', 2, 3, True)]
    """
    minutes = {d: [reading_minutes(s["words"], s["equations"]) for s in r["sections"]] for d, r in reading.items()}
    totals = {d: sum(m) for d, m in minutes.items()}
    median = statistics.median(totals.values()) if totals else 0
    plan = []
    for docname, parts in minutes.items():
        if not parts:
            continue
        weeks = max(1, min(len(parts), round(totals[docname] / median))) if median > 0 else 1
        cumulative = [sum(parts[: k + 1]) for k in range(len(parts))]
        cuts, start = [], 0
        for k in range(1, weeks):
            target = totals[docname] * k / weeks
            # the last section of this week: the boundary nearest the target, leaving a section for each later week
            candidates = range(start, len(parts) - (weeks - k))
            end = min(candidates, key=lambda i: abs(cumulative[i] - target))
            cuts.append((start, end))
            start = end + 1
        cuts.append((start, len(parts) - 1))
        for k, (first, last) in enumerate(cuts):
            plan.append((docname, first, last, sum(parts[first: last + 1]), k == len(cuts) - 1))
    return plan


def _table(header: list[str], rows: list[list], classes=(), widths=None, given=False) -> nodes.table:
    """A table; ``given`` uses ``widths`` (relative column widths: the PDF), else the browser sizes the columns."""
    table = nodes.table(classes=["colwidths-given" if given else "colwidths-auto", *classes])
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths or [1] * len(header):
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    row = nodes.row()
    for text in header:
        row += nodes.entry("", nodes.paragraph(text=text))
    head += row
    body = nodes.tbody()
    group += body
    for cells in rows:
        row = nodes.row()
        for cell in cells:
            row += nodes.entry("", cell)
        body += row
    return table


def _substitutions(app: Sphinx, config) -> None:
    """``{{ reading_words_per_minute }}`` and ``{{ reading_equations_per_minute }}``: the reading speeds used."""
    subs = dict(config.myst_substitutions or {})
    subs.setdefault("reading_words_per_minute", f"{WORDS_PER_MINUTE:g}")
    subs.setdefault("reading_equations_per_minute", f"{1 / EQUATION_MINUTES:g}")
    config.myst_substitutions = subs


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx_exercise")
    app.connect("config-inited", _substitutions, priority=900)
    app.add_directive("exercise", BookExercise, override=True)
    app.add_directive("exercise-start", BookExerciseStart, override=True)
    app.add_directive("exercise-index", ExerciseIndexDirective)
    app.add_directive("course-chapters", CourseChaptersDirective)
    app.add_directive("course-syllabus", CourseSyllabusDirective)
    app.add_node(course_placeholder, html=(_skip_placeholder, None), latex=(_skip_placeholder, None),
                 text=(_skip_placeholder, None))
    app.add_post_transform(FillCoursePages)
    app.connect("doctree-read", _collect)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("env-get-outdated", _outdated)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
