"""The gxp package keeps one direction of imports: main -> leaf command modules -> shared layer, never back."""

from __future__ import annotations

import ast
from pathlib import Path

import gxp_assets.cli

CLI = Path(gxp_assets.cli.__file__).parent
SHARED = {"common", "signing", "runs", "views"}
TOP = {"main", "__main__", "__init__"}


def cli_imports(path: Path) -> set[str]:
    """Modules of gxp_assets.cli that ``path`` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "gxp_assets.cli":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("gxp_assets.cli."):
                found.add(node.module.removeprefix("gxp_assets.cli.").split(".")[0])
        elif isinstance(node, ast.Import):
            names = (alias.name for alias in node.names if alias.name.startswith("gxp_assets.cli."))
            found |= {name.removeprefix("gxp_assets.cli.") for name in names}
    return found


def test_leaves_import_only_the_shared_layer_and_the_shared_layer_imports_no_leaf() -> None:
    modules = {path.stem: cli_imports(path) for path in CLI.glob("*.py")}
    leaves = set(modules) - SHARED - TOP
    assert {"governance", "inference", "trace", "demo", "report"} <= leaves
    for leaf in leaves:
        assert modules[leaf] <= SHARED, f"cli/{leaf}.py imports {modules[leaf] - SHARED}"
    for shared in SHARED:
        assert not modules[shared] & (leaves | TOP), f"cli/{shared}.py imports {modules[shared] & (leaves | TOP)}"
    assert modules["main"] >= leaves  # every leaf registers its commands through main
