"""Tests of scripts/convert_glue.py: myst-nb glue forms -> {eval} and figure cells, idempotent, through jupytext."""

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("jupytext")
spec = importlib.util.spec_from_file_location("convert_glue", ROOT / "scripts" / "convert_glue.py")
convert_glue = importlib.util.module_from_spec(spec)
spec.loader.exec_module(convert_glue)

CHAPTER = '''---
jupytext:
  formats: md:myst,ipynb
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A chapter

```{code-cell} ipython3
:tags: [hide-input]

from IPython.display import Markdown
from myst_nb import glue

for name in ["a", "b"]:
    glue(f"x_{name}", 0.5, display=False)
glue("table", Markdown("| a |\\n|---|\\n| 1 |"), display=False)
glue("cmd", Markdown("`run`"), display=False)
fig = make_figure()
glue("fig_key", fig, display=False)
```

```{glue:figure} fig_key
:name: fig-key

A caption with $x^2$ and {glue:text}`x_a:.2f`
over two lines.
```

The value is {glue:text}`x_a:.3f`, made by {glue:md}`cmd`; later {glue:text}`late:d`.

```{glue:md} table
:format: myst
```

```{code-cell} ipython3
glue("late", 3, display=False)
```
'''


@pytest.fixture()
def chapter(tmp_path):
    shutil.copy(ROOT / "jupytext.toml", tmp_path / "jupytext.toml")
    (tmp_path / "book").mkdir()
    path = tmp_path / "book" / "demo.md"
    path.write_text(CHAPTER, encoding="utf-8")
    return path


def test_converts_every_glue_form_and_is_idempotent(chapter):
    changed, problems, warnings = convert_glue.convert_file(chapter, write=True)
    assert changed and problems == []
    assert warnings == ["demo.md: 'late' is used in the prose (markdown cell 3) before any cell glues it: in "
                        "JupyterLab it shows an error; move the glue call earlier"]
    text = chapter.read_text(encoding="utf-8")
    assert "formats:" not in text and "display_name: Python 3 (ipykernel)" in text
    assert "from nsp_helpers.glue import glue" in text and "myst_nb" not in text
    assert "{glue" not in text
    assert 'The value is {eval}`glue.text("x_a:.3f")`, made by {eval}`glue.md("cmd")`' in text
    assert '\n{eval}`glue.md("table:myst")`\n' in text, "a block {glue:md} becomes a paragraph of its own"
    assert 'glue("fig_key"' not in text
    figure_cell = text[text.index("tags: [remove-input]") - 30:text.index("\nfig\n```") + 9]
    assert "name: fig-key" in figure_cell
    assert 'caption: A caption with $x^2$ and {eval}`glue.text("x_a:.2f")` over two lines.' in figure_cell
    # a second run changes nothing, and --check says so
    assert convert_glue.convert_file(chapter, write=True)[0] is False
    assert convert_glue.main(["--check", str(chapter)]) == 0


def test_reports_what_it_cannot_convert(chapter):
    text = CHAPTER.replace('glue("fig_key", fig, display=False)', "glue('fig_key', fig)")
    chapter.write_text(text, encoding="utf-8")
    changed, problems, _ = convert_glue.convert_file(chapter, write=True)
    assert changed and problems and "does not glue it" in problems[0]
    assert chapter.read_text(encoding="utf-8") == text, "nothing is written when something cannot be converted"
    assert convert_glue.main(["--check", str(chapter)]) == 1


def test_the_prototype_chapter_is_converted():
    assert convert_glue.main(["--check", str(ROOT / "book" / "noisy_networks.md")]) == 0
