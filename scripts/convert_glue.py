#!/usr/bin/env python
"""Convert chapters from myst-nb glue roles to the forms that JupyterLab shows as well (issue 12).

    python scripts/convert_glue.py book/gradients.md book/variance_map.md   # convert, in place
    python scripts/convert_glue.py --check book/*.md                       # report only; exit 1 if any left

Run it from anywhere, with the book's environment (it needs jupytext). It is idempotent: a converted
chapter is left as it is. What it changes, mechanically (book/how_to_use.md and CONTRIBUTING.md
describe the forms):

* the header: drops ``formats: md:myst,ipynb`` (pairing comes from jupytext.toml, which keeps notebooks
  out of book/) and names the kernel as JupyterLab writes it back (``Python 3 (ipykernel)``);
* ``from myst_nb import glue`` -> ``from nsp_helpers.glue import glue``;
* ``{glue:text}`KEY:FMT``` -> ``{eval}`glue.text("KEY:FMT")```, ``{glue:md}`KEY``` ->
  ``{eval}`glue.md("KEY")```;
* a ``{glue:md} KEY`` directive -> a paragraph holding only ``{eval}`glue.md("KEY:FORMAT")``` (pasted as a
  block, where the directive was);
* a ``{glue:figure} KEY`` directive that opens the Markdown right after the cell that glues ``KEY``
  (``glue("KEY", fig, display=False)``): the glue call is removed and a one-line cell ``fig`` follows
  the cell, tagged ``remove-input``, with the directive's name and caption as myst-nb figure options
  (``mystnb: figure: {name, caption}``). The HTML page shows the same numbered figure at the same
  place; JupyterLab shows the figure as that cell's output.

The file is parsed and written back with jupytext and the repository's jupytext.toml, so what it writes
is exactly what saving the chapter from JupyterLab writes. Anything it cannot convert mechanically
(another glue role, a figure glued elsewhere, a glued value used in the prose before the cell that
glues it: JupyterLab runs cells in order) is reported, and nothing is written for that chapter unless
``--force`` is given (forward uses are only warnings: move the glue call to an earlier cell).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import jupytext
import nbformat
from jupytext.config import load_jupytext_config

ROOT = Path(__file__).resolve().parent.parent
KERNEL_DISPLAY_NAME = "Python 3 (ipykernel)"

INLINE_ROLE = re.compile(r"\{glue:(text|md)\}`([^`]+)`")
OTHER_ROLE = re.compile(r"\{glue(?::any|:|:math)?\}`[^`]*`")
BLOCK = re.compile(r"^(?P<fence>`{3,}|:{3,})\{glue:(?P<kind>md|figure)\}[ \t]+(?P<key>\S+)[ \t]*\n"
                   r"(?P<body>.*?)^(?P=fence)[ \t]*$\n?", re.S | re.M)
OTHER_BLOCK = re.compile(r"^(`{3,}|:{3,})\{glue(?::any|:|:math)?\}", re.M)
IMPORT = re.compile(r"^from myst_nb import glue[ \t]*$", re.M)
GLUE_CALL = re.compile(r"(?<![\w.{\\])glue\(\s*f?[\"']")
EVAL_KEY = re.compile(r"\{eval\}`glue\.(?:text|md)\(\"([^\":]+)(?::[^\"]*)?\"\)`")


def _options_and_body(body: str) -> tuple[dict[str, str], str]:
    """Split a directive body into its ``:option: value`` lines and the rest (the caption)."""
    options, lines = {}, body.splitlines()
    while lines and lines[0].startswith(":"):
        name, _, value = lines.pop(0)[1:].partition(":")
        options[name.strip()] = value.strip()
    return options, "\n".join(lines).strip("\n")


def convert_inline(text: str) -> str:
    return INLINE_ROLE.sub(lambda m: '{eval}`glue.%s("%s")`' % (m.group(1), m.group(2)), text)


def _glue_key_patterns(source: str) -> list[re.Pattern]:
    """Regexes of the keys glued by a code cell (f-string keys become wildcards)."""
    patterns = []
    for m in re.finditer(r"(?<![\w.{\\])glue\(\s*(f?)([\"'])(.*?)\2", source):
        is_f, key = m.group(1), m.group(3)
        if is_f:
            parts = re.split(r"\{[^}]*\}", key)
            patterns.append(re.compile("^" + ".+".join(map(re.escape, parts)) + "$"))
        else:
            patterns.append(re.compile("^" + re.escape(key) + "$"))
    return patterns


def convert_notebook(nb, name: str) -> tuple[list[str], list[str]]:
    """Convert ``nb`` in place; return (problems that block writing, warnings)."""
    problems, warnings = [], []
    jt = nb.metadata.get("jupytext", {})
    if "formats" in jt:
        del jt["formats"]
    # the display name that JupyterLab writes back for ipykernel's python3 kernel
    nb.metadata.setdefault("kernelspec", {}).update(display_name=KERNEL_DISPLAY_NAME, language="python", name="python3")
    cells = nb.cells
    i = 0
    while i < len(cells):
        cell = cells[i]
        if cell.cell_type == "code":
            if IMPORT.search(cell.source):
                cell.source = IMPORT.sub("from nsp_helpers.glue import glue", cell.source)
            i += 1
            continue
        if cell.cell_type != "markdown":
            i += 1
            continue
        src = cell.source
        new_cell = None
        m = BLOCK.search(src)
        while m:
            kind, key = m.group("kind"), m.group("key")
            options, caption = _options_and_body(m.group("body"))
            if kind == "md":
                unknown = sorted(set(options) - {"format"})
                if unknown:
                    problems.append(f"{name}: {{glue:md}} {key}: options {unknown} not supported")
                    break
                arg = key + (":" + options["format"] if "format" in options else "")
                replacement = '{eval}`glue.md("%s")`\n' % arg
                src = src[: m.start()] + replacement + src[m.end():]
            else:
                unknown = sorted(set(options) - {"name"})
                prev = cells[i - 1] if i > 0 else None
                glue_line = re.compile(r"^glue\(\s*[\"']" + re.escape(key) + r"[\"']\s*,\s*([A-Za-z_]\w*)\s*,"
                                       r"\s*display\s*=\s*False\s*\)[ \t]*$", re.M)
                gm = glue_line.search(prev.source) if prev is not None and prev.cell_type == "code" else None
                if unknown:
                    problems.append(f"{name}: {{glue:figure}} {key}: options {unknown} not supported")
                    break
                if src[: m.start()].strip():
                    problems.append(f"{name}: {{glue:figure}} {key} does not open its Markdown cell "
                                    "(text between the gluing cell and the figure)")
                    break
                if gm is None:
                    problems.append(f"{name}: {{glue:figure}} {key}: the cell before it does not glue it "
                                    f"with glue({key!r}, <name>, display=False) on a line of its own")
                    break
                var = gm.group(1)
                after = prev.source[gm.end():]
                if re.search(r"^\s*" + re.escape(var) + r"\s*=", after, re.M):
                    problems.append(f"{name}: {{glue:figure}} {key}: {var} is reassigned after it is glued")
                    break
                prev.source = (prev.source[: gm.start()] + prev.source[gm.end():].lstrip("\n")).rstrip("\n")
                figure = {}
                if caption:  # one line per paragraph: jupytext folds it in the cell's YAML header
                    paragraphs = re.split(r"\n[ \t]*\n", caption.strip())
                    figure["caption"] = convert_inline("\n\n".join(" ".join(p.split()) for p in paragraphs))
                if "name" in options:
                    figure["name"] = options["name"]
                new_cell = nbformat.v4.new_code_cell(var, metadata={"tags": ["remove-input"],
                                                                    "mystnb": {"figure": figure}})
                src = src[m.end():].lstrip("\n")
            m = BLOCK.search(src)
        src = convert_inline(src)
        if OTHER_ROLE.search(src) or OTHER_BLOCK.search(src):
            problems.append(f"{name}: markdown cell {i} uses a glue form this script does not convert: "
                            f"{(OTHER_ROLE.search(src) or OTHER_BLOCK.search(src)).group(0)!r}")
        cell.source = src
        if new_cell is not None:
            cells.insert(i, new_cell)
            i += 1
            if not cell.source.strip():
                del cells[i]
                continue
        i += 1
    # the figure cells' captions may hold roles too
    for cell in cells:
        fig = cell.metadata.get("mystnb", {}).get("figure", {}) if cell.cell_type == "code" else {}
        if isinstance(fig, dict) and "caption" in fig:
            fig["caption"] = convert_inline(fig["caption"])
    # a glued value used in the prose before the cell that glues it: JupyterLab runs cells in order
    glued: list[re.Pattern] = []
    uses_glue = False
    for idx, cell in enumerate(cells):
        if cell.cell_type == "code":
            glued += _glue_key_patterns(cell.source)
            uses_glue |= bool(GLUE_CALL.search(cell.source))
        elif cell.cell_type == "markdown":
            for key in EVAL_KEY.findall(cell.source):
                uses_glue = True
                if not any(p.match(key) for p in glued):
                    warnings.append(f"{name}: {key!r} is used in the prose (markdown cell {idx}) before any "
                                    "cell glues it: in JupyterLab it shows an error; move the glue call earlier")
    if uses_glue and not any("from nsp_helpers.glue import glue" in c.source for c in cells if c.cell_type == "code"):
        problems.append(f"{name}: uses glue but does not import it with `from myst_nb import glue`")
    return problems, warnings


def convert_file(path: Path, *, write: bool, force: bool = False) -> tuple[bool, list[str], list[str]]:
    """Convert one chapter; return (changed, problems, warnings)."""
    text = path.read_text(encoding="utf-8")
    if "kernelspec:" not in text.split("\n---", 1)[0]:
        return False, [], []  # not a notebook (a page without code)
    config = load_jupytext_config(str(path.parent))
    nb = jupytext.reads(text, fmt="md:myst", config=config)
    problems, warnings = convert_notebook(nb, path.name)
    new = jupytext.writes(nb, fmt="md:myst", config=config)
    changed = new != text
    if changed and write and (force or not problems):
        path.write_text(new, encoding="utf-8")
    return changed, problems, warnings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="+", type=Path, help="book/NAME.md files")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a chapter needs converting")
    parser.add_argument("--force", action="store_true", help="write even when some glue could not be converted")
    args = parser.parse_args(argv)
    status = 0
    for path in args.chapters:
        changed, problems, warnings = convert_file(path, write=not args.check, force=args.force)
        for line in problems:
            print("PROBLEM", line)
        for line in warnings:
            print("WARNING", line)
        if args.check:
            print(f"{path}: {'needs converting' if changed else 'converted'}")
            status |= int(changed or bool(problems))
        else:
            done = changed and (args.force or not problems)
            print(f"{path}: {'converted' if done else 'unchanged' if not changed else 'NOT written (problems above)'}")
            status |= int(bool(problems))
    return status


if __name__ == "__main__":
    sys.exit(main())
