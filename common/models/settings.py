"""Settings: one model per function, built from the environment ``template.yaml`` sets.

This module holds the shared parts and the settings of the functions that
send (enqueue, the worker, the sweeper, SES's events); the admin API's are in
``common.models.api_settings``, so that a sending function does not build them
at its cold start (docs/decisions.md, "Cold starts").

Each getter reads the environment once per execution environment; a missing
or malformed variable fails at start with a clear message, not mid-request.
Tests call ``reset_settings()`` after changing the environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.models.job import EmailAddress

PositiveSeconds = Annotated[int, Field(ge=0)]
# Below this, a worker's turn to send might not come within its invocation.
MIN_SEND_RATE_PER_WORKER = 0.1


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


class WorkerSettings(BodiesSettings, UnsubscribeKeySettings):
    # The HTTP API's base URL: one-click unsubscribe links point under it.
    api_base_url: str = Field(alias="API_BASE_URL", pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    priority_queue_url: str = Field(alias="PRIORITY_QUEUE_URL", min_length=1)
    bulk_queue_url: str = Field(alias="BULK_QUEUE_URL", min_length=1)
    priority_queue_arn: str = Field(alias="PRIORITY_QUEUE_ARN", min_length=1)
    bulk_queue_arn: str = Field(alias="BULK_QUEUE_ARN", min_length=1)
    priority_dlq_url: str = Field(alias="PRIORITY_DLQ_URL", min_length=1)
    bulk_dlq_url: str = Field(alias="BULK_DLQ_URL", min_length=1)
    sender_address: EmailAddress = Field(alias="SENDER_ADDRESS")
    configuration_set: str = Field(alias="CONFIGURATION_SET", min_length=1)
    max_attempts: int = Field(alias="MAX_ATTEMPTS", default=5, ge=1, le=20)
    backoff_base_seconds: int = Field(alias="BACKOFF_BASE_SECONDS", default=30, ge=0, le=900)
    lease_seconds: int = Field(alias="LEASE_SECONDS", default=60, ge=10)
    sweep_grace_seconds: PositiveSeconds = Field(alias="SWEEP_GRACE_SECONDS", default=900)
    # The queues' redrive maxReceiveCount (the worker keeps live jobs' messages below it).
    max_receive_count: int = Field(alias="MAX_RECEIVE_COUNT", default=10, ge=2)
    # The account's SES send rate, shared by every execution environment that may send at once.
    max_send_rate: float = Field(alias="MAX_SEND_RATE", default=14, gt=0)
    priority_maximum_concurrency: int = Field(alias="PRIORITY_MAXIMUM_CONCURRENCY", default=5, ge=1)
    bulk_maximum_concurrency: int = Field(alias="BULK_MAXIMUM_CONCURRENCY", default=2, ge=1)
    # The SesTenants option: each domain an SES tenant (common.adapters.tenants),
    # associated with the sender identity and the configuration set.
    ses_tenants: Literal["Yes", "No"] = Field(alias="SES_TENANTS", default="No")
    ses_identity_arn: str | None = Field(alias="SES_IDENTITY_ARN", default=None, min_length=1, repr=False)
    configuration_set_arn: str | None = Field(alias="CONFIGURATION_SET_ARN", default=None, min_length=1, repr=False)

    @model_validator(mode="after")
    def _consistent(self) -> WorkerSettings:
        if self.ses_tenants == "Yes" and not (self.ses_identity_arn and self.configuration_set_arn):
            raise ValueError("SES_TENANTS=Yes needs SES_IDENTITY_ARN and CONFIGURATION_SET_ARN")
        if self.max_receive_count <= self.max_attempts:
            raise ValueError(
                "MAX_RECEIVE_COUNT must be above MAX_ATTEMPTS, or retrying jobs reach the dead-letter queue"
            )
        if self.send_rate_per_worker < MIN_SEND_RATE_PER_WORKER:
            raise ValueError(
                "MAX_SEND_RATE shared by the queues' maximum concurrency leaves a worker less than one send "
                "in 10 s: lower PriorityMaximumConcurrency and BulkMaximumConcurrency"
            )
        return self

    @property
    def send_rate_per_worker(self) -> float:
        """One execution environment's share of the account's send rate."""
        return self.max_send_rate / (self.priority_maximum_concurrency + self.bulk_maximum_concurrency)


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
def get_worker_settings() -> WorkerSettings:
    return load(WorkerSettings)


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
