"""The reproduction report (book/reproduction.md, nsp_helpers.reproduction) in step with the chapters.

Every registry entry names a chapter of the table of contents, a label (section or figure) that exists in
it, and glue keys that the chapter glues; after a build, the built chapter must hold those keys with the
values the entry claims (the paper's sizes). The registry covers every figure panel of the paper.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from nsp_helpers import reproduction

ROOT = Path(__file__).resolve().parents[1]
BUILT = ROOT / "_build" / "jupyter_execute" / "book"
PANELS = {"Fig. 2a", "Fig. 2b", "Fig. 3a", "Fig. 3b", "Fig. 3c", "Fig. 4a", "Fig. 4b", "Fig. 4c", "Fig. 5a, b",
          "Fig. 5c, d", "Fig. 6a", "Fig. 6b, c", "Fig. 6d", "Fig. 6e, f"}


def toc_files() -> set[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return {c["file"] for part in toc["parts"] for c in part["chapters"]}


def glued_key_patterns(source: str) -> list[re.Pattern]:
    """Every key the chapter glues: literal keys, and f-string keys with their fields as wildcards."""
    patterns = [re.compile(re.escape(k) + "$") for k in re.findall(r'glue\(\s*"([^"]+)"', source)]
    for template in re.findall(r'glue\(\s*f"([^"]+)"', source):
        parts = re.split(r"\{[^}]*\}", template)
        patterns.append(re.compile(".+".join(map(re.escape, parts)) + "$"))
    return patterns


def test_registry_covers_every_panel_of_the_paper():
    items = {e.item for e in reproduction.ENTRIES}
    assert PANELS <= items, PANELS - items
    assert len(items) == len(reproduction.ENTRIES), "two entries share an item name"


@pytest.mark.parametrize("entry", reproduction.ENTRIES, ids=lambda e: e.item)
def test_entry_points_at_a_chapter_label_and_glued_keys(entry):
    assert f"book/{entry.chapter}" in toc_files()
    source = (ROOT / "book" / f"{entry.chapter}.md").read_text(encoding="utf-8")
    assert f"({entry.label})=" in source or re.search(rf"name:\s*{re.escape(entry.label)}\s*$", source, re.M), (
        f"{entry.label!r} is not a label in book/{entry.chapter}.md")
    patterns = glued_key_patterns(source)
    for key in (*entry.keys, *entry.expected):
        assert any(p.match(key) for p in patterns), f"book/{entry.chapter}.md glues no {key!r}"
    assert entry.status in reproduction.STATUSES


@pytest.mark.parametrize("entry", [e for e in reproduction.ENTRIES if e.keys or e.expected], ids=lambda e: e.item)
def test_built_chapters_hold_the_keys_and_the_claimed_sizes(entry):
    path = BUILT / f"{entry.chapter}.glue.json"
    if not path.exists():
        pytest.skip("the book has not been built (no _build/jupyter_execute)")
    glued = json.loads(path.read_text(encoding="utf-8"))
    for key in (*entry.keys, *entry.expected):
        assert key in glued, f"the built {entry.chapter} glues no {key!r}"
    for key, value in entry.expected.items():
        assert glued[key]["data"]["text/plain"] == repr(value), (key, glued[key]["data"]["text/plain"], value)


def test_report_table_has_one_row_per_entry_with_a_link():
    table = reproduction.report_table()
    rows = table.splitlines()[2:]
    assert len(rows) == len(reproduction.ENTRIES)
    for row, entry in zip(rows, reproduction.ENTRIES):
        assert row.count(" | ") == 3, row  # four columns, no stray pipe
        role = "numref" if entry.label.startswith("fig-") else "ref"  # a figure by its number, not its caption
        assert f"{{{role}}}`{entry.label}`" in row and entry.status in row


def test_reduced_and_absent_entries_say_why():
    with pytest.raises(ValueError, match="must say why"):
        reproduction.Entry("Fig. 9", "x", "paper", "ours", "reduced", "variance_map", "vm-fig2")
    with pytest.raises(ValueError, match="status"):
        reproduction.Entry("Fig. 9", "x", "paper", "ours", "smaller", "variance_map", "vm-fig2")


@pytest.mark.parametrize("fmt", ["\x0c1", "d", "E\U0008b5f2\u00d4\x15"])
def test_value_range_names_a_bad_fmt(fmt):
    from nsp_helpers.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="^fmt must be a format specification for a float"):
        reproduction.value_range([1.0, 2.5], fmt)
    with pytest.raises(InvalidParameterError, match="^fmt must be"):
        reproduction.value_range([], fmt)   # no values: still checked
