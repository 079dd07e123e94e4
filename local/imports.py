"""Who imports whom: the layers of the service's code, checked and drawn.

The layers, lowest first: ``common/models``, ``common/adapters``,
``common/logic``, the handlers ``functions/<name>/app.py``, then the tools
(``local/``, ``benchmarks/``), which are never deployed. A module imports its
own layer or the ones below it, never one above, and no module imports itself
back through others (docs/architecture.md). Every import counts: at the top of
a module, inside a function (a deferred import still runs) or under
``TYPE_CHECKING``.

    python -m local.imports --write   # redraw docs/architecture.md's graph
    python -m local.imports --check   # exit 1 on an import running up, a circle, or a stale drawing
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
DRAWING = ROOT / "docs" / "architecture.md"
BEGIN = "<!-- imports: begin (python -m local.imports --write) -->"
END = "<!-- imports: end -->"

# The layers, lowest first: a module may import its own layer and those below.
LAYERS: tuple[tuple[str, str], ...] = (
    ("common.models", "models"),
    ("common.adapters", "adapters"),
    ("common.logic", "logic"),
    ("functions", "handlers"),
    ("local", "tools"),
    ("benchmarks", "tools"),
)
# The packages read.
PACKAGES = ("common", "functions", "local", "benchmarks")
# What the drawing shows: the deployed code.
DRAWN = ("common", "functions")

Graph = Mapping[str, frozenset[str]]


class Import(NamedTuple):
    importer: str
    imported: str
    line: int


def module_name(path: Path, root: Path = ROOT) -> str:
    """``common/adapters/jobs.py`` → ``common.adapters.jobs``; a package's ``__init__`` is the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Every module of ``packages`` by name."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            found[module_name(path, root)] = path
    return found


def _resolve(name: str, known: Mapping[str, Path]) -> str | None:
    """The known module ``name`` is, or lies in (``common.adapters.aws.dynamodb`` → ``common.adapters.aws``)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return None


def imports_of(name: str, path: Path, known: Mapping[str, Path]) -> list[Import]:
    """The known modules ``name`` imports, wherever in it the import is."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from package import module`` imports the module; ``from module import name`` the module.
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for imported in dict.fromkeys(_resolve(target, known) for target in targets):
            # A package's __init__ (``from common.adapters import aws`` resolves past it) is no edge.
            if imported is not None and imported != name and known[imported].name != "__init__.py":
                found.append(Import(name, imported, node.lineno))
    return found


def all_imports(known: Mapping[str, Path]) -> list[Import]:
    return [found for name, path in known.items() for found in imports_of(name, path, known)]


def graph(found: Iterable[Import]) -> dict[str, frozenset[str]]:
    edges: dict[str, set[str]] = {}
    for one in found:
        edges.setdefault(one.importer, set()).add(one.imported)
    return {name: frozenset(targets) for name, targets in edges.items()}


def layer(name: str) -> int:
    """The position of ``name``'s layer, lowest first (the tools share the top one)."""
    for position, (prefix, _label) in enumerate(LAYERS):
        if name == prefix or name.startswith(prefix + "."):
            return min(position, len(LAYERS) - 2)
    raise ValueError(f"{name} is in no layer")


def upward(found: Iterable[Import]) -> list[Import]:
    """The imports of a module above the importer's layer."""
    return [one for one in found if layer(one.imported) > layer(one.importer)]


def cycles(edges: Graph) -> list[list[str]]:
    """Every group of modules that import each other, directly or through others
    (Tarjan's strongly connected components of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        # Iterative, so a deep chain of imports cannot reach Python's recursion limit.
        work: list[tuple[str, list[str]]] = [(start, sorted(edges.get(start, ())))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(edges.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

    for name in sorted(set(edges) | {t for targets in edges.values() for t in targets}):
        if name not in index:
            visit(name)
    return sorted(groups)


def reduction(edges: Graph) -> dict[str, frozenset[str]]:
    """The fewest edges with the same reachability (the graph has no circle): an
    import a module also reaches through another of its imports is left out."""
    reach: dict[str, frozenset[str]] = {}

    def reachable(name: str) -> frozenset[str]:
        if name not in reach:
            found: set[str] = set()
            for target in edges.get(name, ()):
                found.add(target)
                found |= reachable(target)
            reach[name] = frozenset(found)
        return reach[name]

    return {
        name: frozenset(t for t in targets if not any(t in reachable(other) for other in targets - {t}))
        for name, targets in edges.items()
    }


def _node(name: str) -> str:
    return name.replace(".", "_")


def _label(name: str) -> str:
    if name.startswith("functions."):
        return name.split(".")[1]
    return name.rpartition(".")[2]


def _where(prefix: str) -> str:
    return "functions/*/app.py" if prefix == "functions" else prefix.replace(".", "/") + "/"


def layers_drawing(edges: Graph, names: Iterable[str]) -> str:
    """A Mermaid flowchart of the layers of ``names``, highest first, each arrow
    counting the imports (pairs of modules) it stands for: an import running
    up would be an arrow pointing up. A circle can only lie within a layer
    (leaving one needs an import running up), so each layer's own imports are
    drawn apart (``layer_drawing``)."""
    members: dict[int, list[str]] = {}
    for name in sorted(names):
        members.setdefault(layer(name), []).append(name)
    known = {name for group in members.values() for name in group}
    pairs: dict[tuple[int, int], int] = {}
    for name in known:
        for target in edges.get(name, frozenset()) & known:
            key = (layer(name), layer(target))
            pairs[key] = pairs.get(key, 0) + 1
    lines = ["```mermaid", "flowchart TB"]
    for position in sorted(members, reverse=True):
        prefix, label = LAYERS[position]
        inner = pairs.get((position, position), 0)
        detail = f"{len(members[position])} modules, {inner} imports among them"
        lines.append(f'  {_node(prefix)}["{label}: {_where(prefix)}<br/>{detail}"]')
    for (upper, lower), count in sorted(pairs.items(), key=lambda pair: (-pair[0][0], -pair[0][1])):
        if upper != lower:
            lines.append(f'  {_node(LAYERS[upper][0])} -->|"{count}"| {_node(LAYERS[lower][0])}')
    lines.append("```")
    return "\n".join(lines) + "\n"


def layer_drawing(edges: Graph, names: Iterable[str]) -> str:
    """A Mermaid flowchart of ``names`` (one layer's modules) and the imports
    among them, less those a module also reaches through another of its own."""
    drawn = sorted(names)
    reduced = reduction({name: frozenset(t for t in edges.get(name, ()) if t in drawn) for name in drawn})
    lines = ["```mermaid", "flowchart LR"]
    lines += [f'  {_node(name)}["{_label(name)}"]' for name in drawn]
    for name in drawn:
        lines += [f"  {_node(name)} --> {_node(target)}" for target in sorted(reduced.get(name, ()))]
    lines.append("```")
    return "\n".join(lines) + "\n"


def drawing(root: Path = ROOT) -> str:
    """The section of docs/architecture.md the imports make: the layers, then
    the imports within each layer of ``common/`` (the handlers import none of each other)."""
    known = modules(root, DRAWN)
    names = [name for name, path in known.items() if path.name != "__init__.py"]
    edges = graph(all_imports(known))
    parts = ["### Between the layers\n", layers_drawing(edges, names)]
    for prefix, label in reversed(LAYERS):
        inside = [name for name in names if name.startswith(prefix + ".")]
        if prefix.startswith("common.") and inside:
            parts += [f"### Within {label} (`{_where(prefix)}`)\n", layer_drawing(edges, inside)]
    return "\n".join(parts)


def spliced(document: str, drawn: str) -> str:
    head, begin, rest = document.partition(BEGIN)
    _old, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"{DRAWING.name} has no {BEGIN} ... {END} section")
    return f"{head}{BEGIN}\n{drawn}{END}{tail}"


def problems(root: Path = ROOT) -> list[str]:
    """What the layers forbid, in words: imports running up, then circles."""
    known = modules(root)
    found = all_imports(known)
    words = [
        f"{known[one.importer].relative_to(root)}:{one.line}: {one.importer} ({LAYERS[layer(one.importer)][1]}) "
        f"imports {one.imported} ({LAYERS[layer(one.imported)][1]}), a layer above it"
        for one in upward(found)
    ]
    words += [f"a circle of imports: {' -> '.join(group)}" for group in cycles(graph(found))]
    return words


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.imports", description=__doc__.split("\n\n")[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--write", action="store_true", help=f"redraw the graph in {DRAWING.relative_to(ROOT)}")
    what.add_argument("--check", action="store_true", help="fail on an import running up, a circle, a stale drawing")
    args = parser.parse_args(argv)
    found = problems()
    for problem in found:
        print(problem, file=sys.stderr)
    document = DRAWING.read_text(encoding="utf-8")
    current = spliced(document, drawing())
    if args.write:
        if not found:
            DRAWING.write_text(current, encoding="utf-8")
        return 1 if found else 0
    if current != document:
        print(f"{DRAWING.relative_to(ROOT)} is stale: python -m local.imports --write", file=sys.stderr)
        return 1
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
