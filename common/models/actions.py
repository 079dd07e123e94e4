"""What cancel and retry answer, and the bulk cancel handed on to the actions
queue. Only the cancel/retry function builds them (docs/adr/0033-cold-starts.md).
"""

from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from common.models.api_settings import ApiSettings
from common.models.job import JOB_ID_RE, Domain
from common.models.settings import BodiesSettings, QueueingSettings, load, registered


class CancelResult(BaseModel):
    """What a bulk cancel answers: ``{"canceled": n}`` once every job is done
    with; ``pending`` only while the rest is being finished in the background."""

    model_config = ConfigDict(defer_build=True)

    canceled: int = Field(
        description="jobs of the bulk send this request moved from scheduled, queued or retrying to canceled"
    )
    pending: int | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="present only when the request handed the rest on to finish in the background: how many "
        "jobs were still to cancel then (each still scheduled, queued or retrying is canceled within seconds; "
        "GET /bulks/{bulk_id} shows them move to canceled)",
    )


class BulkCancelMessage(BaseModel):
    """A bulk cancel handed on to finish in the background (the actions queue)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    bulk_id: str = Field(pattern=JOB_ID_RE.pattern)
    domain: Domain


class RetryResult(BaseModel):
    model_config = ConfigDict(defer_build=True)

    job_id: str = Field(description="the new job, queued; its retry_of is the job retried")


# ------------------------------------------------------------------ settings
class JobActionsSettings(QueueingSettings, ApiSettings, BodiesSettings):
    """Cancel and retry: the jobs table, both job queues (a retry goes on its
    type's), the actions queue (a bulk cancel's rest, finished in the
    background), and the bodies bucket (a retry copies a large body's object)."""

    actions_queue_url: str = Field(alias="ACTIONS_QUEUE_URL", min_length=1)


@registered
@cache
def get_job_actions_settings() -> JobActionsSettings:
    return load(JobActionsSettings)
