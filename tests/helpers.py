"""Helpers shared by tests."""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from common.adapters import aws
from common.adapters.bodies import BodyStore
from common.models.job import Bodies, Job
from local import iam, openapi, roles
from local.jobs_table import JobsTable
from local.template import Stack, load_template

ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------- permissions
# Every handler a test runs makes its AWS calls with exactly its role's
# permissions (local/iam.py, docs/local-stack.md "Permissions"): the check is
# on the functions' botocore session in every test process, each handler runs
# as its function (load_function), and the stack fixtures load the roles of
# template.yaml for their stack (enforced). Each call checked is recorded here;
# `make deploy-check` reports them.
PERMISSIONS_LOG_VARIABLE = "EMAILOPS_PERMISSIONS_LOG"
PERMISSIONS_LOG = Path(os.environ.setdefault(PERMISSIONS_LOG_VARIABLE, str(ROOT / "test-output" / "permissions")))
RECORDER = iam.Recorder(
    PERMISSIONS_LOG / f"pytest-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}.jsonl",
    roles.template_digest(),
)
aws.add_session_hook(iam.ENFORCER.install)


@contextlib.contextmanager
def enforced(
    stack: Stack, template: Mapping[str, Any] | None = None, recorder: iam.Recorder | None = None
) -> Iterator[iam.Permissions]:
    """The functions' calls checked against their roles for ``stack``: those of
    template.yaml (recorded for the permissions report), or of ``template``, a
    changed copy (recorded only in ``recorder``: its denials are a test's own)."""
    if template is None:
        recorder = RECORDER
    permissions = roles.permissions(stack, template=template, recorder=recorder)
    previous = iam.ENFORCER.activate(permissions)
    try:
        yield permissions
    finally:
        iam.ENFORCER.activate(previous)


# A copy of template.yaml with one permission taken away or changed.
def without(function: str, action: str, resource: str | None = None) -> dict[str, Any]:
    """A copy of template.yaml whose ``function`` is no longer allowed
    ``action`` (only on the resources whose definition names ``resource``,
    when given); every other permission stays."""
    template = copy.deepcopy(load_template())
    removed = 0
    for policy in template["Resources"][function]["Properties"]["Policies"]:
        kept = []
        for statement in policy["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if action not in actions:
                kept.append(statement)
                continue
            others = [a for a in actions if a != action]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            named = [r for r in resources if resource is None or resource in json.dumps(r)]
            if not named:
                kept.append(statement)
                continue
            removed += 1
            rest = [r for r in resources if r not in named]
            if rest:  # the action stays on the other resources
                kept.append({**statement, "Resource": rest})
            if others:  # and the statement's other actions on these
                kept.append({**statement, "Action": others, "Resource": named})
        policy["Statement"] = kept
    assert removed, f"{function} has no {action} on {resource} to take away"
    return template


def with_condition(function: str, action: str, operator: str, key: str, values: list[str]) -> dict[str, Any]:
    """A copy whose statement allowing ``function`` ``action`` has another condition value."""
    template = copy.deepcopy(load_template())
    changed = 0
    for policy in template["Resources"][function]["Properties"]["Policies"]:
        for statement in policy["Statement"]:
            if action in statement["Action"] and key in statement.get("Condition", {}).get(operator, {}):
                statement["Condition"][operator][key] = values
                changed += 1
    assert changed
    return template


@functools.cache
def function_of(folder: str) -> str:
    """The template's function whose code is ``functions/<folder>/`` (its CodeUri)."""
    for logical, resource in load_template()["Resources"].items():
        code = (resource.get("Properties") or {}).get("CodeUri")
        if resource["Type"] == "AWS::Serverless::Function" and str(code).strip("/") == f"functions/{folder}":
            return logical
    raise LookupError(f"no function of template.yaml has its code in functions/{folder}/")


def runs_as(function: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler``, each call made as ``function`` (its AWS calls checked against its role)."""

    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> Any:
        with iam.running_as(function):
            return handler(*args, **kwargs)

    run.runs_as = function  # type: ignore[attr-defined]
    return run


def load_function(name: str) -> ModuleType:
    """``functions/<name>/app.py`` as a module of its own, whose ``handler``
    runs as the template's function for that folder.

    Every function's module is named ``app`` (as Lambda imports it), so each is
    loaded by file path under a distinct name; loaded once, then reused. A
    module another loader put there first (``local.openapi.load_app`` reads
    the API functions' routes under the same name) gets its handler wrapped
    here too: no test runs a handler unchecked, whatever ran before it.
    """
    module = openapi.load_module(name)
    if getattr(module.handler, "runs_as", None) is None:
        module.handler = runs_as(function_of(name), module.handler)
    return module


def put_with_bodies(
    table: JobsTable, store: BodyStore, jobs: Sequence[Job], bodies: Mapping[str, Bodies], *, due_at: int
) -> None:
    """Write jobs as the outbox does: each body item (``bodies``: by body id) with its jobs."""
    items = {}
    for job in jobs:
        if job.body not in items:
            items[job.body] = store.item(
                job.body, job.domain, bodies[job.body], expires_at=table.expires_at(job.created_at)
            )
    table.put_new(list(jobs), due_at=due_at, bodies=list(items.values()))


class Clock:
    """A seconds clock (``time.monotonic``'s kind) that moves only when a test sets ``now``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record_secret_reads() -> list[str]:
    """The SecretId of every GetSecretValue the functions' client makes from now on."""
    reads: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        reads.append(params["SecretId"])

    aws.secretsmanager().meta.events.register("before-parameter-build.secrets-manager.GetSecretValue", record)
    return reads
