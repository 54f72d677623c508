"""No import cycles in the skewless package.

The module import graph is built with ``ast`` from ``src/skewless`` (no module is imported).
What counts as an edge A -> B (A imports B, or a name from B):

* **Runtime imports count, wherever they are**: at module level (also inside ``try``/``if``
  blocks and class bodies) and inside functions. An import moved into a function to dodge a
  cycle is still a dependency the code needs when it runs, so a cycle through it fails the
  test like any other (``test_no_runtime_import_cycle``).
* **Imports under ``if TYPE_CHECKING:``** never run, but they are how a component names the
  whole ``Node`` it was handed. They are checked by a ratchet
  (``test_type_checking_cycles_only_shrink``): the modules that sit on a cycle once they are
  counted must be among ``TYPING_CYCLE_MODULES`` below, and every module listed there must
  still be on one, so the list can only shrink. A component given narrow interfaces (a sender,
  the clock, storage, the effects batch: ``node.ports``) instead of the ``Node`` leaves it, and
  is removed from the list in the same change.

A failure names each cycle found, module by module (``a -> b -> a``).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Modules on an import cycle only through imports under TYPE_CHECKING (issue 13: shrink it).
TYPING_CYCLE_MODULES = frozenset({
    "skewless.cql.select", "skewless.cql.select_render",
    "skewless.cql.select_stamps", "skewless.cql.selection",
    "skewless.node.auth.authorizer", "skewless.node.auth.grants", "skewless.node.auth.roles",
    "skewless.node.auth.service", "skewless.node.auth.statements", "skewless.node.auth.wiring",
    "skewless.node.executor",
    "skewless.node.index.manager", "skewless.node.index.read", "skewless.node.membership.swim",
    "skewless.node.metadata.service", "skewless.node.node", "skewless.node.repair.anti_entropy",
    "skewless.node.repair.replica", "skewless.node.repair.service",
    "skewless.node.topology.changes", "skewless.node.topology.cleanup",
    "skewless.node.topology.decide", "skewless.node.topology.movement",
    "skewless.node.topology.removal",
    "skewless.runtime.admin", "skewless.runtime.server",
})


def modules(src: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` under ``src`` by dotted name."""
    out = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


@functools.cache
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module, with_type_checking: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement in ``tree`` (functions and classes included), skipping the
    bodies of ``if TYPE_CHECKING:`` unless ``with_type_checking``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test) and not with_type_checking:
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def graph(src: Path, package: str, with_type_checking: bool) -> dict[str, set[str]]:
    """module -> the package's modules it imports."""
    mods = modules(src, package)

    def owner(name: str) -> str | None:  # the module that defines dotted ``name``
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        here = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for imp in _imports(_parse(path), with_type_checking):
            if isinstance(imp, ast.Import):
                targets = [owner(a.name) for a in imp.names]
            else:
                base = imp.module or ""
                if imp.level:
                    parts = here.split(".")[: len(here.split(".")) - (imp.level - 1)]
                    base = ".".join([*parts, *([base] if base else [])])
                # ``from pkg import mod`` names a module; ``from mod import name`` its owner
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else owner(base)
                           for a in imp.names]
            edges[mod].update(t for t in targets if t is not None and t != mod)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle spelled out ([a, b, ..., a]) through each component of ``components``."""
    return [_spell(edges, comp) for comp in components(edges)]


def components(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative): the
    modules on an import cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(set(comp))
    return found


def _spell(edges: dict[str, set[str]], comp: set[str]) -> list[str]:
    """One cycle through the smallest module of ``comp`` (breadth first: a shortest one)."""
    start = min(comp)
    came: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(edges[v] & comp):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(came[path[-1]])
                    return [start, *reversed(path[:-1]), start] if v != start else [start, start]
                if w not in came:
                    came[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start} in its component")


def _report(found: Iterable[list[str]]) -> str:
    return "\n".join(f"  {' -> '.join(c)}" for c in found)


def test_no_runtime_import_cycle() -> None:
    found = cycles(graph(SRC, "skewless", with_type_checking=False))
    assert not found, "import cycles (runtime imports, function-level ones included):\n" + \
        _report(found)


def test_type_checking_cycles_only_shrink() -> None:
    edges = graph(SRC, "skewless", with_type_checking=True)
    found = cycles(edges)
    on_cycles = set().union(*components(edges))
    new = on_cycles - TYPING_CYCLE_MODULES
    assert not new, (f"modules newly on an import cycle through TYPE_CHECKING imports: "
                     f"{sorted(new)}\n" + _report(c for c in found if new & set(c)))
    gone = TYPING_CYCLE_MODULES - on_cycles
    assert not gone, f"no longer on a cycle: remove from TYPING_CYCLE_MODULES: {sorted(gone)}"


def test_a_cycle_is_found_and_spelled_out(tmp_path: Path) -> None:
    """The checker itself: a function-level import closing a cycle counts, a TYPE_CHECKING
    one only when asked, and the cycle is named module by module."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from pkg.c import g\n    return g\n")
    (pkg / "c.py").write_text("from .a import b as _b\n")
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                              "    from pkg.e import x\n")
    (pkg / "e.py").write_text("import pkg.d\n")
    assert cycles(graph(tmp_path, "pkg", with_type_checking=False)) == [
        ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]
    assert sorted(cycles(graph(tmp_path, "pkg", with_type_checking=True))) == [
        ["pkg.a", "pkg.b", "pkg.c", "pkg.a"], ["pkg.d", "pkg.e", "pkg.d"]]
