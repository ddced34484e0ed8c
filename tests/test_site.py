r"""Browser tests of the built HTML book: every page in headless Chromium, with the network cut off.

For every page of the built site: it loads with no console error and no JavaScript error; no request
goes to any host other than the local test server (every request is routed and anything else is
aborted and reported); no resource is missing; the math is typeset by MathJax (served by the site
itself) and no raw TeX is left in the text, nor in the outputs of the code (printed text, tables, widget
labels: no ``$\sigma$``, ``\times`` or ``\_``); every slider of every widget, moved with the keyboard,
changes the figure shown (the visible image's bytes change), with no kernel; the course page's
exercise index links every exercise shown on the chapter pages.

At a 1280-pixel and at a 390-pixel (phone) window: every ``img`` has an alternative text (not its file
name); the page is no wider than the window (no horizontal scrolling of the page itself); every figure
of a notebook output (image or slider) is in a figure with a caption number, numbered by chapter
(``Fig. 7.2``, as equations are: ``(7.3)``) on a numbered chapter; and every figure of the book's style
is shown at its own size (the narrow variant, panels stacked, on the phone), not shrunk. A full-page
screenshot of each chapter at both widths is saved under ``test-artifacts/``.

The tests are marked ``site`` and are skipped, with the reason, when there is no built site
(``_build/html/index.html``) or no Chromium. ``.ci/run`` builds the book first, so they run there.

Environment variables: ``NSP_SITE_DIR`` (another built site, e.g. a small test book),
``NSP_CHROMIUM`` (the browser, default ``/usr/bin/chromium``; Playwright never downloads its own),
``NSP_ARTIFACTS_DIR`` (default ``test-artifacts/``).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("NSP_SITE_DIR") or ROOT / "_build" / "html").resolve()
CHROMIUM = os.environ.get("NSP_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("NSP_ARTIFACTS_DIR") or ROOT / "test-artifacts")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-default-apps", "--disable-extensions",
]
NOT_PAGES = {"_static", "_sources", "_images", "_panels_static", "jupyter_execute"}
LOCAL_HOSTS = {"127.0.0.1"}
WIDGET_TIMEOUT_MS = 20_000

pytestmark = [
    pytest.mark.site,
    pytest.mark.skipif(
        not (SITE / "index.html").is_file(),
        reason=f"no built site at {SITE}/index.html: build the book first (README, command 1) "
        "or point NSP_SITE_DIR at a built site",
    ),
]


def site_pages() -> list[str]:
    """Every HTML page of the site, relative to its root (assets folders left out)."""
    if not SITE.is_dir():
        return []
    return sorted(
        p.relative_to(SITE).as_posix()
        for p in SITE.rglob("*.html")
        if not NOT_PAGES.intersection(p.relative_to(SITE).parts)
    )


def redirect_target(page: str) -> str | None:
    """The target of a ``<meta http-equiv="Refresh">`` page (jupyter-book's root index.html), else None."""
    head = (SITE / page).read_text(encoding="utf-8", errors="replace")[:2000]
    m = re.search(r'http-equiv="refresh"\s+content="\d+;\s*url=([^"]+)"', head, re.IGNORECASE)
    return m.group(1) if m else None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def server():
    """Serve the built site on 127.0.0.1 at a free port, in a thread."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(SITE)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set NSP_CHROMIUM)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageLog:
    """What a page did: console errors, JavaScript errors, external and failed requests."""

    def __init__(self):
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.external: list[str] = []
        self.failed: list[str] = []

    def problems(self) -> list[str]:
        return (
            [f"request to another host (blocked): {u}" for u in self.external]
            + [f"failed request: {u}" for u in self.failed]
            + [f"console error: {t}" for t in self.console_errors]
            + [f"JavaScript error: {t}" for t in self.page_errors]
        )


@pytest.fixture
def open_page(browser, server):
    """Open a page of the site in a fresh context whose every request is checked."""
    contexts = []

    def _open(page_path: str, width: int = 1280):
        context = browser.new_context(viewport={"width": width, "height": 900}, service_workers="block")
        contexts.append(context)
        log = PageLog()

        def route(route):
            url = urlparse(route.request.url)
            if url.scheme in ("data", "blob") or url.hostname in LOCAL_HOSTS:
                route.continue_()
            else:
                log.external.append(route.request.url)
                route.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("console", lambda msg: msg.type == "error" and log.console_errors.append(f"{msg.text} {msg.location}"))
        page.on("pageerror", lambda exc: log.page_errors.append(str(exc)))
        page.on("response", lambda r: r.status >= 400 and log.failed.append(f"{r.status} {r.url}"))
        page.on("requestfailed", lambda r: urlparse(r.url).hostname in LOCAL_HOSTS and log.failed.append(f"{r.failure} {r.url}"))
        page.goto(f"{server}/{page_path}", wait_until="load")
        return page, log

    yield _open
    for context in contexts:
        context.close()


# JavaScript helpers run in the page -------------------------------------------------------------

HAS_MATH = "() => document.querySelectorAll('.math').length"
WAIT_MATHJAX = """() => window.MathJax && MathJax.startup && MathJax.startup.promise
    ? MathJax.startup.promise.then(() => true) : false"""
UNTYPESET = """() => Array.from(document.querySelectorAll('.math'))
    .filter(el => !el.querySelector('mjx-container') && el.tagName !== 'MJX-CONTAINER')
    .map(el => el.textContent.slice(0, 80))"""
# the visible text of the page, without code, typeset math and scripts
PROSE_TEXT = """() => {
  const main = (document.querySelector('main') || document.body).cloneNode(true);
  main.querySelectorAll('pre, code, script, style, mjx-container, .highlight, .cell_input, textarea')
      .forEach(el => el.remove());
  return main.textContent;
}"""
N_WIDGET_VIEWS = """() => document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length"""
N_RENDERED = "() => document.querySelectorAll('.widget-subarea').length"
# sha-256 of the bytes of every visible image inside one rendered widget
VISIBLE_DIGESTS = """async (root) => {
  const imgs = Array.from(root.querySelectorAll('img')).filter(img => img.offsetParent !== null && img.src);
  const out = [];
  for (const img of imgs) {
    const bytes = await (await fetch(img.src)).arrayBuffer();
    const hash = await crypto.subtle.digest('SHA-256', bytes);
    out.push(Array.from(new Uint8Array(hash)).map(b => b.toString(16).padStart(2, '0')).join(''));
  }
  return out;
}"""

RAW_TEX = [
    (re.compile(r"\$\$"), "$$"),
    (re.compile(r"\\\(|\\\)"), r"\( or \)"),
    (re.compile(r"\\\[|\\\]"), r"\[ or \]"),
    (re.compile(r"\\begin\{"), r"\begin{"),
    (re.compile(r"\$[^$\n]{0,80}?\\[A-Za-z]+[^$\n]{0,80}?\$"), "$...\\command...$"),
]


def check_math(page) -> list[str]:
    problems = []
    if page.evaluate(HAS_MATH):
        if not page.evaluate(WAIT_MATHJAX):
            return ["the page has math but MathJax did not load"]
        untypeset = page.evaluate(UNTYPESET)
        if untypeset:
            problems.append(f"{len(untypeset)} math element(s) not typeset, e.g. {untypeset[0]!r}")
    text = page.evaluate(PROSE_TEXT)
    for pattern, what in RAW_TEX:
        m = pattern.search(text)
        if m:
            problems.append(f"raw TeX ({what}) left in the text: ...{text[max(0, m.start() - 40):m.end() + 40]!r}...")
    return problems


# the text of the outputs of code cells and of the widgets' labels (typeset math removed)
OUTPUT_TEXT = """() => {
  const parts = [];
  document.querySelectorAll('main .cell_output, main .widget-label, main .widget-readout, main .widget-html-content')
    .forEach(el => {
      const copy = el.cloneNode(true);
      copy.querySelectorAll('mjx-container, script, style').forEach(x => x.remove());
      parts.push(copy.textContent);
    });
  return parts.join('\\n');
}"""
RAW_TEX_IN_OUTPUT = [
    (re.compile(r"\\_"), r"\_"),
    (re.compile(r"\\(?:times|sigma|mu|chi|xi|epsilon|alpha|beta|rho|frac|mathrm|text|infty|ln|cdot|pm)\b"), r"\command"),
    (re.compile(r"\$[^$\n]{0,60}[\\^_][^$\n]{0,60}\$"), "$...$"),
]
# every <img>: its alternative text (the src when there is none: Sphinx's default is the file name)
IMAGES = """() => Array.from(document.querySelectorAll('img')).map(img => ({
  src: img.getAttribute('src') || '', alt: img.getAttribute('alt'), visible: img.offsetParent !== null}))"""
# the figures of notebook outputs and their caption numbers
FIGURES = """() => {
  const out = [];
  const main = document.querySelector('main') || document.body;
  main.querySelectorAll('.cell_output img, .cell_output .widget-subarea').forEach(el => {
    const figure = el.closest('figure');
    const number = figure && figure.querySelector('.caption-number');
    out.push({what: el.tagName.toLowerCase(), number: number ? number.textContent.trim() : null,
              id: figure ? figure.id : null});
  });
  main.querySelectorAll('figure').forEach(figure => {
    const number = figure.querySelector('.caption-number');
    out.push({what: 'figure', number: number ? number.textContent.trim() : null, id: figure.id});
  });
  return out;
}"""
CHAPTER_NUMBER = """() => { const n = document.querySelector('main h1 .section-number');
  return n ? n.textContent.trim().replace(/\\.$/, '') : null; }"""
EQUATION_NUMBERS = """() => Array.from(document.querySelectorAll('main .eqno')).map(e => {
  const copy = e.cloneNode(true); copy.querySelectorAll('.headerlink').forEach(a => a.remove());
  return copy.textContent.trim(); })"""
# pictures of the book's style: the width they are meant to be shown at (of the variant the window chose) and
# the width they are shown at
PICTURES = """() => Array.from(document.querySelectorAll('picture.nsp-figure img')).filter(img => img.offsetParent !== null)
  .map(img => {
    const picture = img.parentElement;
    let intended = Number(img.getAttribute('width'));
    picture.querySelectorAll('source').forEach(source => {
      if (window.matchMedia(source.media).matches) intended = Number(source.getAttribute('width'));
    });
    return {intended, shown: img.getBoundingClientRect().width, src: img.currentSrc.split('/').pop().slice(0, 12)};
  })"""
OVERFLOW = """() => ({scroll: document.documentElement.scrollWidth, viewport: window.innerWidth,
  widest: Array.from(document.querySelectorAll('main *')).map(el => [el.getBoundingClientRect().right, el])
    .filter(([r, el]) => r > window.innerWidth + 1 && getComputedStyle(el).position !== 'fixed')
    .slice(0, 3).map(([r, el]) => `${el.tagName.toLowerCase()}.${el.className} right=${Math.round(r)}`)})"""


def check_outputs(page) -> list[str]:
    """No raw TeX in printed outputs and widget labels."""
    text = page.evaluate(OUTPUT_TEXT)
    problems = []
    for pattern, what in RAW_TEX_IN_OUTPUT:
        m = pattern.search(text)
        if m:
            problems.append(f"raw TeX ({what}) in an output: ...{text[max(0, m.start() - 40):m.end() + 40]!r}...")
    return problems


def check_images(page) -> list[str]:
    """Every image has an alternative text, and not its file name."""
    problems = []
    for img in page.evaluate(IMAGES):
        alt, src = img["alt"], img["src"]
        name = src.rsplit("/", 1)[-1]
        if alt is None or not alt.strip():
            problems.append(f"img without alt text: {src[:80]}")
        elif name and (alt.strip() == src or alt.strip().endswith(name)):
            problems.append(f"img whose alt text is its file name: {src[:80]}")
    return problems


def check_figures(page, page_path: str) -> list[str]:
    """Every output figure is in a numbered figure; on a numbered chapter, numbered by chapter."""
    problems = []
    chapter = page.evaluate(CHAPTER_NUMBER)
    for fig in page.evaluate(FIGURES):
        if fig["number"] is None:
            problems.append(f"a {fig['what']} of an output is not in a figure with a caption number (figure id {fig['id']!r})")
        elif chapter and not re.fullmatch(rf"Fig\. {re.escape(chapter)}\.\d+", fig["number"]):
            problems.append(f"figure {fig['id']!r} is numbered {fig['number']!r}, not by its chapter {chapter}")
    if chapter:
        for number in page.evaluate(EQUATION_NUMBERS):
            if not re.fullmatch(rf"\({re.escape(chapter)}\.\d+\)", number):
                problems.append(f"equation numbered {number!r}, not by its chapter {chapter}")
    return problems


def check_layout(page, width: int) -> list[str]:
    """The page is no wider than the window; the book's figures are shown at their own size."""
    problems = []
    overflow = page.evaluate(OVERFLOW)
    if overflow["scroll"] > overflow["viewport"]:
        problems.append(f"the page is {overflow['scroll']} px wide at a {width}-px window: {overflow['widest']}")
    for picture in page.evaluate(PICTURES):
        if picture["shown"] < 0.95 * picture["intended"]:
            problems.append(f"a figure meant {picture['intended']} px wide is shrunk to {picture['shown']:.0f} px "
                            f"at a {width}-px window ({picture['src']})")
    return problems


def screenshot(page, page_path: str, width: int) -> None:
    """A full-page screenshot of a chapter, kept as a test artifact."""
    if not page_path.startswith("book/") or page_path.startswith("book/api/"):
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = page_path.replace("/", "__").removesuffix(".html")
    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}px.png"), full_page=True)


def wait_for_widgets(page) -> None:
    n_views = page.evaluate(N_WIDGET_VIEWS)
    if n_views:
        page.wait_for_function(f"() => ({N_RENDERED})() >= {n_views}", timeout=WIDGET_TIMEOUT_MS)


def check_sliders(page) -> tuple[int, list[str]]:
    """Move every slider with the keyboard; the visible figure of its widget must change."""
    n_views = page.evaluate(N_WIDGET_VIEWS)
    if not n_views:
        return 0, []
    page.wait_for_function(f"() => ({N_RENDERED})() >= {n_views}", timeout=WIDGET_TIMEOUT_MS)
    problems, n_sliders = [], 0
    roots = page.locator(".widget-subarea")
    for i in range(roots.count()):
        root = roots.nth(i)
        handles = root.locator(".noUi-handle")
        for j in range(handles.count()):
            n_sliders += 1
            handle = handles.nth(j)
            handle.scroll_into_view_if_needed()
            before = root.evaluate(VISIBLE_DIGESTS)
            if not before:
                problems.append(f"widget {i}: no visible image next to slider {j}")
                continue
            at_end = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
            handle.focus()
            page.keyboard.press("ArrowLeft" if at_end else "ArrowRight")
            after = before
            for _ in range(40):  # up to ~4 s
                page.wait_for_timeout(100)
                after = root.evaluate(VISIBLE_DIGESTS)
                if after and after != before:
                    break
            if not after or after == before:
                problems.append(f"widget {i}, slider {j}: moving it did not change the figure")
    return n_sliders, problems


@pytest.mark.parametrize("page_path", site_pages())
def test_page(open_page, page_path):
    target = redirect_target(page_path)
    if target is not None:
        assert (SITE / Path(page_path).parent / target).is_file(), f"{page_path} redirects to missing {target}"
        return
    page, log = open_page(page_path)
    problems = check_math(page)
    n_sliders, slider_problems = check_sliders(page)
    problems += slider_problems
    page.wait_for_load_state("networkidle")  # lazily loaded fonts and MathJax components
    problems += check_outputs(page) + check_images(page) + check_figures(page, page_path) + check_layout(page, 1280)
    screenshot(page, page_path, 1280)
    problems += log.problems()
    assert not problems, f"{page_path} ({n_sliders} sliders):\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("page_path", [p for p in site_pages() if p.startswith("book/") or p == "index.html"])
def test_page_on_a_phone(open_page, page_path):
    """At a 390-pixel window: no horizontal overflow, alt texts, figures stacked rather than shrunk."""
    if redirect_target(page_path) is not None:
        return
    page, log = open_page(page_path, width=390)
    wait_for_widgets(page)
    page.wait_for_load_state("networkidle")
    problems = check_images(page) + check_layout(page, 390)
    screenshot(page, page_path, 390)
    problems += log.problems()
    assert not problems, f"{page_path} at 390 px:\n  " + "\n  ".join(problems)


def test_the_checks_catch_what_they_look_for(browser):
    """Each check of this file fails on a page that has the fault it looks for (tests that cannot fail are not tests)."""
    bad = """<html><body><main><h1><span class="section-number">3. </span>A chapter</h1>
      <div class="cell_output"><img src="../_images/abc.png" alt="../_images/abc.png"></div>
      <div class="cell_output"><pre>sigma_w2 = $\\sigma_w^2$, fan\\_in</pre></div>
      <figure id="fig-x"><div class="cell_output"><img src="x.png" alt="a plot"></div>
        <figcaption><span class="caption-number">Fig. 2 </span>A caption</figcaption></figure>
      <span class="eqno">(4.1)</span>
      <picture class="nsp-figure"><img src="data:image/png;base64," width="900" height="10" alt="wide"
        style="max-width: 100%"></picture>
      <div style="width: 2000px">too wide</div></main></body></html>"""
    context = browser.new_context(viewport={"width": 390, "height": 600})
    page = context.new_page()
    page.set_content(bad)
    try:
        assert any("raw TeX" in p for p in check_outputs(page))
        assert any("file name" in p for p in check_images(page))
        figures = check_figures(page, "book/x.html")
        assert any("not in a figure" in p for p in figures) and any("not by its chapter 3" in p for p in figures)
        assert any("equation numbered '(4.1)'" in p for p in figures)
        layout = check_layout(page, 390)
        assert any("px wide at a 390-px window" in p for p in layout) and any("shrunk" in p for p in layout)
    finally:
        context.close()


INDEX_LINKS = """() => Array.from(document.querySelectorAll('.nsp-exercise-index a[href*="#ex-"]'))
    .filter(a => a.offsetParent !== null).map(a => a.href)"""
PAGE_EXERCISES = """() => Array.from(document.querySelectorAll('div.exercise[id^="ex-"]'))
    .filter(el => el.offsetParent !== null).map(el => el.id)"""


@pytest.mark.skipif(not (SITE / "book" / "course.html").is_file(), reason="no course page in the built site")
def test_course_index_lists_every_exercise(open_page):
    """The exercise index of the course page, as a reader sees it, links every exercise of every page, once."""
    page, log = open_page("book/course.html")
    links = [urlparse(href) for href in page.evaluate(INDEX_LINKS)]
    linked = [(u.path.lstrip("/"), u.fragment) for u in links]
    assert len(linked) == len(set(linked)), "an exercise is listed twice"
    shown = []
    for path in site_pages():
        if path == "book/course.html" or not path.startswith("book/") or path.startswith("book/api/"):
            continue
        if 'class="exercise' not in (SITE / path).read_text(encoding="utf-8", errors="replace"):
            continue
        chapter, chapter_log = open_page(path)
        ids = chapter.evaluate(PAGE_EXERCISES)
        assert ids, f"{path}: its exercises are not shown"
        shown += [(path, i) for i in ids]
        assert not chapter_log.problems(), chapter_log.problems()
    assert shown, "no page of the site shows an exercise"
    missing = sorted(set(shown) - set(linked))
    stray = sorted(set(linked) - set(shown))
    assert not missing, f"the course page's exercise index misses {len(missing)} exercise(s): {missing}"
    assert not stray, f"the exercise index links to what is not an exercise: {stray}"
    assert not log.problems(), log.problems()


def test_site_has_pages():
    """The parametrisation above found the book's pages (an empty site would pass vacuously)."""
    pages = site_pages()
    assert "index.html" in pages and any(p.startswith("book/") for p in pages), pages


def test_offline_assets_are_served_locally():
    """The widget manager, require.js and MathJax are part of the site (book/_ext/offline_assets.py)."""
    vendor = SITE / "_static" / "nsp-vendor"
    for path in ("requirejs/require.js", "html-manager/embed-amd.js", "mathjax/tex-chtml.js", "widgets-shim.js"):
        assert (vendor / path).is_file(), f"missing {vendor / path}"
    assert list((vendor / "mathjax" / "output" / "chtml" / "fonts").rglob("*.woff"))
