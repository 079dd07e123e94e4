"""Helpers shared by tests."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from common.adapters import aws
from common.adapters.bodies import BodyStore
from common.models.job import Bodies, Job
from local.jobs_table import JobsTable

ROOT = Path(__file__).resolve().parent.parent


def load_function(name: str) -> ModuleType:
    """``functions/<name>/app.py`` as a module of its own.

    Every function's module is named ``app`` (as Lambda imports it), so each is
    loaded by file path under a distinct name; loaded once, then reused.
    """
    module_name = f"functions_{name}_app"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / "app.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no handler at functions/{name}/app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
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
