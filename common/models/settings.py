"""Settings: one model per function, built from the environment ``template.yaml`` sets.

This module holds the shared parts and the settings of enqueue, the sweeper
and SES's events; the worker's, the largest, are in
``common.models.worker_settings`` and the admin API's in
``common.models.api_settings``, so that no function builds another's at its
cold start (docs/decisions.md, "Cold starts").

Each getter reads the environment once per execution environment; a missing
or malformed variable fails at start with a clear message, not mid-request.
Tests call ``reset_settings()`` after changing the environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

PositiveSeconds = Annotated[int, Field(ge=0)]


class FunctionSettings(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="ignore", populate_by_name=True)


class JobsSettings(FunctionSettings):
    jobs_table: str = Field(alias="JOBS_TABLE", min_length=1)
    retention_days: int = Field(alias="RETENTION_DAYS", default=90, ge=1)


class BodiesSettings(JobsSettings):
    # The bucket of large bodies (common.adapters.bodies): what enqueue, bulk sends, the worker and the log use.
    bodies_bucket: str = Field(alias="BODIES_BUCKET", min_length=1)


class QueueingSettings(JobsSettings):
    priority_queue_url: str = Field(alias="PRIORITY_QUEUE_URL", min_length=1)
    bulk_queue_url: str = Field(alias="BULK_QUEUE_URL", min_length=1)
    # How long a queued job may wait before the sweeper queues it again.
    sweep_grace_seconds: PositiveSeconds = Field(alias="SWEEP_GRACE_SECONDS", default=900)


class EnqueueSettings(QueueingSettings, BodiesSettings):
    pass


class SweeperSettings(QueueingSettings):
    # Jobs re-queued per run at most; the rest wait for the next run.
    sweep_batch_limit: int = Field(alias="SWEEP_BATCH_LIMIT", default=1000, ge=1)


class UnsubscribeKeySettings(FunctionSettings):
    # The Secrets Manager secret (ARN or name) whose value signs one-click
    # unsubscribe tokens (HMAC-SHA256), read at run time like the cursor key.
    unsubscribe_secret_id: str = Field(alias="UNSUBSCRIBE_SECRET_ID", min_length=1, repr=False)
    # How long a secret read is kept before it is read again (picks up rotation).
    secrets_max_age_seconds: int = Field(alias="SECRETS_MAX_AGE_SECONDS", default=300, ge=0, le=3600)


class SesEventsSettings(JobsSettings):
    """SesEventsFunction: SES's events applied to the jobs table (and its suppression entries)."""


S = TypeVar("S", bound=FunctionSettings)
G = TypeVar("G", bound=Callable[[], FunctionSettings])
# Every getter's cache, so reset_settings() forgets them all (common.models.api_settings adds its own).
_GETTERS: list[Any] = []


def load(model: type[S]) -> S:
    return model.model_validate(dict(os.environ))


def registered(getter: G) -> G:
    """A cached settings getter, forgotten by ``reset_settings()``."""
    _GETTERS.append(getter)
    return getter


@registered
@cache
def get_enqueue_settings() -> EnqueueSettings:
    return load(EnqueueSettings)


@registered
@cache
def get_sweeper_settings() -> SweeperSettings:
    return load(SweeperSettings)


@registered
@cache
def get_ses_events_settings() -> SesEventsSettings:
    return load(SesEventsSettings)


def reset_settings() -> None:
    """Forget every cached settings object (tests change the environment)."""
    for getter in _GETTERS:
        getter.cache_clear()
