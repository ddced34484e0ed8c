"""The chapters as notebooks, as a Binder user runs them (issue 12).

Fast tests (run by default): every chapter is paired through ``jupytext.toml`` only (no ``formats`` in
its header, so nothing is ever written into ``book/``) and saving it from JupyterLab writes it back
byte for byte (jupytext with the repository's configuration, Lab metadata such as ``user_expressions``
included); ``notebooks/`` pairing lands outside ``book/``.

The ``lab`` test (``python -m pytest -m lab``; ``.ci/run`` runs it): in a virtual environment made from
``binder/`` exactly as repo2docker makes it (``pip install -r binder/requirements.txt`` from the
repository root, then ``binder/postBuild``), a real JupyterLab server on 127.0.0.1 with
``NSP_LIVE_WIDGETS=1``, and one headless Chromium (Playwright driving ``/usr/bin/chromium``, never a
browser of its own). Each chapter is opened from its ``.md`` (``lab/tree/book/NAME.md``, which
postBuild makes open as a notebook), all cells are run, and the test checks: no error output (cells,
inline ``{eval}`` expressions); no raw ``{glue`` / ``{eval}`` / ``glue.text(`` text in what is shown;
as many figures (PNG outputs) and widgets as the chapter's HTML page (``_build/html``, when built) and
the same inline numbers as that page; one slider per chapter moved with the keyboard changes its
live figure, with no error under it, and the live figure is shown at the size it is drawn; saving
leaves the chapter unchanged and writes ``notebooks/NAME.ipynb``, never ``book/NAME.ipynb``.

The environment is kept in ``~/.cache/nsp_helpers/binder-venv-<hash>`` (``NSP_BINDER_VENV_DIR``
overrides the folder) and rebuilt when ``binder/requirements.txt``, ``requirements*.txt`` or the Python
version change; ``binder/postBuild`` runs every time.
Chapters that still use myst-nb ``{glue:...}`` roles (not yet converted by
``scripts/convert_glue.py``) are expected failures of the lab test.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
SITE = Path(os.environ.get("NSP_SITE_DIR") or ROOT / "_build" / "html").resolve()
CHROMIUM = os.environ.get("NSP_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("NSP_ARTIFACTS_DIR") or ROOT / "test-artifacts")
CELL_TIMEOUT_S = int(os.environ.get("NSP_LAB_CHAPTER_TIMEOUT", "900"))


def chapters() -> list[str]:
    """The chapters that are notebooks (a kernelspec in the header), in the order of the table of contents."""
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    names = re.findall(r"file:\s*book/(\w+)\s*$", toc, re.MULTILINE)  # not book/api/index
    return [n for n in names if "kernelspec:" in (BOOK / f"{n}.md").read_text(encoding="utf-8").split("\n---", 1)[0]]


def header(text: str) -> str:
    return text.split("\n---", 1)[0]


def unconverted(text: str) -> bool:
    return bool(re.search(r"\{glue(:\w*)?\}", text.replace("\\{glue", "")))


# --------------------------------------------------------------------------------------------- fast tests


@pytest.mark.parametrize("name", chapters())
def test_chapter_saves_back_unchanged_and_pairs_outside_book(name):
    jupytext = pytest.importorskip("jupytext")
    from jupytext.config import load_jupytext_config
    from jupytext.paired_paths import paired_paths

    path = BOOK / f"{name}.md"
    text = path.read_text(encoding="utf-8")
    config = load_jupytext_config(str(BOOK))
    if "formats:" in header(text):
        pytest.xfail(f"{name}: header still pairs with book/{name}.ipynb: run scripts/convert_glue.py {path.relative_to(ROOT)}")
    nb = jupytext.reads(text, fmt="md:myst", config=config)
    # what JupyterLab adds before saving: kernel info, widget state, {eval} results, trust
    nb.metadata["language_info"] = {"name": "python", "version": "3.11"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    for cell in nb.cells:
        cell.metadata["trusted"] = True
        if cell.cell_type == "markdown":
            cell.metadata["user_expressions"] = [{"expression": "1", "result": {"status": "ok", "data": {"text/plain": "1"}}}]
    assert jupytext.writes(nb, fmt="md:myst", config=config) == text, "saving from JupyterLab would rewrite the chapter"
    pairs = [p for p, _fmt in paired_paths(str(path), "md:myst", config.default_formats(str(path)))]
    assert sorted(Path(p).relative_to(ROOT).as_posix() for p in pairs) == [f"book/{name}.md", f"notebooks/{name}.ipynb"]


def test_only_chapters_are_paired():
    text = (ROOT / "jupytext.toml").read_text(encoding="utf-8")
    assert re.search(r'^formats = "book///md:myst,notebooks///ipynb"$', text, re.M)
    assert "-user_expressions" in text and "jupytext_version" in text


# ----------------------------------------------------------------------------------------------- lab test


def _requirements_hash() -> str:
    h = hashlib.sha256(f"{sys.version_info[:3]}".encode())
    for rel in ("binder/requirements.txt", "requirements.txt", "requirements-lab.txt"):  # postBuild runs every time
        h.update(rel.encode() + b"\0" + (ROOT / rel).read_bytes())
    return h.hexdigest()[:16]


def _run(cmd, **kwargs):
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if result.returncode:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


@pytest.fixture(scope="module")
def binder_venv():
    """A virtual environment made from binder/ as repo2docker makes it; reused while its inputs are unchanged."""
    base = Path(os.environ.get("NSP_BINDER_VENV_DIR") or Path.home() / ".cache" / "nsp_helpers")
    venv = base / f"binder-venv-{_requirements_hash()}"
    python = venv / "bin" / "python"
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(venv),
           "PIP_RETRIES": os.environ.get("PIP_RETRIES", "1")}
    env.pop("PYTHONPATH", None)
    start = time.monotonic()
    if not (venv / ".complete").is_file():
        shutil.rmtree(venv, ignore_errors=True)
        for old in base.glob("binder-venv-*"):  # environments of older requirements
            shutil.rmtree(old, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(venv)])
        _run([str(python), "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"], cwd=ROOT, env=env)
        (venv / ".complete").write_text("ok\n")
    else:  # the same environment: point its editable install at this checkout
        _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", "."], cwd=ROOT, env=env)
    _run(["bash", "binder/postBuild"], cwd=ROOT, env=env)
    print(f"\nbinder venv {venv} ready in {time.monotonic() - start:.0f} s")
    return venv, env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(binder_venv, tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 over a copy of the repository, live sliders on."""
    venv, env = binder_venv
    root = tmp_path_factory.mktemp("lab-root")
    files = _run(["git", "ls-files", "-z"], cwd=ROOT).stdout.split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, root / rel)
    port, token = _free_port(), secrets.token_hex(16)
    private = tmp_path_factory.mktemp("lab-home")  # JupyterLab's settings, workspaces and runtime files: none of the user's
    log = open(private / "jupyterlab.log", "w+")
    proc = subprocess.Popen(
        [str(venv / "bin" / "jupyter"), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.open_browser=False", "--ServerApp.allow_root=True",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=root, stdout=log, stderr=subprocess.STDOUT,
        env={**env, "NSP_LIVE_WIDGETS": "1", "JUPYTER_CONFIG_DIR": str(private / "config"),
             "JUPYTER_RUNTIME_DIR": str(private / "runtime")})
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    else:
        proc.terminate()
        pytest.fail("JupyterLab did not start")
    if proc.poll() is not None:
        log.seek(0)
        pytest.fail(f"JupyterLab exited:\n{log.read()[-4000:]}")
    yield {"url": url, "token": token, "root": root, "log": log}
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser_page(lab):
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        yield page
        browser.close()


# JavaScript run in the page: JupyterLab's own application object (exposed by --LabApp.expose_app_in_browser).
JS_WAIT_NOTEBOOK = """async (path) => {
  for (let i = 0; i < 900; i++) {
    const app = window.jupyterapp;
    if (!app || !app.shell) { await new Promise(r => setTimeout(r, 200)); continue; }
    await app.restored;
    const w = app.shell.currentWidget;
    if (w && w.context && w.context.path === path && w.content && w.content.model && w.sessionContext) {
      await w.context.ready; await w.sessionContext.ready;
      // as a reader waits for the page to appear: every Markdown cell rendered by jupyterlab-myst (its
      // {eval} roles are found in the rendered cell's MyST tree when Run All reaches it)
      for (let j = 0; j < 600; j++) {
        const md = w.content.widgets.filter(c => c.model.type === 'markdown');
        if (md.length && md.every(c => c.mystModel && c.mystModel.mdast)) break;
        await new Promise(r => setTimeout(r, 100));
      }
      return {factory: w.context.factoryName || null, cells: w.content.model.cells.length};
    }
    await new Promise(r => setTimeout(r, 200));
  }
  throw new Error('notebook ' + path + ' did not open');
}"""

JS_RUN_ALL = """async () => {
  const app = window.jupyterapp;
  const w = app.shell.currentWidget;
  await w.sessionContext.ready;
  const ok = await app.commands.execute('notebook:run-all-cells');
  // the kernel may still be sending outputs; wait for idle
  for (let i = 0; i < 100 && w.sessionContext.session.kernel.status !== 'idle'; i++) {
    await new Promise(r => setTimeout(r, 200));
  }
  return ok;
}"""

JS_WAIT_EXPRESSIONS = """async () => {
  // jupyterlab-myst asks the kernel for a Markdown cell's {eval} values when Run All reaches the cell; the last
  // cells' answers may still be on their way when the kernel first reports idle: wait for them (up to 60 s)
  const w = window.jupyterapp.shell.currentWidget;
  const cells = w.content.model.cells;
  const missing = () => {
    for (let i = 0; i < cells.length; i++) {
      const cell = cells.get(i);
      if (cell.type !== 'markdown') continue;
      const source = cell.sharedModel.getSource().replace(/(?<!`)``(?!`)[\\s\\S]*?(?<!`)``(?!`)/g, '');
      const roles = (source.match(/\\{eval\\}`[^`]+`/g) || []).length;
      if ((cell.getMetadata('user_expressions') || []).length !== roles) return true;
    }
    return false;
  };
  for (let i = 0; i < 300 && missing(); i++) await new Promise(r => setTimeout(r, 200));
  return !missing();
}"""

JS_REPORT = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const cells = w.content.model.cells;
  const errors = [], pngs = [], widgets = [], expressions = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type === 'code') {
      const outputs = cell.outputs.toJSON();
      for (const o of outputs) {
        if (o.output_type === 'error') errors.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
        if (o.output_type === 'stream' && o.name === 'stderr' && /Traceback|Error/.test(o.text)) errors.push(`cell ${i} stderr: ${String(o.text).slice(0, 300)}`);
        const data = o.data || {};
        // a slider's output also carries its shown frame as image/png (for static renderers): a widget, not a figure
        if (data['image/png'] && !data['application/vnd.jupyter.widget-view+json']) pngs.push(i);
        if (data['application/vnd.jupyter.widget-view+json']) widgets.push(i);
      }
      if (cell.executionCount === null) errors.push(`cell ${i} did not run`);
    } else if (cell.type === 'markdown') {
      const source = cell.sharedModel.getSource().replace(/(?<!`)``(?!`)[\\s\\S]*?(?<!`)``(?!`)/g, '');  // ``code`` spans, not ``` fences
      const roles = (source.match(/\\{eval\\}`[^`]+`/g) || []).length;
      const results = cell.getMetadata('user_expressions') || [];
      if (results.length !== roles) errors.push(`markdown cell ${i}: ${results.length} of ${roles} {eval} roles evaluated`);
      for (const e of results) {
        if (e.result.status !== 'ok') errors.push(`markdown cell ${i}: {eval}\\`${e.expression}\\`: ${e.result.ename}: ${e.result.evalue}`);
        else expressions.push({expression: e.expression, text: (e.result.data || {})['text/plain'] || null});
      }
    }
  }
  // what a reader sees, less code (code cells, inline code such as the how-to page's `{eval}` examples)
  const shown = Array.from(w.content.node.querySelectorAll('.jp-MarkdownCell, .jp-OutputArea')).map(n => {
    const copy = n.cloneNode(true);
    copy.querySelectorAll('code, pre, .jp-InputArea-editor').forEach(c => c.remove());
    return copy.textContent;
  }).join('\\n');
  return {errors, pngs, widgets, expressions, shown, dirty: w.context.model.dirty};
}"""

JS_SAVE_CLOSE = """async () => {
  const app = window.jupyterapp;
  const w = app.shell.currentWidget;
  await w.context.save();
  await w.sessionContext.shutdown();
  w.dispose();
}"""


#: glue keys of wall times measured while the chapter runs (they differ from run to run)
TIMING = re.compile(r"_(seconds|minutes|hours)\b|wall")


def html_counts(name: str):
    """(PNG figures, widgets, pasted numbers) of the chapter's built HTML page, or None if not built."""
    page = SITE / "book" / f"{name}.html"
    if not page.is_file():
        return None
    text = page.read_text(encoding="utf-8")
    main = text[text.find('<main'):] if '<main' in text else text
    images = re.findall(r'<img[^>]+src="[^"]*_images/[^"]+\.png"', main)
    widget_views = re.findall(r'<script type="application/vnd\.jupyter\.widget-view\+json">', main)
    # captions are cell metadata, which JupyterLab does not show: their numbers are the HTML's alone
    prose = re.sub(r"<figcaption>.*?</figcaption>", "", main, flags=re.DOTALL)
    numbers = re.findall(r'<span class="pasted-text">([^<]*)</span>', prose)
    return len(images), len(widget_views), numbers


def move_first_slider(page, name):
    """Press the right arrow on the first live slider; return (before, after) image src and the error text."""
    box = page.locator(".jp-OutputArea .widget-vbox").filter(has=page.locator(".widget-slider")).first
    if box.count() == 0:
        return None
    box.scroll_into_view_if_needed()
    image = box.locator("img").first
    before = image.get_attribute("src")
    sizes = image.evaluate("img => [img.naturalWidth, img.clientWidth, Number(img.getAttribute('width'))]")
    handle = box.locator(".noUi-handle").first
    handle.focus()
    at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
    handle.press("ArrowLeft" if at_max else "ArrowRight")  # one step, as a reader would
    try:
        page.wait_for_function("([img, before]) => img.getAttribute('src') !== before",
                               arg=[image.element_handle(), before], timeout=120_000)
    except Exception:
        pass
    after = image.get_attribute("src")
    error = box.locator(".widget-output").first.inner_text() if box.locator(".widget-output").count() else ""
    return before, after, error, sizes


@pytest.mark.lab
@pytest.mark.parametrize("name", chapters())
def test_chapter_runs_in_jupyterlab_as_in_the_html(name, lab, browser_page):
    page = browser_page
    source = (BOOK / f"{name}.md").read_text(encoding="utf-8")
    if unconverted(source) or "formats:" in header(source):
        pytest.xfail(f"{name} still uses myst-nb glue roles or pairs in book/: run scripts/convert_glue.py book/{name}.md")
    start = time.monotonic()
    page.goto(f"{lab['url']}/lab/tree/book/{name}.md?token={lab['token']}&reset")
    opened = page.evaluate(JS_WAIT_NOTEBOOK, f"book/{name}.md")
    ran = page.evaluate(JS_RUN_ALL)
    page.evaluate(JS_WAIT_EXPRESSIONS)  # the report below names any role still missing after the wait
    page.wait_for_timeout(1000)
    report = page.evaluate(JS_REPORT)
    slider = move_first_slider(page, name)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"lab-{name}.png"))
    page.evaluate(JS_SAVE_CLOSE)
    elapsed = time.monotonic() - start
    print(f"\n{name}: {opened['cells']} cells, ran in {elapsed:.0f} s, {len(report['pngs'])} figures, "
          f"{len(report['widgets'])} widgets, {len(report['expressions'])} inline values")

    assert ran, "Run All did not complete"
    assert report["errors"] == []
    raw = [t for t in ("{glue", "{eval}", "glue.text(", "glue.md(") if t in report["shown"]]
    assert raw == [], f"raw text shown: {raw}"
    counts = html_counts(name)
    if counts is not None:
        n_png, n_widgets, numbers = counts
        assert len(report["pngs"]) == n_png, f"{len(report['pngs'])} figures, the HTML page has {n_png}"
        assert len(report["widgets"]) == n_widgets, f"{len(report['widgets'])} widgets, the HTML page has {n_widgets}"
        texts = [e for e in report["expressions"] if e["expression"].startswith("glue.text(")]
        assert len(texts) == len(numbers), f"{len(texts)} inline numbers, the HTML page has {len(numbers)}"
        # the same numbers, except the wall times of this run (a timing is not reproducible)
        differ = [(e["expression"], e["text"], html) for e, html in zip(texts, numbers)
                  if e["text"] != html and not TIMING.search(e["expression"])]
        assert differ == [], f"inline numbers differ from the HTML page: {differ}"
    if report["widgets"]:
        assert slider is not None, "no slider found"
        before, after, error, (natural, shown, width_attr) = slider
        assert error.strip() == "", f"error under the slider: {error}"
        assert after != before, "moving the slider did not change the figure"
        assert abs(shown - (width_attr or natural)) <= 1, f"live figure drawn {natural} px wide, shown at {shown} px"
    saved = lab["root"] / "book" / f"{name}.md"
    assert saved.read_text(encoding="utf-8") == source, "saving from JupyterLab changed the chapter"
    assert not (lab["root"] / "book" / f"{name}.ipynb").exists(), "a notebook was written into book/"
    assert (lab["root"] / "notebooks" / f"{name}.ipynb").is_file(), "the paired notebook was not written"
