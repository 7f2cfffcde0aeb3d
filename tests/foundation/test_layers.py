"""The layers import downwards only, and no import hides inside a function to get round that.

    app/         the entrances (command line, demo, console): may import everything below
    producers/   the clock and the tick            workers/   actors, engine, operations, shops
    shared/      what producers and workers both stand on

producers and workers are neighbours: neither imports the other (a tick worker group loads
`producers.clock` by name on dramatiq's command line, which is not an import of workers').
A static walk of every module's syntax tree, so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("app", "producers", "workers", "shared")
#: What each layer must not import.
FORBIDDEN = {
    "shared": {"app", "producers", "workers"},
    "producers": {"app", "workers"},
    "workers": {"app", "producers"},
    "app": set(),
}


def _modules(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The top-level package names an import statement names (relative imports: none here)."""
    if isinstance(node, ast.ImportFrom):
        return [node.module.split(".")[0]] if node.module and node.level == 0 else []
    return [alias.name.split(".")[0] for alias in node.names]


def _imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, package, inside a function) for every import statement of a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.extend((child.lineno, name, in_function) for name in _imported(child))
            visit(child, in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    visit(tree, False)
    return found


def test_every_layer_has_modules() -> None:
    """The walk below sees something (a renamed folder would make it pass vacuously)."""
    assert all(len(_modules(layer)) > 3 for layer in LAYERS)


def test_layers_import_downwards_only() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for layer in LAYERS
        for path in _modules(layer)
        for line, name, _ in _imports(path)
        if name in FORBIDDEN[layer]
    ]
    assert offenders == []


def test_no_import_hides_inside_a_function() -> None:
    """Modules are imported at the top: a late import would hide a dependency (or a cycle) from
    the reader and from the check above. Modules that must load after a broker exists (the
    actors) are named as strings and loaded with importlib, in plain sight."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name} inside a function"
        for layer in LAYERS
        for path in _modules(layer)
        for line, name, in_function in _imports(path)
        if in_function
    ]
    assert offenders == []


def test_the_walk_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\n\ndef f():\n    from workers.domain import Operation\n"
                      "    return Operation\n", encoding="utf-8")
    assert _imports(sample) == [(1, "os", False), (4, "workers", True)]
