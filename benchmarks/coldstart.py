"""Figure 2, cold start: what importing each handler costs a fresh Python process.

Each handler module is imported the way Lambda imports it, in a fresh process
per run: its function folder first on ``sys.path``, then the layer (the
repository root for ``common``, and a folder holding only the runtime
dependencies of ``requirements.txt`` plus the boto3 Lambda provides), no
site-packages, and the template's and Lambda's environment variables (so the
tracer is what the template gives: the X-Ray SDK only with ``TraceSdkCalls``).
Each run of ``import app`` is paired with a run of ``import boto3`` alone just
before it, so both see the same load; the ratio is the median of the runs' own
ratios, and the middle half of them (first to third quartile) says how far one
run's ratio strays. Each time is the CPU time of the importing process
(``time.process_time``): an import is CPU-bound, and CPU time grows less with
the load other processes put on the machine than wall time does (on a shared
two-core machine, wall times of one import varied twofold, and CPU times of
``import boto3`` by half again between neighbouring runs, which is why the
ratio is taken pair by pair). One more run under ``python -X importtime`` says
what dominates.

The imports run under the functions' runtime, Lambda's Python (``python3.13``),
when this machine has it: the layer's packages are installed for it into a
folder of their own, as ``layer/Makefile`` installs them. Without it they run
under this interpreter, and the page says so.

Two more measures say what the figure cannot: the floors (the libraries alone,
none of the service's code: what no change to the service can go below), and
each import from source, without the layer's bytecode, as a layer that ships
none is imported in Lambda (its file system is read-only, so nothing compiled
there is kept).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from packaging.requirements import Requirement

from benchmarks.page import SummaryRow, table, times
from local.template import ROOT, Stack, default_parameters, load_template

# What Lambda's Python runtime provides besides the standard library.
RUNTIME_PACKAGES = ("boto3",)
HANDLERS = {
    "EnqueueFunction": "enqueue",
    "SendWorkerFunction": "send_worker",
    "ListJobsFunction": "list_jobs",
    "BulkQueueFunction": "bulk_queue",
    "SweeperFunction": "sweeper",
    "SesEventsFunction": "ses_events",
    "JobActionsFunction": "job_actions",
    "SuppressionsFunction": "suppressions",
    "UnsubscribeFunction": "unsubscribe",
    "PageFunction": "page",
}
_TIMED_IMPORT = "import time; t = time.process_time(); {statement}; print(time.process_time() - t)"
# The libraries alone, as the service's functions import them, with garbage
# collection paused as a handler pauses it: botocore (the clients), pydantic's
# models and fields, Powertools' logger and metrics; the API functions add its
# event handler, with the resolver made as they make it (validating requests,
# which loads its OpenAPI models and validation middleware). The last is no
# floor: ``import boto3`` itself with collection paused, which says how much
# of a handler's figure the pause alone gives.
_PAUSED = "import gc; gc.disable(); "
BOTO3_PAUSED = "(`import boto3` itself, collection paused)"
_LIBRARIES = (
    _PAUSED + "import botocore.session, botocore.config, botocore.exceptions; "
    "from pydantic import BaseModel, Field; from aws_lambda_powertools import Logger, Metrics"
)
# The API functions load Powertools' packages without their __init__, as their handlers do.
_DEFERRED = "from common.adapters.deferred_imports import defer_powertools_packages; defer_powertools_packages(); "
FLOORS = {
    "every function but the page": _LIBRARIES,
    "the API functions": _PAUSED
    + _DEFERRED
    + _LIBRARIES.removeprefix(_PAUSED)
    + "; from aws_lambda_powertools.event_handler import APIGatewayHttpResolver"
    + "; APIGatewayHttpResolver(enable_validation=True)",
    BOTO3_PAUSED: _PAUSED + "import boto3",
}
_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)$")
RUN_TIMEOUT_SECONDS = 60
COLD_TARGET = 1.5  # each handler's import, over import boto3's


@dataclass(frozen=True)
class ImportCost:
    module: str
    self_ms: float
    cumulative_ms: float


@dataclass(frozen=True)
class ColdStart:
    function: str
    median_ms: float
    runs: int
    ratio_to_boto3: float  # the median of the runs' ratios (``paired_ratios``)
    dominant: list[ImportCost]  # packages by their modules' own import time, summed
    heaviest_own: list[ImportCost]  # by self time: the modules that cost by themselves
    middle_half: tuple[float, float] | None = None  # the runs' ratios, first to third quartile


@dataclass(frozen=True)
class Floor:
    """The libraries a kind of function imports, alone: ``import boto3`` paired, as a handler's."""

    functions: str
    statement: str
    median_ms: float
    ratio_to_boto3: float


@dataclass(frozen=True)
class FromSource:
    """One import without the layer's bytecode, beside ``import boto3`` from source too."""

    function: str
    median_ms: float
    ratio_to_boto3: float


@dataclass(frozen=True)
class ColdStarts:
    boto3_ms: float
    runs: int
    functions: list[ColdStart]
    python: str = ""  # the interpreter's version, e.g. "3.13.0"
    runtime: str = ""  # the functions' runtime, when it was the interpreter (e.g. "python3.13")
    floors: list[Floor] = field(default_factory=list)
    from_source: list[FromSource] = field(default_factory=list)
    boto3_from_source_ms: float = 0.0


class PairedRatios(NamedTuple):
    median: float
    middle_half: tuple[float, float]  # first and third quartiles


def paired_ratios(seconds: Sequence[float], baseline: Sequence[float]) -> PairedRatios:
    """Each run's time over that of the ``import boto3`` run paired with it: their
    median, and the middle half of them. A busy moment slows both runs of a
    pair, so it moves that pair's ratio less than either time."""
    if len(seconds) != len(baseline) or not seconds:
        raise ValueError("one baseline run per run, and at least one run")
    ratios = [run / base for run, base in zip(seconds, baseline, strict=True)]
    if len(ratios) == 1:
        return PairedRatios(ratios[0], (ratios[0], ratios[0]))
    first, _, third = statistics.quantiles(ratios, n=4, method="inclusive")
    return PairedRatios(statistics.median(ratios), (first, third))


# ---------------------------------------------------------------- the import path
def _distribution_closure(names: Iterable[str]) -> set[str]:
    """The distributions ``names`` need at run time (their extras included), by name."""
    seen: set[str] = set()
    pending = [Requirement(name) for name in names]
    while pending:
        requirement = pending.pop()
        key = requirement.name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        try:
            distribution = importlib.metadata.distribution(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for raw in distribution.requires or []:
            dependency = Requirement(raw)
            if dependency.marker is None:
                pending.append(dependency)
                continue
            extras = requirement.extras or {""}
            if any(dependency.marker.evaluate({"extra": extra}) for extra in extras):
                pending.append(dependency)
    return seen


def _top_level_entries(distribution_name: str) -> set[str]:
    distribution = importlib.metadata.distribution(distribution_name)
    entries: set[str] = set()
    for file in distribution.files or []:
        parts = Path(str(file)).parts
        # The .dist-info folder too: some packages read their own metadata at import.
        if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith(".data"):
            continue
        entries.add(parts[0])
    return entries


def runtime_requirements(requirements: Path = ROOT / "requirements.txt") -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in requirements.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def lambda_like_site(target: Path) -> Path:
    """A folder of links to exactly the packages a deployed function can import:
    the layer's (``requirements.txt`` and what they need) and the runtime's boto3."""
    target.mkdir(parents=True, exist_ok=True)
    site = Path(str(importlib.metadata.distribution("boto3").locate_file("")))
    for name in sorted(_distribution_closure([*runtime_requirements(), *RUNTIME_PACKAGES])):
        try:
            entries = _top_level_entries(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for entry in entries:
            link = target / entry
            if not link.exists() and (site / entry).exists():
                link.symlink_to(site / entry)
    return target


# ---------------------------------------------------------------- the runtime's Python
# The interpreter every import is timed with (``use_python``).
_python = [sys.executable]


def use_python(executable: str) -> None:
    _python[0] = executable


def python_version(executable: str | None = None) -> str:
    done = subprocess.run(  # noqa: S603 - an interpreter found on PATH, fixed arguments
        [executable or _python[0], "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )
    return done.stdout.strip()


def runtime_python() -> str | None:
    """The functions' runtime (the template's ``Runtime``, ``python3.13``) on this
    machine, as its executable's real path (pyenv's shims resolved), or None."""
    from local.build import BuildError, sam_environment, template_runtimes  # noqa: PLC0415 - only here

    runtimes = {runtime for runtime in template_runtimes(load_template()) if runtime.startswith("python3")}
    if len(runtimes) != 1:
        return None
    runtime = runtimes.pop()
    try:
        env = sam_environment({runtime})
    except BuildError:
        return None
    executable = shutil.which(runtime, path=env.get("PATH"))
    if executable is None:
        return None
    done = subprocess.run(  # noqa: S603 - found on PATH, fixed arguments
        [executable, "-c", "import sys; print(sys.executable)"], env=env, capture_output=True, text=True, check=False
    )
    found = done.stdout.strip()
    return found if done.returncode == 0 and found else None


def runtime_site(python: str, target: Path, requirements: Path = ROOT / "requirements.txt") -> Path:
    """The layer's packages (``requirements.txt``, with their bytecode) installed
    for ``python``, as ``layer/Makefile`` installs them for Lambda."""
    subprocess.run(  # noqa: S603 - our interpreter, fixed arguments
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--target",
            str(target),
            "-r",
            str(requirements),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    shutil.rmtree(target / "bin", ignore_errors=True)
    return target


# ---------------------------------------------------------------- measuring
def template_environments() -> dict[str, dict[str, str]]:
    """Each function's environment from the template, as far as it resolves
    without a stack (table names and queue URLs need one; imports never read them)."""
    template = load_template()
    stack = Stack(template=template, parameters=default_parameters(template))
    environments: dict[str, dict[str, str]] = {}
    for logical in HANDLERS:
        merged = dict(template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
        own = template["Resources"][logical]["Properties"].get("Environment", {}).get("Variables", {})
        merged.update(own)
        resolved: dict[str, str] = {}
        for key, value in merged.items():
            try:
                resolved[key] = str(stack.resolve(value))
            except KeyError:
                continue
        environments[logical] = resolved
    return environments


def memory_mb() -> int:
    """The functions' memory size (the template's Globals)."""
    return int(load_template().get("Globals", {}).get("Function", {}).get("MemorySize", 128))


def lambda_environment(function: str, code_dir: Path, template_env: Mapping[str, str]) -> dict[str, str]:
    """What a function's process sees in Lambda, as far as imports care."""
    env = {key: value for key, value in os.environ.items() if key in ("PATH", "LANG", "HOME", "TMPDIR")}
    env.update(template_env)
    env.update(
        AWS_LAMBDA_FUNCTION_NAME=function,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512",
        AWS_EXECUTION_ENV="AWS_Lambda_python3.13",
        LAMBDA_TASK_ROOT=str(code_dir),
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
    )
    return env


def _run(module: str, path: list[Path], env: Mapping[str, str], *, importtime: bool = False) -> tuple[float, str]:
    """CPU seconds ``import module`` took in a fresh process, and its stderr."""
    return _run_statement(f"import {module}", path, env, importtime=importtime)


def _run_statement(
    statement: str, path: list[Path], env: Mapping[str, str], *, importtime: bool = False
) -> tuple[float, str]:
    command = [_python[0], "-S"]
    if importtime:
        command += ["-X", "importtime"]
    command += ["-c", _TIMED_IMPORT.format(statement=statement)]
    full_env = {**env, "PYTHONPATH": os.pathsep.join(str(p) for p in path)}
    # In the first folder, as Lambda runs in the function's: ``-c`` puts the
    # working directory first on sys.path, and this repository's would shadow the path.
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        command,
        env=full_env,
        cwd=path[0],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{statement} failed: {done.stderr.strip().splitlines()[-1:]}")
    return float(done.stdout.strip().splitlines()[-1]), done.stderr


def _package(module: str) -> str:
    """``common.logic.enqueue`` stays itself; any other module counts for its top-level package."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "common" else parts[0]


def parse_importtime(stderr: str) -> list[ImportCost]:
    costs: list[ImportCost] = []
    for line in stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            costs.append(ImportCost(match.group(4), int(match.group(1)) / 1000, int(match.group(2)) / 1000))
    return costs


def by_package(costs: list[ImportCost], *, top: int = 6) -> list[ImportCost]:
    """Where the time goes: the self times of each package's modules, summed
    (so the figures add up to the whole import), largest first."""
    totals: dict[str, float] = {}
    for cost in costs:
        if cost.module == "app":
            continue
        package = _package(cost.module)
        totals[package] = totals.get(package, 0.0) + cost.self_ms
    ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)[:top]
    return [ImportCost(package, ms, ms) for package, ms in ranked]


def heaviest_own(costs: list[ImportCost], *, top: int = 3) -> list[ImportCost]:
    return sorted((c for c in costs if c.module != "app"), key=lambda c: c.self_ms, reverse=True)[:top]


def measure(
    *, runs: int, site: Path, environments: Mapping[str, Mapping[str, str]], functions: Iterable[str] | None = None
) -> ColdStarts:
    """``environments``: each function's template environment, by logical id.

    Each run of a handler's import is paired with a run of ``import boto3`` just
    before it, and a handler's ratio is the median of its runs over the median of
    its paired baseline runs: both see the same load from other processes."""
    baseline_env = lambda_environment("boto3", ROOT, {})
    _run("boto3", [site], baseline_env)  # warm-up
    all_baseline: list[float] = []
    results: list[ColdStart] = []
    for function in functions or HANDLERS:
        code_dir = ROOT / "functions" / HANDLERS[function]
        path = [code_dir, ROOT, site]
        env = lambda_environment(function, code_dir, environments.get(function, {}))
        _run("app", path, env)  # warm-up: bytecode caches written, as an installed package has them
        baseline: list[float] = []
        seconds: list[float] = []
        for _ in range(runs):
            baseline.append(_run("boto3", [site], baseline_env)[0])
            seconds.append(_run("app", path, env)[0])
        all_baseline += baseline
        _, stderr = _run("app", path, env, importtime=True)
        costs = parse_importtime(stderr)
        median_ms = statistics.median(seconds) * 1000
        ratios = paired_ratios(seconds, baseline)
        results.append(
            ColdStart(
                function=function,
                median_ms=median_ms,
                runs=runs,
                ratio_to_boto3=ratios.median,
                dominant=by_package(costs),
                heaviest_own=heaviest_own(costs),
                middle_half=ratios.middle_half,
            )
        )
    boto3_ms = statistics.median(all_baseline) * 1000 if all_baseline else 0.0
    return ColdStarts(boto3_ms=boto3_ms, runs=runs, functions=results)


# ---------------------------------------------------------------- what the figure cannot say
def floors(*, runs: int, site: Path) -> list[Floor]:
    """The libraries alone (``FLOORS``), each run paired with one of ``import boto3``."""
    env = lambda_environment("boto3", ROOT, {})
    _run("boto3", [site], env)  # warm-up
    found = []
    for functions, statement in FLOORS.items():
        path = [ROOT, site]  # the layer: its packages and `common`
        _run_statement(statement, path, env)  # warm-up
        baseline, seconds = [], []
        for _ in range(runs):
            baseline.append(_run("boto3", [site], env)[0])
            seconds.append(_run_statement(statement, path, env)[0])
        found.append(
            Floor(
                functions=functions,
                statement=statement,
                median_ms=statistics.median(seconds) * 1000,
                ratio_to_boto3=paired_ratios(seconds, baseline).median,
            )
        )
    return found


def source_copy(site: Path, target: Path) -> tuple[Path, Path]:
    """The layer (``site``'s packages and ``common``) and the functions' folders,
    copied without any bytecode: (the layer's folder, the functions' folder)."""
    no_bytecode = shutil.ignore_patterns("__pycache__", "*.pyc")
    layer, functions = target / "layer", target / "functions"
    layer.mkdir(parents=True, exist_ok=True)
    for entry in sorted(site.iterdir()):
        source = entry.resolve()
        if source.is_dir():
            shutil.copytree(source, layer / entry.name, ignore=no_bytecode, dirs_exist_ok=True)
        else:
            shutil.copy2(source, layer / entry.name)
    shutil.copytree(ROOT / "common", layer / "common", ignore=no_bytecode, dirs_exist_ok=True)
    shutil.copytree(ROOT / "functions", functions, ignore=no_bytecode, dirs_exist_ok=True)
    return layer, functions


def from_source(
    *,
    runs: int,
    layer: Path,
    functions_dir: Path,
    environments: Mapping[str, Mapping[str, str]],
    functions: Iterable[str] | None = None,
) -> tuple[float, list[FromSource]]:
    """Each import with no bytecode of the layer's or the function's (none is
    written either: ``PYTHONDONTWRITEBYTECODE``), beside ``import boto3`` from the
    same bytecode-less layer; the standard library keeps its own, as Lambda's runtime has it."""
    baseline_env = {**lambda_environment("boto3", ROOT, {}), "PYTHONDONTWRITEBYTECODE": "1"}
    all_baseline: list[float] = []
    found = []
    for function in functions or HANDLERS:
        code_dir = functions_dir / HANDLERS[function]
        env = {**lambda_environment(function, code_dir, environments.get(function, {})), "PYTHONDONTWRITEBYTECODE": "1"}
        baseline, seconds = [], []
        for _ in range(runs):
            baseline.append(_run("boto3", [layer], baseline_env)[0])
            seconds.append(_run("app", [code_dir, layer], env)[0])
        all_baseline += baseline
        found.append(
            FromSource(
                function=function,
                median_ms=statistics.median(seconds) * 1000,
                ratio_to_boto3=paired_ratios(seconds, baseline).median,
            )
        )
    return (statistics.median(all_baseline) * 1000 if all_baseline else 0.0), found


# ---------------------------------------------------------------- its part of the page
def summary_rows(cold_starts: ColdStarts) -> list[SummaryRow]:
    return [
        SummaryRow(
            "2. Cold start",
            f"import of {cold.function}",
            f"{cold.median_ms:,.0f} ms",
            f"import boto3: {cold_starts.boto3_ms:,.0f} ms",
            cold.ratio_to_boto3,
        )
        for cold in cold_starts.functions
    ]


def notes(cold_starts: ColdStarts) -> list[str]:
    over = [c for c in cold_starts.functions if c.ratio_to_boto3 > COLD_TARGET]
    if not cold_starts.functions or not over:
        return []
    low = min(c.ratio_to_boto3 for c in cold_starts.functions)
    high = max(c.ratio_to_boto3 for c in cold_starts.functions)
    libraries = "; ".join(
        f"{floor.functions}: {floor.ratio_to_boto3:.2f}x"
        for floor in cold_starts.floors
        if floor.functions != BOTO3_PAUSED
    )
    names = ", ".join(c.function for c in over)
    return [
        f"- **Cold start**: {low:.1f}x to {high:.1f}x `import boto3` (goal ≤ {COLD_TARGET}x; {len(over)} of"
        f" {len(cold_starts.functions)} functions over it: {names}). Above boto3 are pydantic, the models the"
        " service defines, Powertools' logger and metrics, and for the API functions Powertools' event handler"
        " and the API's models (figure 2)."
        + (f" The libraries alone, without the service's code, are already {libraries}." if libraries else "")
    ]


def section(cold_starts: ColdStarts) -> str:
    sourced = {f.function: f for f in cold_starts.from_source}

    def source_cell(function: str) -> str:
        found = sourced.get(function)
        return f"{found.median_ms:,.0f} ms ({found.ratio_to_boto3:.2f}x)" if found else "—"

    rows = [
        [
            cold.function,
            f"{cold.median_ms:,.0f} ms",
            times(cold.ratio_to_boto3),
            _middle_half(cold.middle_half),
            source_cell(cold.function),
            ", ".join(f"{c.module} {c.self_ms:,.0f}" for c in cold.dominant),
            ", ".join(f"{c.module} {c.self_ms:,.0f}" for c in cold.heaviest_own),
        ]
        for cold in cold_starts.functions
    ]
    floor_rows = [
        [floor.functions, f"`{floor.statement}`", f"{floor.median_ms:,.0f} ms", times(floor.ratio_to_boto3)]
        for floor in cold_starts.floors
    ]
    floors_text = (
        [
            "The floors: the libraries alone, none of the service's code, timed the same way (each run paired with",
            "one of `import boto3`, collection paused as the handlers pause it). No change to the service's own",
            "code can bring a function below its floor. The API functions' floor loads Powertools' packages as they",
            "do, without their `__init__` (`common.adapters.deferred_imports`, the one module of the service's it",
            "runs). The last row is no floor but `import boto3` itself with",
            "collection paused: how much lower a handler's figure is for the pause alone.",
            "",
            table(["functions", "imports", "import", "÷ boto3"], floor_rows),
            "",
        ]
        if floor_rows
        else []
    )
    source = (
        [
            "From source: the same imports with no bytecode of the layer's or the function's, none written",
            f"either, beside `import boto3` from the same layer ({cold_starts.boto3_from_source_ms:,.0f} ms). That is",
            "what Lambda does with a layer that ships no bytecode (its file system is read-only, so nothing it",
            "compiles is kept): `sam build`'s Python builder makes such a layer, so `layer/Makefile` builds this",
            "one and ships the runtime's bytecode of every module",
            "(docs/adr/0034-layer-and-built-artifacts.md).",
            "",
        ]
        if cold_starts.from_source
        else []
    )
    return "\n".join(
        [
            "## 2. Cold start",
            "",
            f"CPU time of importing each handler module in a fresh process, median of {cold_starts.runs} runs,",
            f"beside `import boto3` alone ({cold_starts.boto3_ms:,.0f} ms; one run of it just before each run of a",
            "handler, so that on a shared machine both see the same load). Each ratio is the median of the runs'",
            "own ratios (a handler's run over the boto3 run paired with it); the middle half of them (first to",
            "third quartile) shows how far one run strays on this machine, and a difference between two functions",
            "or two commits smaller than that spread says little.",
            "Each run sees what a deployed function sees: its folder, then the layer (the `common` package and",
            "exactly the packages `requirements.txt` installs, boto3 among them), no site-packages, and",
            "the template's environment with Lambda's variables (`TraceSdkCalls` at its default, `false`: no",
            "X-Ray SDK). What dominates comes from one more run under `python -X importtime` (wall time): each",
            "package's modules' own import times, summed (ms), and the three modules that cost most by",
            f"themselves. {_interpreter(cold_starts)}",
            "",
            table(
                [
                    "function",
                    "import",
                    "÷ boto3",
                    "runs' middle half",
                    "from source (÷ boto3)",
                    "by package (ms)",
                    "heaviest modules (ms)",
                ],
                rows,
            ),
            "",
            *floors_text,
            *source,
            "botocore is a floor every function but the page pays. The clients are botocore's and no function",
            "imports boto3: bulk sends keep Powertools' idempotency records over their botocore client",
            "(docs/adr/0020-bulk-send-idempotency.md), and the functions that read",
            "a secret keep it themselves (docs/adr/0014-secrets-read-at-run-time.md).",
            "Each handler pauses garbage collection while it imports",
            "(docs/adr/0033-cold-starts.md). Above the floor:",
            "pydantic and its compiled core, the models the service defines (built on first use:",
            "`defer_build`; only the function's own),",
            "Powertools' logger and metrics, and for the API functions Powertools' event handler: its resolver",
            "for HTTP APIs and that event's class, its packages loaded without their `__init__`, which imports",
            "every resolver and every event class (docs/adr/0033-cold-starts.md).",
            "Not imported any more: boto3 and",
            "s3transfer, the X-Ray SDK (only with `TraceSdkCalls`), Powertools' batch utility (it built the",
            "parser's models of every event source), the admin API's models and settings where a function sends,",
            "Powertools' parameters, pydantic's serializers module, and, on first use only, email-validator and",
            "inscriptis",
            "(docs/adr/0033-cold-starts.md).",
            "",
        ]
    )


def _interpreter(cold_starts: ColdStarts) -> str:
    """Which Python the imports ran under: the functions' runtime, or this machine's."""
    if cold_starts.runtime:
        return (
            f"Python {cold_starts.python}, the functions' runtime ({cold_starts.runtime}), with the layer's"
            " packages installed for it as `layer/Makefile` installs them (this machine's platform, not arm64)."
        )
    return f"Python {cold_starts.python or platform.python_version()}, this machine's: Lambda's was not found here."


def _middle_half(quartiles: tuple[float, float] | None) -> str:
    return "—" if quartiles is None else f"{quartiles[0]:.2f}x to {quartiles[1]:.2f}x"
