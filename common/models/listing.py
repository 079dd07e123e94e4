"""What the log's routes take and answer: ``GET /jobs`` (its query and page),
``GET /jobs/{job_id}`` (a job with its body) and ``GET /bulks/{bulk_id}`` (a
bulk send's progress). Only the log's function builds them
(docs/adr/0033-cold-starts.md).
"""

import re
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from common.models.api import JobSummary
from common.models.api_settings import ApiSettings
from common.models.job import (
    JOB_ID_RE,
    AttemptLogEntry,
    Bodies,
    Domain,
    EmailAddress,
    EventEntry,
    Job,
    JobStatus,
    JobType,
    Timestamp,
)
from common.models.paging import DEFAULT_PAGE_SIZE, MAX_CURSOR_CHARS, MAX_PAGE_SIZE
from common.models.settings import (
    BodiesSettings,
    CursorKeySettings,
    PauseSettings,
    UnsubscribeKeySettings,
    load,
    registered,
)

# ------------------------------------------------------------------ GET /jobs, GET /jobs/{job_id}
# What a job's detail says in place of a body that is no longer kept.
BODY_GONE = (
    "This email's body is no longer kept: bodies are deleted at the end of their job's retention "
    "(RetentionDays after it was created)."
)


class JobDetail(JobSummary):
    """A row expanded: the body, and every attempt."""

    body_text: str
    body_html: str | None = None
    reply_to: str | None = None
    message_id: str | None = None
    attempt_log: list[AttemptLogEntry]
    # One entry per distinct SES event, oldest first by ``at``.
    events: list[EventEntry] = Field(default_factory=list)
    unsubscribe_url: str | None = Field(
        default=None, description="manual jobs: the one-click unsubscribe URL sent in the email's headers; else null"
    )
    retry_of: str | None = Field(default=None, description="the job this one sends again, or null")
    outcome_unknown_until: Timestamp | None = Field(
        default=None,
        description=(
            "an attempt's outcome is unknown (SES may have accepted it: its answer was lost) until SES reports "
            "on it or until this time; Retry answers 409 not_retryable before it. Else null"
        ),
    )
    body_kept: bool = Field(
        default=True,
        description="false when the email's body is no longer kept (it expired with the end of the job's "
        "retention): body_text then says so and body_html is null",
    )

    @classmethod
    def from_job(cls, job: Job, bodies: Bodies, *, unsubscribe_url: str | None = None) -> "JobDetail":
        return cls.model_validate(
            job.model_dump(exclude={"body"})
            | {"body_text": bodies.text, "body_html": bodies.html, "unsubscribe_url": unsubscribe_url}
            | {"events": sorted(job.events, key=lambda entry: entry.at)}
            | {"outcome_unknown_until": job.outcome_unknown_until}
        )

    @classmethod
    def body_gone(cls, job: Job, *, unsubscribe_url: str | None = None) -> "JobDetail":
        """The detail of a job whose body is no longer kept: everything else as it is."""
        return cls.from_job(job, Bodies(text=BODY_GONE), unsubscribe_url=unsubscribe_url).model_copy(
            update={"body_kept": False}
        )


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _rfc3339(value: Any) -> Any:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with a time zone, such as 2026-12-01T09:30:00Z")
    return value


def _after_1970(value: datetime) -> datetime:
    if value < _EPOCH:
        raise ValueError("must not be before 1970-01-01T00:00:00Z")
    return value


# Kept to the microsecond (not Timestamp's millisecond): the range is exact.
CreatedBound = Annotated[AwareDatetime, BeforeValidator(_rfc3339), AfterValidator(_after_1970)]


class ListJobsQuery(BaseModel):
    model_config = ConfigDict(defer_build=True)

    domain: Domain | None = Field(default=None, description="one of your domains; without it, all of them merged")
    status: JobStatus | None = None
    type: JobType | None = None
    recipient: EmailAddress | None = Field(
        default=None, description="an address: exactly that recipient's jobs, compared case-insensitively"
    )
    bulk_id: str | None = Field(default=None, pattern=JOB_ID_RE.pattern, description="that bulk send's jobs")
    created_after: CreatedBound | None = Field(
        default=None, description="RFC 3339: jobs created at or after this moment"
    )
    created_before: CreatedBound | None = Field(default=None, description="RFC 3339: jobs created before this moment")
    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(
        default=None, min_length=1, max_length=MAX_CURSOR_CHARS, description="next_cursor of the previous page"
    )


class JobsPage(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[JobSummary]
    next_cursor: str | None = Field(description="null on the last page")


# ------------------------------------------------------------------ GET /bulks/{bulk_id}
class BulkProgress(BaseModel):
    model_config = ConfigDict(defer_build=True)

    bulk_id: str
    domain: str
    subject: str
    created_at: Timestamp
    total: int = Field(description="the jobs of the bulk send that exist")
    counts: dict[JobStatus, int] = Field(description="every status, 0 where none; the counts sum to total")
    created_by: str | None = Field(
        default=None, description="the JWT sub of the admin who sent it (null for a bulk send of version 2)"
    )
    send_at: Timestamp | None = Field(
        default=None, description="when its jobs are (or were) due (a scheduled bulk send); null: sent at once"
    )
    canceled: bool = Field(default=False, description="whether a bulk cancel was made")


# ------------------------------------------------------------------ GET /bulks
DEFAULT_BULKS_PAGE_SIZE = 20


class ListBulksQuery(BaseModel):
    model_config = ConfigDict(defer_build=True)

    domain: Domain = Field(description="one of your domains")
    limit: int = Field(default=DEFAULT_BULKS_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(
        default=None, min_length=1, max_length=MAX_CURSOR_CHARS, description="next_cursor of the previous page"
    )


class BulksPage(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[BulkProgress]
    next_cursor: str | None = Field(description="null on the last page")


# ------------------------------------------------------------------ settings
class ListJobsSettings(ApiSettings, BodiesSettings, UnsubscribeKeySettings, CursorKeySettings, PauseSettings):
    # The base of a job's unsubscribe_url. Unset in AWS (the function is one of
    # the HTTP API's own integrations, so it cannot reference its URL): the
    # URL the request came in on is used (common.logic.suppression_links).
    api_base_url: str | None = Field(alias="API_BASE_URL", default=None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")


@registered
@cache
def get_list_jobs_settings() -> ListJobsSettings:
    return load(ListJobsSettings)
