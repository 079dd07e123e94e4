"""The send worker's settings (``SendWorkerFunction``), apart from the others':
no other function builds them at its cold start (docs/adr/0033-cold-starts.md)."""

from functools import cache
from typing import Literal

from pydantic import Field, model_validator

from common.models.job import EmailAddress
from common.models.settings import (
    BodiesSettings,
    PositiveSeconds,
    StatusEventsSettings,
    UnsubscribeKeySettings,
    load,
    registered,
)


class WorkerSettings(BodiesSettings, UnsubscribeKeySettings, StatusEventsSettings):
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
    # How many execution environments may send at once: each starts at the
    # account's SES rate (read from SES) divided by their sum (common.logic.pacing).
    priority_maximum_concurrency: int = Field(alias="PRIORITY_MAXIMUM_CONCURRENCY", default=5, ge=1)
    bulk_maximum_concurrency: int = Field(alias="BULK_MAXIMUM_CONCURRENCY", default=2, ge=1)
    # The SesTenants option: each domain an SES tenant (common.adapters.tenants),
    # associated with the sender identity and the configuration set.
    ses_tenants: Literal["Yes", "No"] = Field(alias="SES_TENANTS", default="No")
    ses_identity_arn: str | None = Field(alias="SES_IDENTITY_ARN", default=None, min_length=1, repr=False)
    configuration_set_arn: str | None = Field(alias="CONFIGURATION_SET_ARN", default=None, min_length=1, repr=False)

    @model_validator(mode="after")
    def _consistent(self) -> "WorkerSettings":
        if self.ses_tenants == "Yes" and not (self.ses_identity_arn and self.configuration_set_arn):
            raise ValueError("SES_TENANTS=Yes needs SES_IDENTITY_ARN and CONFIGURATION_SET_ARN")
        if self.max_receive_count <= self.max_attempts:
            raise ValueError(
                "MAX_RECEIVE_COUNT must be above MAX_ATTEMPTS, or retrying jobs reach the dead-letter queue"
            )
        return self


@registered
@cache
def get_worker_settings() -> WorkerSettings:
    return load(WorkerSettings)
