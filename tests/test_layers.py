"""The package's layers and the direction of its imports (CONTRIBUTING.md, "Layout").

Every module of nsp_helpers belongs to one layer; a module imports only from its own layer or the layers
below it (module-level imports and imports inside functions alike), with one documented exception: a
NoisyNetwork's views (network.py) reach up to the theory, the forward pass and the torch module it
describes. The theory needs numpy and scipy only; nothing below the figures imports matplotlib or
ipywidgets; importing the package imports neither torch nor matplotlib.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "nsp_helpers"

#: lowest first; a module may import from its own layer and the layers below
LAYERS = [
    {"errors", "activations", "noise", "device", "storage", "_random"},  # foundations
    {"network", "theory", "fits"},  # the description and the mean-field (and finite-width) theory: numpy only
    {"forward"},  # the one noisy forward pass (torch)
    {"simulate", "data", "init"},  # Monte Carlo measurement; data; torch.nn.init companion
    {"train", "variance_depth", "gradient_runs"},  # experiments with runs, results and command lines
    # analysis of stored results (above training); the reproduction report; Huang et al.'s trainable-length
    # experiment (it trains with train and fits its maps with analysis)
    {"analysis", "reproduction", "trainable_length"},
    {"plots", "widgets", "glue"},  # what the chapters show
]
#: imports that go up, on purpose: a NoisyNetwork's mean-field, forward-pass and torch-module views
ALLOWED_UPWARD = {("network", "forward")}
LAYER_OF = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        top = rel.parts[0].removesuffix(".py")
        if top == "__init__":
            continue
        yield path, top


def _imported_tops(path: pathlib.Path, top: str):
    """(imported top-level module of nsp_helpers, external top-level package) pairs of every import."""
    tree = ast.parse(path.read_text())
    depth = len(path.relative_to(PACKAGE).parts)  # 1 for nsp_helpers/x.py, 2 for nsp_helpers/sub/x.py
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] == "nsp_helpers":
                    if len(parts) > 1:
                        yield parts[1], None
                    else:
                        for alias in node.names:
                            yield alias.name, None
                else:
                    yield None, parts[0]
                continue
            up = node.level - (depth - 1)  # levels above the package root the import climbs
            if up > 1:
                raise AssertionError(f"{path}: relative import climbs out of the package")
            if node.level == depth:  # from the package root: from .x import / from .. import x
                if node.module:
                    yield node.module.split(".")[0], None
                else:
                    for alias in node.names:
                        yield alias.name, None
            else:  # inside the module's own subpackage
                yield top, None
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "nsp_helpers":
                    yield (parts[1] if len(parts) > 1 else None), None
                else:
                    yield None, parts[0]


@pytest.mark.parametrize("path, top", list(_modules()), ids=lambda v: str(v).split("nsp_helpers/")[-1])
def test_imports_go_downwards(path, top):
    assert top in LAYER_OF, f"{top} is in no layer: add it to LAYERS here and to CONTRIBUTING.md"
    mine = LAYER_OF[top]
    for imported, external in _imported_tops(path, top):
        if imported is not None and imported in LAYER_OF and imported != top:
            upward = LAYER_OF[imported] > mine
            assert not upward or (top, imported) in ALLOWED_UPWARD, (
                f"{path.relative_to(PACKAGE)} (layer {mine}) imports {imported} (layer {LAYER_OF[imported]})"
            )
        if external in ("matplotlib", "ipywidgets"):
            assert mine == len(LAYERS) - 1, f"{path.relative_to(PACKAGE)} imports {external} below the figures"
        if external == "torch":
            assert top not in LAYERS[1], f"{path.relative_to(PACKAGE)}: the theory layer must not import torch"


def test_importing_the_package_and_the_theory_pulls_in_neither_torch_nor_matplotlib():
    code = ("import sys, nsp_helpers, nsp_helpers.theory, nsp_helpers.network, nsp_helpers.fits; "
            "from nsp_helpers.theory import finite_width; "
            "nsp_helpers.network.NoisyNetwork().depth_scale(); "
            "print(sorted(m for m in ('torch', 'matplotlib', 'ipywidgets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_pyproject_declares_every_third_party_package_the_package_imports():
    """Each import of a third-party package inside nsp_helpers is declared in pyproject.toml (core or an extra)."""
    import tomllib

    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["project"]
    declared = {d.split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower()
                for d in project["dependencies"] + sum(project["optional-dependencies"].values(), [])}
    import_names = {"IPython": "ipython", "myst_nb": "myst-nb", "PIL": "pillow"}
    stdlib = set(sys.stdlib_module_names)
    imported = set()
    for path, top in _modules():
        for module, external in _imported_tops(path, top):
            if external and external not in stdlib and external != "nsp_helpers":
                imported.add(import_names.get(external, external).lower())
    assert imported - declared == set(), f"imported but not declared in pyproject.toml: {imported - declared}"
    assert {"numpy", "scipy"} <= {d.lower() for d in project["dependencies"]}
