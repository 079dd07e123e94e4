"""Enqueueing: how a Privas service's email requests become stored, queued jobs.

The flow of one invocation (docs/api.md):

1. The whole payload is validated first. One invalid request rejects all of
   them with a ``validation_error`` naming every problem, and nothing is
   written or queued.
2. Idempotency keys: requests sharing ``(domain, idempotency_key)`` within
   the payload stand for one job, and so does a key seen before (its marker
   names the first job). The same key with a different request (type,
   recipient, subject, bodies or reply-to: compared by fingerprint) rejects
   the whole payload with ``idempotency_key_reused``, before anything is
   written: the markers of every key are read first (one BatchGetItem per 100
   keys). A different request that takes a key between that read and its own
   write is caught by the write's condition (docs/adr/0005-enqueue-idempotency-markers.md).
3. Each remaining request becomes a ``queued`` job, due for the sweeper
   ``grace`` seconds from now, or, with a ``send_at`` more than a second
   ahead, a ``scheduled`` one, stored and not queued: the scheduler queues it
   at its ``send_at`` (``common.logic.scheduler``); an HTML-only one gets a plain-text version
   made from its HTML (``common.logic.plaintext``). A recipient on the
   domain's suppression list (one BatchGetItem for the whole payload:
   ``common.logic.suppressions``) makes its job ``suppressed`` instead, with an
   ``error`` saying why and how to lift it: stored, never queued nor sent.
4. ``common.logic.outbox`` stores the new jobs and queues them: how writes are
   batched, and what happens when DynamoDB or SQS fails part-way, is told there.

A storage failure answers ``internal_error`` without a stack trace or a body.
A caller that retries with the same idempotency keys gets the stored jobs' ids
back and no duplicate; without keys a retry may send some emails twice, which
is why services should send keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from common.adapters.bodies import BodyStore
from common.adapters.idempotency_markers import IdempotencyMarkers
from common.adapters.job_store import JobStore
from common.adapters.observability import logger, metrics
from common.adapters.queues import JobQueues
from common.adapters.suppressions import SuppressionStore
from common.logic.outbox import Outbox
from common.logic.plaintext import plain_text_alternative
from common.logic.suppressions import Suppressions, suppressed_error
from common.models.clock import epoch_seconds, utc_now
from common.models.errors import IdempotencyKeyReused, StorageError
from common.models.job import (
    BODIES_TOO_LARGE,
    BODY_MISSING,
    MAX_BODIES_BYTES,
    MAX_BODY_CHARS,
    Bodies,
    Job,
    JobStatus,
    bodies_size,
    new_job_id,
    scheduled_for,
)
from common.models.requests import EmailRequest, EnqueueBatch

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

    from common.models.pipeline_settings import EnqueueSettings

MAX_DETAILS = 100  # problems listed in one validation error; the count says how many in all
KEY_REUSED = (
    "was already used for a different request (another type, recipient, subject, body or reply-to); "
    "send that request's own key"
)

# Pydantic's wording where it is not clear to a person; every other message is its own.
_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "model_type": "must be an object (one email request)",
    "dict_type": "must be an object",
    "string_pattern_mismatch": "may hold only printable ASCII characters, without spaces",
}


# ------------------------------------------------------------------ responses
class ErrorDetail(BaseModel):
    """One problem: which request (in a batch), which field, and what is wrong."""

    model_config = ConfigDict(defer_build=True)

    index: int | None = None
    field: str | None = None
    message: str

    @property
    def place(self) -> str:
        """``jobs[3].subject``, ``subject``, ``jobs``, or empty for the whole payload."""
        parts = [f"jobs[{self.index}]"] if self.index is not None else []
        return ".".join([*parts, self.field] if self.field else parts)


class ErrorBody(BaseModel):
    model_config = ConfigDict(defer_build=True)

    code: str
    message: str
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    model_config = ConfigDict(defer_build=True)

    error: ErrorBody


class EnqueueResponse(BaseModel):
    model_config = ConfigDict(defer_build=True)

    job_ids: list[str]


# ------------------------------------------------------------------ validation
class InvalidPayload(Exception):
    """The payload is not one valid request nor 1-100 of them; ``details`` says why."""

    code = "validation_error"
    outcome = "Nothing was queued"

    def __init__(self, details: list[ErrorDetail], total: int | None = None) -> None:
        self.details = details[:MAX_DETAILS]
        self.total = total if total is not None else len(details)
        super().__init__(f"{self.total} problem(s)")

    @property
    def message(self) -> str:
        first = self.details[0]
        said = f"{first.place}: {first.message}" if first.place else first.message
        if self.total == 1:
            return f"{self.outcome}: {said}"
        return f"{self.outcome}: {self.total} problems (see details), the first: {said}"


class KeysReused(InvalidPayload):
    """Requests whose idempotency key stands for a different request."""

    code = "idempotency_key_reused"


class KeyTakenMeanwhile(KeysReused):
    """A key taken by a different request between the markers' read and this write."""

    outcome = (
        "Rejected: a request sent at the same moment took this idempotency key; "
        "requests of this payload stored before it, if any, will still be sent"
    )


class ReusedKeys(Exception):
    """Positions (in the payload) of the requests whose key stands for another request."""

    def __init__(self, positions: Sequence[int], *, meanwhile: bool = False) -> None:
        self.positions = sorted(set(positions))
        self.meanwhile = meanwhile
        super().__init__(f"{len(self.positions)} request(s) reuse a key")

    def rejection(self, *, batch: bool) -> KeysReused:
        details = [
            ErrorDetail(index=position if batch else None, field="idempotency_key", message=KEY_REUSED)
            for position in self.positions
        ]
        return (KeyTakenMeanwhile if self.meanwhile else KeysReused)(details)


def _detail(error: ErrorDetails, *, batch: bool) -> ErrorDetail:
    """A pydantic error in words for a person: never the input it was about."""
    loc = list(error["loc"])
    index: int | None = None
    if batch and len(loc) >= 2 and loc[0] == "jobs" and isinstance(loc[1], int):
        index, loc = loc[1], loc[2:]
    name = ".".join(str(part) for part in loc) or None
    kind = error["type"]
    if kind == BODIES_TOO_LARGE and name is None:
        name = str(error.get("ctx", {}).get("field", "body_text"))
    if kind == BODY_MISSING and name is None:
        name = "body_text"
    if kind == "value_error" and "error" in error.get("ctx", {}):
        message = str(error["ctx"]["error"])
    else:
        message = _MESSAGES.get(kind, error["msg"])
    return ErrorDetail(index=index, field=name, message=message)


def is_batch(payload: object) -> bool:
    """Whether the payload is ``{"jobs": [...]}`` (its problems are then named by index)."""
    return isinstance(payload, Mapping) and "jobs" in payload


def parse_payload(payload: object) -> list[EmailRequest]:
    """One request, or ``{"jobs": [...]}`` with 1-100: all valid, or ``InvalidPayload``."""
    if not isinstance(payload, Mapping):
        raise InvalidPayload(
            [ErrorDetail(message='must be an object: one email request, or {"jobs": [...]} with 1-100 of them')]
        )
    batch = is_batch(payload)
    try:
        if batch:
            return list(EnqueueBatch.model_validate(payload).jobs)
        return [EmailRequest.model_validate(payload)]
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        raise InvalidPayload([_detail(e, batch=batch) for e in errors], total=len(errors)) from None


# ------------------------------------------------------------------ enqueueing
def text_of(request: EmailRequest) -> str:
    """The job's ``body_text``: the request's, or one made from its HTML, cut to
    the limits of any body (``MAX_BODY_CHARS``, and ``MAX_BODIES_BYTES`` with the HTML)."""
    if request.body_text is not None:
        return request.body_text
    html = request.body_html or ""  # the request model ensures one of the two
    return plain_text_alternative(html, max_chars=MAX_BODY_CHARS, max_bytes=MAX_BODIES_BYTES - bodies_size("", html))


def bodies_of(request: EmailRequest) -> Bodies:
    """What the job's email says: the request's text (or one made from its HTML) and HTML."""
    return Bodies(text=text_of(request), html=request.body_html)


def job_from_request(request: EmailRequest, now: datetime) -> Job:
    """The request model made a stored job: new id, ``queued`` (or
    ``scheduled`` until its ``send_at``), no attempts yet; its body
    (``bodies_of``) is stored apart under the job's own id."""
    job_id, created_at = new_job_id(now)
    send_at = scheduled_for(request.send_at, now)
    return Job(
        job_id=job_id,
        created_at=created_at,
        domain=request.domain,
        type=request.type,
        recipient=request.to,
        subject=request.subject,
        status=JobStatus.QUEUED if send_at is None else JobStatus.SCHEDULED,
        send_at=send_at,
        body=job_id,
        reply_to=request.reply_to,
        idempotency_key=request.idempotency_key,
        request_fingerprint=request.fingerprint() if request.idempotency_key is not None else None,
    )


@dataclass
class EnqueueResult:
    job_ids: list[str]  # one per request, in request order
    created: list[Job] = field(default_factory=list)  # jobs this call wrote
    unqueued: list[str] = field(default_factory=list)  # of those, ids whose message is left to the sweeper


class Enqueuer:
    def __init__(
        self,
        jobs: JobStore,
        markers: IdempotencyMarkers,
        queues: JobQueues,
        bodies: BodyStore,
        *,
        sweep_grace_seconds: int,
        clock: Callable[[], datetime] = utc_now,
        suppressions: Suppressions | None = None,
    ) -> None:
        self._markers = markers
        self._outbox = Outbox(jobs, markers, queues, bodies)
        self._suppressions = suppressions
        self._grace = timedelta(seconds=sweep_grace_seconds)
        self._clock = clock

    @classmethod
    def from_settings(
        cls, settings: EnqueueSettings, *, dynamodb: DynamoDBClient, sqs: SQSClient, s3: S3Client
    ) -> Enqueuer:
        return cls(
            JobStore(dynamodb, settings.jobs_table, retention_days=settings.retention_days),
            IdempotencyMarkers(dynamodb, settings.jobs_table, retention_days=settings.retention_days),
            JobQueues(sqs, priority_url=settings.priority_queue_url, bulk_url=settings.bulk_queue_url),
            BodyStore(dynamodb, settings.jobs_table, s3, settings.bodies_bucket),
            sweep_grace_seconds=settings.sweep_grace_seconds,
            suppressions=Suppressions(SuppressionStore(dynamodb, settings.jobs_table)),
        )

    def _suppress(self, jobs: dict[int, Job]) -> dict[int, Job]:
        """The new jobs, those whose recipient is on its domain's list made ``suppressed``."""
        if self._suppressions is None or not jobs:
            return jobs
        found = self._suppressions.find((job.domain, job.recipient) for job in jobs.values())
        if not found:
            return jobs
        checked: dict[int, Job] = {}
        for position, job in jobs.items():
            entry = found.get((job.domain, job.recipient.lower()))
            checked[position] = (
                job
                if entry is None
                else job.model_copy(update={"status": JobStatus.SUPPRESSED, "error": suppressed_error(entry)})
            )
        suppressed = sum(1 for job in checked.values() if job.status is JobStatus.SUPPRESSED)
        metrics.add_metric(name="EmailsSuppressed", unit=MetricUnit.Count, value=suppressed)
        return checked

    def enqueue(self, requests: Sequence[EmailRequest]) -> EnqueueResult:
        """Store one job per request (one per idempotency key) and queue the new ones.

        Raises ``ReusedKeys`` when a key stands for a different request (nothing
        written), and ``StorageError`` when DynamoDB fails (the jobs written
        before that are queued first).
        """
        now = self._clock()
        due_at = epoch_seconds(now + self._grace)
        fingerprints = [r.fingerprint() if r.idempotency_key is not None else None for r in requests]

        # Requests sharing (domain, key) in this payload stand for its first one...
        first_of: dict[tuple[str, str], int] = {}
        stands_for: list[int] = []
        for position, request in enumerate(requests):
            if request.idempotency_key is None:
                stands_for.append(position)
            else:
                stands_for.append(first_of.setdefault((request.domain, request.idempotency_key), position))
        reused = [p for p, first in enumerate(stands_for) if fingerprints[p] != fingerprints[first]]
        # ... and a key seen before for the job its marker names, if the request is the same.
        seen = self._markers.idempotency_markers(list(first_of)) if first_of else {}
        for key, marker in seen.items():
            if not marker.matches(fingerprints[first_of[key]]):
                reused += [p for p, first in enumerate(stands_for) if first == first_of[key]]
        if reused:
            raise ReusedKeys(reused)

        seen_first = {first_of[key]: marker.target_job_id for key, marker in seen.items()}
        new = {
            first: job_from_request(requests[first], now)
            for first in dict.fromkeys(stands_for)
            if first not in seen_first
        }
        new = self._suppress(new)
        bodies = {job.body: bodies_of(requests[first]) for first, job in new.items()}
        try:
            stored = self._outbox.store_and_queue(list(new.values()), due_at=due_at, bodies=bodies)
        except IdempotencyKeyReused as exc:
            # Taken meanwhile by a different request: what was written before stays for the sweeper.
            logger.warning("an idempotency key was taken meanwhile by a different request; payload rejected")
            taken = first_of[(exc.domain, exc.key)]
            raise ReusedKeys([p for p, first in enumerate(stands_for) if first == taken], meanwhile=True) from None
        ids = {first: stored.stored_id[job.job_id] for first, job in new.items()} | seen_first
        return EnqueueResult(
            job_ids=[ids[first] for first in stands_for], created=stored.created, unqueued=stored.unqueued
        )


# ------------------------------------------------------------------ the invocation
def _rejected(exc: InvalidPayload) -> dict[str, Any]:
    metrics.add_metric(name="EnqueueRejected", unit=MetricUnit.Count, value=1)
    logger.info(
        "enqueue request rejected",
        extra={"code": exc.code, "problems": exc.total, "fields": sorted({d.field or "" for d in exc.details})},
    )
    body = ErrorBody(code=exc.code, message=exc.message, details=exc.details)
    return ErrorResponse(error=body).model_dump(mode="json", exclude_none=True)


def handle_invocation(payload: object, enqueuer: Enqueuer) -> dict[str, Any]:
    """A Lambda payload in, the contract's response out: exceptions become error bodies here, once."""
    try:
        requests = parse_payload(payload)
    except InvalidPayload as exc:
        return _rejected(exc)
    try:
        result = enqueuer.enqueue(requests)
    except ReusedKeys as exc:
        return _rejected(exc.rejection(batch=is_batch(payload)))
    except StorageError:
        # Already logged with its cause by the enqueuer.
        metrics.add_metric(name="EnqueueFailures", unit=MetricUnit.Count, value=1)
        body = ErrorBody(
            code="internal_error",
            message=(
                "The emails could not all be stored; those that were will be sent. "
                "Retrying with the same idempotency keys sends nothing twice."
            ),
        )
        return ErrorResponse(error=body).model_dump(mode="json", exclude_none=True)
    logger.info(
        "emails enqueued",
        extra={
            "requested": len(requests),
            "new_jobs": len(result.created),
            "left_for_sweeper": len(result.unqueued),
            "job_ids": [job.job_id for job in result.created],
            "domains": sorted({job.domain for job in result.created}),
            "types": sorted({job.type.value for job in result.created}),
        },
    )
    return EnqueueResponse(job_ids=result.job_ids).model_dump(mode="json")
