"""SES's delivery events become job statuses (contract, sections 2 and 7).

SES publishes the configuration set's events to EventBridge's default bus; a
rule sends this stack's to the ``SesEventsQueue``, whose batches reach
``SesEventsFunction``. Each SQS record's body is one EventBridge event whose
``detail`` is SES's event record (``eventType``, ``mail`` with the tags the
worker sent, and one sub-object: ``delivery``, ``bounce``, ``complaint``,
``deliveryDelay`` or ``reject``).

Per event: the job is the one SES's echo of the ``job_id`` tag names; the
event is written with one conditional update (``SesEventWrites.apply_event``):

- an event applied twice leaves one entry: its identity (type, SES message
  id, the event's own time and feedback id, recipients: SES's fields only,
  never EventBridge's envelope, so a second publication of one event is the
  same event) is hashed into an id the write refuses to add twice;
- statuses follow section 2's precedence whatever the order of arrival:
  ``complained`` > ``bounced`` > ``delivered`` > ``delayed`` > ``sent``; a
  weaker event arriving late is still listed in ``events``;
- SES's word outranks what the service recorded meanwhile (``RANK``): any
  event proves that SES accepted the email, so it settles a job still
  ``sending`` (the worker's outcome write failed or is not done: it is
  refused afterwards, its lease gone), ``queued`` or ``retrying``; a
  delivery, bounce or complaint also settles a job ``failed``, ``canceled``
  or ``suppressed`` (an earlier attempt whose answer was lost was in fact
  accepted). A job so moved gets SES's ``sent_at`` (the mail's timestamp) and
  ``message_id``, and no stale ``error``;
- ``reject`` (SES accepted the email, then found a virus) makes a job that
  was not delivered ``failed``, with SES's reason in ``error`` (``failed``
  ranks between ``delayed`` and ``delivered``: see ``RANK``);
- a permanent bounce or a complaint puts the recipient on the job's domain's
  suppression list (``suppress_recipient``); a transient bounce does not.
  For a job already removed by retention, the event itself names the domain
  (its ``domain`` tag, read by ``tagged_domain``) and the recipient: the
  address is suppressed all the same;
- an event for an unknown job is otherwise logged (ids only) and dropped; a
  record that is not an SES event goes back to the queue, and ends in the
  queue's dead-letter queue after ``maxReceiveCount`` receives: nothing is
  retried forever. An event redriven from there, however late, is applied as
  any other (its identity keeps it from being applied twice).

Nothing here logs an address, a body, an account id or an ARN: SES's record
carries all of them, and only ids, types and outcomes are logged.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.adapters.mailer import domain_from_tag, redact
from common.adapters.observability import logger, metrics
from common.adapters.ses_event_writes import EventOutcome, EventWrite, SesEventWrites
from common.adapters.sqs_batch import PartialItemFailureResponse, SqsRecord, process_partial_response
from common.models.clock import utc_now
from common.models.errors import EmailOpsError
from common.models.job import (
    JOB_ID_RE,
    MAX_EVENT_DETAIL_CHARS,
    EventEntry,
    JobStatus,
    JobType,
    normalize_address,
)
from common.models.job import (
    EventType as JobEventType,
)
from common.models.suppression import SuppressionEntry, SuppressionReason

if TYPE_CHECKING:
    from common.adapters.suppressions import SuppressionStore
    from common.models.job import Job

Clock = Callable[[], datetime]

# ------------------------------------------------------------------ precedence
# Section 2: complained > bounced > delivered > delayed > sent. Any event
# proves that SES accepted the email, so every one replaces a status that says
# it was not (yet) accepted: ``queued``, ``retrying`` (an earlier attempt SES
# did accept) and ``sending`` (the worker's outcome write failed or is still
# due; it is refused afterwards, and the claim never sends the job again).
# ``failed``, ``canceled`` and ``suppressed`` sit between delayed and
# delivered: SES's report of a delivery, bounce or complaint replaces them
# (an attempt whose answer was lost was in fact accepted, or SES rejected a
# copy: SES knows), a delay or a reject does not (a reject is ``failed``
# itself). So every pair of events ends in the same status whatever their order.
RANK: dict[JobStatus, int] = {
    JobStatus.QUEUED: -1,
    JobStatus.RETRYING: -1,
    JobStatus.SENDING: -1,
    JobStatus.SENT: 0,
    JobStatus.DELAYED: 1,
    JobStatus.FAILED: 2,
    JobStatus.CANCELED: 2,
    JobStatus.SUPPRESSED: 2,
    JobStatus.DELIVERED: 3,
    JobStatus.BOUNCED: 4,
    JobStatus.COMPLAINED: 5,
}


def overridden_by(status: JobStatus) -> frozenset[JobStatus]:
    """The statuses an event standing for ``status`` replaces: every weaker one."""
    return frozenset(s for s, rank in RANK.items() if rank < RANK[status])


# ------------------------------------------------------------------ SES's record
class _Lenient(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore", populate_by_name=True)


class SesMail(_Lenient):
    message_id: str = Field(alias="messageId", min_length=1)
    timestamp: datetime | None = None
    tags: dict[str, list[str]] = Field(default_factory=dict)

    def tag(self, name: str) -> str | None:
        values = self.tags.get(name) or []
        return values[0] if values else None


class SesRecipientStatus(_Lenient):
    email_address: str | None = Field(alias="emailAddress", default=None)
    status: str | None = None
    diagnostic_code: str | None = Field(alias="diagnosticCode", default=None)


class SesDelivery(_Lenient):
    timestamp: datetime
    recipients: list[str] = Field(default_factory=list)
    smtp_response: str | None = Field(alias="smtpResponse", default=None)


class SesBounce(_Lenient):
    bounce_type: str = Field(alias="bounceType")
    bounce_sub_type: str = Field(alias="bounceSubType", default="Undetermined")
    bounced_recipients: list[SesRecipientStatus] = Field(alias="bouncedRecipients", default_factory=list)
    timestamp: datetime
    feedback_id: str | None = Field(alias="feedbackId", default=None)


class SesComplaint(_Lenient):
    complained_recipients: list[SesRecipientStatus] = Field(alias="complainedRecipients", default_factory=list)
    timestamp: datetime
    feedback_id: str | None = Field(alias="feedbackId", default=None)
    complaint_feedback_type: str | None = Field(alias="complaintFeedbackType", default=None)
    complaint_sub_type: str | None = Field(alias="complaintSubType", default=None)


class SesDeliveryDelay(_Lenient):
    timestamp: datetime
    delay_type: str = Field(alias="delayType", default="Undetermined")
    expiration_time: datetime | None = Field(alias="expirationTime", default=None)
    delayed_recipients: list[SesRecipientStatus] = Field(alias="delayedRecipients", default_factory=list)


class SesReject(_Lenient):
    reason: str = "unknown"


class SesRecord(_Lenient):
    """SES's event record (the same JSON SNS, Firehose and EventBridge carry)."""

    event_type: str = Field(alias="eventType")
    mail: SesMail
    delivery: SesDelivery | None = None
    bounce: SesBounce | None = None
    complaint: SesComplaint | None = None
    delivery_delay: SesDeliveryDelay | None = Field(alias="deliveryDelay", default=None)
    reject: SesReject | None = None


class SesEventBridgeEvent(_Lenient):
    """The EventBridge event SES puts on the default bus (``source`` ``aws.ses``)."""

    source: str
    detail_type: str = Field(alias="detail-type")
    time: datetime | None = None
    detail: SesRecord


# ------------------------------------------------------------------ words
_BOUNCES: dict[tuple[str, str], str] = {
    ("Undetermined", "Undetermined"): "SES could not determine why",
    ("Permanent", "General"): "refused for good",
    ("Permanent", "NoEmail"): "the address does not exist",
    ("Permanent", "Suppressed"): (
        "SES did not send it: the address has a recent history of bouncing (SES's global suppression list)"
    ),
    ("Permanent", "OnAccountSuppressionList"): (
        "SES did not send it: the address is on the SES account's own suppression list"
    ),
    ("Transient", "General"): "the recipient's mail server refused it for now",
    ("Transient", "MailboxFull"): "the recipient's mailbox is full",
    ("Transient", "MessageTooLarge"): "the message is too large for the recipient's mail server",
    ("Transient", "ContentRejected"): "the recipient's mail server rejected its content",
    ("Transient", "AttachmentRejected"): "the recipient's mail server rejected an attachment",
}
_SES_SIDE = frozenset({"Suppressed", "OnAccountSuppressionList"})
_DELAYS: dict[str, str] = {
    "InternalFailure": "an internal SES issue",
    "General": "a failure while talking to the recipient's mail server",
    "MailboxFull": "the recipient's mailbox is full",
    "SpamDetected": "the recipient's mail server received much unsolicited email from this sender",
    "RecipientServerError": "a temporary issue on the recipient's mail server",
    "IPFailure": "the recipient's provider blocks or throttles the sending IP address",
    "TransientCommunicationFailure": "a temporary communication failure with the recipient's mail server",
    "BYOIPHostNameLookupUnavailable": "SES could not look up the sending IP address's host name",
    "Undetermined": "SES could not determine why",
    "SendingDeferral": "SES deferred it",
}
_REJECTS: dict[str, str] = {"Bad content": "SES found a virus in it"}
COMPLAINT_WORDS = "the recipient marked this email as spam"
SUPPRESSED_WORDS = "the address is now on the domain's suppression list"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN_TAG = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})+$")


def _clean(text: str, limit: int) -> str:
    """Another server's words, made safe to show: one line, no ARN or
    account id, at most ``limit`` characters."""
    one_line = redact(_CONTROL.sub(" ", text)).strip()
    return one_line if len(one_line) <= limit else one_line[: max(limit - 1, 0)] + "…"


def _remote(recipients: list[SesRecipientStatus], room: int) -> str:
    """The remote server's status and diagnostic, as a clause (or "")."""
    first = recipients[0] if recipients else None
    if first is None or not (first.status or first.diagnostic_code):
        return ""
    said = " ".join(part for part in (first.status, first.diagnostic_code) if part)
    return f"; the recipient's mail server answered: {_clean(said, max(room, 20))}"


def _sentence(head: str, remote: str, tail: str) -> str:
    """``head`` + ``remote`` + ``tail``, cut in ``remote`` so it fits the detail limit."""
    text = f"{head}{remote}. {tail}".strip() if tail else f"{head}{remote}."
    if len(text) <= MAX_EVENT_DETAIL_CHARS:
        return text
    return _clean(text, MAX_EVENT_DETAIL_CHARS)


# ------------------------------------------------------------------ interpreting
class Interpreted(NamedTuple):
    """One SES event, as this service applies it."""

    job_id: str
    domain: str | None  # from the tags (a hint: the job's own is what counts)
    job_type: JobType | None
    event_id: str
    entry: EventEntry
    status: JobStatus
    error: str | None  # the job's ``error`` when the event moves it
    suppression: str | None  # "bounced" | "complained": the recipient goes on the domain's list
    ses_message_id: str
    sent_at: datetime  # when SES accepted the email (the mail's timestamp)
    recipients: tuple[str, ...] = ()  # the addresses the event is about, as SES gives them


class NotAnSesEvent(EmailOpsError):
    """A record that is not an SES event for this service (it ends in the DLQ)."""

    code = "not_an_ses_event"


class Ignored(Exception):
    """An SES event this service does not act on (no job tag, or a type not subscribed)."""


def event_id(record: SesRecord, at: datetime | None, feedback_id: str | None, recipients: list[str]) -> str:
    """What makes two deliveries of one event the same event: SES's type, its
    message id, the event's own time (``None`` for a reject, which has none:
    one per email), its feedback id and its recipients. SES's fields only:
    EventBridge's envelope (its ``id``, its ``time``) differs between two
    publications of one event."""
    when = at.isoformat() if at is not None else ""
    identity = [record.event_type, record.mail.message_id, when, feedback_id or "", sorted(recipients)]
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:20]


def tagged_domain(mail: SesMail) -> str | None:
    """The domain the ``domain`` tag names, or ``None`` when it names none.

    The one place the tag is read: the worker writes it in the characters SES
    allows in a tag's value (letters, digits, ``_`` and ``-``), a ``.`` as
    ``_``. A domain (letters, digits, ``-`` and ``.``) never holds a ``_``, so
    the reading is exact, and a tag written before that encoding
    (``acme.com``) reads the same."""
    value = mail.tag("domain")
    if value is None:
        return None
    domain = domain_from_tag(value).lower()
    return domain if _DOMAIN_TAG.match(domain) else None


class _Meaning(NamedTuple):
    at: datetime
    kind: JobEventType
    status: JobStatus
    detail: str
    error: str | None = None
    suppression: str | None = None
    feedback_id: str | None = None
    recipients: tuple[str, ...] = ()
    dated: bool = True  # ``at`` is the event's own time (a reject has none)


def _addresses(recipients: list[SesRecipientStatus]) -> tuple[str, ...]:
    return tuple(r.email_address for r in recipients if r.email_address)


def _delivery(delivery: SesDelivery) -> _Meaning:
    said = _clean(delivery.smtp_response or "", 120)
    detail = "Delivered: the recipient's mail server accepted it" + (f" ({said})." if said else ".")
    return _Meaning(
        delivery.timestamp, JobEventType.DELIVERED, JobStatus.DELIVERED, detail, recipients=tuple(delivery.recipients)
    )


def _bounce(bounce: SesBounce) -> _Meaning:
    words = _BOUNCES.get((bounce.bounce_type, bounce.bounce_sub_type)) or (
        f"SES's subtype {_clean(bounce.bounce_sub_type, 40)}"
    )
    permanent = bounce.bounce_type == "Permanent"
    head = f"{_clean(bounce.bounce_type, 20)} bounce ({words})"
    tail = f"Correct the address; {SUPPRESSED_WORDS}." if permanent else "It may succeed later: retry the job."
    room = MAX_EVENT_DETAIL_CHARS - len(head) - len(tail) - 45
    # SES's own refusals carry SES's words, not a remote server's: the subtype says it all.
    remote = "" if bounce.bounce_sub_type in _SES_SIDE else _remote(bounce.bounced_recipients, room)
    detail = _sentence(head, remote, tail)
    return _Meaning(
        bounce.timestamp,
        JobEventType.BOUNCED,
        JobStatus.BOUNCED,
        detail,
        error=detail,
        suppression="bounced" if permanent else None,
        feedback_id=bounce.feedback_id,
        recipients=_addresses(bounce.bounced_recipients),
    )


def _complaint(complaint: SesComplaint) -> _Meaning:
    kind = complaint.complaint_feedback_type
    how = f" (feedback type: {_clean(kind, 30)})" if kind else ""
    return _Meaning(
        complaint.timestamp,
        JobEventType.COMPLAINED,
        JobStatus.COMPLAINED,
        f"Complaint: {COMPLAINT_WORDS}{how}; {SUPPRESSED_WORDS}.",
        suppression="complained",
        feedback_id=complaint.feedback_id,
        recipients=_addresses(complaint.complained_recipients),
    )


def _delay(delay: SesDeliveryDelay) -> _Meaning:
    words = _DELAYS.get(delay.delay_type) or f"SES's delay type {_clean(delay.delay_type, 40)}"
    until = (
        f"SES keeps trying until {delay.expiration_time.strftime('%Y-%m-%d %H:%M UTC')}."
        if delay.expiration_time
        else "SES keeps trying."
    )
    head = f"Delivery delayed: {words}"
    room = MAX_EVENT_DETAIL_CHARS - len(head) - len(until) - 45
    detail = _sentence(head, _remote(delay.delayed_recipients, room), until)
    recipients = _addresses(delay.delayed_recipients)
    return _Meaning(delay.timestamp, JobEventType.DELAYED, JobStatus.DELAYED, detail, recipients=recipients)


def _reject(reject: SesReject, at: datetime) -> _Meaning:
    """A reject has no time of its own: ``at`` is the mail's (when SES accepted it)."""
    why = _REJECTS.get(reject.reason)
    detail = (
        f"Rejected by SES after it was accepted: {_clean(reject.reason, 60)}"
        + (f" ({why})" if why else "")
        + "; it was not delivered. Remove the offending content and send it again."
    )
    return _Meaning(at, JobEventType.REJECTED, JobStatus.FAILED, detail, error=detail, dated=False)


def _meaning(event: SesEventBridgeEvent) -> _Meaning:
    record = event.detail
    if record.event_type == "Delivery" and record.delivery is not None:
        return _delivery(record.delivery)
    if record.event_type == "Bounce" and record.bounce is not None:
        return _bounce(record.bounce)
    if record.event_type == "Complaint" and record.complaint is not None:
        return _complaint(record.complaint)
    if record.event_type == "DeliveryDelay" and record.delivery_delay is not None:
        return _delay(record.delivery_delay)
    if record.event_type == "Reject" and record.reject is not None:
        # A reject has no time of its own: the send's (SES's), else EventBridge's.
        return _reject(record.reject, record.mail.timestamp or event.time or utc_now())
    raise Ignored(f"event type {record.event_type!r} is not acted on")


def interpret(event: SesEventBridgeEvent) -> Interpreted:
    """What one SES event means for its job. ``Ignored`` for what we do not act on."""
    record = event.detail
    job_id = record.mail.tag("job_id")
    if job_id is None or not JOB_ID_RE.match(job_id):
        raise Ignored("no job_id tag")
    try:
        job_type: JobType | None = JobType(record.mail.tag("type") or "")
    except ValueError:
        job_type = None
    meaning = _meaning(event)
    entry = EventEntry(at=meaning.at, type=meaning.kind, detail=_clean(meaning.detail, MAX_EVENT_DETAIL_CHARS))
    return Interpreted(
        job_id=job_id,
        domain=tagged_domain(record.mail),
        job_type=job_type,
        event_id=event_id(record, entry.at if meaning.dated else None, meaning.feedback_id, list(meaning.recipients)),
        entry=entry,
        status=meaning.status,
        error=meaning.error,
        suppression=meaning.suppression,
        ses_message_id=record.mail.message_id,
        # SES's own time of acceptance; an event always comes after it.
        sent_at=record.mail.timestamp or meaning.at,
        recipients=meaning.recipients,
    )


# ------------------------------------------------------------------ applying
_METRIC_FOR: dict[JobEventType, str] = {
    JobEventType.DELIVERED: "EmailsDelivered",
    JobEventType.DELAYED: "EmailsDelayed",
    JobEventType.BOUNCED: "EmailsBounced",
    JobEventType.COMPLAINED: "EmailsComplained",
    JobEventType.REJECTED: "EmailsRejected",
}


def suppress_recipient(
    suppressions: SuppressionStore, *, domain: str, email: str, reason: str, job_id: str | None, now: datetime
) -> bool:
    """Put ``email`` on ``domain``'s suppression
    list (``reason`` ``bounced`` or ``complained``, with the job's id), unless
    it is listed already (its first entry stays): the suppression store's one
    conditional PutItem (docs/storage.md, section 3). Returns whether it wrote."""
    entry = SuppressionEntry(
        domain=domain, email=email, reason=SuppressionReason(reason), created_at=now, job_id=job_id
    )
    _, wrote = suppressions.add(entry)
    return wrote


class Applied(NamedTuple):
    outcome: EventOutcome
    event: Interpreted
    suppressed: bool = False


def apply(
    event: SesEventBridgeEvent, writes: SesEventWrites, suppressions: SuppressionStore, *, clock: Clock = utc_now
) -> Applied:
    """Apply one SES event to its job (``writes``) and its suppression list (``suppressions``)."""
    meaning = interpret(event)
    result = writes.apply_event(
        EventWrite(
            job_id=meaning.job_id,
            domain=meaning.domain,
            type=meaning.job_type,
            event_id=meaning.event_id,
            entry=meaning.entry,
            status=meaning.status,
            moves_from=overridden_by(meaning.status),
            error=meaning.error,
            sent_at=meaning.sent_at,
            message_id=meaning.ses_message_id,
            # What a domain's bounce rate counts (common.logic.reputation).
            permanent_bounce=meaning.status is JobStatus.BOUNCED and meaning.suppression is not None,
        )
    )
    if meaning.suppression is None:
        return Applied(result.outcome, meaning)
    job: Job | None = result.job
    if job is not None:
        # Also on a duplicate: the first delivery may have stopped between its two writes.
        suppressed = suppress_recipient(
            suppressions,
            domain=job.domain,
            email=job.recipient,
            reason=meaning.suppression,
            job_id=job.job_id,
            now=clock(),
        )
        return Applied(result.outcome, meaning, suppressed)
    # No such job (removed by retention): the event names the domain and the
    # recipient itself, and a late complaint must still suppress.
    suppressed = False
    if meaning.domain is not None:
        for email in _stored_forms(meaning.recipients):
            wrote = suppress_recipient(
                suppressions,
                domain=meaning.domain,
                email=email,
                reason=meaning.suppression,
                job_id=meaning.job_id,
                now=clock(),
            )
            suppressed = suppressed or wrote
    return Applied(result.outcome, meaning, suppressed)


def _stored_forms(addresses: tuple[str, ...]) -> list[str]:
    """SES's addresses (a domain in Punycode) as the service stores them
    (``normalize_address``: the domain in Unicode), those it could not read left out."""
    stored = []
    for address in addresses:
        try:
            stored.append(normalize_address(address))
        except ValueError:
            continue
    return stored


def parse_record(body: str) -> SesEventBridgeEvent:
    """An SQS record's body: the EventBridge event SES published."""
    try:
        event = SesEventBridgeEvent.model_validate_json(body)
    except ValidationError as exc:
        raise NotAnSesEvent("the record is not an SES event from EventBridge") from exc
    if event.source != "aws.ses":
        raise NotAnSesEvent("the record's event does not come from SES")
    return event


def process_batch(
    event: dict[str, Any], writes: SesEventWrites, suppressions: SuppressionStore, *, clock: Clock = utc_now
) -> PartialItemFailureResponse:
    """Every record of an SQS batch of SES events; returns only the failed ones."""

    def handle(record: SqsRecord) -> str:
        keys: dict[str, Any] = {"sqs_message_id": record.message_id}
        try:
            parsed = parse_record(record.body)
            keys["ses_event_type"] = parsed.detail.event_type
            done = apply(parsed, writes, suppressions, clock=clock)
        except Ignored as exc:
            logger.info("SES event ignored", extra=keys | {"reason": str(exc)})
            metrics.add_metric(name="SesEventsIgnored", unit=MetricUnit.Count, value=1)
            return "ignored"
        except EmailOpsError as exc:
            logger.error("SES event failed; it goes back to the queue", extra=keys | {"reason": str(exc)})
            raise
        except Exception as exc:
            # Type only: an unexpected exception's text may quote the record (addresses).
            logger.error("SES event failed; it goes back to the queue", extra=keys | {"error_type": type(exc).__name__})
            raise
        keys |= {
            "job_id": done.event.job_id,
            "ses_message_id": done.event.ses_message_id,
            "event": done.event.entry.type.value,
            "outcome": done.outcome.value,
            "suppressed": done.suppressed,
        }
        if done.outcome is EventOutcome.UNKNOWN_JOB:
            # Past retention, or never ours: nothing to write to, but a
            # permanent bounce or a complaint still suppressed its recipient.
            logger.warning("SES event for an unknown job: dropped", extra=keys)
            metrics.add_metric(name="SesEventsUnknownJob", unit=MetricUnit.Count, value=1)
            if done.suppressed:
                metrics.add_metric(name="RecipientsSuppressed", unit=MetricUnit.Count, value=1)
            return str(done.outcome.value)
        if done.outcome is EventOutcome.DUPLICATE:
            metrics.add_metric(name="SesEventsDuplicate", unit=MetricUnit.Count, value=1)
        else:
            metrics.add_metric(name=_METRIC_FOR[done.event.entry.type], unit=MetricUnit.Count, value=1)
        if done.suppressed:
            metrics.add_metric(name="RecipientsSuppressed", unit=MetricUnit.Count, value=1)
        logger.info("SES event applied", extra=keys)
        return str(done.outcome.value)

    return process_partial_response(event, handle)
