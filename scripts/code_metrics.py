#!/usr/bin/env python3
"""Measure the package's shape and fail when it breaks the limits we keep.

Checks, on ``src/celeriac`` (tests, benchmarks and examples are not measured):

* module size: no module over ``--max-lines`` lines (600), except the settings table;
* import cycles between subpackages, counting every runtime import: module level *and*
  deferred ones inside functions (``if TYPE_CHECKING:`` blocks are not runtime);
* ``Any`` density: occurrences of the name ``Any`` per 1,000 lines, under ``--max-any`` (25).

Cyclomatic complexity is ruff's job (``C901``, ``max-complexity`` in pyproject.toml).

Usage: python scripts/code_metrics.py [--report] [--root src/celeriac]
Exit status 1 when a limit is broken (the offenders are listed).
"""

from __future__ import annotations

import argparse
import ast
import io
import sys
import tokenize
from collections import defaultdict
from pathlib import Path

#: Modules allowed over the size limit: tables of data, not logic.
SIZE_EXEMPT = {"config/settings_table.py"}


def module_name(root: Path, path: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str, package: str) -> str:
    """The node a module belongs to in the cycle check: ``celeriac.<first part>``."""
    parts = module.split(".")
    if parts[0] != package:
        return ""
    return ".".join(parts[:2]) if len(parts) > 1 else package


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, int]]:
    """Every import executed at run time (any depth), as (absolute module, line)."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for item in child.orelse:
                    visit_stmt(item)
                continue
            visit_stmt(child)

    def visit_stmt(child: ast.AST) -> None:
        if isinstance(child, ast.Import):
            found.extend((alias.name, child.lineno) for alias in child.names)
        elif isinstance(child, ast.ImportFrom):
            base = child.module or ""
            if child.level:
                parts = module.split(".")
                keep = len(parts) - child.level + (1 if is_package else 0)
                base = ".".join(parts[:keep] + ([base] if base else []))
            found.append((base, child.lineno))
            for alias in child.names:  # ``from celeriac import canvas`` imports a package
                found.append((f"{base}.{alias.name}", child.lineno))
        visit(child)

    visit(tree)
    return found


def count_any(source: str) -> int:
    count = 0
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and token.string == "Any":
            count += 1
    return count


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = 0

    def strongconnect(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                strongconnect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    sys.setrecursionlimit(10000)
    for node in sorted(edges):
        if node not in index:
            strongconnect(node)
    return result


class Measure:
    """Figures gathered over every module of the package."""

    def __init__(self, root: Path, max_lines: int) -> None:
        self.root = root
        self.package = root.name
        self.max_lines = max_lines
        self.modules = {
            module_name(root, path): path for path in sorted(root.rglob("*.py")) if path.is_file()
        }
        self.total_lines = 0
        self.total_any = 0
        self.deferred = 0
        self.sizes: list[tuple[str, int]] = []
        self.edges: dict[str, set[str]] = defaultdict(set)
        self.witnesses: dict[tuple[str, str], str] = {}
        for name, path in self.modules.items():
            self.add(name, path)

    def add(self, name: str, path: Path) -> None:
        source = path.read_text()
        lines = source.count("\n")
        self.total_lines += lines
        self.total_any += count_any(source)
        rel = path.relative_to(self.root).as_posix()
        self.sizes.append((rel, lines))
        tree = ast.parse(source)
        top_level = {
            id(node) for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)
        }
        self.deferred += sum(
            1
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top_level
        )
        source_unit = unit_of(name, self.package)
        if source_unit == self.package:  # the package's own __init__ re-exports; not a layer
            return
        for target, line in runtime_imports(tree, name, path.name == "__init__.py"):
            target_unit = self.unit_of_target(target)
            if not target_unit or target_unit in (source_unit, self.package):
                continue
            self.edges[source_unit].add(target_unit)
            self.witnesses.setdefault((source_unit, target_unit), f"{rel}:{line} imports {target}")

    def unit_of_target(self, target: str) -> str:
        if target not in self.modules:
            parent = target.rsplit(".", 1)[0]
            if parent not in self.modules:
                return ""
            target = parent  # ``from pkg import name``: the name is not a module
        return unit_of(target, self.package)

    def too_long(self) -> list[tuple[str, int]]:
        return [(rel, n) for rel, n in self.sizes if n > self.max_lines and rel not in SIZE_EXEMPT]

    def cycle_lines(self) -> list[str]:
        lines = []
        for component in find_cycles(self.edges):
            lines.append("FAIL import cycle between subpackages: " + " <-> ".join(component))
            for source_unit in component:
                for target_unit in component:
                    witness = self.witnesses.get((source_unit, target_unit))
                    if witness:
                        lines.append(f"     {source_unit} -> {target_unit}: {witness}")
        return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--root", default="src/celeriac")
    parser.add_argument("--max-lines", type=int, default=600)
    parser.add_argument("--max-any", type=float, default=25.0)
    parser.add_argument("--report", action="store_true", help="print every import edge")
    args = parser.parse_args()
    measure = Measure(Path(args.root), args.max_lines)
    density = 1000.0 * measure.total_any / max(measure.total_lines, 1)
    longest = sorted(measure.sizes, key=lambda item: -item[1])[:5]
    out = [
        f"modules: {len(measure.modules)}, lines: {measure.total_lines:,}, "
        f"deferred imports: {measure.deferred}",
        "longest modules: " + ", ".join(f"{p} {n}" for p, n in longest),
    ]
    too_long = measure.too_long()
    out += [f"FAIL module over {args.max_lines} lines: {p} ({n})" for p, n in too_long]
    if not too_long:
        out.append(f"ok no module over {args.max_lines} lines (settings table exempt)")
    any_ok = density < args.max_any
    out.append(
        f"{'ok' if any_ok else 'FAIL'} Any per 1,000 lines: {density:.1f} "
        f"({measure.total_any} in {measure.total_lines:,} lines; limit {args.max_any:g})"
    )
    cycles = measure.cycle_lines()
    out += cycles or ["ok no import cycle between subpackages (deferred imports counted)"]
    if args.report:
        out += [f"  {u} -> {', '.join(sorted(t))}" for u, t in sorted(measure.edges.items())]
    print("\n".join(out))
    return 1 if too_long or cycles or not any_ok else 0


if __name__ == "__main__":
    sys.exit(main())
