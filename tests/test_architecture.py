"""The package's shape, read from its sources (nothing imported): imports point one way, functions stay short.

Every import counts, also those inside functions (a lazy import is still a dependency): the graph of
``yolov5_shuffle`` modules must have no cycle, so each module can be read and tested on top of the ones below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "yolov5_shuffle"
MAX_LINES = 80


def _modules() -> dict[str, Path]:
    out = {}
    for py in sorted(PACKAGE.rglob("*.py")):
        parts = py.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = py
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` imports (``from . import x`` resolved to module x where x is one)."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                mod = ".".join(base[:len(base) - node.level + 1] + ([mod] if mod else []))
            for a in node.names:
                found.add(f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod)
    return {m for m in found if m in known and m != name}


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {n: _imports(n, p, set(mods)) for n, p in mods.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if m.startswith(n + "."):  # a package importing its own submodule (its registry) is not a circle
                continue
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_no_import_cycle_between_package_modules():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_low_level_modules_import_nothing_above_them():
    graph = _graph()
    for low in ("yolov5_shuffle.blocks", "yolov5_shuffle.errors", "yolov5_shuffle.configs", "yolov5_shuffle.marker",
                "yolov5_shuffle.cfg_check", "yolov5_shuffle.untrusted.checkpoint"):
        above = {m for m in graph[low] if m.startswith(("yolov5_shuffle.hosts", "yolov5_shuffle.patching",
                                                        "yolov5_shuffle.measure", "yolov5_shuffle.cli"))}
        assert not above, f"{low} imports {above}"


def test_no_function_is_longer_than_80_lines():
    long = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_LINES:
                    long.append(f"{name}.{node.name}: {n} lines")
    assert not long, "; ".join(long)
