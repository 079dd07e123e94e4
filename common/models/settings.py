"""Settings: one model per function, built from the environment ``template.yaml`` sets.

This module holds the shared parts. Each function's own settings are built
only by that function (docs/adr/0033-cold-starts.md): enqueue's, the
sweeper's and SES events' in ``common.models.pipeline_settings``, the worker's in
``common.models.worker_settings``, the admin API's with each API function's
own models (``common.models.api_settings`` says where).

Each getter reads the environment once per execution environment; a missing
or malformed variable fails at start with a clear message, not mid-request.
Tests call ``reset_settings()`` after changing the environment.
"""

import os
from collections.abc import Callable
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


class PauseSettings(FunctionSettings):
    # A domain's bulk sends are paused past these rates over its recent sends
    # (common.logic.reputation): POST /jobs/bulk and GET /domains/{domain}/health
    # read the same parameters. Percentages, as the template's parameters.
    pause_bounce_rate: float = Field(alias="PAUSE_BOUNCE_RATE", default=5.0, gt=0, le=100)
    pause_complaint_rate: float = Field(alias="PAUSE_COMPLAINT_RATE", default=0.1, gt=0, le=100)
    pause_minimum_sends: int = Field(alias="PAUSE_MINIMUM_SENDS", default=100, ge=1)
    # Domains never paused (the operator's override), comma-separated.
    pause_exempt_domains: str = Field(alias="PAUSE_EXEMPT_DOMAINS", default="")

    @property
    def exempt_domains(self) -> frozenset[str]:
        return frozenset(d.strip().lower() for d in self.pause_exempt_domains.split(",") if d.strip())


class CursorKeySettings(FunctionSettings):
    # The Secrets Manager secret (ARN or name) whose value signs the page
    # cursors of GET /jobs and GET /suppressions (HMAC-SHA256). The value itself
    # is read at run time (common.adapters.secrets), never passed in the environment.
    cursor_secret_id: str = Field(alias="CURSOR_SECRET_ID", min_length=1, repr=False)
    # How long a secret read is kept before it is read again (picks up rotation).
    secrets_max_age_seconds: int = Field(alias="SECRETS_MAX_AGE_SECONDS", default=300, ge=0, le=3600)


class UnsubscribeKeySettings(FunctionSettings):
    # The Secrets Manager secret (ARN or name) whose value signs one-click
    # unsubscribe tokens (HMAC-SHA256), read at run time like the cursor key.
    unsubscribe_secret_id: str = Field(alias="UNSUBSCRIBE_SECRET_ID", min_length=1, repr=False)
    # How long a secret read is kept before it is read again (picks up rotation).
    secrets_max_age_seconds: int = Field(alias="SECRETS_MAX_AGE_SECONDS", default=300, ge=0, le=3600)


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


def reset_settings() -> None:
    """Forget every cached settings object (tests change the environment)."""
    for getter in _GETTERS:
        getter.cache_clear()
