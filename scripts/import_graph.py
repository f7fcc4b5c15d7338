"""The import graph of jaxpretrain, read from the source (AST), and the layering it must obey.

Every `import` and `from ... import` of a `jaxpretrain` module counts, at module level or inside a
function (an import moved into a function to dodge a cycle is still an arrow). Layers, lowest
first (../shared/DESIGN.md):

    errors, config, cli, parallel, losses, models, data  <  interop  <  methods  <  train  <  evaluate

A module may import its own layer or lower, never upward, and no modules may import each other
through any chain (a cycle). Packages of one layer may import each other, but not in a cycle.

    python scripts/import_graph.py              # package graph; exit 1 on any violation
    python scripts/import_graph.py --modules    # module graph too
    python scripts/import_graph.py --root=/path/to/other/checkout

Standard library only, so it reads any checkout without installing it.
"""

from __future__ import annotations

import argparse
import ast
import collections
import pathlib
import sys

PACKAGE = "jaxpretrain"
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "config", "cli", "parallel", "losses", "models", "data"),
    ("interop",),
    ("methods",),
    ("train",),
    ("evaluate",),
)
LAYER_OF = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def module_files(root: pathlib.Path) -> dict[str, pathlib.Path]:
    """Dotted module name -> source file, for every module of the package under `root`."""
    files = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


def _resolve(name: str, modules: dict[str, pathlib.Path]) -> str | None:
    """The longest known module that `name` (a module or a name inside one) lies in."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: pathlib.Path, modules: dict) -> dict[str, int]:
    """{imported jaxpretrain module: first line} for every import statement in `path`."""
    is_package = path.name == "__init__.py"
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # Relative: resolve against this module's package.
                package = module.split(".")
                package = package if is_package else package[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ([base] if base else []))
            # `from pkg import name`: name may be a submodule; else it lives in pkg.
            targets = [f"{base}.{alias.name}" for alias in node.names] or [base]
        for target in targets:
            if target.split(".")[0] != PACKAGE:
                continue
            resolved = _resolve(target, modules)
            if resolved and resolved != module:
                found.setdefault(resolved, node.lineno)
    return found


def unit_of(module: str) -> str:
    """The layered unit a module belongs to: `jaxpretrain.data.lm` -> "data",
    `jaxpretrain.config` -> "config"; the package's own `__init__` is "(root)"."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(root)"


def module_graph(root: pathlib.Path) -> dict[str, dict[str, int]]:
    modules = module_files(root)
    return {m: imports_of(m, p, modules) for m, p in modules.items()}


def package_graph(graph: dict[str, dict[str, int]]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = collections.defaultdict(set)
    for module, targets in graph.items():
        edges[unit_of(module)]  # Every unit appears, importing something or not.
        for target in targets:
            if unit_of(target) != unit_of(module):
                edges[unit_of(module)].add(unit_of(target))
    return dict(edges)


def cycles(edges: dict[str, set[str] | dict]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def violations(graph: dict[str, dict[str, int]]) -> list[str]:
    """Every upward import and every cycle (of modules, and of packages), one line each."""
    problems = []
    for module, targets in sorted(graph.items()):
        here = unit_of(module)
        for target, line in sorted(targets.items()):
            there = unit_of(target)
            if here not in LAYER_OF or there not in LAYER_OF:
                problems.append(f"{module}:{line} imports {target}: a unit outside the layers")
            elif LAYER_OF[there] > LAYER_OF[here]:
                problems.append(f"upward: {module}:{line} imports {target} ({here} < {there})")
    for component in cycles(graph):
        problems.append("module cycle: " + " <-> ".join(component))
    for component in cycles(package_graph(graph)):
        problems.append("package cycle: " + " <-> ".join(component))
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(pathlib.Path(__file__).resolve().parents[1]))
    parser.add_argument("--modules", action="store_true", help="print the module graph too")
    args = parser.parse_args()
    graph = module_graph(pathlib.Path(args.root))
    print(
        "package -> packages it imports (layer order: "
        + " < ".join(", ".join(units) for units in LAYERS)
        + ")"
    )
    for unit, targets in sorted(
        package_graph(graph).items(), key=lambda kv: LAYER_OF.get(kv[0], 99)
    ):
        print(
            f"  {unit:9s} -> {', '.join(sorted(targets, key=lambda t: LAYER_OF.get(t, 99))) or '-'}"
        )
    if args.modules:
        print("module -> modules it imports")
        for module, targets in sorted(graph.items()):
            print(f"  {module} -> {', '.join(sorted(targets)) or '-'}")
    problems = violations(graph)
    print(f"{len(problems)} violation(s)" + (":" if problems else ""))
    for problem in problems:
        print("  " + problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
