"""Sending: one queue record in, at most one email out (docs/api.md).

Per record, the worker spends exactly one claim (a conditional ``UpdateItem``
that also returns the job), one SES ``SendEmail`` and one final write (the
attempt's outcome, conditional on still holding the lease); per batch, one
read of its recipients' suppression entries and its bulk sends' cancel marks.
Nothing else:

- a repeated delivery, a concurrent worker, or a job already ``sent`` or
  ``failed`` loses the claim and sends nothing;
- a transient SES failure is written as ``retrying`` and its record goes back
  to the queue with a growing delay (ChangeMessageVisibility); the SES client
  makes one try per call (``common.adapters.aws``), so every try is a queue delivery,
  an increment of ``attempts`` and a line of ``attempt_log``;
- back-pressure (SES throttling, a used-up quota, sending paused; also the
  unsubscribe key unreadable) is waited out the same way, but is not an
  attempt: it says nothing about the email. The claim's count is taken back
  and consecutive waits are one ``attempt_log`` entry (``repeated``), so the
  job's item stays bounded; a job still waiting ``LONGEST_WAIT_SECONDS`` after
  its first wait fails, saying so (``JobClaims.record_wait``);
- a job still unsent near the end of its retention (its TTL) fails at its
  claim rather than be removed unsent (``retention_margin_seconds``);
- when a batch's suppression entries cannot be read, its records are not
  sent unchecked: each goes back to the queue, delayed, unclaimed (the job
  waits; nothing is counted);
- a send SES accepted whose outcome write fails is recorded by a minimal
  write that cannot fail for the item's size (``record_sent_minimal``);
- a record that has been received nearly ``MaxReceiveCount`` times and goes
  back to the queue is replaced by a fresh copy (SendMessage with the delay),
  so a live job's message never reaches the dead-letter queue;
- an ambiguous failure (SES may have accepted the email) is tried again for
  the types where a duplicate is better than a loss, and fails the others;
  either way the job records when (``outcome_unknown_at``), and Retry refuses
  it until SES's events or ``OUTCOME_SETTLE_SECONDS`` settle it;
- a permanent failure, or a transient one on the last allowed attempt, is
  written as ``failed``;
- before each record, the worker checks the time left: a record that one more
  send and its final write would not fit in goes back to the queue unattempted;
- a worker that dies holding a job leaves a lease that expires: the message's
  next delivery (or the sweeper) claims the job again; attempts consumed that
  way still count, so a job cannot be retried forever;
- a record that can never be processed (not a job message, or no such job)
  is parked in its queue's dead-letter queue, and the rest of its batch goes on;
- a job whose recipient joined its domain's suppression list after it was
  queued is not claimed nor sent: one read per batch finds those recipients
  (``check_batch``) and one conditional update makes the job
  ``suppressed`` (docs/adr/0024-worker-checks-suppressions.md); when that
  read fails, the batch waits (above);
- a job of a bulk send that was canceled (the bulk's cancel mark,
  ``Bulks.mark_bulk_canceled``) is made ``canceled`` right after its claim
  and not sent. The same read per batch reads the cancel marks of the bulk
  sends the batch's messages name (a bulk job's message names its bulk's
  body, whose id is the bulk's), strongly consistent: a mark written before
  the batch's read is always seen. A job whose bulk that read did not cover
  (a message queued without a body id) has its mark read after its claim
  (one ``GetItem``). A mark written after the batch's read is seen by the
  next batch: the jobs of a batch a worker already holds may be sent
  (docs/adr/0075-cancel-mark-read-per-batch.md);
- a ``manual`` email carries the one-click unsubscribe headers (RFC 8058),
  its link signed with the unsubscribe key (``common.logic.suppression_links``).

Bodies are stored apart (``common.adapters.bodies``). Before its records, a batch's
bodies that this execution environment has not cached are read with one
strongly consistent BatchGetItem (and one S3 GET per large body), from the
body ids the messages carry; a bulk's body is thus read once per environment,
however many batches carry its jobs. A message queued without a body id has
its body read after the claim, from the job. A job whose body is not stored
cannot be sent: it fails.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from common.adapters.aws import SES_CONNECT_TIMEOUT_SECONDS, SES_READ_TIMEOUT_SECONDS
from common.adapters.aws import events as aws_events
from common.adapters.bodies import BodyCache, BodyStore, CachedBodies
from common.adapters.bulks import Bulks
from common.adapters.job_claims import Claim, ClaimOutcome, JobClaims
from common.adapters.mailer import Mailer, account_send_rate
from common.adapters.observability import logger, metrics
from common.adapters.queues import DeadLetters, Visibility
from common.adapters.secrets import read_secret
from common.adapters.sqs_batch import PartialItemFailureResponse, SqsRecord, process_partial_response
from common.adapters.status_events import PutEventsClient
from common.adapters.suppressions import SuppressionStore
from common.logic.changes import Changes, changes_for
from common.logic.pacing import Pacer
from common.logic.suppression_links import MIN_UNSUBSCRIBE_KEY_CHARS, UnsubscribeLinks
from common.logic.suppressions import Suppressions, suppressed_error
from common.models.clock import epoch_millis, epoch_seconds, to_rfc3339, utc_now
from common.models.errors import (
    AmbiguousSendError,
    BackPressure,
    EmailOpsError,
    PermanentSendError,
    QueueError,
    SecretUnavailable,
    SendError,
    StorageError,
    TransientSendError,
)
from common.models.job import AttemptLogEntry, AttemptOutcome, Bodies, Job, JobStatus, JobType, QueueMessage

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sqs import SQSClient

    from common.adapters.tenants import Tenants
    from common.models.worker_settings import WorkerSettings

Clock = Callable[[], datetime]
Jitter = Callable[[int], int]

MAX_BACKOFF_SECONDS = 900  # the longest wait between two tries: 15 minutes
MAX_PACE_SECONDS = 300  # the longest wait for back-pressure to pass: 5 minutes
# The longest a job waits out back-pressure, from its first wait, before it
# fails: a used-up daily quota passes within 24 hours; a paused account or
# configuration set needs an operator, and 72 hours outlast a weekend
# (docs/adr/0070-longest-wait-and-retention.md).
LONGEST_WAIT_SECONDS = 72 * 3600
# Before the end of a job's retention (its TTL), the time kept in hand for its
# next try to find it: the longest delay between two tries (15 minutes and a
# tenth of jitter), a sweep's interval, and margin; the sweeper's grace
# (``SendPolicy.grace_seconds``) comes on top, for a lost message.
RETENTION_MARGIN_SECONDS = 3600
# The first wait after the unsubscribe key could not be read (Secrets
# Manager failing), and after a batch's suppression entries could not be read;
# each doubles while it lasts, up to MAX_PACE_SECONDS.
SECRET_WAIT_SECONDS = 30
SUPPRESSIONS_WAIT_SECONDS = 5
# The time one record may need besides SES's connect and read timeouts: its
# claim and its final write (DynamoDB answers in milliseconds; this leaves
# room for botocore's retries of a throttled write).
WRITE_ALLOWANCE_SECONDS = 4
# An ambiguous failure (SES may have accepted the email) is tried again for
# these types: sending twice is better than losing them. A bulk (manual)
# email is not: sending it twice is worse than once not at all.
RETRY_WHEN_AMBIGUOUS = frozenset(JobType) - {JobType.MANUAL}


def small_jitter(delay: int) -> int:
    """Up to a tenth of the delay, so retries of one burst do not return together."""
    return secrets.randbelow(delay // 10 + 1)


def new_lease_token() -> str:
    return secrets.token_hex(16)


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # transient failure: the record goes back to the queue, delayed
    FAILED = "failed"  # permanent failure or no attempt left: final
    DUPLICATE = "duplicate"  # already sent or failed, or held by a live worker: nothing sent
    LEASE_LOST = "lease_lost"  # another worker took the job meanwhile: it decides
    POISON = "poison"  # can never be processed: parked in the dead-letter queue
    REQUEUED = "requeued"  # to be tried again from a fresh copy of its message, delayed
    SUPPRESSED = "suppressed"  # its recipient joined the suppression list after it was queued: not sent
    HELD = "held"  # its suppression entry could not be read: back to the queue unclaimed, delayed
    CANCELED = "canceled"  # its bulk send was canceled before it was sent: not sent


class Delivery(NamedTuple):
    """What the worker needs of one SQS record."""

    body: str
    source_arn: str
    receipt_handle: str
    receive_count: int = 1  # SQS's ApproximateReceiveCount


class Result(NamedTuple):
    outcome: Outcome
    message: QueueMessage | None = None
    attempts: int | None = None
    error: str | None = None
    delay_seconds: int | None = None

    @property
    def returns_to_queue(self) -> bool:
        return self.outcome in (Outcome.RETRY, Outcome.HELD)


class SendPolicy(NamedTuple):
    max_attempts: int = 5
    backoff_base_seconds: int = 30
    lease_seconds: int = 60
    # How long past a lease or a retry delay the sweeper waits before it
    # queues the job again (the queue normally gets there first).
    grace_seconds: int = 900
    # The queues' redrive maxReceiveCount: a record returned when it has been
    # received this many times, less one, is replaced by a fresh copy.
    max_receive_count: int = 10
    # What one record may take at worst: its claim, one SES call, its final write.
    record_budget_seconds: float = SES_CONNECT_TIMEOUT_SECONDS + SES_READ_TIMEOUT_SECONDS + WRITE_ALLOWANCE_SECONDS
    retry_when_ambiguous: frozenset[JobType] = RETRY_WHEN_AMBIGUOUS

    def backoff(self, attempts: int) -> int:
        """The delay before the next try, after ``attempts`` tries: base, 2x, 4x ... capped."""
        return int(min(self.backoff_base_seconds * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS))

    @staticmethod
    def pace(wait_seconds: int, waits: int) -> int:
        """The wait after back-pressure, when the job already waited ``waits``
        times: SES's hint, doubling while it lasts, capped."""
        return int(min(wait_seconds * 2 ** min(waits, 10), max(wait_seconds, MAX_PACE_SECONDS)))

    def retention_margin_seconds(self) -> int:
        """How long before a job's TTL its claim fails it rather than try it again."""
        return RETENTION_MARGIN_SECONDS + self.grace_seconds

    def needs_fresh_copy(self, receive_count: int) -> bool:
        """Would returning a record received this often risk the dead-letter queue?
        (One receive of margin: the count is approximate.)"""
        return receive_count >= self.max_receive_count - 1


class RetryLater(EmailOpsError):
    """Marks a record failed so the queue delivers it again (after its delay)."""

    code = "retry_later"


class OutOfTime(EmailOpsError):
    """The invocation has too little time left for this record: it goes back unattempted."""

    code = "out_of_time"


class Records:
    """Where a record goes when the worker is done with it and it is not
    deleted: back to its queue after a delay (or, near maxReceiveCount, a
    fresh copy of it: docs/adr/0009-no-live-job-in-a-dead-letter-queue.md),
    or to its queue's dead-letter queue."""

    def __init__(self, dead_letters: DeadLetters, visibility: Visibility, policy: SendPolicy) -> None:
        self._dead_letters = dead_letters
        self._visibility = visibility
        self._policy = policy

    def release(self, delivery: Delivery, delay: int = 0) -> bool:
        """Let a record go back to the queue unattempted, after ``delay``
        seconds. Near maxReceiveCount, a fresh copy replaces it instead:
        returns True when the record itself is done with. Best effort:
        otherwise its visibility timeout brings it back."""
        try:
            if self._policy.needs_fresh_copy(delivery.receive_count):
                self._visibility.requeue(delivery.source_arn, delivery.body, delay)
                return True
            self._visibility.delay(delivery.source_arn, delivery.receipt_handle, delay)
        except QueueError as exc:
            logger.warning("could not release an unattempted record", extra={"reason": str(exc)})
        return False

    def hold(self, delivery: Delivery, message: QueueMessage, delay: int) -> Result:
        """The batch's suppression entries could not be read: this record is
        not sent unchecked. It goes back to the queue after ``delay``,
        unclaimed (the job keeps its status; nothing is counted)."""
        if self.release(delivery, delay):
            return Result(Outcome.REQUEUED, message, delay_seconds=delay)
        return Result(Outcome.HELD, message, error="its suppression list could not be read", delay_seconds=delay)

    def back(self, delivery: Delivery, message: QueueMessage, attempts: int, error: str, delay: int) -> Result:
        """The record comes back after ``delay`` (or a fresh copy of it does, near maxReceiveCount)."""
        if self._policy.needs_fresh_copy(delivery.receive_count):
            # Returned once more, this record could be moved to the dead-letter
            # queue: a fresh copy carries the job on, and this one is let go.
            try:
                self._visibility.requeue(delivery.source_arn, delivery.body, delay)
            except QueueError as exc:
                logger.warning("could not requeue a fresh copy", extra=_keys(message, reason=str(exc)))
            else:
                return Result(Outcome.REQUEUED, message, attempts, error, delay)
        try:
            self._visibility.delay(delivery.source_arn, delivery.receipt_handle, delay)
        except QueueError as exc:
            # The record still goes back; the queue's visibility timeout applies instead.
            logger.warning("could not delay the retry", extra=_keys(message, reason=str(exc)))
        return Result(Outcome.RETRY, message, attempts, error, delay)

    def park(self, delivery: Delivery, message: QueueMessage | None, reason: str) -> Result:
        # A QueueError here fails the record: the queue's redrive policy then
        # moves it to the dead-letter queue after maxReceiveCount deliveries.
        self._dead_letters.park(delivery.source_arn, delivery.body, reason)
        return Result(Outcome.POISON, message, error=reason)


class BatchSuppressions:
    """A batch's recipients checked against their domains' suppression lists,
    and its bulk sends' cancel marks read, before any claim: one BatchGetItem
    per batch (docs/adr/0024-worker-checks-suppressions.md,
    docs/adr/0075-cancel-mark-read-per-batch.md)."""

    def __init__(self, suppressions: Suppressions | None, bulks: Bulks | None = None) -> None:
        """``bulks``: reads a mark the batch's read did not cover (``None``: none is read then)."""
        self._suppressions = suppressions
        self._bulks = bulks
        # The batch's suppressed (domain, address lower-case) pairs, and what suppressed them.
        self._suppressed: dict[tuple[str, str], str] = {}
        # The bulk sends whose marks the batch's read covered, and those canceled.
        self._bulks_read: frozenset[str] = frozenset()
        self._canceled: frozenset[str] = frozenset()
        # The batch's entries could not be read: its records wait.
        self.unread = False

    def check(self, recipients: list[tuple[str, str]], bulk_ids: list[str] | None = None) -> None:
        """Which of a batch's ``(domain, recipient)`` pairs are suppressed now,
        and which of ``bulk_ids`` are canceled: 0.5 RRU per address, or 1 with
        a mark to read (strongly consistent). When the read fails, ``unread``:
        the batch's records that name a recipient are not sent (``Worker.process``)."""
        self._suppressed = {}
        self._bulks_read = self._canceled = frozenset()
        self.unread = False
        if self._suppressions is None or not (recipients or bulk_ids):
            return
        try:
            found = self._suppressions.find_with_bulk_marks(recipients, bulk_ids or [])
        except StorageError as exc:
            logger.warning(
                "reading the batch's suppressions failed; its records wait, unsent", extra={"reason": str(exc)}
            )
            self.unread = True
            return
        self._suppressed = {pair: suppressed_error(entry) for pair, entry in found.suppressed.items()}
        self._bulks_read, self._canceled = found.bulks_read, found.canceled_bulks

    def bulk_canceled(self, bulk_id: str) -> bool:
        """Whether the bulk send is canceled: from the batch's read, or (its mark
        not covered by it) one strongly consistent GetItem."""
        if bulk_id in self._bulks_read:
            return bulk_id in self._canceled
        return self._bulks is not None and self._bulks.bulk_canceled(bulk_id)

    def error_for(self, message: QueueMessage) -> str | None:
        """Why the message's recipient is suppressed, or None."""
        if message.recipient is None:
            return None
        return self._suppressed.get((message.domain, message.recipient.lower()))


class Worker:
    def __init__(
        self,
        jobs: JobClaims,
        mailer: Mailer,
        dead_letters: DeadLetters,
        visibility: Visibility,
        policy: SendPolicy,
        *,
        clock: Clock = utc_now,
        jitter: Jitter = small_jitter,
        new_token: Callable[[], str] = new_lease_token,
        pacer: Pacer | None = None,
        bodies: CachedBodies | None = None,
        links: UnsubscribeLinks | None = None,
        suppressions: Suppressions | None = None,
        bulks: Bulks | None = None,
        changes: Changes | None = None,
    ) -> None:
        """``changes``: where each status change is recorded for the statistics
        and the status events (``None``: nowhere); ``jobs``: the claims and outcomes of the jobs; ``bulks``: the bulk
        sends' cancel marks, read after a claim of a bulk's job whose mark the
        batch's read did not cover (``None``: no mark is read then);
        ``suppressions``: the recipients checked, and the bulk sends' marks
        read, before each batch (``None``: none is)."""
        self._jobs = jobs
        self._bodies = bodies
        self._links = links
        self._suppressions = BatchSuppressions(suppressions, bulks)
        self._pacer = pacer or Pacer.unlimited()
        self._mailer = mailer
        self._records = Records(dead_letters, visibility, policy)
        self._policy = policy
        self._clock = clock
        self._jitter = jitter
        self._new_token = new_token
        self.changes = changes if changes is not None else Changes(None, None)

    def time_needed_ms(self) -> int:
        """The time one more record may take: the wait for its turn to send, then
        its claim, send and final write at their worst."""
        return int((self._pacer.wait_seconds() + self._policy.record_budget_seconds) * 1000)

    def prefetch(self, bodies: list[str]) -> None:
        """Read the bodies of a batch's messages that are not cached yet (one
        BatchGetItem, S3 GETs). Best effort: a body still missing is read
        after its record's claim."""
        if self._bodies is None or not bodies:
            return
        try:
            self._bodies.prefetch(bodies)
        except StorageError as exc:
            logger.warning(
                "reading the batch's bodies failed; each is read with its record", extra={"reason": str(exc)}
            )

    def check_batch(self, recipients: list[tuple[str, str]], bulk_ids: list[str] | None = None) -> None:
        """Read the batch's suppressed recipients and canceled bulk sends (``BatchSuppressions``)."""
        self._suppressions.check(recipients, bulk_ids)

    def _suppressed_now(self, message: QueueMessage) -> Result | None:
        """A job whose recipient was suppressed after it was queued becomes
        ``suppressed``, unsent (unless it was sent or taken meanwhile)."""
        error = self._suppressions.error_for(message)
        if error is None:
            return None
        before = self._jobs.suppress_unsent(message, now_ms=epoch_millis(self._clock()), error=error)
        if before is None:
            return None  # sent, failed or held meanwhile: the claim decides
        self.changes.moved(before, before.status, JobStatus.SUPPRESSED, error=error)
        return Result(Outcome.SUPPRESSED, message, error=error)

    def release(self, delivery: Delivery) -> bool:
        """Let a record go back to the queue at once, unattempted (``Records.release``)."""
        return self._records.release(delivery)

    def _bodies_of(self, job: Job) -> Bodies | None:
        if self._bodies is None:
            raise StorageError("the worker has no body store")
        return self._bodies.get(job.body)

    def process(self, delivery: Delivery) -> Result:
        """Handle one queue record. Raises only when the record should be tried
        again as it is (DynamoDB or SQS kept failing)."""
        try:
            message = QueueMessage.model_validate_json(delivery.body)
        except ValidationError:
            return self._records.park(delivery, None, "not a job message: expected JSON with job_id, domain and type")
        if self._suppressions.unread and message.recipient is not None:
            # Not sent unchecked: back to the queue, 5 s doubling with its receives.
            delay = self._policy.pace(SUPPRESSIONS_WAIT_SECONDS, max(delivery.receive_count - 1, 0))
            return self._records.hold(delivery, message, delay + self._jitter(delay))
        suppressed = self._suppressed_now(message)
        if suppressed is not None:
            return suppressed

        # Wait for this environment's turn to send before the claim, so the
        # wait never eats into the lease.
        self._pacer.acquire()
        now = self._clock()
        token = self._new_token()
        policy = self._policy
        claim = self._jobs.claim(
            message,
            now_ms=epoch_millis(now),
            lease_seconds=policy.lease_seconds,
            token=token,
            due_at=epoch_seconds(now) + policy.lease_seconds + policy.grace_seconds,
        )
        if claim.outcome is ClaimOutcome.MISSING or claim.job is None:
            return self._records.park(delivery, message, "no such job for this domain and type")
        job = claim.job
        if claim.outcome is not ClaimOutcome.CLAIMED:
            return Result(Outcome.DUPLICATE, message, job.attempts)
        self.changes.moved(job, claim.claimed_from or JobStatus.QUEUED, JobStatus.SENDING)
        if job.bulk_id is not None and self._suppressions.bulk_canceled(job.bulk_id):
            return self._canceled(job, message, token)
        return self._attempt(claim, job, message, token, delivery)

    def _attempt(self, claim: Claim, job: Job, message: QueueMessage, token: str, delivery: Delivery) -> Result:
        """A claimed job: given up, or sent once, its outcome written."""
        policy = self._policy
        now = self._clock()
        # Waits are taken back from ``attempts`` (``record_wait``); jobs
        # written before version 3 still count theirs in it, and in ``waits``.
        counted = job.attempts - claim.legacy_waits
        if counted > policy.max_attempts:
            # The attempts before this one were claimed by workers that stopped
            # before writing an outcome: give up rather than loop.
            error = f"gave up after {policy.max_attempts} attempts: the last ones stopped before finishing"
            return self._finish(job, message, token, Outcome.FAILED, error=error)
        if claim.expires_at is not None and epoch_seconds(now) >= claim.expires_at - policy.retention_margin_seconds():
            return self._finish(job, message, token, Outcome.FAILED, error=_retention_error(job), attempted=False)

        bodies = self._bodies_of(job)
        if bodies is None:
            return self._finish(job, message, token, Outcome.FAILED, error="the email's body is not stored")
        try:
            message_id = self._send(job, message, bodies)
        except BackPressure as exc:
            if exc.rate_limited:
                self._pacer.throttled()  # over the account's rate: this environment's share halves
            return self._wait(job, message, token, delivery, exc, waiting_since_ms=claim.waiting_since_ms)
        except AmbiguousSendError as exc:
            if job.type not in policy.retry_when_ambiguous:
                error = f"{exc}; not tried again so that it is not sent twice: it may or may not have been sent"
                return self._finish(job, message, token, Outcome.FAILED, error=error, outcome_unknown=True)
            return self._transient(job, message, token, delivery, str(exc), counted=counted, outcome_unknown=True)
        except TransientSendError as exc:
            return self._transient(job, message, token, delivery, str(exc), counted=counted)
        except PermanentSendError as exc:
            return self._finish(job, message, token, Outcome.FAILED, error=str(exc))
        return self._finish(job, message, token, Outcome.SENT, message_id=message_id)

    def _send(self, job: Job, message: QueueMessage, bodies: Bodies) -> str:
        """One SendEmail; a failure is logged here with what only the operator may read."""
        try:
            return self._mailer.send(job, bodies, unsubscribe_url=_unsubscribe_url(self._links, job))
        except SendError as exc:
            logger.warning("the send failed", extra=_keys(message, error=str(exc), **exc.detail))
            raise

    def _transient(
        self,
        job: Job,
        message: QueueMessage,
        token: str,
        delivery: Delivery,
        error: str,
        *,
        counted: int,
        outcome_unknown: bool = False,
    ) -> Result:
        if counted >= self._policy.max_attempts:
            error = f"{error}; gave up after {counted} attempts"
            return self._finish(job, message, token, Outcome.FAILED, error=error, outcome_unknown=outcome_unknown)
        delay = self._policy.backoff(counted)
        return self._retry(job, message, token, delivery, error, delay=delay, outcome_unknown=outcome_unknown)

    def _wait(
        self,
        job: Job,
        message: QueueMessage,
        token: str,
        delivery: Delivery,
        exc: BackPressure,
        *,
        waiting_since_ms: int | None,
    ) -> Result:
        """Back-pressure: not an attempt. The job waits (``record_wait``) and its
        record comes back after SES's hint, doubling while the waits last; past
        ``LONGEST_WAIT_SECONDS`` since its first wait, it fails instead."""
        now = self._clock()
        if waiting_since_ms is not None and epoch_millis(now) - waiting_since_ms >= LONGEST_WAIT_SECONDS * 1000:
            error = _longest_wait_error(waiting_since_ms, exc)
            return self._finish(job, message, token, Outcome.FAILED, error=error, attempted=False)
        last = job.attempt_log[-1] if job.attempt_log else None
        waits = last.repeated if last is not None and last.repeated is not None else 0
        delay = self._policy.pace(exc.wait_seconds, waits)
        delay += self._jitter(delay)
        entry = self._jobs.record_wait(
            job,
            token=token,
            at=now,
            error=str(exc),
            due_at=epoch_seconds(now) + delay + self._policy.grace_seconds,
        )
        if entry is None:
            logger.warning("lease lost before the wait was written", extra=_keys(message, outcome=Outcome.RETRY))
            return Result(Outcome.LEASE_LOST, message, job.attempts, str(exc))
        self.changes.moved(job, JobStatus.SENDING, JobStatus.RETRYING, at=now)
        return self._records.back(delivery, message, job.attempts - 1, str(exc), delay)

    # ------------------------------------------------------------ outcomes
    def _canceled(self, job: Job, message: QueueMessage, token: str) -> Result:
        """The job's bulk send was canceled after the job was queued, and the
        cancel's own write has not reached it yet: cancel it here, unsent."""
        if not self._jobs.cancel_claimed(job, token=token):
            logger.warning("lease lost before a canceled bulk's job was canceled", extra=_keys(message))
            return Result(Outcome.LEASE_LOST, message, job.attempts)
        self.changes.moved(job, JobStatus.SENDING, JobStatus.CANCELED)
        return Result(Outcome.CANCELED, message, job.attempts - 1)

    def _finish(
        self,
        job: Job,
        message: QueueMessage,
        token: str,
        outcome: Outcome,
        *,
        error: str | None = None,
        message_id: str | None = None,
        outcome_unknown: bool = False,
        attempted: bool = True,
    ) -> Result:
        """End the claim with the job ``sent`` or ``failed`` (``attempted=False``:
        ended without an attempt, the claim's count taken back)."""
        now = self._clock()
        sent = outcome is Outcome.SENT
        entry = AttemptLogEntry(at=now, outcome=AttemptOutcome.SENT if sent else AttemptOutcome.FAILED, error=error)
        try:
            recorded = self._jobs.record_attempt(
                job,
                token=token,
                entry=entry,
                status=JobStatus.SENT if sent else JobStatus.FAILED,
                message_id=message_id,
                sent_at=now if sent else None,
                outcome_unknown=outcome_unknown,
                attempted=attempted,
            )
        except StorageError as exc:
            if not sent or message_id is None:
                raise
            # SES accepted the email: left ``sending``, the job would be sent
            # again once its lease expires. Record the send, minimally.
            logger.warning(
                "the outcome write failed after the send; recording it minimally", extra=_keys(message, reason=str(exc))
            )
            recorded = self._jobs.record_sent_minimal(job, token=token, entry=entry, message_id=message_id)
        if recorded:
            status = JobStatus.SENT if sent else JobStatus.FAILED
            self.changes.moved(job, JobStatus.SENDING, status, at=now, error=error)
        if not recorded:
            # Only possible when this attempt outlived its lease; the lease is
            # longer than the function's timeout, so a live worker never does.
            logger.warning("lease lost before the outcome was written", extra=_keys(message, outcome=outcome))
            if not sent:
                return Result(Outcome.LEASE_LOST, message, job.attempts, error)
        return Result(outcome, message, job.attempts if attempted else job.attempts - 1, error)

    def _retry(
        self,
        job: Job,
        message: QueueMessage,
        token: str,
        delivery: Delivery,
        error: str,
        *,
        delay: int,
        outcome_unknown: bool = False,
    ) -> Result:
        delay += self._jitter(delay)
        now = self._clock()
        recorded = self._jobs.record_attempt(
            job,
            token=token,
            entry=AttemptLogEntry(at=now, outcome=AttemptOutcome.RETRY, error=error),
            status=JobStatus.RETRYING,
            due_at=epoch_seconds(now) + delay + self._policy.grace_seconds,
            outcome_unknown=outcome_unknown,
        )
        if not recorded:
            logger.warning("lease lost before the retry was written", extra=_keys(message, outcome=Outcome.RETRY))
            return Result(Outcome.LEASE_LOST, message, job.attempts, error)
        self.changes.moved(job, JobStatus.SENDING, JobStatus.RETRYING, at=now)
        return self._records.back(delivery, message, job.attempts, error, delay)


# ---------------------------------------------------------------- the batch
_METRIC_FOR = {
    Outcome.SENT: "EmailsSent",
    Outcome.FAILED: "SendFailures",
    Outcome.RETRY: "SendRetries",
    Outcome.POISON: "PoisonMessages",
    Outcome.DUPLICATE: "DuplicateDeliveries",
    Outcome.LEASE_LOST: "LeasesLost",
    Outcome.REQUEUED: "SendRetries",
    Outcome.SUPPRESSED: "EmailsSuppressed",
    Outcome.CANCELED: "EmailsCanceled",
    Outcome.HELD: "SendsHeld",
}


def _unsubscribe_url(links: UnsubscribeLinks | None, job: Job) -> str | None:
    """A manual job's one-click unsubscribe URL; signing it needs the key."""
    if links is None:
        return None
    try:
        return links.url_for(job)
    except SecretUnavailable as exc:
        # Says nothing about the email (SES was not called): waited out, not an attempt.
        raise BackPressure(
            "the unsubscribe link could not be signed (its key was not readable); it is tried again automatically",
            wait_seconds=SECRET_WAIT_SECONDS,
            detail={"reason": str(exc)},
        ) from exc


def _longest_wait_error(waiting_since_ms: int, exc: BackPressure) -> str:
    since = to_rfc3339(datetime.fromtimestamp(waiting_since_ms / 1000, UTC))
    return (
        f"gave up after waiting {LONGEST_WAIT_SECONDS // 3600} hours (since {since}) for SES to accept it; "
        f"the last answer: {exc}. It was not sent: once the cause is fixed, send it again with Retry"
    )


def _retention_error(job: Job) -> str:
    last = f"; the last error: {job.error}" if job.error else ""
    return (
        "not sent before the end of its retention (RetentionDays after it was created), so it fails rather than "
        f"be removed unsent{last}. Send it again with Retry"
    )


def _keys(message: QueueMessage | None, **more: Any) -> dict[str, Any]:
    """Per-record log keys: ids, never a body."""
    keys: dict[str, Any] = {}
    if message is not None:
        keys.update(job_id=message.job_id, domain=message.domain, type=message.type.value)
    keys.update({k: v for k, v in more.items() if v is not None})
    return keys


def _body_ids(event: dict[str, Any]) -> list[str]:
    """The body ids the batch's messages name (a malformed message names none)."""
    ids: list[str] = []
    for record in event.get("Records") or []:
        try:
            body = QueueMessage.model_validate_json(record.get("body") or "").body
        except (ValidationError, AttributeError):
            continue
        if body is not None:
            ids.append(body)
    return ids


def _to_check(event: dict[str, Any]) -> tuple[list[tuple[str, str]], list[str]]:
    """The ``(domain, recipient)`` pairs the batch's messages name, and the
    bulk sends whose marks to read: a ``manual`` message's body id, which for
    a bulk send's job is its bulk's id (any other's names no bulk: nothing
    is found under it)."""
    pairs: list[tuple[str, str]] = []
    bulks: list[str] = []
    for record in event.get("Records") or []:
        try:
            message = QueueMessage.model_validate_json(record.get("body") or "")
        except (ValidationError, AttributeError):
            continue
        if message.recipient is not None:
            pairs.append((message.domain, message.recipient))
        if message.type is JobType.MANUAL and message.body is not None:
            bulks.append(message.body)
    return pairs, list(dict.fromkeys(bulks))


def process_batch(
    event: dict[str, Any], worker: Worker, context: LambdaContext | None = None
) -> PartialItemFailureResponse:
    """Every record of an SQS batch; returns only the failed ones (partial batch response)."""
    # An all-failed batch is reported record by record too, rather than raised.
    try:
        return _process_batch(event, worker, context)
    finally:
        # The batch's counts and status events, in one write and 10 a put.
        worker.changes.flush()


def _process_batch(event: dict[str, Any], worker: Worker, context: LambdaContext | None) -> PartialItemFailureResponse:
    worker.prefetch(_body_ids(event))
    worker.check_batch(*_to_check(event))

    def handle(record: SqsRecord) -> str:
        delivery = Delivery(
            record.body,
            record.event_source_arn,
            record.receipt_handle,
            receive_count=record.approximate_receive_count,
        )
        if context is not None and context.get_remaining_time_in_millis() < worker.time_needed_ms():
            # Once short of time, every later record is too: all go back unattempted.
            replaced = worker.release(delivery)
            logger.warning(
                "out of time: record not attempted; it goes back to the queue",
                extra={"sqs_message_id": record.message_id, "fresh_copy": replaced},
            )
            metrics.add_metric(name="RecordsNotAttempted", unit=MetricUnit.Count, value=1)
            if replaced:
                return Outcome.REQUEUED.value
            raise OutOfTime("not attempted: too little time left in this invocation")
        try:
            result = worker.process(delivery)
            worker.changes.flush_if_due()
        except EmailOpsError as exc:
            logger.error(
                "record failed; it goes back to the queue",
                extra={"sqs_message_id": record.message_id, "reason": str(exc)},
            )
            raise
        except Exception as exc:
            # Type only: an unexpected exception's text may quote the request.
            logger.error(
                "record failed; it goes back to the queue",
                extra={"sqs_message_id": record.message_id, "error_type": type(exc).__name__},
            )
            raise
        metrics.add_metric(name=_METRIC_FOR[result.outcome], unit=MetricUnit.Count, value=1)
        keys = _keys(
            result.message,
            sqs_message_id=record.message_id,
            outcome=result.outcome.value,
            attempts=result.attempts,
            error=result.error,
            delay_seconds=result.delay_seconds,
        )
        logger.info("record processed", extra=keys)
        if result.returns_to_queue:
            raise RetryLater(f"retry in {result.delay_seconds} s")
        return result.outcome.value

    return process_partial_response(event, handle)


# ---------------------------------------------------------------- wiring
def pacer_from_settings(settings: WorkerSettings, sesv2: SESV2Client) -> Pacer:
    """An execution environment's pacer: the account's rate read from SES
    (``GetAccount``), shared by up to the queues' maximum concurrency."""
    return Pacer(
        None,
        workers=settings.priority_maximum_concurrency + settings.bulk_maximum_concurrency,
        read_rate=lambda: account_send_rate(sesv2),
    )


def worker_from_settings(
    settings: WorkerSettings,
    *,
    dynamodb: DynamoDBClient,
    sqs: SQSClient,
    sesv2: SESV2Client,
    s3: S3Client | None = None,
    clock: Clock = utc_now,
    jitter: Jitter = small_jitter,
    pacer: Pacer | None = None,
    cache: BodyCache | None = None,
    tenants: Tenants | None = None,
    events: Callable[[], PutEventsClient] | None = None,
) -> Worker:
    """``pacer`` and ``cache``: the execution environment's (``None``: no
    pacing; a cache for this worker alone). ``s3``: for large bodies."""
    return Worker(
        JobClaims(dynamodb, settings.jobs_table, retention_days=settings.retention_days),
        Mailer(sesv2, sender=settings.sender_address, configuration_set=settings.configuration_set, tenants=tenants),
        DeadLetters(
            sqs,
            dlq_urls={
                settings.priority_queue_arn: settings.priority_dlq_url,
                settings.bulk_queue_arn: settings.bulk_dlq_url,
            },
        ),
        Visibility(
            sqs,
            queue_urls={
                settings.priority_queue_arn: settings.priority_queue_url,
                settings.bulk_queue_arn: settings.bulk_queue_url,
            },
            grouped_arns=frozenset({settings.bulk_queue_arn}),
        ),
        SendPolicy(
            max_attempts=settings.max_attempts,
            backoff_base_seconds=settings.backoff_base_seconds,
            lease_seconds=settings.lease_seconds,
            grace_seconds=settings.sweep_grace_seconds,
            max_receive_count=settings.max_receive_count,
        ),
        clock=clock,
        jitter=jitter,
        pacer=pacer,
        bodies=CachedBodies(
            BodyStore(dynamodb, settings.jobs_table, s3, settings.bodies_bucket),
            cache if cache is not None else BodyCache(),
        ),
        links=UnsubscribeLinks(
            lambda: read_secret(
                settings.unsubscribe_secret_id,
                max_age=settings.secrets_max_age_seconds,
                min_length=MIN_UNSUBSCRIBE_KEY_CHARS,
            ),
            settings.api_base_url,
        ),
        suppressions=Suppressions(SuppressionStore(dynamodb, settings.jobs_table)),
        bulks=Bulks(dynamodb, settings.jobs_table, retention_days=settings.retention_days),
        changes=changes_for(
            dynamodb,
            settings.jobs_table,
            retention_days=settings.retention_days,
            bus=settings.status_event_bus,
            events=events or aws_events,
            clock=clock,
        ),
    )
