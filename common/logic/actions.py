"""Cancel and retry (docs/api.md): ``POST /jobs/{job_id}/cancel``,
``POST /bulks/{bulk_id}/cancel`` and ``POST /jobs/{job_id}/retry``.

**Cancel** reads the job (strongly consistent; 404 unless it is of one of the
caller's domains, whether it exists or not), then makes one conditional write
(``StatusMoves.cancel``): ``queued`` or ``retrying`` → ``canceled``. The worker's
claim is a conditional write on the same item that needs ``queued`` or
``retrying`` too, and DynamoDB applies the two one after the other: whichever
comes second fails its condition. So a job is never both canceled and sent; a
job a worker already holds (``sending``) is not cancelable (409) and
finishes; a canceled job's message, when it arrives, is refused by the
claim and sends nothing; the sweeper never queues it again (it has left
``InFlight``).

**A bulk cancel** reads the bulk's item (404 as above) and marks it canceled
(``Bulks.mark_bulk_canceled``). From then on the worker, right after it
claims one of the bulk's jobs, reads the mark (strongly consistent) and makes
the job ``canceled`` instead of sending it (``common.logic.sending``): no job
still queued or retrying when the mark is written is sent, whoever reaches it
first. Then it reads the bulk's jobs from the four ``ByBulk`` shards (keys
and the projected status), and cancels each one whose indexed status is
``queued``, ``retrying`` or ``sending`` with the same conditional write,
``CANCEL_CONCURRENCY`` at a time. ``sending`` is included because the index
lags the table by moments: a job indexed as ``sending`` may be ``retrying``
by now; one truly held by a worker fails the condition and is not counted.
Jobs the index does not hold yet (a bulk created a moment ago) are waited
for, briefly (``INDEX_WAITS``).

The request cancels for at most ``SYNC_SECONDS`` (a wave of ``CANCEL_WAVE``
starts only if it should end in time, judged by the longest wave so far),
well inside API Gateway's 29 s: in DynamoDB 1,000 jobs take
about a second, so it finishes and answers ``{"canceled": n}``. When it does
not (a slow store, such as the embedded AWS, which needs about 19 s for 1,000),
it puts one message naming the bulk on the actions queue and answers
``{"canceled": n, "pending": m}``: ``m`` jobs were left (still shown
``queued`` or ``retrying``, but never sent: the mark holds them), and the actions
queue's consumer (``finish_bulk_cancel``, this function again) reads the
bulk's jobs afresh and cancels every one still queued or retrying, handing on
again while any is left (its own invocation's time, less ``CANCEL_RESERVE_MS``,
bounds it the same way). Cancelling is idempotent, so a message delivered twice
changes nothing more; one that fails comes back; the dead-letter queue takes
one that fails five times. If the message cannot be sent, the answer is 503
``cancel_unfinished``, saying how many were canceled: the same request again
cancels the rest.

**Retry** reads the job (404 as above); only ``failed``, ``bounced`` or
``canceled`` may be sent again (else 409 ``not_retryable``), not while an
attempt SES may have accepted is unsettled (``Job.outcome_unknown_until``:
409 ``not_retryable`` until SES's event or ``OUTCOME_SETTLE_SECONDS`` settle
it), and not to a recipient now on the domain's suppression list (409
``suppressed``). The new job copies domain, type, recipient, subject and
reply-to, gets a copy of the body of its own (``BodyStore.copy_for``: the
item, and a large body's S3 object, made now, so it lives as long as the new
job; the old one expires with the old job), has ``retry_of`` = the old id
and no ``bulk_id`` (the bulk send's counts stay the jobs it created), and goes
through the outbox: stored, then queued on its type's queue. The old job is not written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from common.adapters import index_keys
from common.adapters.audit_trail import AuditTrail
from common.adapters.bodies import BodyStore
from common.adapters.bulks import BulkItem, Bulks
from common.adapters.idempotency_markers import IdempotencyMarkers
from common.adapters.job_indexes import JobIndexes
from common.adapters.job_store import JobStore
from common.adapters.observability import logger, metrics
from common.adapters.queues import ActionsQueue, JobQueues
from common.adapters.sqs_batch import PartialItemFailureResponse, SqsRecord, process_partial_response
from common.adapters.status_moves import CANCELABLE, StatusMoves
from common.adapters.suppressions import SuppressionStore
from common.logic.audit import actor_of, record
from common.logic.outbox import Outbox
from common.logic.threads import map_in_context
from common.models.actions import BulkCancelMessage, CancelResult, RetryResult
from common.models.api import (
    BulkCancelUnfinished,
    BulkNotFound,
    Caller,
    JobSummary,
    NotCancelable,
    NotRetryable,
    RecipientSuppressed,
)
from common.models.audit import AuditAction
from common.models.clock import epoch_millis, epoch_seconds, to_rfc3339, utc_now
from common.models.errors import IdempotencyKeyReused, JobNotFound, QueueError
from common.models.job import JOB_ID_RE, Job, JobStatus, JobType, new_job_id

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

    from common.models.actions import JobActionsSettings

RETRYABLE = frozenset({JobStatus.FAILED, JobStatus.BOUNCED, JobStatus.CANCELED})
# What a bulk cancel tries: the cancelable statuses, and sending (the index may lag).
_BULK_CANDIDATES = frozenset({JobStatus.SCHEDULED, JobStatus.QUEUED, JobStatus.RETRYING, JobStatus.SENDING})
# Conditional writes in flight at once (botocore keeps 10 connections per client).
CANCEL_CONCURRENCY = 8
# Writes between two looks at the time taken.
CANCEL_WAVE = 50
# A wave starts only with this many times the longest wave so far still in hand.
WAVE_MARGIN = 1.5
# How long a bulk cancel request cancels before it hands the rest on: well
# inside API Gateway's 29 s (1,000 jobs take about 1 s in DynamoDB, 19 s in
# the embedded AWS; docs/benchmarks.md).
SYNC_SECONDS = 10.0
# Time kept in hand when an invocation stops cancelling: one more wave and the answer.
CANCEL_RESERVE_MS = 5_000
# How often, and how long apart, a bulk cancel reads the index again while it
# holds fewer jobs than the bulk created (it lags the table by moments).
INDEX_WAITS = 3
INDEX_WAIT_SECONDS = 0.5

TimeLeft = Callable[[], int]  # milliseconds left in this invocation


def _no_deadline() -> int:
    return 1 << 31


class JobActions:
    def __init__(
        self,
        jobs: JobStore,
        outbox: Outbox,
        *,
        statuses: StatusMoves,
        bulks: Bulks,
        indexes: JobIndexes,
        markers: IdempotencyMarkers,
        bodies: BodyStore,
        suppressions: SuppressionStore,
        trail: AuditTrail,
        sweep_grace_seconds: int,
        actions_queue: ActionsQueue | None = None,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._jobs = jobs
        self._statuses = statuses
        self._bulks = bulks
        self._indexes = indexes
        self._markers = markers
        self._bodies = bodies
        self._suppressions = suppressions
        self._trail = trail
        self._outbox = outbox
        self._actions_queue = actions_queue
        self._monotonic = monotonic
        self._grace = timedelta(seconds=sweep_grace_seconds)
        self._clock = clock
        self._sleep = sleep

    @classmethod
    def from_settings(
        cls,
        settings: JobActionsSettings,
        *,
        dynamodb: DynamoDBClient,
        sqs: SQSClient,
        s3: S3Client | Callable[[], S3Client] | None = None,
    ) -> JobActions:
        name, retention = settings.jobs_table, settings.retention_days
        jobs = JobStore(dynamodb, name, retention_days=retention)
        markers = IdempotencyMarkers(dynamodb, name, retention_days=retention)
        queues = JobQueues(sqs, priority_url=settings.priority_queue_url, bulk_url=settings.bulk_queue_url)
        # A retry copies its job's body; S3 (a large body's object) only then.
        bodies = BodyStore(dynamodb, name, s3, settings.bodies_bucket)
        return cls(
            jobs,
            Outbox(jobs, markers, queues, bodies),
            statuses=StatusMoves(dynamodb, name, retention_days=retention),
            bulks=Bulks(dynamodb, name, retention_days=retention),
            indexes=JobIndexes(dynamodb, name, retention_days=retention),
            markers=markers,
            bodies=bodies,
            suppressions=SuppressionStore(dynamodb, name),
            trail=AuditTrail(dynamodb, name, retention_days=retention),
            sweep_grace_seconds=settings.sweep_grace_seconds,
            actions_queue=ActionsQueue(sqs, url=settings.actions_queue_url),
        )

    def _visible_job(self, job_id: str, caller: Caller) -> Job:
        job = self._jobs.get(job_id) if JOB_ID_RE.fullmatch(job_id) else None
        if job is None or not caller.may_see(job.domain):
            raise JobNotFound("no such job")
        return job

    # ------------------------------------------------------------ cancel
    def cancel(self, job_id: str, caller: Caller) -> JobSummary:
        job = self._visible_job(job_id, caller)
        if job.status not in CANCELABLE:
            raise NotCancelable(_not_cancelable(job.status))
        made = record(
            AuditAction.JOB_CANCEL,
            actor_of(caller),
            job.job_id,
            f"Canceled the {job.type.value} email to {job.recipient} ({job.status.value}): it will not be sent.",
            clock=self._clock,
        )
        outcome = self._statuses.cancel(
            job.job_id,
            domain=job.domain,
            job_type=job.type,
            recipient=job.recipient,
            also=[self._trail.put_request(job.domain, made.entry, entry_id=made.entry_id)],
        )
        if not outcome.canceled or outcome.job is None:
            # A worker claimed it (or another cancel won) between the read and the write.
            now = outcome.job.status if outcome.job is not None else job.status
            raise NotCancelable(_not_cancelable(now))
        metrics.add_metric(name="EmailsCanceled", unit=MetricUnit.Count, value=1)
        logger.info("job canceled", extra={"job_id": job.job_id, "domain": job.domain, "was": job.status.value})
        return JobSummary.model_validate(outcome.job.model_dump())

    def cancel_bulk(self, bulk_id: str, caller: Caller, *, time_left_ms: TimeLeft = _no_deadline) -> CancelResult:
        """Cancel a bulk's jobs for up to ``SYNC_SECONDS``; hand the rest, if
        any, to the actions queue and say how many were pending then."""
        bulk = self._bulks.get_bulk(bulk_id) if JOB_ID_RE.fullmatch(bulk_id) else None
        if bulk is None or not caller.may_see(bulk.domain):
            raise BulkNotFound("no such bulk send")
        started = self._monotonic()
        # First the mark: from here on a worker that claims one of the bulk's
        # jobs cancels it instead of sending it, so none still queued now is sent.
        if not self._bulks.mark_bulk_canceled(bulk.bulk_id, now_ms=epoch_millis(self._clock())):
            raise BulkNotFound("no such bulk send")

        def room_ms() -> float:
            spent_ms = (self._monotonic() - started) * 1000
            return min(SYNC_SECONDS * 1000 - spent_ms, time_left_ms() - CANCEL_RESERVE_MS)

        canceled, left = self._cancel_waves(bulk, self._candidates(bulk), room_ms)
        if not left:
            self._counted(bulk, canceled, finished=True)
            audit_bulk_cancel(self._trail, bulk, caller, canceled, clock=self._clock)
            return CancelResult(canceled=canceled)
        try:
            self._hand_on(bulk)
        except QueueError as exc:
            logger.error("a bulk cancel could not be handed on", extra={"bulk_id": bulk.bulk_id, "reason": str(exc)})
            self._counted(bulk, canceled, finished=False)
            audit_bulk_cancel(self._trail, bulk, caller, canceled, clock=self._clock)
            raise BulkCancelUnfinished(bulk_id=bulk.bulk_id, canceled=canceled) from exc
        self._counted(bulk, canceled, finished=False, pending=left)
        audit_bulk_cancel(self._trail, bulk, caller, canceled, pending=left, clock=self._clock)
        return CancelResult(canceled=canceled, pending=left)

    def finish_bulk_cancel(self, message: BulkCancelMessage, *, time_left_ms: TimeLeft = _no_deadline) -> int:
        """The rest of a bulk cancel handed on by ``cancel_bulk``: cancel while
        time is left, and hand on again what is still left (each delivery makes
        progress). Returns how many it canceled. Raises ``QueueError`` when the
        rest cannot be handed on: the message then comes back."""
        bulk = self._bulks.get_bulk(message.bulk_id)
        if bulk is None or bulk.domain != message.domain:
            logger.warning("a bulk cancel for an unknown bulk send is dropped", extra={"bulk_id": message.bulk_id})
            return 0
        canceled, left = self._cancel_waves(
            bulk, self._candidates(bulk), lambda: float(time_left_ms() - CANCEL_RESERVE_MS)
        )
        if left:
            self._hand_on(bulk)
        self._counted(bulk, canceled, finished=not left, pending=left or None)
        return canceled

    def _hand_on(self, bulk: BulkItem) -> None:
        if self._actions_queue is None:
            raise QueueError("no actions queue to hand the rest on to")
        self._actions_queue.send(BulkCancelMessage(bulk_id=bulk.bulk_id, domain=bulk.domain).model_dump_json())

    def _cancel_waves(
        self, bulk: BulkItem, candidates: list[tuple[str, str]], room_ms: Callable[[], float]
    ) -> tuple[int, int]:
        """Cancel ``candidates``, ``CANCEL_CONCURRENCY`` at a time, in waves of
        ``CANCEL_WAVE``; a wave starts only while ``room_ms()`` (the time this
        call may still spend) exceeds ``WAVE_MARGIN`` times the longest wave
        so far. Returns (canceled, not tried)."""
        canceled = 0
        longest_ms = 0.0
        with ThreadPoolExecutor(max_workers=CANCEL_CONCURRENCY) as pool:
            for start in range(0, len(candidates), CANCEL_WAVE):
                if room_ms() <= WAVE_MARGIN * longest_ms:
                    return canceled, len(candidates) - start
                began = self._monotonic()
                wave = candidates[start : start + CANCEL_WAVE]
                outcomes = map_in_context(
                    pool,
                    lambda job: self._statuses.cancel(
                        job[0], domain=bulk.domain, job_type=JobType.MANUAL, recipient=job[1]
                    ),
                    wave,
                )
                canceled += sum(1 for outcome in outcomes if outcome.canceled)
                longest_ms = max(longest_ms, (self._monotonic() - began) * 1000)
        return canceled, 0

    def _candidates(self, bulk: BulkItem) -> list[tuple[str, str]]:
        """The bulk's jobs (id, recipient) whose indexed status a cancel may change,
        newest last (``ByBulk`` projects both: a cancel's keys need the recipient)."""
        entries: list[dict[str, Any]] = []
        for attempt in range(INDEX_WAITS + 1):
            entries = self._bulk_entries(bulk.bulk_id)
            if len(entries) >= bulk.stored or attempt == INDEX_WAITS:
                break
            self._sleep(INDEX_WAIT_SECONDS)
        return sorted(
            (str(e["pk"]), str(e["recipient"])) for e in entries if JobStatus(e["status"]) in _BULK_CANDIDATES
        )

    def _bulk_entries(self, bulk_id: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        for n in range(index_keys.BULK_SHARDS):
            start: Any = None
            while True:
                read, start = self._indexes.query_partition(
                    "ByBulk", index_keys.bk(bulk_id, n), low=None, high=None, limit=1000, start=start
                )
                entries += read
                if start is None:
                    break
        return entries

    @staticmethod
    def _counted(bulk: BulkItem, canceled: int, *, finished: bool, pending: int | None = None) -> None:
        metrics.add_metric(name="EmailsCanceled", unit=MetricUnit.Count, value=canceled)
        logger.info(
            "bulk cancel done" if finished else "bulk cancel not done",
            extra={"bulk_id": bulk.bulk_id, "domain": bulk.domain, "canceled": canceled, "pending": pending},
        )

    # ------------------------------------------------------------ retry
    def retry(self, job_id: str, caller: Caller, *, idempotency_key: str | None = None) -> RetryResult:
        """A new job sending ``job_id``'s email again. With ``idempotency_key``
        the same key for the same job answers the first retry's job and
        creates nothing more; for any other request of the domain (another
        job's retry, an enqueued email) it is ``IdempotencyKeyReused``."""
        job = self._visible_job(job_id, caller)
        if idempotency_key is not None:
            first = self._retried_with(job, idempotency_key)
            if first is not None:
                return first
        if job.status not in RETRYABLE:
            raise NotRetryable(
                f"the job is {job.status.value}: only a failed, bounced or canceled job can be sent again"
            )
        unknown_until = job.outcome_unknown_until
        if unknown_until is not None and self._clock() < unknown_until:
            raise NotRetryable(
                "SES may have accepted an earlier attempt of this job (its answer was lost at "
                f"{to_rfc3339(job.outcome_unknown_at or unknown_until)}): it can be sent again once SES reports "
                f"what became of it, or from {to_rfc3339(unknown_until)} if SES never does"
            )
        if self._suppressions.get(job.domain, job.recipient) is not None:
            raise RecipientSuppressed(
                f"the job's recipient is on {job.domain}'s suppression list: remove the address from it "
                "to send to it again"
            )
        now = self._clock()
        new = self.retry_job(job, now, idempotency_key=idempotency_key)
        body = self._bodies.copy_for(job.body, new.body, expires_at=self._jobs.expires_at(new.created_at))
        if body is None:
            raise NotRetryable("the job's body is no longer stored, so it cannot be sent again")
        made = record(
            AuditAction.JOB_RETRY,
            actor_of(caller),
            job.job_id,
            f"Sent the {job.type.value} email to {job.recipient} ({job.status.value}) again as job {new.job_id}.",
            clock=self._clock,
        )
        entry = self._trail.item(job.domain, made.entry, entry_id=made.entry_id)
        stored = self._outbox.store_and_queue_with_items(
            [new], due_at=epoch_seconds(now + self._grace), body_items={new.body: body}, with_jobs={new.job_id: entry}
        )
        answer = stored.stored_id[new.job_id]
        logger.info(
            "job retried" if answer == new.job_id else "job retried already with this idempotency key",
            extra={"job_id": answer, "retry_of": job.job_id, "domain": job.domain, "type": job.type.value},
        )
        return RetryResult(job_id=answer)

    def _retried_with(self, job: Job, key: str) -> RetryResult | None:
        """The answer to a keyed retry repeated: the first retry's job, whatever
        happened since (its recipient suppressed, the old body gone), as docs/api.md
        promises; ``IdempotencyKeyReused`` when the key stands for another request
        of the domain; None for a key not seen (calls at the same moment are still
        settled by the one conditional write of ``store_and_queue_with_items``)."""
        marker = self._markers.idempotency_markers([(job.domain, key)]).get((job.domain, key))
        if marker is None:
            return None
        if not marker.matches(retry_fingerprint(job.job_id)):
            raise IdempotencyKeyReused(job.domain, key)
        logger.info(
            "job retried already with this idempotency key",
            extra={"job_id": marker.target_job_id, "retry_of": job.job_id, "domain": job.domain},
        )
        return RetryResult(job_id=marker.target_job_id)

    @staticmethod
    def retry_job(job: Job, now: datetime, *, idempotency_key: str | None = None) -> Job:
        """The new job a retry of ``job`` creates: the same email, queued, linked by ``retry_of``
        (with ``idempotency_key``: carrying it, and the fingerprint of a retry of ``job``)."""
        job_id, created_at = new_job_id(now)
        return Job(
            job_id=job_id,
            created_at=created_at,
            domain=job.domain,
            type=job.type,
            recipient=job.recipient,
            subject=job.subject,
            status=JobStatus.QUEUED,
            reply_to=job.reply_to,
            # A body of its own, copied from the old job's: it lives as long as this job.
            body=job_id,
            retry_of=job.job_id,
            # A test send's retry is one too: on the priority queue.
            test_send=job.test_send,
            idempotency_key=idempotency_key,
            request_fingerprint=retry_fingerprint(job.job_id) if idempotency_key is not None else None,
        )


def audit_bulk_cancel(
    trail: AuditTrail,
    bulk: BulkItem,
    caller: Caller,
    canceled: int,
    *,
    pending: int = 0,
    clock: Callable[[], datetime] = utc_now,
) -> None:
    """A bulk cancel's entry, after its writes: none when it canceled nothing
    (and handed nothing on)."""
    if canceled + pending == 0:
        return
    rest = f"; {pending:,} more are being canceled in the background" if pending else ""
    made = record(
        AuditAction.BULK_CANCEL,
        actor_of(caller),
        bulk.bulk_id,
        f"Canceled {canceled:,} unsent emails of the bulk send \u201c{bulk.subject[:200]}\u201d{rest}.",
        clock=clock,
    )
    trail.write(bulk.domain, made.entry, entry_id=made.entry_id)


def retry_fingerprint(job_id: str) -> str:
    """What an idempotency key of a retry stands for: the retry of that job (no
    enqueue request's fingerprint, ``v1:`` and a SHA-256, can equal it)."""
    return f"retry:{job_id}"


def _not_cancelable(status: JobStatus) -> str:
    if status is JobStatus.SENDING:
        return (
            "the job is sending: a worker holds it and will finish it; "
            "only a scheduled, queued or retrying job can be canceled"
        )
    return f"the job is {status.value}: only a scheduled, queued or retrying job can be canceled"


def finish_bulk_cancels(
    event: dict[str, Any], actions: JobActions, context: LambdaContext | None = None
) -> PartialItemFailureResponse:
    """The actions queue's records (one bulk each): what fails goes back to the
    queue and is tried again; a record that is not a bulk cancel is dropped
    with a log line (it can never be processed)."""
    time_left: TimeLeft = context.get_remaining_time_in_millis if context is not None else _no_deadline

    def handle(record: SqsRecord) -> int:
        try:
            message = BulkCancelMessage.model_validate_json(record.body)
        except ValidationError:
            logger.error("not a bulk cancel message: dropped", extra={"sqs_message_id": record.message_id})
            return 0
        return actions.finish_bulk_cancel(message, time_left_ms=time_left)

    return process_partial_response(event, handle)
