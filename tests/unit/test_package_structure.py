"""The package's shape: no import cycles, and no module longer than a person can hold (600 lines).

Which imports count: every `import`/`from ... import` of a kanslab module written anywhere in a
module -- at module level, under `if TYPE_CHECKING:`, and inside functions. A function-level
import is still a dependency of the module (it runs the first time the function does), and the
lazy ones are exactly where cycles hide: `lab.connect()` importing the recorder, which imported
`kanslab/__init__` for `__version__`, which imports `lab.py`, was one. What does not count: the
implicit import of a module's parent packages (every package's `__init__` would then be in a cycle
with the submodules it re-exports).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "kanslab"
MAX_LINES = 600


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's __init__)."""
    out = {}
    for p in sorted(PACKAGE.rglob("*.py")):
        parts = list(p.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    return out


def _imports(name: str, path: Path, is_pkg: bool, modules: dict) -> set[str]:
    """The kanslab modules this module imports anywhere in its text."""
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for a in node.names:  # `from pkg import mod` imports the submodule, `from mod import x` the module
                found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base)
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, is_pkg, modules) for name, (path, is_pkg) in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path a -> ... -> a) per strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_a_cycle_through(g, graph) for g in groups]


def _a_cycle_through(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group (breadth first)."""
    start = min(group)
    paths = {w: [start, w] for w in graph[start] if w in group}
    frontier = list(paths)
    while start not in paths:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w in group and w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return paths[start]


def test_the_import_walk_sees_the_imports():
    """The walk must see relative, function-level and TYPE_CHECKING imports, or the next test proves nothing."""
    g = import_graph()
    assert "kanslab.lab" in g["kanslab"]                                      # from .lab import Lab
    assert "kanslab.backends.replay.recorder" in g["kanslab.lab"]             # inside connect()
    assert "kanslab.emulator.cli_context" in g["kanslab.emulator.calicoctl_cmd"]  # under TYPE_CHECKING
    assert "kanslab._version" in g["kanslab.backends.replay.recorder"]        # from ..._version import
    assert "kanslab.emulator.resources" in g["kanslab.emulator.kubectl_cmd"]  # from . import resources
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles in kanslab/:\n" + "\n".join(" -> ".join(c) for c in found)


def test_no_module_over_600_lines():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by concern): {long}"
