"""The package's house plan, checked from its imports (static, with ast): the modules stack
without a circle, the reference is imported only by the tests and ``gmmfast.testing``, and no
module reaches into another's underscore-prefixed names."""

from __future__ import annotations

import ast
from pathlib import Path

import gmmfast

PACKAGE = Path(gmmfast.__file__).parent


def modules() -> dict:
    """{dotted module name: parsed tree} for every module of the package."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(["gmmfast", *parts])] = (path, ast.parse(path.read_text()))
    return found


def imports(name: str, path: Path, tree: ast.AST, known: dict) -> list:
    """[(imported module, [imported names])] of the package's own modules, lazy imports
    inside functions included (they tie two modules together just the same)."""
    anchor = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.startswith("gmmfast")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = anchor[: len(anchor) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if not module.startswith("gmmfast"):
                continue
            for alias in node.names:
                # ``from . import x`` imports module x when there is one
                sub = f"{module}.{alias.name}"
                found.append((sub, []) if sub in known else (module, [alias.name]))
    return found


def graph() -> dict:
    known = modules()
    edges = {}
    for name, (path, tree) in known.items():
        edges[name] = {
            target: names
            for target, names in imports(name, path, tree, known)
            if target in known and target != name
        }
    return edges


def test_no_import_circle():
    edges = graph()
    # A package imports its submodules to re-export them: that edge is not a floor.
    for name in edges:
        edges[name] = {t: n for t, n in edges[name].items() if not name.startswith(t + ".")}
    state: dict = {}
    cycles = []

    def visit(node, stack):
        state[node] = "open"
        for target in edges[node]:
            if state.get(target) == "open":
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target, [*stack, target])
        state[node] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_reference_is_imported_only_by_testing():
    users = sorted(n for n, targets in graph().items() if "gmmfast.reference" in targets)
    assert users == ["gmmfast.testing"]


def test_no_module_imports_another_modules_private_names():
    private = [
        f"{name} imports {target}.{n}"
        for name, targets in graph().items()
        for target, names in targets.items()
        for n in names
        if n.startswith("_") and n not in ("__version__", "_core")  # _core: the extension
    ]
    assert private == []
