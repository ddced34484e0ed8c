"""Publishing metadata: one version, a valid CITATION.cff that agrees with the book, the licence.

The version is written once, as ``nsp_helpers.__version__``; ``pyproject.toml`` reads it (setuptools'
dynamic ``attr:``), the book reads it (``book/_ext/book_links.py`` sets Sphinx's ``release``), and
``CITATION.cff`` and ``CHANGELOG.md`` are checked against it here.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

import nsp_helpers

ROOT = Path(__file__).resolve().parents[1]
CFF = ROOT / "CITATION.cff"


def load_cff(path: Path = CFF) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def bib_entries(path: Path = ROOT / "book" / "references.bib") -> dict[str, dict[str, str]]:
    """Fields of each ``@type{key, field = {value}, ...}`` entry of a BibTeX file (one brace level)."""
    entries = {}
    for m in re.finditer(r"@\w+\{([^,\s]+),(.*?)\n\}", path.read_text(encoding="utf-8"), re.DOTALL):
        fields = re.findall(r"(\w+)\s*=\s*\{((?:[^{}]|\{[^{}]*\})*)\}", m.group(2))
        entries[m.group(1)] = {k.lower(): re.sub(r"\s+", " ", v) for k, v in fields}
    return entries


def test_version_is_written_once_and_read_by_pyproject():
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?(?:\.dev\d+)?", nsp_helpers.__version__)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in pyproject["project"], "the version is written in nsp_helpers/__init__.py only"
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "nsp_helpers.__version__"}
    # setuptools reads ``attr:`` statically: one literal assignment in the module's source
    tree = ast.parse((ROOT / "nsp_helpers" / "__init__.py").read_text(encoding="utf-8"))
    values = [node.value.value for node in tree.body if isinstance(node, ast.Assign)
              and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)]
    assert values == [nsp_helpers.__version__]


def test_setuptools_resolves_the_package_version():
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__} predates the licence expression in pyproject.toml "
                    "(builds use setuptools>=77 from [build-system])")
    from setuptools.config.pyprojecttoml import read_configuration

    resolved = read_configuration(ROOT / "pyproject.toml", expand=True)
    assert resolved["project"]["version"] == nsp_helpers.__version__


def test_book_release_is_the_package_version():
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        import book_links
    finally:
        sys.path.remove(str(ROOT / "book" / "_ext"))

    class Config:
        version = release = ""
        myst_substitutions = {}
        html_theme_options = {}

    config = Config()
    book_links._version(None, config)
    assert config.release == nsp_helpers.__version__
    assert config.version == ".".join(nsp_helpers.__version__.split(".")[:2])
    assert config.myst_substitutions["nsp_version"] == nsp_helpers.__version__


def test_citation_and_changelog_carry_the_package_version():
    cff = load_cff()
    assert cff["version"] == nsp_helpers.__version__
    assert cff["preferred-citation"]["version"] == nsp_helpers.__version__
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## {re.escape(nsp_helpers.__version__)}\b", changelog, re.MULTILINE), (
        "CHANGELOG.md has no section for the current version"
    )


def check_cff(path: Path) -> subprocess.CompletedProcess:
    """Validate a CITATION.cff with check-jsonschema's copy of the Citation File Format schema (offline)."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.citation-file-format", str(path)],
        capture_output=True, text=True, timeout=120,
    )


def test_citation_cff_is_valid_cff_1_2():
    pytest.importorskip("check_jsonschema", reason="check-jsonschema is in requirements.txt")
    assert load_cff()["cff-version"] == "1.2.0"
    result = check_cff(CFF)
    assert result.returncode == 0, result.stdout + result.stderr


def test_citation_cff_check_rejects_an_invalid_file(tmp_path):
    pytest.importorskip("check_jsonschema", reason="check-jsonschema is in requirements.txt")
    broken = tmp_path / "CITATION.cff"
    # a reference without authors is not CFF 1.2
    text = CFF.read_text(encoding="utf-8")
    broken.write_text(text.replace("references:\n  - type: conference-paper\n",
                                   "references:\n  - type: conference-paper\n    authors: []\n", 1) + "\n",
                      encoding="utf-8")
    assert broken.read_text(encoding="utf-8") != text + "\n"
    result = check_cff(broken)
    assert result.returncode != 0, "an invalid CITATION.cff passed the schema check"


def test_citation_references_are_the_books_two_papers():
    refs = {ref["identifiers"][0]["value"]: ref for ref in load_cff()["references"]}
    assert set(refs) == {"arXiv:1811.00293", "arXiv:1912.09132"}
    by_eprint = {f"arXiv:{e['eprint']}": e for e in bib_entries().values() if "eprint" in e}
    for arxiv, ref in refs.items():
        entry = by_eprint[arxiv]
        assert ref["title"].lower() == entry["title"].lower(), arxiv
        assert str(ref["year"]) == entry["year"], arxiv
        families = [a["family-names"] for a in ref["authors"]]
        bib_families = [name.split(",")[0].strip().removeprefix("van ") for name in entry["author"].split(" and ")]
        assert families == bib_families, arxiv
    huang = refs["arXiv:1912.09132"]
    assert (huang["start"], huang["end"]) == (1215, 1222)


def test_licence_is_mit_and_names_the_books_authors():
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License")
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["author"] == "The Noisy Signal Propagation authors"
    assert re.search(rf"Copyright \(c\) \d{{4}} {re.escape(config['author'])}", licence)
    assert load_cff()["license"] == "MIT"
    assert tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["license"] == "MIT"


def test_citation_points_at_the_books_repository_and_site():
    cff = load_cff()
    url = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"].rstrip("/")
    assert cff["repository-code"] == cff["preferred-citation"]["repository-code"] == url
    owner, name = url.removeprefix("https://github.com/").split("/")
    pages = f"https://{owner}.github.io/{name}/"  # where .github/workflows/book.yml deploys the site
    assert cff["url"] == cff["preferred-citation"]["url"] == pages
