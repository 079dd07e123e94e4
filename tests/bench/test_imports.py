"""The benchmarks' imports run one way: ``__main__`` (the run) over ``report``
(the page) over the figures, one module each, over the helpers they share. A
figure never imports another figure nor the report; what one figure quotes from
another the report hands it. Every module of ``benchmarks/`` is in one layer."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "benchmarks"
RUN = {"__main__"}
PAGE = {"report"}
FIGURES = {
    "calls",
    "coldstart",
    "listing",
    "pipeline",
    "priority",
    "writes",
    "capacity",
    "cancel",
    "fairness",
    "drain",
    "schedule",
}
HELPERS = {"harness", "recording", "workload", "ledger", "cost", "ceiling", "page"}
LAYERS = [RUN, PAGE, FIGURES, HELPERS]  # top to bottom


def _imports(module: str) -> set[str]:
    """The ``benchmarks`` modules ``module`` imports, anywhere in it (functions and
    ``TYPE_CHECKING`` blocks included)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("benchmarks.")}
        elif isinstance(node, ast.ImportFrom) and node.module == "benchmarks":
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("benchmarks."):
            found.add(node.module.split(".")[1])
    return found


def _layer(module: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if module in layer)


def _graph() -> dict[str, set[str]]:
    return {path.stem: _imports(path.stem) for path in PACKAGE.glob("*.py") if path.stem != "__init__"}


def test_every_module_of_the_benchmarks_is_in_exactly_one_layer() -> None:
    modules = set(_graph())

    assert modules == set().union(*LAYERS)
    assert sum(len(layer) for layer in LAYERS) == len(modules)


@pytest.mark.parametrize("module", sorted(FIGURES | HELPERS | PAGE))
def test_a_module_imports_only_the_layers_below_it(module: str) -> None:
    imported = _imports(module)

    above_or_beside = {m for m in imported if _layer(m) <= _layer(module) and m not in HELPERS}
    assert not above_or_beside, f"{module} imports {sorted(above_or_beside)}"


def test_the_helpers_import_each_other_without_a_cycle() -> None:
    graph = {module: imported & HELPERS for module, imported in _graph().items() if module in HELPERS}

    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        pytest.fail(f"the helpers import each other in a circle: {exc.args[1]}")
    assert set(order) == HELPERS
