"""The layout's one-way seams, read from the code's own imports (issue 8: "a node you can read").

Every ``import`` in ``src/accord`` counts -- at the top of a module, inside a function, or under
``TYPE_CHECKING`` -- because each one is a dependency a reader must follow.

- Packages are layered, lowest first: errors, core, formats, sealed, audit, release, people, node, feed,
  console, cli. A package imports only packages below it: the core imports nothing but the core and the
  errors, the formats never import the node or the console, the node never imports the console.
- No cycle between packages.
- The node's flows (``node/flow/*``, mixins composed into ``NodeService``) call one way, down
  ``FLOW_ORDER`` (docs/node.md): a flow calls ``self.m()`` only for an ``m`` defined by a flow below it,
  and imports only flows below it.

Entry points (``__main__`` modules) and the package facade ``accord/__init__.py`` compose layers and are
imported by no module, so they are exempt. The checks also run on a small tree made up here, to show
that each one refuses what it should.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "accord"

LAYERS = ("errors", "core", "formats", "sealed", "audit", "release", "people", "node", "feed", "console", "cli")

#: Dependencies that go the wrong way today, each with where and why. The test fails when one of them is
#: gone (shrink this list) as well as when a new one appears.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}

#: The node's flows, lowest first; a flow may use only flows of a lower rank.
FLOW_ORDER: dict[str, int] = {
    "journal": 0,
    "admission": 1,
    "signing": 1,
    "marking": 1,  # issue 8: the recipient's JK-R4 marking signed into a stored container when it leaves
    "reads": 2,
    "receipts": 1,
    "outbound": 2,
    "blind": 3,  # a hub's blind relays (issue 10): on outbound, admission and receipts
    "inbound": 4,
    "consent": 4,
    "custody_gate": 1,  # issue 10: the life of an item (custnet)
    "custody_apply": 1,
    "notices": 5,
    "custody_ops": 6,
    "derived_check": 2,  # issue 10: derived items over the network (derive)
    "derived_net": 5,
}


def _package(path: Path, root: Path) -> str | None:
    rel = path.relative_to(root)
    if rel.name == "__main__.py" or rel == Path("__init__.py"):
        return None  # entry points and the facade compose layers
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported(tree: ast.AST) -> Iterable[tuple[str, int]]:
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            for a in n.names:
                yield a.name, n.lineno
        elif isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
            yield n.module, n.lineno


def package_edges(root: Path) -> dict[tuple[str, str], list[str]]:
    """(importing package, imported package) -> where (file:line), over every module under ``root``."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        pkg = _package(path, root)
        if pkg is None:
            continue
        for module, line in _imported(ast.parse(path.read_text(encoding="utf-8"))):
            parts = module.split(".")
            if parts[0] != "accord" or len(parts) < 2 or parts[1] == pkg:
                continue
            edges[(pkg, parts[1])].append(f"{path.relative_to(root)}:{line}")
    return edges


def layering_violations(edges: dict[tuple[str, str], list[str]]) -> dict[tuple[str, str], list[str]]:
    """The edges that go up (or sideways to an unknown package) in ``LAYERS``."""
    rank = {p: i for i, p in enumerate(LAYERS)}
    return {(a, b): where for (a, b), where in edges.items() if a not in rank or b not in rank or rank[b] >= rank[a]}


def cycles(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def flow_uses(flow_dir: Path) -> dict[tuple[str, str], list[str]]:
    """(flow, flow it uses) -> what: ``self.m`` of a method another flow defines, or an import of it."""
    trees = {p.stem: ast.parse(p.read_text(encoding="utf-8")) for p in sorted(flow_dir.glob("*.py"))}
    trees.pop("__init__", None)
    defined: dict[str, set[str]] = defaultdict(set)
    for name, tree in trees.items():
        for cls in (c for c in tree.body if isinstance(c, ast.ClassDef)):
            for f in cls.body:
                if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef):
                    defined[f.name].add(name)
    uses: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, tree in trees.items():
        own = {m for m, owners in defined.items() if name in owners}  # a flow's own (or overriding) methods
        for n in ast.walk(tree):
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self":
                for owner in defined.get(n.attr, ()):
                    if owner != name and n.attr not in own:
                        uses[(name, owner)].append(f"self.{n.attr} (line {n.lineno})")
        for module, line in _imported(tree):
            prefix = "accord.node.flow."
            if module.startswith(prefix) and module[len(prefix) :] != name:
                uses[(name, module[len(prefix) :])].append(f"import {module} (line {line})")
    return uses


def flow_violations(uses: dict[tuple[str, str], list[str]]) -> dict[tuple[str, str], list[str]]:
    """Uses of a flow that is not below the user in ``FLOW_ORDER``.

    A flow module not (yet) in the order is held to the cycle check only: add it to ``FLOW_ORDER`` and
    docs/node.md when it lands.
    """
    return {
        (a, b): what
        for (a, b), what in uses.items()
        if a in FLOW_ORDER and b in FLOW_ORDER and FLOW_ORDER[b] >= FLOW_ORDER[a]
    }


# -- the code as it is ---------------------------------------------------------------------------


def test_packages_import_only_packages_below_them() -> None:
    bad = layering_violations(package_edges(SRC))
    unexpected = {k: v for k, v in bad.items() if k not in KNOWN_EXCEPTIONS}
    assert not unexpected, "imports against the layers " + " > ".join(LAYERS) + f": {unexpected}"
    gone = set(KNOWN_EXCEPTIONS) - set(bad)
    assert not gone, f"fixed, remove from KNOWN_EXCEPTIONS: {gone}"


def test_the_node_never_imports_the_console() -> None:
    edges = package_edges(SRC)
    assert ("node", "console") not in edges, edges.get(("node", "console"))
    assert ("people", "console") not in edges and ("people", "node") not in edges


def test_no_package_cycle() -> None:
    edges = [e for e in package_edges(SRC) if e not in KNOWN_EXCEPTIONS]
    assert cycles(edges) == []


def test_flows_call_only_flows_below_them() -> None:
    uses = flow_uses(SRC / "node" / "flow")
    assert flow_violations(uses) == {}, "see FLOW_ORDER and docs/node.md"
    assert cycles(uses) == []


# -- the checks refuse what they should ------------------------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_checker_refuses_node_importing_console_even_lazily(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "node/api.py": "def f():\n    from accord.console import person_read\n",
            "console/app.py": "import accord.node.api\n",
            "core/x.py": "from accord.formats import spif\n",
            "formats/y.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from accord.node import app\n",
            "node/__main__.py": "from accord.console import mount_console\n",  # an entry point: exempt
        },
    )
    bad = layering_violations(package_edges(root))
    assert set(bad) == {("node", "console"), ("core", "formats"), ("formats", "node")}
    assert bad[("node", "console")] == ["node/api.py:2"]
    assert cycles(package_edges(root)) == [["console", "node"]]


def test_checker_refuses_a_flow_calling_up(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "journal.py": "class Journal:\n    def _event(self): ...\n    def bad(self):\n        self._relay()\n",
            "outbound.py": "class Outbound:\n    def _relay(self):\n        self._event()\n",
        },
    )
    uses = flow_uses(root)
    assert set(uses) == {("journal", "outbound"), ("outbound", "journal")}
    assert set(flow_violations(uses)) == {("journal", "outbound")}
    assert cycles(uses) == [["journal", "outbound"]]


def test_the_core_gets_its_bundled_schemes_from_the_edge_through_the_package_root() -> None:
    from accord.core import schemes
    from accord.formats.spif import bundled_registry

    assert schemes.bundled() is bundled_registry()  # the same Level objects the agreements are loaded with
    source = schemes._SOURCE.pop("bundled")
    try:
        assert schemes.bundled() is schemes.EMPTY  # no source: every party unknown (fail closed)
        assert schemes.resolve_level("KOR", "군사Ⅱ급비밀") is None
    finally:
        schemes.set_bundled_source(source)
    assert schemes.resolve_level("KOR", "군사Ⅱ급비밀") is not None


@pytest.mark.parametrize("name", LAYERS)
def test_every_layer_exists(name: str) -> None:
    assert (SRC / name).is_dir() or (SRC / f"{name}.py").is_file()
