"""The layers of the code (docs/architecture.md): imports only run down, no
circle of imports, the drawing of them is current, and no class of ``common/``
needs a table of contents (local.imports reads every module's imports)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from local import imports
from local.jobs_table import ADAPTERS, JobsTable

ROOT = imports.ROOT
# "A class that needs a table of contents has become a file's worth of classes."
MAX_CLASS_LINES = 300


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


# ------------------------------------------------------------------ the service's own code
def test_no_import_runs_up_a_layer_and_no_modules_import_each_other() -> None:
    assert imports.problems() == []


def test_the_drawing_of_the_imports_is_current() -> None:
    document = imports.DRAWING.read_text(encoding="utf-8")
    assert imports.spliced(document, imports.drawing()) == document, "python -m local.imports --write"


def test_the_check_command_passes() -> None:
    assert imports.main(["--check"]) == 0


def test_nothing_deployed_imports_the_tools() -> None:
    known = imports.modules()
    deployed = [one for one in imports.all_imports(known) if one.importer.startswith(("common.", "functions."))]
    assert deployed  # the scan reads the deployed code
    assert [one for one in deployed if one.imported.startswith(("local.", "benchmarks."))] == []


def classes_longer_than(limit: int, root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_class_of_common_is_longer_than_300_lines() -> None:
    assert classes_longer_than(MAX_CLASS_LINES, ROOT / "common") == []


def test_the_jobs_tables_adapters_share_no_name_so_their_union_hides_none() -> None:
    # Given the adapters of the jobs table, each over TableAdapter
    base = set(vars(ADAPTERS[0].__mro__[1]))
    seen: dict[str, str] = {}
    for adapter in ADAPTERS:
        for name in {name for name in vars(adapter) if not name.startswith("__")} - base:
            # Then no two define the same name (JobsTable, their union, would take one silently)
            assert name not in seen, f"{name} is defined by {seen.get(name)} and {adapter.__name__}"
            seen[name] = adapter.__name__
    assert set(JobsTable.__mro__[1 : 1 + len(ADAPTERS)]) == set(ADAPTERS)
    assert {name for name in vars(JobsTable) if not name.startswith("__")} == set()


# ------------------------------------------------------------------ the checks themselves
LAYERED = {
    "common/__init__.py": "",
    "common/models/__init__.py": "",
    "common/models/job.py": "import json\n",
    "common/adapters/__init__.py": "",
    "common/adapters/store.py": "from common.models.job import json\n",
    "common/logic/__init__.py": "",
    "common/logic/sending.py": "from common.adapters import store\nfrom common.models import job\n",
    "functions/worker/app.py": "from common.logic.sending import x\n",
    # Modules that import nothing: an import of one of them closes no circle.
    "common/adapters/leaf.py": "",
    "common/logic/plain.py": "",
    "functions/page/app.py": "",
}


def test_imports_down_the_layers_are_no_problem(tmp_path: Path) -> None:
    root = write(tmp_path, LAYERED)
    assert imports.problems(root) == []
    known = imports.modules(root, ("common", "functions"))
    edges = imports.graph(imports.all_imports(known))
    assert edges["common.logic.sending"] == {"common.adapters.store", "common.models.job"}
    assert edges["functions.worker.app"] == {"common.logic.sending"}


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("common/models/job.py", "from common.logic.plain import x\n"),  # models take nothing from above
        ("common/adapters/store.py", "from common.logic import plain\n"),  # adapters never import logic
        ("common/logic/sending.py", "import functions.page.app\n"),  # nor logic a handler
    ],
)
def test_an_import_running_up_is_found_wherever_it_is(tmp_path: Path, module: str, line: str) -> None:
    # Given an import up a layer, deferred into a function
    deferred = "def later():\n    " + line
    root = write(tmp_path, LAYERED | {module: LAYERED[module] + deferred})
    [problem] = imports.problems(root)
    assert "a layer above it" in problem
    assert problem.startswith(module + ":")


def test_an_import_under_type_checking_counts_too(tmp_path: Path) -> None:
    guarded = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from common.adapters import leaf\n"
    root = write(tmp_path, LAYERED | {"common/models/job.py": guarded})
    assert len(imports.problems(root)) == 1


def test_a_circle_is_found_even_within_one_layer(tmp_path: Path) -> None:
    # Given two adapters that import each other, one of them through a third
    root = write(
        tmp_path,
        LAYERED
        | {
            "common/adapters/aws.py": "def later():\n    from common.adapters import secrets\n",
            "common/adapters/secrets.py": "from common.adapters.reader import read\n",
            "common/adapters/reader.py": "from common.adapters import aws\n",
        },
    )
    assert imports.problems(root) == [
        "a circle of imports: common.adapters.aws -> common.adapters.reader -> common.adapters.secrets"
    ]


def test_the_drawing_leaves_out_the_imports_implied_by_others() -> None:
    edges = {"a": frozenset({"b", "c"}), "b": frozenset({"c"}), "c": frozenset()}
    assert imports.reduction(edges) == {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset()}


def test_a_long_class_is_found(tmp_path: Path) -> None:
    body = "class Big:\n" + "".join(f"    def m{n}(self) -> int:\n        return {n}\n" for n in range(200))
    root = write(tmp_path, {"common/big.py": body, "common/small.py": "class Small:\n    pass\n"})
    assert classes_longer_than(MAX_CLASS_LINES, root / "common") == ["common/big.py:1 Big (401 lines)"]
