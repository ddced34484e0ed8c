"""Sphinx extension: serve the widget manager, require.js and MathJax from the site itself.

By default a Jupyter Book page loads require.js (cdnjs), the ipywidgets HTML manager (jsdelivr) and
MathJax (jsdelivr) from CDNs, so sliders and equations break offline and every reader's browser calls
third parties. This extension makes the built site *offline-complete*:

1. at build time (``builder-inited``) it fetches three pinned npm packages with ``npm pack`` into a
   cache outside git (``_build/.vendor`` next to ``_config.yml``; override with the environment
   variable ``NSP_VENDOR_CACHE``), checks each tarball against its pinned sha512 integrity and unpacks
   it; a tarball already in the cache with the right hash is reused, so a second build needs no
   network (and a machine without network can be given the three ``.tgz`` files by hand);
2. it points ``mathjax_path`` and myst-nb's ``nb_ipywidgets_js`` at ``_static/nsp-vendor/...``;
3. at the end of an HTML build (``build-finished``) it copies the needed files into
   ``<outdir>/_static/nsp-vendor/``.

Nothing fetched is ever committed: the cache lives under ``_build/``. The theme's icon font
(fontawesome) already ships inside pydata-sphinx-theme's static files. Turn the whole thing off with
``nsp_offline_assets: false`` in ``sphinx: config:`` (the CDN defaults then apply).

The versions: ``@jupyter-widgets/html-manager`` 1.0.15 is the newest 1.0.x, the range ipywidgets 8.1.9
itself embeds (``@^1.0.1``) and the release built against ``@jupyter-widgets/controls`` 5.0.13+;
``requirejs`` 2.3.8; ``mathjax`` 3.2.2 (the ``tex-chtml`` component with its fonts and lazily loaded
extensions, as Sphinx 7's default MathJax 3 would load from a CDN).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: name -> (npm spec, sha512 integrity as npm reports it)
PACKAGES = {
    "html-manager": (
        "@jupyter-widgets/html-manager@1.0.15",
        "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
    ),
    "requirejs": (
        "requirejs@2.3.8",
        "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",
    ),
    "mathjax": (
        "mathjax@3.2.2",
        "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
    ),
}

#: name -> list of (path inside the npm package, path under _static/nsp-vendor/<name>/); a folder is copied whole
FILES = {
    # its fontawesome fonts are found next to embed-amd.js (webpack publicPath = the script's folder);
    # browsers take the first format they support (woff2), so eot/ttf/svg (2.5 MB) are left out
    "html-manager": [("dist/embed-amd.js", "embed-amd.js"), ("dist/*.woff2", "."), ("dist/*.woff", ".")],
    "requirejs": [("require.js", "require.js")],
    "mathjax": [("es5/tex-chtml.js", "tex-chtml.js"), ("es5/input/tex/extensions", "input/tex/extensions"),
                ("es5/output/chtml/fonts", "output/chtml/fonts"), ("es5/ui", "ui"), ("es5/a11y", "a11y"),
                ("es5/sre", "sre"), ("es5/adaptors", "adaptors")],
}

STATIC_SUBDIR = "nsp-vendor"
MATHJAX_PATH = f"{STATIC_SUBDIR}/mathjax/tex-chtml.js"
SHIM = "widgets-shim.js"
IPYWIDGETS_JS = {
    f"{STATIC_SUBDIR}/requirejs/require.js": {},
    f"{STATIC_SUBDIR}/{SHIM}": {},
    f"{STATIC_SUBDIR}/html-manager/embed-amd.js": {},
}

#: Loaded between require.js and the widget manager (our own code, written at build time).
SHIM_JS = """\
// Written by book/_ext/offline_assets.py. Two fixes for the ipywidgets HTML manager 1.0.x:
// 1. its bundled modules find their icon fonts relative to their require.js module paths
//    ("@jupyter-widgets/html-manager/dist/...", "@jupyter-widgets/controls", ...), i.e. relative to
//    the *page*; map those paths to the folder of embed-amd.js (next to this file), so the fonts load
//    from _static/nsp-vendor/html-manager;
// 2. it typesets widget labels with the MathJax 2 API (MathJax.Hub.Queue), which MathJax 3 lacks;
//    map that call onto MathJax 3's typesetPromise.
(function () {
  var here = document.currentScript.src;
  var root = here.slice(0, here.lastIndexOf("/") + 1);
  window.require.config({paths: {
    "@jupyter-widgets/html-manager/dist": root + "html-manager",
    "@jupyter-widgets": root + "html-manager"
  }});
  var hub = {
    Queue: function (job) {
      var mj = window.MathJax;
      var element = job && job[2];
      if (!mj || !mj.startup || !mj.startup.promise) { return; }
      mj.startup.promise
        .then(function () { return mj.typesetPromise(element ? [element] : undefined); })
        .catch(function (err) { console.warn("MathJax typeset of a widget failed", err); });
    }
  };
  function attach() {
    if (window.MathJax && !window.MathJax.Hub) { window.MathJax.Hub = hub; }
  }
  attach();  // MathJax not loaded yet: window.MathJax may be its configuration object
  document.addEventListener("DOMContentLoaded", attach);  // after the deferred MathJax replaced it
})();
"""


def _tarball_name(spec: str) -> str:
    """The file name ``npm pack`` gives a spec, e.g. ``jupyter-widgets-html-manager-1.0.15.tgz``."""
    name, version = spec.rsplit("@", 1)
    return f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def vendor_cache(srcdir: str | Path) -> Path:
    """The cache folder: ``$NSP_VENDOR_CACHE`` or ``<srcdir>/_build/.vendor``."""
    return Path(os.environ.get("NSP_VENDOR_CACHE") or Path(srcdir) / "_build" / ".vendor").resolve()


def fetch_packages(cache: Path) -> dict[str, Path]:
    """Make sure every pinned package is unpacked in ``cache``; return name -> package folder."""
    cache.mkdir(parents=True, exist_ok=True)
    missing = [spec for spec, integrity in PACKAGES.values()
               if not (cache / _tarball_name(spec)).is_file()
               or _integrity(cache / _tarball_name(spec)) != integrity]
    if missing:
        npm = shutil.which("npm")
        if npm is None:
            raise ExtensionError(
                "offline_assets: `npm` is needed once to fetch " + ", ".join(missing)
                + f" into {cache} (install Node.js/npm, put the tarballs there by hand, "
                "or set `nsp_offline_assets: false` to load them from CDNs)")
        logger.info("offline_assets: npm pack %s -> %s", " ".join(missing), cache)
        proc = subprocess.run([npm, "pack", "--json", "--pack-destination", str(cache), *missing],
                              capture_output=True, text=True, timeout=600, check=False)
        if proc.returncode != 0:
            raise ExtensionError(f"offline_assets: npm pack failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        json.loads(proc.stdout)  # npm reports what it packed; a non-JSON answer means something odd happened
    folders = {}
    for name, (spec, integrity) in PACKAGES.items():
        tgz = cache / _tarball_name(spec)
        got = _integrity(tgz)
        if got != integrity:
            raise ExtensionError(f"offline_assets: {tgz.name} has integrity {got}, expected {integrity}")
        folder = cache / tgz.name.removesuffix(".tgz")
        if not (folder / "package" / "package.json").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            with tarfile.open(tgz) as tar:
                tar.extractall(folder, filter="data")
        folders[name] = folder / "package"
    return folders


def copy_assets(folders: dict[str, Path], static_dir: Path) -> int:
    """Copy the needed files of each package under ``static_dir/nsp-vendor``; return the number of files."""
    count = 0
    for name, entries in FILES.items():
        root = static_dir / STATIC_SUBDIR / name
        for source, target in entries:
            matches = sorted(folders[name].glob(source))
            if not matches:
                raise ExtensionError(f"offline_assets: {source} not found in {folders[name]}")
            for path in matches:
                dest = root / target
                if path.is_dir():
                    shutil.copytree(path, dest, dirs_exist_ok=True)
                    count += sum(1 for p in path.rglob("*") if p.is_file())
                else:
                    if target == ".":
                        dest = root / path.name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, dest)
                    count += 1
    return count


def _configure(app: Sphinx, config) -> None:
    if not config.nsp_offline_assets:
        return
    config.mathjax_path = MATHJAX_PATH
    config.nb_ipywidgets_js = dict(IPYWIDGETS_JS)


def _fetch(app: Sphinx) -> None:
    if not app.config.nsp_offline_assets or app.builder.format != "html":
        return
    app.env.nsp_vendor_folders = {k: str(v) for k, v in fetch_packages(vendor_cache(app.srcdir)).items()}


def _copy(app: Sphinx, exception) -> None:
    if exception is not None or not app.config.nsp_offline_assets or app.builder.format != "html":
        return
    folders = {k: Path(v) for k, v in app.env.nsp_vendor_folders.items()}
    n = copy_assets(folders, Path(app.outdir) / "_static")
    (Path(app.outdir) / "_static" / STATIC_SUBDIR / SHIM).write_text(SHIM_JS, encoding="utf-8")
    logger.info("offline_assets: copied %d files to _static/%s", n, STATIC_SUBDIR)


def _dedupe_scripts(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Drop repeated identical ``<script>`` entries from a page.

    Sphinx 7.4 renders an inline script added after ``Builder.init()`` twice (once with filename
    ``None``, once re-added with ``""``); for sphinx-thebe's ``const THEBE_JS_URL = ...`` the second
    ``const`` declaration is a JavaScript error on every page.
    """
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for js in scripts:
        # Sphinx re-adds inline scripts registered after Builder.init() with filename "" instead of None
        key = (str(getattr(js, "filename", js) or ""), repr(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


def setup(app: Sphinx) -> dict:
    app.add_config_value("nsp_offline_assets", True, "html", [bool])
    # before myst-nb (priority 500) turns nb_* values into its own configuration at builder-inited
    app.connect("config-inited", _configure, priority=900)
    app.connect("builder-inited", _fetch, priority=400)
    app.connect("build-finished", _copy)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
