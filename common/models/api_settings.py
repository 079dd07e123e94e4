"""Settings of the admin API's functions (the log, bulk sends, suppressions,
one-click unsubscribe, cancel and retry), on the shared parts of
``common.models.settings``."""

from __future__ import annotations

from functools import cache

from pydantic import Field

from common.models.settings import (
    BodiesSettings,
    FunctionSettings,
    JobsSettings,
    QueueingSettings,
    UnsubscribeKeySettings,
    load,
    registered,
)


class CorsSettings(FunctionSettings):
    # The admin dashboard's origin; without it, the API sends no CORS headers.
    cors_allow_origin: str | None = Field(alias="CORS_ALLOW_ORIGIN", default=None, min_length=1)


class ApiSettings(JobsSettings):
    # The JWT claim listing the caller's domains.
    domains_claim: str = Field(alias="DOMAINS_CLAIM", default="domains", min_length=1)


class ListJobsSettings(ApiSettings, BodiesSettings, UnsubscribeKeySettings):
    # The base of a job's unsubscribe_url. Unset in AWS (the function is one of
    # the HTTP API's own integrations, so it cannot reference its URL): the
    # URL the request came in on is used (common.logic.suppression_links).
    api_base_url: str | None = Field(alias="API_BASE_URL", default=None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")

    # The Secrets Manager secret (ARN or name) whose value signs the page
    # cursors of GET /jobs (HMAC-SHA256). The value itself is read at run time
    # (common.adapters.secrets), never passed in the environment.
    cursor_secret_id: str = Field(alias="CURSOR_SECRET_ID", min_length=1, repr=False)
    # How long a secret read is kept before it is read again (picks up rotation).
    secrets_max_age_seconds: int = Field(alias="SECRETS_MAX_AGE_SECONDS", default=300, ge=0, le=3600)


class BulkQueueSettings(QueueingSettings, ApiSettings, BodiesSettings):
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=1)
    # A domain's bulk sends are paused past these rates over its recent sends
    # (common.logic.reputation); percentages, as the template's parameters.
    pause_bounce_rate: float = Field(alias="PAUSE_BOUNCE_RATE", default=5.0, gt=0, le=100)
    pause_complaint_rate: float = Field(alias="PAUSE_COMPLAINT_RATE", default=0.1, gt=0, le=100)
    pause_minimum_sends: int = Field(alias="PAUSE_MINIMUM_SENDS", default=100, ge=1)
    # Domains never paused (the operator's override), comma-separated.
    pause_exempt_domains: str = Field(alias="PAUSE_EXEMPT_DOMAINS", default="")

    @property
    def exempt_domains(self) -> frozenset[str]:
        return frozenset(d.strip().lower() for d in self.pause_exempt_domains.split(",") if d.strip())


class SuppressionsSettings(ApiSettings):
    # GET /suppressions' page cursors are signed with the cursor key of GET /jobs.
    cursor_secret_id: str = Field(alias="CURSOR_SECRET_ID", min_length=1, repr=False)
    secrets_max_age_seconds: int = Field(alias="SECRETS_MAX_AGE_SECONDS", default=300, ge=0, le=3600)


class UnsubscribeSettings(JobsSettings, UnsubscribeKeySettings):
    pass


class JobActionsSettings(QueueingSettings, ApiSettings):
    """Cancel and retry: the jobs table, both job queues (a retry goes on its
    type's), and the actions queue (a bulk cancel's rest, finished in the background)."""

    actions_queue_url: str = Field(alias="ACTIONS_QUEUE_URL", min_length=1)


@registered
@cache
def get_cors_settings() -> CorsSettings:
    return load(CorsSettings)


@registered
@cache
def get_list_jobs_settings() -> ListJobsSettings:
    return load(ListJobsSettings)


@registered
@cache
def get_bulk_queue_settings() -> BulkQueueSettings:
    return load(BulkQueueSettings)


@registered
@cache
def get_suppressions_settings() -> SuppressionsSettings:
    return load(SuppressionsSettings)


@registered
@cache
def get_unsubscribe_settings() -> UnsubscribeSettings:
    return load(UnsubscribeSettings)


@registered
@cache
def get_job_actions_settings() -> JobActionsSettings:
    return load(JobActionsSettings)
