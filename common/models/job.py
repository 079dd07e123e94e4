"""Models are the contract: fields, limits and formats of docs/api.md in one place.

This module holds the limits, the value types and the domain model ``Job``
(what is stored, re-validated when read back); request models (what callers
send: ``common.models.requests``) and response models (what callers get:
``common.models.api``) are separate and converted explicitly. Every function
imports this module, so it defines only what the sending path needs too
(docs/adr/0033-cold-starts.md).
"""

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    StringConstraints,
)
from pydantic_core import core_schema

from common.models.clock import to_rfc3339, utc_now

# ------------------------------------------------------------------ limits
MAX_SUBJECT_CHARS = 200
MAX_BODY_CHARS = 100_000
# Both bodies of one email together, in UTF-8 (unchanged since version 1, when
# they shared the job's item; they are now stored apart: common.adapters.bodies).
MAX_BODIES_BYTES = 300_000
MAX_IDEMPOTENCY_KEY_CHARS = 128
MAX_JOBS_PER_ENQUEUE = 100
BODIES_TOO_LARGE = "bodies_too_large"  # validation error type of the MAX_BODIES_BYTES check
BODY_MISSING = "body_missing"  # validation error type: neither body_text nor body_html
# An HTML-only request leaves this much of MAX_BODIES_BYTES for the plain-text
# alternative made from its HTML (common.logic.plaintext), so there is always room for one.
DERIVED_TEXT_RESERVE_BYTES = 1_000
# Why an address SES cannot send to is refused (common.logic.recipients uses it too).
NON_ASCII_LOCAL_PART = (
    "the part before the @-sign must be ASCII: SES cannot send to internationalised "
    "mailbox names (an internationalised domain is fine)"
)


class JobType(StrEnum):
    AI_FOLLOWUP = "ai_followup"
    VISITOR_CAPTURE = "visitor_capture"
    ESCALATION = "escalation"
    INVITATION = "invitation"
    MANUAL = "manual"


class JobStatus(StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    RETRYING = "retrying"
    SENT = "sent"
    DELAYED = "delayed"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    CANCELED = "canceled"

    # The sets of docs/storage.md, section 4.
    @property
    def in_flight(self) -> bool:
        """Held by the ``InFlight`` index (those listings) and by ``Due`` (the
        sweeper's): not yet settled by a send's outcome or SES's first word."""
        return self in _IN_FLIGHT

    @property
    def sweepable(self) -> bool:
        """What the sweeper may queue again."""
        return self in _SWEEPABLE

    @property
    def past_sending(self) -> bool:
        """Never sent again: the claim refuses it."""
        return self in _PAST_SENDING

    @property
    def exceptional(self) -> bool:
        """Held by the sparse exact status indexes (a happy job never is)."""
        return self in _EXCEPTIONAL

    @property
    def is_final(self) -> bool:
        """Final in the contract's sense: nothing happens to the job any more."""
        return self in _FINAL


# delayed is not: it is in the exact indexes already, and SES decides what follows.
_IN_FLIGHT = frozenset({JobStatus.QUEUED, JobStatus.SENDING, JobStatus.RETRYING, JobStatus.SENT})
_SWEEPABLE = frozenset({JobStatus.QUEUED, JobStatus.SENDING, JobStatus.RETRYING})
_PAST_SENDING = frozenset(JobStatus) - _SWEEPABLE
# scheduled is: a sparse set, listed exactly (it waits for its send_at, docs/adr/0100).
_EXCEPTIONAL = frozenset(
    {
        JobStatus.SCHEDULED,
        JobStatus.RETRYING,
        JobStatus.DELAYED,
        JobStatus.BOUNCED,
        JobStatus.COMPLAINED,
        JobStatus.FAILED,
        JobStatus.SUPPRESSED,
        JobStatus.CANCELED,
    }
)
_FINAL = frozenset(
    {JobStatus.BOUNCED, JobStatus.COMPLAINED, JobStatus.FAILED, JobStatus.SUPPRESSED, JobStatus.CANCELED}
)


class AttemptOutcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"


class QueueName(StrEnum):
    PRIORITY = "priority"
    BULK = "bulk"


def queue_for(job_type: JobType, *, test: bool = False) -> QueueName:
    """Admin bulk sends wait on their own queue so they never delay the others;
    a test send (``POST /jobs/test``, a ``manual`` job of no bulk send) is
    wanted at once, on the priority queue, wherever it is queued."""
    return QueueName.BULK if job_type is JobType.MANUAL and not test else QueueName.PRIORITY


# ------------------------------------------------------------ scheduled sends
MAX_SCHEDULE_DAYS = 30  # how far ahead send_at may be
SCHEDULE_AT_ONCE_SECONDS = 1  # a send_at no further ahead than this sends at once
INVALID_SEND_AT = "invalid_send_at"  # validation error type of a send_at refused


def parse_send_at(value: Any) -> datetime:
    """``send_at`` as a caller writes it: RFC 3339 text with ``Z`` or an offset,
    at most ``MAX_SCHEDULE_DAYS`` ahead (a time past is fine: it sends at once).
    Raises ``PydanticCustomError`` of type ``invalid_send_at``."""
    from pydantic_core import PydanticCustomError  # noqa: PLC0415

    moment: datetime | None = None
    if isinstance(value, str) and _RFC3339_RE.match(value):
        try:
            moment = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            moment = None
    if moment is None or moment.tzinfo is None:
        raise PydanticCustomError(
            INVALID_SEND_AT, "must be a time in RFC 3339 with Z or an offset, such as 2026-12-24T09:00:00Z"
        )
    if moment - utc_now() > timedelta(days=MAX_SCHEDULE_DAYS):
        raise PydanticCustomError(INVALID_SEND_AT, "must be at most {days} days ahead", {"days": MAX_SCHEDULE_DAYS})
    return _to_utc_millis(moment)


def scheduled_for(send_at: datetime | None, now: datetime) -> datetime | None:
    """A ``send_at`` that makes a job wait (``scheduled``): more than
    ``SCHEDULE_AT_ONCE_SECONDS`` ahead; a time past or nearer sends at once (None)."""
    if send_at is None or send_at - now <= timedelta(seconds=SCHEDULE_AT_ONCE_SECONDS):
        return None
    return send_at


SendAt = Annotated[
    datetime,
    BeforeValidator(parse_send_at),
    Field(
        description=f"RFC 3339 with Z or an offset: when to send, at most {MAX_SCHEDULE_DAYS} days ahead; "
        "a time past (or within a second) sends at once",
        json_schema_extra={"type": "string", "format": "date-time"},
    ),
]

_RFC3339_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


# ------------------------------------------------------------ value types
def normalize_address(raw: str) -> str:
    """One address SES can send to, checked for syntax (no DNS look-up); returns
    its normal form.

    SES needs an ASCII local part; the domain may be internationalised (it is
    kept in Unicode here and sent in its ASCII, Punycode, form). Raises
    ``ValueError`` with a reason a person can read.
    """
    # Imported on first use: functions that never check an address (the log,
    # the sweeper) do not pay for it at cold start (docs/benchmarks.md).
    from email_validator import EmailNotValidError, validate_email  # noqa: PLC0415

    try:
        checked = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    if checked.smtputf8:  # only a non-ASCII local part needs SMTPUTF8
        raise ValueError(NON_ASCII_LOCAL_PART)
    return checked.normalized


_HOST_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST_RE = re.compile(rf"^{_HOST_LABEL}(\.{_HOST_LABEL})+$")


def _check_domain(value: str) -> str:
    if len(value) > 253 or not _HOST_RE.match(value):
        raise ValueError("must be a host name such as acme.com")
    return value


def _lower_strip(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _no_line_breaks(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must not contain line breaks")
    return value


Domain = Annotated[
    str,
    BeforeValidator(_lower_strip),
    AfterValidator(_check_domain),
    # For the OpenAPI document: what _check_domain accepts (any case; labels of 1-63).
    Field(
        json_schema_extra={
            "pattern": r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
            r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$",
            "maxLength": 253,
        }
    ),
]
EmailAddress = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=320), AfterValidator(normalize_address)
]
Subject = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SUBJECT_CHARS), AfterValidator(_no_line_breaks)]
BodyText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY_CHARS)]
BodyHtml = Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY_CHARS)]
IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_IDEMPOTENCY_KEY_CHARS, pattern=r"^[\x21-\x7e]+$")
]


def _to_utc_millis(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a time zone")
    return value.astimezone(UTC).replace(microsecond=value.microsecond // 1000 * 1000)


class _AsRfc3339:
    """Serialized as RFC 3339 text (``to_rfc3339``), in Python and JSON alike.

    What ``PlainSerializer(to_rfc3339, return_type=str)`` does, through
    pydantic's own hook for an ``Annotated`` marker: pydantic's serializers
    module costs about 1 ms at every cold start, for this one use
    (docs/adr/0033-cold-starts.md).
    """

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        schema = dict(handler(source))
        schema["serialization"] = core_schema.plain_serializer_function_ser_schema(
            to_rfc3339, return_schema=core_schema.str_schema()
        )
        return cast("core_schema.CoreSchema", schema)


# UTC, to the millisecond: what is written is what is read back.
Timestamp = Annotated[datetime, AfterValidator(_to_utc_millis), _AsRfc3339()]


def new_job_id(now: datetime | None = None) -> tuple[str, datetime]:
    """A ULID and the creation time it encodes (to the millisecond), so that
    ordering by ``job_id`` is ordering by ``created_at``, ties by ``job_id``."""
    # Imported here: the functions that make no job (the worker, the sweeper, the log) never load it.
    from ulid import ULID  # noqa: PLC0415

    ulid = ULID.from_datetime(now or utc_now())
    return str(ulid), ulid.datetime


JOB_ID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def bodies_size(body_text: str, body_html: str | None) -> int:
    return len(body_text.encode()) + (len(body_html.encode()) if body_html else 0)


# ------------------------------------------------------------ the job
def _integer_when_present(schema: dict[str, Any]) -> None:
    """``repeated`` in the API document: an integer when present, never null (absent instead)."""
    schema.pop("anyOf", None)
    schema.pop("default", None)
    schema.update(type="integer", minimum=1)


class AttemptLogEntry(BaseModel):
    """One line of a job's attempt log: an attempt, or a run of consecutive
    waits for SES (throttled, over quota, paused), which are not attempts and
    are kept as one line: ``repeated`` counts them, ``at`` and ``error`` are
    the last one's."""

    # Waits (docs/adr/0008-back-pressure-and-pacing.md) are written by
    # common.adapters.job_claims.JobClaims.record_wait; ``repeated`` is absent
    # from every other entry, in the table and in the API alike.
    model_config = ConfigDict(defer_build=True)

    at: Timestamp
    outcome: AttemptOutcome
    error: str | None = None
    repeated: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="on a line that stands for consecutive waits for SES: how many; absent on the others",
        json_schema_extra=_integer_when_present,
    )

    @property
    def is_wait(self) -> bool:
        return self.repeated is not None


class EventType(StrEnum):
    """What SES reported about an email it accepted (contract, section 2)."""

    DELIVERED = "delivered"
    DELAYED = "delayed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    REJECTED = "rejected"


MAX_EVENT_DETAIL_CHARS = 300  # keeps a job with its events under 1 KB on the common paths
# SES's events that say what became of an email it accepted (a delay does not:
# SES is still trying).
SETTLING_EVENTS = frozenset({EventType.DELIVERED, EventType.BOUNCED, EventType.COMPLAINED, EventType.REJECTED})
# How long after an attempt whose outcome is unknown SES's event about it may
# still come: SES tries to deliver an accepted email for at most 14 hours
# (DeliveryOptions.MaxDeliverySeconds, at most 50,400 s, SES API v2 reference)
# before it reports a delivery or a bounce; 10 more hours for that event's way
# to the job (EventBridge, SesEventsQueue, a postponed event) make 24.
OUTCOME_SETTLE_SECONDS = 24 * 3600


class EventEntry(BaseModel):
    """One distinct SES event of a job, as the job's detail shows it."""

    model_config = ConfigDict(defer_build=True)

    at: Timestamp
    type: EventType
    detail: Annotated[str, StringConstraints(max_length=MAX_EVENT_DETAIL_CHARS)]


class Job(BaseModel):
    """A job as stored: one email to one recipient."""

    model_config = ConfigDict(defer_build=True, extra="ignore")

    job_id: Annotated[str, Field(pattern=JOB_ID_RE.pattern)]
    created_at: Timestamp
    domain: Domain
    type: JobType
    recipient: str
    subject: str
    status: JobStatus = JobStatus.QUEUED
    attempts: int = 0
    sent_at: Timestamp | None = None
    error: str | None = None
    # The id of its body item (common.adapters.bodies): the job's own id, or its bulk send's.
    body: Annotated[str, Field(pattern=JOB_ID_RE.pattern)]
    reply_to: str | None = None
    message_id: str | None = None
    attempt_log: list[AttemptLogEntry] = Field(default_factory=list)
    idempotency_key: str | None = None
    # The request's fingerprint (EmailRequest.fingerprint), kept on the key's marker.
    request_fingerprint: str | None = None
    bulk_id: str | None = None
    # SES's events, in the order they were written (common.adapters.ses_event_writes);
    # never written at creation (exclude): a job has none until SES reports one.
    events: list[EventEntry] = Field(default_factory=list, exclude=True)
    # The job this one sends again (POST /jobs/{job_id}/retry), or None.
    retry_of: Annotated[str, Field(pattern=JOB_ID_RE.pattern)] | None = None
    # When the last attempt whose outcome is unknown was made (SES may have
    # accepted it: a read timeout, a lost answer), or None: every attempt's
    # outcome is known (common.adapters.job_claims writes it).
    outcome_unknown_at: Timestamp | None = None
    # When a scheduled job is due (status scheduled until then), kept after; None: at once.
    send_at: Timestamp | None = None
    # A test send (POST /jobs/test): a manual job of no bulk send on the priority queue.
    test_send: bool | None = None

    @property
    def queue(self) -> QueueName:
        return queue_for(self.type, test=bool(self.test_send))

    @property
    def outcome_unknown_until(self) -> datetime | None:
        """Until when an attempt of this job may have been accepted by SES
        without the service knowing: ``outcome_unknown_at`` plus
        ``OUTCOME_SETTLE_SECONDS``, or None once SES's own event settled it (a
        delivery, bounce, complaint or reject) or when no attempt's outcome was
        unknown. Retry refuses the job until then (docs/adr/0069-unknown-send-outcomes.md)."""
        if self.outcome_unknown_at is None or any(e.type in SETTLING_EVENTS for e in self.events):
            return None
        return self.outcome_unknown_at + timedelta(seconds=OUTCOME_SETTLE_SECONDS)


class Bodies(BaseModel):
    """An email's content: its plain text and, optionally, its HTML (stored
    apart from the job, once per job or once per bulk send: common.adapters.bodies)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    text: str
    html: str | None = None

    @property
    def size(self) -> int:
        """UTF-8 bytes of both parts."""
        return bodies_size(self.text, self.html)


class QueueMessage(BaseModel):
    """The body of a queue message: which job to send (its body stays in storage).

    Domain and type ride along so the worker's claim can rewrite the status
    index keys in its one conditional update (which also checks them);
    ``body`` (the job's body id) lets the worker read a batch's bodies before
    its claims, ``recipient`` check them against the suppression lists.
    Messages queued before they were added have neither.
    """

    model_config = ConfigDict(defer_build=True, extra="forbid")

    job_id: Annotated[str, Field(pattern=JOB_ID_RE.pattern)]
    domain: Domain
    type: JobType
    body: Annotated[str, Field(pattern=JOB_ID_RE.pattern)] | None = None
    # Lets the worker check a batch's recipients against their domains'
    # suppression lists before its claims (one BatchGetItem per batch).
    recipient: Annotated[str, Field(max_length=320)] | None = None
    # A test send's message (on the priority queue though ``manual``); absent on every other.
    test_send: bool | None = Field(default=None, exclude_if=lambda value: not value)

    @classmethod
    def for_job(cls, job: Job) -> "QueueMessage":
        return cls(
            job_id=job.job_id,
            domain=job.domain,
            type=job.type,
            body=job.body,
            recipient=job.recipient,
            test_send=job.test_send or None,
        )

    @property
    def queue(self) -> QueueName:
        return queue_for(self.type, test=bool(self.test_send))
