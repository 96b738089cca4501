"""The import graph of initreg follows docs/design.md's allowed-imports table, has no cycle (imports inside functions
count) and no cross-module private reads."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "initreg"
DESIGN = PKG.parent / "docs" / "design.md"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py")}


def _resolve(current: str, is_package: bool, level: int, module: str | None) -> str:
    base = current.split(".") if is_package else current.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def import_graph() -> dict[str, set[str]]:
    """module -> the initreg modules it imports anywhere in its file (a package import counts as its __init__)."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node.level, node.module) if node.level else (node.module or "")
                subs = [f"{base}.{a.name}" for a in node.names]
                # `from pkg import module` imports that module; pkg itself only when a name is not a module
                targets = subs + ([base] if not all(t in modules for t in subs) else [])
            for t in targets:
                if t in modules and t != name:
                    graph[name].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_no_import_cycle():
    # a package's __init__ importing its own submodules is how it exposes them: that edge alone is no layer cycle
    graph = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in import_graph().items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def _private_names_defined(tree: ast.AST) -> set[str]:
    """Private names a module defines itself: methods, class attributes, ``self._x = ...``, __slots__ entries."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("_"):
            names.add(node.value)  # __slots__ entries, setattr(obj, "_x", ...) names
    return names


def test_no_private_attribute_read_across_modules():
    found = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        own = _private_names_defined(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and node.attr not in own and isinstance(node.value, ast.Name)
                    and node.value.id not in ("self", "cls", "sys")):  # a subclass's own members; sys._getframe
                found.append(f"{name}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not found, "private attributes of another module's objects read:\n" + "\n".join(found)


def unit(module: str) -> str:
    """The row of the allowed-imports table a module belongs to: its package under initreg, or the module's name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "initreg"


def allowed_table(text: str) -> dict[str, set[str]]:
    """The allowed-imports table of docs/design.md: package -> the packages it may import."""
    body = text.split("<!-- allowed-imports -->", 1)[1].split("<!-- /allowed-imports -->", 1)[0]
    table: dict[str, set[str]] = {}
    for line in body.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        table[cells[0].strip("`")] = {t.strip().strip("`") for t in cells[1].split(",") if t.strip() not in ("", "—")}
    return table


def forbidden_edges(graph: dict[str, set[str]], table: dict[str, set[str]]) -> list[str]:
    """Every edge module -> module whose packages the table does not allow (a package not in the table allows none)."""
    bad = []
    for m, ts in sorted(graph.items()):
        for t in sorted(ts):
            a, b = unit(m), unit(t)
            if a != b and b not in table.get(a, set()):
                bad.append(f"{m} -> {t}  ({a} may import: {', '.join(sorted(table.get(a, ()))) or 'nothing'})")
    return bad


def test_imports_follow_the_allowed_imports_table():
    table = allowed_table(DESIGN.read_text(encoding="utf-8"))
    units = {unit(m) for m in _modules()}
    assert units <= set(table), f"packages missing from docs/design.md's table: {sorted(units - set(table))}"
    bad = forbidden_edges(import_graph(), table)
    assert not bad, "imports that docs/design.md's allowed-imports table does not allow:\n" + "\n".join(bad)


def test_the_table_checker_finds_forbidden_edges():
    table = allowed_table("<!-- allowed-imports -->\n| p | may |\n|---|---|\n| `core` | `errors` |\n"
                          "| `errors` | — |\n<!-- /allowed-imports -->")
    assert table == {"core": {"errors"}, "errors": set()}
    graph = {"initreg.core.a": {"initreg.errors", "initreg.core.b"}, "initreg.errors": {"initreg.core.a"}}
    assert forbidden_edges(graph, table) == ["initreg.errors -> initreg.core.a  (errors may import: nothing)"]
