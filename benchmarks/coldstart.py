"""Figure 2, cold start: what a fresh execution environment costs before it has
answered its first event: the handler's import and its first invocation.

Each run is a fresh process that imports the handler module and then invokes
it once with a real event (prepared on the running local stack, whose
embedded AWS it calls), timed apart. Each is paired with a run of the floor
just before it: ``import boto3`` and creating clients of the same services
the function's first invocation made clients of (found in its process
afterwards), which no Python function calling those services can go below.
The ratio is the median of the runs' own ratios of (import + first
invocation) to the floor. The import alone is also set against the floor's
``import boto3``.

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

import contextlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from botocore.exceptions import ClientError
from packaging.requirements import Requirement

from benchmarks.harness import BenchError, BenchStack
from benchmarks.page import SummaryRow, table, times
from benchmarks.workload import bulk_request, system_email
from local.events import sqs_event
from local.pollers import schedules
from local.stack import local_aws_environment
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
RESULT = "BENCH-RESULT "  # the line a first-start run reports on (the function logs to stdout too)
# A fresh process: the event on stdin (read before the clock starts, as Lambda's runtime has it
# before it imports the handler), the import and the first invocation timed apart in CPU time,
# then the services the process made clients of (after the clock stopped).
_FIRST_START = r"""
import json, sys, time
given = json.loads(sys.stdin.read())

class Context:
    function_name = given["function"]
    function_version = "$LATEST"
    invoked_function_arn = given["arn"]
    memory_limit_in_mb = given["memory"]
    aws_request_id = given["request_id"]
    log_group_name = "/aws/lambda/" + given["function"]
    log_stream_name = "bench"
    identity = None
    client_context = None
    def get_remaining_time_in_millis(self):
        return 30000

started = time.process_time()
import app
imported = time.process_time()
# The AWS calls the invocation makes, counted and timed (botocore's and urllib3's work;
# the embedded AWS answers from another process). Set up between the two clocks.
calls = {"count": 0, "cpu": 0.0}
operations = {}
made = sys.modules.get("botocore.client")
if made is not None:
    api_call = made.BaseClient._make_api_call
    def timed_call(self, operation_name, *args, **kwargs):
        begun = time.process_time()
        try:
            return api_call(self, operation_name, *args, **kwargs)
        finally:
            calls["count"] += 1
            calls["cpu"] += time.process_time() - begun
            key = self.meta.service_model.service_name + " " + operation_name
            operations[key] = operations.get(key, 0) + 1
    made.BaseClient._make_api_call = timed_call
invoking = time.process_time()
error, status = "", None
try:
    answer = app.handler(given["event"], Context())
    if isinstance(answer, dict):
        status = answer.get("statusCode")
except Exception as exc:
    error = type(exc).__name__ + ": " + str(exc)[:200]
    answer = None
invoked = time.process_time()
import gc
gc.unfreeze()
services = set()
clients = sys.modules.get("botocore.client")
for o in gc.get_objects() if clients is not None else ():
    if isinstance(o, clients.BaseClient):
        services.add(o.meta.service_model.service_name)
job_ids = answer.get("job_ids") if isinstance(answer, dict) else None
print("BENCH-RESULT " + json.dumps({
    "import": imported - started, "invoke": invoked - invoking, "error": error, "status": status,
    "services": sorted(services), "job_ids": job_ids, "calls": calls["count"], "calls_cpu": calls["cpu"],
    "operations": operations,
}))
"""
# The floor: import boto3, then clients of the given services, timed apart.
_FLOOR = r"""
import json, sys, time
services = json.loads(sys.stdin.read())
started = time.process_time()
import boto3
imported = time.process_time()
session = boto3.session.Session()
clients = [session.client(name) for name in services]
made = time.process_time()
print("BENCH-RESULT " + json.dumps({"import": imported - started, "clients": made - imported}))
"""
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
COLD_TARGET = 1.3  # each handler's import and first invocation, over the floor (issue #28)
HEADLINE = "cold start ÷ floor, worst function"


@dataclass(frozen=True)
class ImportCost:
    module: str
    self_ms: float
    cumulative_ms: float


@dataclass(frozen=True)
class ColdStart:
    function: str
    median_ms: float  # the import
    runs: int
    ratio_to_boto3: float  # the import over the floor's import boto3: the median of the runs' ratios
    dominant: list[ImportCost]  # packages by their modules' own import time, summed
    heaviest_own: list[ImportCost]  # by self time: the modules that cost by themselves
    middle_half: tuple[float, float] | None = None  # the import's ratios, first to third quartile
    invoke_ms: float = 0.0  # the first invocation
    floor_ms: float = 0.0  # import boto3 and the same clients
    clients: tuple[str, ...] = ()  # the services the first invocation made clients of
    ratio_to_floor: float = 0.0  # (import + first invocation) over the floor, median of the runs' ratios
    floor_middle_half: tuple[float, float] | None = None
    error: str = ""  # what the first invocation answered, when it failed
    calls: int = 0  # the AWS calls the first invocation made (median of the runs)
    calls_ms: float = 0.0  # the CPU time spent in them, part of invoke_ms (median)
    operations: tuple[tuple[str, int], ...] = ()  # those calls by operation ("dynamodb Query", 3), most first
    # (import + first invocation less its AWS calls' CPU) over the floor, median of the runs' ratios:
    # what the function builds above the floor, its calls apart
    ratio_without_calls: float = 0.0

    @property
    def cold_ms(self) -> float:
        return self.median_ms + self.invoke_ms


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

    @property
    def worst(self) -> ColdStart | None:
        """The function furthest above its floor."""
        return max(self.functions, key=lambda c: c.ratio_to_floor, default=None)


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


class FirstEvents(Protocol):
    """Where each run's first event comes from: a fresh one per run, from the running stack."""

    def event(self, function: str, run: int) -> Any: ...

    def done(self, function: str, run: int, result: Mapping[str, Any]) -> None: ...

    def environment(self, function: str) -> dict[str, str]: ...


class FirstStart(NamedTuple):
    import_s: float
    invoke_s: float
    services: tuple[str, ...]
    error: str
    calls: int = 0  # the AWS calls the first invocation made
    calls_s: float = 0.0  # the CPU time spent in them (part of invoke_s)
    operations: tuple[tuple[str, int], ...] = ()  # those calls by operation, most first


def _result(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT):
            found: dict[str, Any] = json.loads(line.removeprefix(RESULT))
            return found
    raise RuntimeError(f"no result line in its output: {stdout.strip().splitlines()[-1:]}")


def _run_script(script: str, given: Any, path: list[Path], env: Mapping[str, str]) -> dict[str, Any]:
    """Run ``script`` in a fresh interpreter with ``given`` (JSON) on its stdin; its result line."""
    full_env = {**env, "PYTHONPATH": os.pathsep.join(str(p) for p in path)}
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [_python[0], "-S", "-c", script],
        input=json.dumps(given),
        env=full_env,
        cwd=path[0],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the run failed: {done.stderr.strip().splitlines()[-1:]}")
    return _result(done.stdout)


def _run_first(
    function: str, event: Any, path: list[Path], env: Mapping[str, str], result: dict[str, Any]
) -> FirstStart:
    """A fresh process: import ``app`` and invoke it once with ``event``; ``result`` gets what it answered."""
    given = {
        "function": function,
        "arn": f"arn:aws:lambda:us-east-1:123456789012:function:{function}",
        "memory": env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
        "request_id": f"bench-{function}",
        "event": event,
    }
    found = _run_script(_FIRST_START, given, path, env)
    result.update(found)
    error = str(found.get("error") or "")
    status = found.get("status")
    if not error and isinstance(status, int) and status >= 500:
        error = f"answered {status}"
    return FirstStart(
        float(found["import"]),
        float(found["invoke"]),
        tuple(found.get("services") or ()),
        error,
        int(found.get("calls") or 0),
        float(found.get("calls_cpu") or 0.0),
        by_count(found.get("operations") or {}),
    )


def by_count(operations: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    """Calls counted by operation, the most made first (then by name)."""
    return tuple(sorted(((str(name), int(count)) for name, count in operations.items()), key=lambda o: (-o[1], o[0])))


def _median_run(calls: Sequence[int], operations: Sequence[tuple[tuple[str, int], ...]]) -> tuple[tuple[str, int], ...]:
    """The operations of the run whose number of calls is nearest the median (the first such run)."""
    if not operations:
        return ()
    middle = statistics.median(calls)
    nearest = min(range(len(calls)), key=lambda run: abs(calls[run] - middle))
    return operations[nearest]


def _run_floor(services: tuple[str, ...], path: list[Path], env: Mapping[str, str]) -> tuple[float, float]:
    """A fresh process: ``import boto3``, then clients of ``services``: the seconds of each."""
    found = _run_script(_FLOOR, list(services), path, env)
    return float(found["import"]), float(found["clients"])


def measure(
    *,
    runs: int,
    site: Path,
    events: FirstEvents,
    functions: Iterable[str] | None = None,
) -> ColdStarts:
    """Each handler's import and first invocation in a fresh process per run, each run
    paired with a run of the floor (``import boto3`` and the same clients) just before it."""
    all_boto3: list[float] = []
    results: list[ColdStart] = []
    for function in functions or HANDLERS:
        code_dir = ROOT / "functions" / HANDLERS[function]
        path = [code_dir, ROOT, site]
        env = lambda_environment(function, code_dir, events.environment(function))
        # Warm-up: bytecode caches written (as an installed package has them), and the services known.
        answer: dict[str, Any] = {}
        first = _run_first(function, events.event(function, -1), path, env, answer)
        events.done(function, -1, answer)
        services = first.services
        _run_floor(services, [site], env)
        imports, invokes, boto3s, floors_, errors, calls, calls_s = [], [], [], [], [], [], []
        operations: list[tuple[tuple[str, int], ...]] = []
        for run in range(runs):
            boto3_s, clients_s = _run_floor(services, [site], env)
            answer = {}
            one = _run_first(function, events.event(function, run), path, env, answer)
            events.done(function, run, answer)
            imports.append(one.import_s)
            invokes.append(one.invoke_s)
            calls.append(one.calls)
            calls_s.append(one.calls_s)
            operations.append(one.operations)
            boto3s.append(boto3_s)
            floors_.append(boto3_s + clients_s)
            if one.error:
                errors.append(one.error)
        all_boto3 += boto3s
        _, stderr = _run("app", path, env, importtime=True)
        costs = parse_importtime(stderr)
        imported = paired_ratios(imports, boto3s)
        whole = paired_ratios([i + v for i, v in zip(imports, invokes, strict=True)], floors_)
        built = paired_ratios([i + v - c for i, v, c in zip(imports, invokes, calls_s, strict=True)], floors_)
        results.append(
            ColdStart(
                function=function,
                median_ms=statistics.median(imports) * 1000,
                runs=runs,
                ratio_to_boto3=imported.median,
                dominant=by_package(costs),
                heaviest_own=heaviest_own(costs),
                middle_half=imported.middle_half,
                invoke_ms=statistics.median(invokes) * 1000,
                floor_ms=statistics.median(floors_) * 1000,
                clients=services,
                ratio_to_floor=whole.median,
                floor_middle_half=whole.middle_half,
                error=errors[0] if errors else "",
                calls=round(statistics.median(calls)),
                calls_ms=statistics.median(calls_s) * 1000,
                operations=_median_run(calls, operations),
                ratio_without_calls=built.median,
            )
        )
    boto3_ms = statistics.median(all_boto3) * 1000 if all_boto3 else 0.0
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
def printed_line(cold_starts: ColdStarts) -> str:
    """``cold start ÷ floor, worst function: N`` (issue #28's wording)."""
    worst = cold_starts.worst
    return f"{HEADLINE}: {worst.ratio_to_floor:.2f}" if worst else f"{HEADLINE}: not measured"


def summary_rows(cold_starts: ColdStarts) -> list[SummaryRow]:
    return [
        SummaryRow(
            "2. Cold start",
            f"import and first invocation of {cold.function}",
            f"{cold.cold_ms:,.0f} ms",
            f"import boto3 and {len(cold.clients)} client{'s' if len(cold.clients) != 1 else ''}:"
            f" {cold.floor_ms:,.0f} ms (goal ≤ {COLD_TARGET}x)",
            cold.ratio_to_floor,
        )
        for cold in cold_starts.functions
    ]


def notes(cold_starts: ColdStarts) -> list[str]:
    over = [c for c in cold_starts.functions if c.ratio_to_floor > COLD_TARGET]
    failed = [c for c in cold_starts.functions if c.error]
    found: list[str] = []
    if over:
        low = min(c.ratio_to_floor for c in cold_starts.functions)
        high = max(c.ratio_to_floor for c in cold_starts.functions)
        libraries = "; ".join(
            f"{floor.functions}: {floor.ratio_to_boto3:.2f}x `import boto3`"
            for floor in cold_starts.floors
            if floor.functions != BOTO3_PAUSED
        )
        found.append(
            f"- **Cold start**: import and first invocation {low:.2f}x to {high:.2f}x the floor (`import boto3` and"
            f" the same clients; goal ≤ {COLD_TARGET}x; {len(over)} of {len(cold_starts.functions)} functions over"
            " it). What stops each: "
            + "; ".join(what_stops(c) for c in sorted(over, key=lambda c: -c.ratio_to_floor))
            + ". Above the floor are pydantic, Powertools (its logger and metrics, and the API functions' event"
            " handler), the models the service defines and builds on first use, and the first invocation's AWS"
            " calls (figure 2)."
            + (f" The libraries alone, without the service's code, are already {libraries}." if libraries else "")
        )
    if failed:
        found.append(
            "- **Cold start, first invocations that failed**: "
            + "; ".join(f"{c.function}: {c.error}" for c in failed)
            + " (figure 2: their time is of a failed invocation)."
        )
    return found


def what_stops(cold: ColdStart) -> str:
    """Why ``cold`` is over the goal, with its figures: the AWS calls its work makes, or what it builds."""
    head = f"{cold.function} {cold.ratio_to_floor:.2f}x"
    if cold.calls and cold.ratio_without_calls <= COLD_TARGET:
        return (
            f"{head}, its first invocation's {_calls_phrase(cold)} of CPU ({_operations(cold)}: botocore and"
            f" urllib3 building, signing, sending and reading them, work the floor does not do); without them"
            f" {cold.ratio_without_calls:.2f}x; within {COLD_TARGET}x it could make "
            + (f"at most {calls_within_goal(cold)} of them" if calls_within_goal(cold) else "none of them")
            + ", at their measured CPU each"
        )
    besides = cold.invoke_ms - cold.calls_ms
    return (
        f"{head} ({cold.ratio_without_calls:.2f}x without its {_calls_phrase(cold)}): {cold.median_ms:,.0f} ms of"
        f" import ({cold.ratio_to_boto3:.2f}x the floor's `import boto3`) and {besides:,.0f} ms of first invocation"
        f" besides its calls, against {cold.floor_ms:,.0f} ms for `import boto3` and"
        f" {len(cold.clients)} client{'s' if len(cold.clients) != 1 else ''}"
    )


def calls_within_goal(cold: ColdStart) -> int:
    """How many AWS calls its first invocation could make and ``cold`` stay within the goal,
    each call costing what its calls cost on average in the ratio (the ratio with them less
    the ratio without them, over their number), all else as measured (0: not even one)."""
    if not cold.calls or cold.ratio_to_floor <= cold.ratio_without_calls:
        return 0
    per_call = (cold.ratio_to_floor - cold.ratio_without_calls) / cold.calls
    return max(0, int((COLD_TARGET - cold.ratio_without_calls) / per_call + 1e-9))


def _calls_phrase(cold: ColdStart) -> str:
    if not cold.calls:
        return "no AWS call"
    return f"{cold.calls} AWS call{'s' if cold.calls != 1 else ''}, {cold.calls_ms:,.0f} ms"


def _operations(cold: ColdStart) -> str:
    return ", ".join(f"{name} {count}" for name, count in cold.operations) or "operations not recorded"


def section(cold_starts: ColdStarts) -> str:
    sourced = {f.function: f for f in cold_starts.from_source}

    def source_cell(function: str) -> str:
        found = sourced.get(function)
        return f"{found.median_ms:,.0f} ms ({found.ratio_to_boto3:.2f}x)" if found else "—"

    first_rows = [
        [
            cold.function,
            f"{cold.median_ms:,.0f} ms",
            f"{cold.invoke_ms:,.0f} ms",
            _calls_cell(cold),
            f"{cold.floor_ms:,.0f} ms",
            ", ".join(cold.clients) or "none",
            f"**{times(cold.ratio_to_floor)}**" if cold.ratio_to_floor > COLD_TARGET else times(cold.ratio_to_floor),
            _middle_half(cold.floor_middle_half),
            times(cold.ratio_without_calls),
            cold.error or "",
        ]
        for cold in cold_starts.functions
    ]
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
    over = [c for c in cold_starts.functions if c.ratio_to_floor > COLD_TARGET]
    worst = cold_starts.worst
    verdict = (
        f"Goal: ≤ {COLD_TARGET}x the floor for every function: **met** (worst {worst.ratio_to_floor:.2f}x,"
        f" {worst.function})."
        if worst is not None and not over
        else f"Goal: ≤ {COLD_TARGET}x the floor for every function: **not met** ({len(over)} of"
        f" {len(cold_starts.functions)} over it"
        + (f"; worst {worst.ratio_to_floor:.2f}x, {worst.function}" if worst is not None else "")
        + ")."
    )
    floors_text = (
        [
            "The libraries alone, none of the service's code, timed the same way against `import boto3` (each run",
            "paired with one of `import boto3`, collection paused as the handlers pause it). No change to the",
            "service's own code can bring a function's import below these. The API functions' row loads",
            "Powertools' packages as they do, without their `__init__` (`common.adapters.deferred_imports`, the one",
            "module of the service's it runs). The last row is no floor but `import boto3` itself with",
            "collection paused: how much lower an import is for the pause alone.",
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
            "What a fresh execution environment costs before it has answered: the handler's import and its first",
            "invocation, each function in a fresh process per run. The first invocation handles a real event,",
            "fresh for each run and made on the running local stack as AWS would deliver it (an email to enqueue; a",
            "queued bulk email's message for the worker; that email's delivery event; each API route's request with",
            "a signed-in caller's claims; the sweeper's schedule), and calls the embedded AWS: it builds the",
            "function's clients, settings and models and makes its calls. The floor, timed in a fresh process just",
            "before each run, is `import boto3` and clients of the same services (those the function's process",
            "held once its first invocation was over): what any Python function that calls them pays. Each ratio",
            f"is the median of the {cold_starts.runs} runs' own ratios, (import + first invocation) over the floor,",
            "with the middle half of them (first to third quartile): on a shared machine a difference smaller than",
            "that spread says little. Times are CPU time (`time.process_time`), the process's own: the embedded",
            "AWS answers from another process, so its work is not counted, as AWS's is not in Lambda. The first",
            "invocation's AWS calls are counted by operation and their CPU time (botocore's and urllib3's work:",
            "building, signing, sending each request and reading its answer) is shown apart; it is part of the",
            "invocation's time, and the floor has none: making a call is work only a function does, and how many",
            "it makes is its work's (a sweep queries every `InFlight` shard; a bulk send first checks the domain's",
            "bounce and complaint rates). The last ratio sets that time apart: (import + first invocation less",
            "its calls' CPU) over the floor, the median of the runs' own, what the function builds above the floor",
            "(its libraries, models, settings, clients). The embedded AWS closes each connection once it has",
            "answered (werkzeug's server), so each call here also opens a TCP connection; in Lambda a client keeps",
            "its HTTPS connection and pays a TLS handshake on its first call to each endpoint instead. Each run",
            "sees what a deployed function sees: its folder, then the layer (the `common` package and exactly the",
            "packages `requirements.txt` installs, boto3 among them), no site-packages, and the template's",
            "environment with Lambda's variables (`TraceSdkCalls` at its default, `false`: no X-Ray SDK).",
            _interpreter(cold_starts),
            "",
            table(
                [
                    "function",
                    "import",
                    "first invocation",
                    "its AWS calls (CPU)",
                    "floor",
                    "its clients",
                    "÷ floor",
                    "runs' middle half",
                    "÷ floor, its calls apart",
                    "failed",
                ],
                first_rows,
            ),
            "",
            verdict,
            "",
            "```",
            printed_line(cold_starts),
            "```",
            "",
            "The import alone, against the floor's `import boto3` (the same runs), and what dominates it (one",
            "more run under `python -X importtime`, wall time: each package's modules' own import times, summed,",
            "in ms, and the three modules that cost most by themselves):",
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
            "(docs/adr/0033-cold-starts.md).",
            "",
        ]
    )


def _interpreter(cold_starts: ColdStarts) -> str:
    """Which Python the runs used: the functions' runtime, or this machine's."""
    if cold_starts.runtime:
        return (
            f"Python {cold_starts.python}, the functions' runtime ({cold_starts.runtime}), with the layer's"
            " packages installed for it as `layer/Makefile` installs them (this machine's platform, not arm64)."
        )
    return f"Python {cold_starts.python or platform.python_version()}, this machine's: Lambda's was not found here."


def _calls_cell(cold: ColdStart) -> str:
    """How many AWS calls the first invocation made, the CPU time spent in them, and which."""
    if not cold.calls:
        return "none"
    return f"{cold.calls} ({cold.calls_ms:,.0f} ms)" + (f": {_operations(cold)}" if cold.operations else "")


def _middle_half(quartiles: tuple[float, float] | None) -> str:
    return "—" if quartiles is None else f"{quartiles[0]:.2f}x to {quartiles[1]:.2f}x"


# ---------------------------------------------------------------- first events, from the running stack
_API_ANSWER = {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{}"}
COLD_DOMAIN = "acme.com"


class StackEvents:
    """Each run's first event, fresh, from the running local stack (``FirstEvents``): the
    queues' event sources are paused meanwhile, so a message a run is given waits for it."""

    def __init__(self, bench: BenchStack) -> None:
        self._bench = bench
        self._run_id = uuid.uuid4().hex[:6]
        self._token = bench.token([COLD_DOMAIN])
        self._queued: list[str] = []  # jobs the enqueue runs left queued, for the cancel runs
        self._manual: str | None = None  # a bulk email's job, for its unsubscribe link
        self._receipts: list[tuple[str, str]] = []  # messages handed to a run: deleted once it ran
        self._resumes = [bench.pause_poller(q) for q in ("PriorityQueue", "BulkQueue", "SesEventsQueue")]
        bench.hold_ses_events()  # the worker runs' sends: their delivery events are the events runs'
        self._count = 0
        self._events = 0  # delivery events let go onto SesEventsQueue and not yet handed to a run

    def close(self) -> None:
        bench = self._bench
        bench.release_ses_events()
        for queue in ("PriorityQueue", "BulkQueue", "SesEventsQueue"):
            bench.purge(queue)
        for resume in self._resumes:
            resume()

    def environment(self, function: str) -> dict[str, str]:
        """The function's template environment as this stack resolves it, and the embedded AWS's endpoint."""
        env = self._bench.stack.function_environment(function)
        env.update(local_aws_environment(self._bench.settings, self._bench.stack.region))
        return env

    def _unique(self) -> str:
        self._count += 1
        return f"cold-{self._run_id}-{self._count}"

    # ---------------------------------------------------- a message handed to a run
    def _receive(self, queue: str, *, timeout: float = 30) -> dict[str, Any]:
        bench = self._bench
        url = bench.queue_url(queue)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = bench.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=1,
                WaitTimeSeconds=1,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if messages:
                self._receipts.append((url, messages[0]["ReceiptHandle"]))
                return sqs_event(messages, queue_arn=bench.stack.arns[queue], region=bench.stack.region)
        raise BenchError(f"figure 2: no message reached {queue} within {timeout:.0f} s")

    def _bulk_of_one(self) -> str:
        answer = self._bench.post_bulk(self._token, bulk_request(COLD_DOMAIN, [f"{self._unique()}@example.net"]))
        job_id = str(answer["job_ids"][0])
        self._manual = self._manual or job_id
        return job_id

    def _captured(self, function: str, method: str, path: str, body: Any = None) -> Any:
        bench = self._bench
        with bench.capture(function, _API_ANSWER) as events:
            response = bench.http.request(
                method,
                f"{bench.settings.api_url}{path}",
                json=body,
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=60,
            )
        if not events:
            raise BenchError(f"figure 2: {method} {path} reached no {function} ({response.status_code})")
        return events[0]

    def _delivery_event(self) -> Any:
        """One delivery event on ``SesEventsQueue``: of a worker run's email, or, when none
        is left, of one sent by the stack's own worker."""
        bench = self._bench
        self._events += bench.release_ses_events()
        bench.hold_ses_events()
        if not self._events:
            self._bulk_of_one()
            bench.local.functions["SendWorkerFunction"].invoke(self._receive("BulkQueue"))
            self.done("SendWorkerFunction", -1, {})
            self._events += bench.release_ses_events()
            bench.hold_ses_events()
        self._events = max(self._events - 1, 0)
        return self._receive("SesEventsQueue")

    # ---------------------------------------------------- FirstEvents
    def event(self, function: str, run: int) -> Any:
        bench = self._bench
        if function == "EnqueueFunction":
            return {**system_email(0, domain=COLD_DOMAIN), "to": f"{self._unique()}@example.org"}
        if function == "SendWorkerFunction":
            self._bulk_of_one()
            return self._receive("BulkQueue")
        if function == "SesEventsFunction":
            return self._delivery_event()
        if function == "ListJobsFunction":
            return self._captured(function, "GET", f"/jobs?domain={COLD_DOMAIN}&limit=50")
        if function == "BulkQueueFunction":
            return self._captured(
                function, "POST", "/jobs/bulk", bulk_request(COLD_DOMAIN, [f"{self._unique()}@example.net"])
            )
        if function == "JobActionsFunction":
            job_id = self._queued.pop() if self._queued else bench.enqueue(system_email(1, domain=COLD_DOMAIN))[0]
            return self._captured(function, "POST", f"/jobs/{job_id}/cancel")
        if function == "SuppressionsFunction":
            return self._captured(function, "GET", f"/suppressions?domain={COLD_DOMAIN}")
        if function == "UnsubscribeFunction":
            return self._captured(function, "GET", self._unsubscribe_path())
        if function == "PageFunction":
            return self._captured(function, "GET", "/")
        for schedule in schedules(bench.stack):
            if schedule.function == function:
                return schedule.event_factory()
        raise BenchError(f"figure 2: no first event is known for {function}")

    def done(self, function: str, run: int, result: Mapping[str, Any]) -> None:
        if function == "EnqueueFunction":
            self._queued += [str(j) for j in result.get("job_ids") or []]
        for url, receipt in self._receipts:
            with contextlib.suppress(ClientError):
                self._bench.sqs.delete_message(QueueUrl=url, ReceiptHandle=receipt)
        self._receipts.clear()

    def _unsubscribe_path(self) -> str:
        job_id = self._manual or self._bulk_of_one()
        response = self._bench.http.get(
            f"{self._bench.settings.api_url}/jobs/{job_id}",
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=60,
        )
        url = str(response.json().get("unsubscribe_url") or "")
        if response.status_code != 200 or "/unsubscribe/" not in url:
            raise BenchError(f"figure 2: job {job_id} has no unsubscribe link ({response.status_code})")
        return "/unsubscribe/" + url.split("/unsubscribe/", 1)[1]
