"""The admin HTTP API's edge: who calls, what it may send, what it gets back,
and the errors it answers with (docs/api.md).

Limits live in the types. The two limits the contract answers with 413
rather than 400 (a body, a recipient list over its limit) raise pydantic
errors of their own types, ``body_too_large`` and ``too_many_recipients``,
so the one error mapping in ``common.adapters.api`` can tell them apart without
reading any message text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from common.models.errors import EmailOpsError
from common.models.job import (
    JOB_ID_RE,
    MAX_BODIES_BYTES,
    MAX_BODY_CHARS,
    AttemptLogEntry,
    Bodies,
    Domain,
    EmailAddress,
    EventEntry,
    Job,
    JobStatus,
    JobType,
    Subject,
    Timestamp,
)
from common.models.paging import DEFAULT_PAGE_SIZE, MAX_CURSOR_CHARS, MAX_PAGE_SIZE

# ------------------------------------------------------------------ limits
MAX_RECIPIENTS = 1_000
# Selected rows: one recipient each, so the recipient limit bounds them too.
MAX_BULK_JOB_IDS = MAX_RECIPIENTS
MAX_JOB_ID_CHARS = 64
# 1,000 addresses of the longest kind (320 characters) with a separator each,
# rounded down: a longer list cannot be a list of 1,000 recipients worth sending.
MAX_EXTRA_RECIPIENTS_CHARS = 200_000
# A request body is one JSON object; this API's deepest is two levels (an object
# holding a list), so anything far deeper is refused before it is looked at.
MAX_BODY_DEPTH = 32

BODY_TOO_LARGE = "body_too_large"
TOO_MANY_RECIPIENTS = "too_many_recipients"


# ------------------------------------------------------------------ errors
class Unauthenticated(EmailOpsError):
    """No verified token reached the function (the authorizer normally stops these)."""

    code = "unauthorized"


class Forbidden(EmailOpsError):
    """The domain named is not among the caller's domains, or the token lists none."""

    code = "forbidden"


class MalformedBody(EmailOpsError):
    """A request body that is not one JSON object in UTF-8: refused whole, never guessed at."""

    code = "invalid_request"


class NoRecipients(EmailOpsError):
    """A bulk send left without one valid recipient."""

    code = "no_recipients"


class TooManyRecipients(EmailOpsError):
    """More recipients than one bulk send may have."""

    code = TOO_MANY_RECIPIENTS


class DomainPaused(EmailOpsError):
    """The domain's recent bounce or complaint rate passed the service's
    thresholds: its bulk sends are held (409); the message says the rate and
    how to resume (``common.logic.reputation``)."""

    code = "domain_paused"

    def __init__(self, message: str, *, reputation: Any = None) -> None:
        super().__init__(message)
        self.reputation = reputation


class BulkKeyReused(EmailOpsError):
    """A bulk send's ``Idempotency-Key`` already stands for a different request:
    the same refusal (409 ``idempotency_key_reused``) as Powertools' own check."""

    code = "idempotency_key_reused"


class UnfinishedBulkSend(EmailOpsError):
    """Storage failed part-way through a bulk send (500): says how many of its
    emails are queued and how to queue the rest. Never names a recipient."""

    code = "bulk_send_unfinished"

    def __init__(self, *, bulk_id: str | None, queued: int | None, total: int, keyed: bool) -> None:
        self.bulk_id = bulk_id
        self.queued = queued
        self.total = total
        which = f"bulk send {bulk_id}" if bulk_id else "this bulk send"
        if queued is None:
            done = f"Storage failed before it could be told how many of the {total} emails of {which} are queued."
        else:
            done = f"{queued} of the {total} emails of {which} are queued; storage failed before the rest."
        if keyed:
            then = (
                "To queue the rest, send the same request again with the same Idempotency-Key: "
                "no recipient is queued twice."
            )
        else:
            then = (
                f"Sending the same request again would queue all {total} again; "
                "with an Idempotency-Key, a retry queues only the rest."
            )
        super().__init__(f"{done} {then}")


# ------------------------------------------------------------------ caller
class Caller(BaseModel):
    """Who calls, from the verified JWT: its subject and the domains it may act on."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    subject: str
    domains: frozenset[str] = frozenset()
    every_domain: bool = False

    def may_see(self, domain: str) -> bool:
        return self.every_domain or domain in self.domains

    def require(self, domain: str) -> None:
        if not self.may_see(domain):
            raise Forbidden(f"{domain} is not among your domains")

    @property
    def identity(self) -> str:
        """What makes two requests "from the same caller" (idempotency keys are per caller)."""
        return self.subject or "domains:" + ("*" if self.every_domain else " ".join(sorted(self.domains)))


# ------------------------------------------------------------------ errors out
class ErrorDetail(BaseModel):
    model_config = ConfigDict(defer_build=True)

    code: str = Field(description="snake_case, stable: what went wrong")
    message: str = Field(description="for a person")


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer has this body."""

    model_config = ConfigDict(defer_build=True)

    error: ErrorDetail


# ------------------------------------------------------------------ GET /jobs
class JobSummary(BaseModel):
    """A row of the log (docs/api.md)."""

    model_config = ConfigDict(defer_build=True)

    job_id: str
    created_at: Timestamp
    domain: str
    type: JobType
    recipient: str
    subject: str
    status: JobStatus
    attempts: int
    sent_at: Timestamp | None = None
    error: str | None = None
    bulk_id: str | None = None


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

    @classmethod
    def from_job(cls, job: Job, bodies: Bodies, *, unsubscribe_url: str | None = None) -> JobDetail:
        return cls.model_validate(
            job.model_dump(exclude={"body"})
            | {"body_text": bodies.text, "body_html": bodies.html, "unsubscribe_url": unsubscribe_url}
            | {"events": sorted(job.events, key=lambda entry: entry.at)}
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
class BulkNotFound(EmailOpsError):
    """No such bulk send, or one of a domain the caller may not see (the same 404)."""

    code = "not_found"


class BulkProgress(BaseModel):
    model_config = ConfigDict(defer_build=True)

    bulk_id: str
    domain: str
    subject: str
    created_at: Timestamp
    total: int = Field(description="jobs the bulk send created")
    counts: dict[JobStatus, int] = Field(description="every status, 0 where none; the counts sum to total")


# ------------------------------------------------------------------ POST /jobs/bulk
def _body_fits(value: str) -> str:
    if len(value) > MAX_BODY_CHARS or len(value.encode()) > MAX_BODIES_BYTES:
        raise PydanticCustomError(
            BODY_TOO_LARGE,
            "must be at most {chars} characters and {size} bytes (UTF-8)",
            {"chars": MAX_BODY_CHARS, "size": MAX_BODIES_BYTES},
        )
    return value


def _few_job_ids(value: list[str] | None) -> list[str] | None:
    if value is not None and len(value) > MAX_BULK_JOB_IDS:
        raise PydanticCustomError(
            TOO_MANY_RECIPIENTS, "at most {limit} rows may be selected", {"limit": MAX_BULK_JOB_IDS}
        )
    return value


def _short_address_list(value: str | None) -> str | None:
    if value is not None and len(value) > MAX_EXTRA_RECIPIENTS_CHARS:
        raise PydanticCustomError(
            TOO_MANY_RECIPIENTS, "must be at most {limit} characters", {"limit": MAX_EXTRA_RECIPIENTS_CHARS}
        )
    return value


BulkBody = Annotated[str, StringConstraints(min_length=1), AfterValidator(_body_fits)]
SelectedJobIds = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_JOB_ID_CHARS)]] | None,
    AfterValidator(_few_job_ids),
]
ExtraRecipients = Annotated[str | None, AfterValidator(_short_address_list)]


class BulkSendRequest(BaseModel):
    model_config = ConfigDict(
        defer_build=True,
        extra="forbid",
        # In the OpenAPI document: schemathesis sends it, so one request of its run is queued.
        json_schema_extra={
            "examples": [
                {
                    "domain": "acme.com",
                    "extra_recipients": "a@example.org, b@example.net",
                    "subject": "Our opening hours over the holidays",
                    "body": "We are open every day from 9 to 17.",
                }
            ]
        },
    )

    domain: Domain = Field(description="one of your domains; every recipient is written to it")
    job_ids: SelectedJobIds = Field(default=None, description="selected rows: their recipients receive the email")
    extra_recipients: ExtraRecipients = Field(
        default=None, description="more addresses, separated by commas, semicolons, spaces or line breaks"
    )
    subject: Subject
    body: BulkBody = Field(description=f"plain text, 1-{MAX_BODY_CHARS} characters")


# What a 202 lists of the inputs it refused. The answer is kept for replays in
# one DynamoDB item (400 KB): 1,000 job ids and 100 entries of 100 characters
# each fit it even when every character takes 12 bytes of JSON
# (docs/decisions.md, "Bulk Send: what the 202 lists").
MAX_REJECTED_LISTED = 100
MAX_REJECTED_CHARS = 100
_CUT = "\N{HORIZONTAL ELLIPSIS}"


def _cut_text(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_REJECTED_CHARS:
        return value[: MAX_REJECTED_CHARS - len(_CUT)] + _CUT
    return value


def _first_listed(value: Any) -> Any:
    return value[:MAX_REJECTED_LISTED] if isinstance(value, list) else value


ListedText = Annotated[str, BeforeValidator(_cut_text), StringConstraints(max_length=MAX_REJECTED_CHARS)]


class RejectedInput(BaseModel):
    model_config = ConfigDict(defer_build=True)

    input: ListedText = Field(
        description=f"a selected job id or a typed-in address, as sent; one longer than "
        f"{MAX_REJECTED_CHARS} characters is cut to its first {MAX_REJECTED_CHARS - 1} and an ellipsis"
    )
    reason: ListedText = Field(description=f"why, cut like input to {MAX_REJECTED_CHARS} characters")


class BulkSendResponse(BaseModel):
    model_config = ConfigDict(defer_build=True)

    bulk_id: str
    queued: int = Field(description="jobs created and queued: one per recipient")
    job_ids: list[str]
    rejected: Annotated[list[RejectedInput], BeforeValidator(_first_listed), Field(max_length=MAX_REJECTED_LISTED)] = (
        Field(description=f"the first {MAX_REJECTED_LISTED} inputs refused, in the order sent")
    )
    rejected_total: int = Field(description="every input refused, listed in rejected or not")
    duplicates: int = Field(description="recipients dropped because they were already in the list")

    @model_validator(mode="before")
    @classmethod
    def _count_of_older_answers(cls, data: Any) -> Any:
        """Answers kept for replay before ``rejected_total`` existed listed every refusal."""
        if isinstance(data, dict) and "rejected_total" not in data and isinstance(data.get("rejected"), list):
            return data | {"rejected_total": len(data["rejected"])}
        return data


# ------------------------------------------------------------------ cancel and retry (v2)
class NotCancelable(EmailOpsError):
    """Only a job still ``queued`` or ``retrying`` can be canceled (409)."""

    code = "not_cancelable"


class NotRetryable(EmailOpsError):
    """Only a job ``failed``, ``bounced`` or ``canceled`` can be sent again (409)."""

    code = "not_retryable"


class RecipientSuppressed(EmailOpsError):
    """The job's recipient is on its domain's suppression list now (409): never named in the message."""

    code = "suppressed"


class BulkCancelUnfinished(EmailOpsError):
    """A bulk cancel that ran out of time part-way (503): says how many were
    canceled and that calling again cancels the rest (it is safe to repeat)."""

    code = "cancel_unfinished"

    def __init__(self, *, bulk_id: str, canceled: int) -> None:
        self.canceled = canceled
        super().__init__(
            f"{canceled} jobs of bulk send {bulk_id} were canceled before this request ran out of time; "
            "send the same request again to cancel the rest (jobs already canceled are not counted twice)"
        )


class CancelResult(BaseModel):
    """What a bulk cancel answers: ``{"canceled": n}`` once every job is done
    with; ``pending`` only while the rest is being finished in the background."""

    model_config = ConfigDict(defer_build=True)

    canceled: int = Field(description="jobs of the bulk send this request moved from queued or retrying to canceled")
    pending: int | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="present only when the request handed the rest on to finish in the background: how many "
        "jobs were still to cancel then (each still queued or retrying is canceled within seconds; "
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
