"""POST /jobs/bulk: one email from an admin to the recipients of selected rows
and to typed-in addresses (docs/api.md).

1. The domain must be the caller's (403 otherwise).
2. Recipients: each selected job id that is a job of that domain gives its
   recipient (read 100 keys per BatchGetItem, three attributes only); every
   other id is rejected with the same reason, whether it does not exist or
   belongs to another domain. Then the typed-in addresses
   (``common.logic.recipients``). Duplicates are dropped case-insensitively, the
   first seen kept.
3. No valid recipient: 400 ``no_recipients``; more than 1,000: 413
   ``too_many_recipients``. Nothing is written in either case.
   Then addresses on the domain's suppression list (one BatchGetItem per 100:
   at most 10 for 1,000) are left out and listed in ``rejected`` with a
   reason ``suppressed: <reason>``; none left is 400 ``no_recipients`` too.
   Then a domain whose recent bounce or complaint
   rate passed the thresholds: 409 ``domain_paused``
   (``common.logic.reputation``). Nothing is written in any of these cases.
4. One ``manual`` job per recipient, all with the same ``bulk_id`` and
   ``created_at``, and one body for all of them, stored once under the bulk
   id (``common.adapters.bodies``). The bulk's item is written before the
   jobs, and how many of them are stored after (``Bulks.record_stored``: all
   of them, or on a failure part-way those stored), so ``GET
   /bulks/{bulk_id}`` never counts a job that does not exist. Each job id is a ULID with that time and, as its random
   part, a keyed hash (HMAC-SHA256, with a secret of the bulk send's own) of
   the lower-cased recipient: the same bulk send always gives a recipient the
   same job id, and nobody can tell a recipient from an id. A job is written
   before its message is queued, on the bulk queue.
5. A ``rejected`` list of at most 100 entries, each cut to 100 characters;
   ``rejected_total`` counts them all. The answer kept for replays is bounded.

With an ``Idempotency-Key`` header:

- Its first attempt writes the bulk send's record (``Bulks.open_bulk``,
  keyed by a hash of caller and key): the bulk id (whose time is the jobs'
  ``created_at``), the request's fingerprint and the id secret, for 24 hours. A later attempt with the same
  key and request finds it and derives the same job ids; with another request
  it is 409 ``idempotency_key_reused``.
- Jobs are written with one PutItem each, conditional on the id being new
  (``Outbox.store_once_and_queue``), and a retry first reads which exist: a
  retry with the same key never creates a recipient's job twice and queues
  only the jobs it writes, whatever failed and where before. A job an
  earlier attempt stored stays in the bulk send even when its recipient was
  suppressed since (the worker, which checks the list before sending, makes
  it ``suppressed``); only recipients without a job are left out as
  suppressed. When every recipient is suppressed by then, a live record of
  the key (``Bulks.live_record``) still makes it a retry.
- Storage failing part-way is a 500 ``bulk_send_unfinished`` saying how many
  of how many emails are queued (``UnfinishedBulkSend``); the same request
  with the same key finishes the rest. Refusals before anything is written
  (4xx) do not use the key up.
- Powertools idempotency (on its own table) remembers the 202 for 24 hours:
  a repeat gets the first 202 back and queues nothing, and a repeat while the
  first still runs is 409 ``idempotency_in_progress``.

Without the header every request is a new bulk send: jobs are written 25 per
BatchWriteItem (their ids cannot exist yet) and a 500 says that sending again
queues all of them again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from functools import cache
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from ulid import ULID

from common.adapters.api import answer_as
from common.adapters.audit_trail import AuditTrail
from common.adapters.bodies import BodyStore, body_pk
from common.adapters.bulks import BulkItem, BulkRecord, Bulks
from common.adapters.idempotency_markers import IdempotencyMarkers
from common.adapters.idempotency_store import IdempotencyStore
from common.adapters.job_indexes import JobIndexes
from common.adapters.job_store import JobRecipient, JobStore
from common.adapters.observability import logger
from common.adapters.queues import JobQueues
from common.adapters.suppressions import SuppressionStore
from common.logic.audit import actor_of, record_test_send
from common.logic.audit import record as audit_record
from common.logic.changes import Changes, counts_only
from common.logic.outbox import Outbox, PartlyStored, Stored
from common.logic.recipients import RecipientList
from common.logic.reputation import ReputationCheck, thresholds_of
from common.logic.suppressions import Suppressions, bulk_rejection
from common.models.api import (
    MAX_RECIPIENTS,
    BulkKeyReused,
    Caller,
    NoRecipients,
    RecipientSuppressed,
    TooManyRecipients,
    UnfinishedBulkSend,
)
from common.models.audit import AuditAction
from common.models.bulk_send import (
    MAX_REJECTED_LISTED,
    BulkSendRequest,
    BulkSendResponse,
    RejectedInput,
    TestSendRequest,
    TestSendResponse,
)
from common.models.clock import epoch_seconds, utc_now
from common.models.errors import StorageError
from common.models.job import JOB_ID_RE, Bodies, Job, JobStatus, JobType, new_job_id, scheduled_for
from common.models.suppression import SuppressionEntry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

    from common.models.bulk_send import BulkQueueSettings

IDEMPOTENCY_SECONDS = 24 * 60 * 60

# Powertools' own refusals of a repeated key, answered in the contract's terms.
answer_as(IdempotencyValidationError, HTTPStatus.CONFLICT, "idempotency_key_reused")
answer_as(IdempotencyAlreadyInProgressError, HTTPStatus.CONFLICT, "idempotency_in_progress")

# The key is (caller, header value); the request must be the same, or 409.
IDEMPOTENCY = IdempotencyConfig(
    event_key_jmespath="[caller, key]",
    payload_validation_jmespath="request",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=IDEMPOTENCY_SECONDS,
)


@cache
def idempotency_store(table_name: str, client: DynamoDBClient) -> IdempotencyStore:
    """One persistence layer per table and client (made on first use, not at import)."""
    return IdempotencyStore(table_name, client)


def _sha256(*parts: Any) -> str:
    """A hash of values, unambiguous however they are spelled (JSON, sorted keys)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def bulk_key_hash(caller: Caller, idempotency_key: str) -> str:
    """What identifies a bulk send's record: the caller and its key, hashed."""
    return _sha256(caller.identity, idempotency_key)


def new_bulk_record(key_hash: str, request: BulkSendRequest, now: datetime) -> BulkRecord:
    bulk_id, created_at = new_job_id(now)
    return BulkRecord(
        key_hash=key_hash,
        bulk_id=bulk_id,
        request_hash=_sha256(request.model_dump(mode="json")),
        id_key=secrets.token_hex(16),
        expires_at=epoch_seconds(created_at + timedelta(seconds=IDEMPOTENCY_SECONDS)),
    )


def bulk_job_id(record: BulkRecord, address: str) -> str:
    """The job id of ``address`` in this bulk send: a ULID with the bulk id's
    time and, as its 80 random bits, an HMAC of the lower-cased address."""
    digest = hmac.new(bytes.fromhex(record.id_key), address.lower().encode(), hashlib.sha256).digest()
    millis = ULID.from_str(record.bulk_id).milliseconds
    return str(ULID.from_bytes(millis.to_bytes(6, "big") + digest[:10]))


def collect_recipients(request: BulkSendRequest, rows: Sequence[JobRecipient]) -> RecipientList:
    """The selected rows' recipients, then the typed-in addresses, checked and de-duplicated."""
    found = {row.job_id: row for row in rows if row.domain == request.domain}
    recipients = RecipientList()
    for job_id in request.job_ids or []:
        row = found.get(job_id)
        if row is None:
            recipients.reject(job_id, f"no job of {request.domain} has this id")
        else:
            recipients.add(row.recipient, source=job_id)
    recipients.add_typed(request.extra_recipients or "")
    return recipients


class BulkSender:
    def __init__(
        self,
        jobs: JobStore,
        bulks: Bulks,
        markers: IdempotencyMarkers,
        queues: JobQueues,
        bodies: BodyStore,
        *,
        sweep_grace_seconds: int,
        idempotency: BasePersistenceLayer | None = None,
        reputation: ReputationCheck | None = None,
        clock: Callable[[], datetime] = utc_now,
        suppressions: Suppressions | None = None,
        trail: AuditTrail | None = None,
        changes: Changes | None = None,
    ) -> None:
        """``changes``: where the jobs created are counted (the statistics)."""
        self._jobs = jobs
        self._trail = trail
        self._bulks = bulks
        self._suppressions = suppressions
        self._reputation = reputation
        self._outbox = Outbox(jobs, markers, queues, bodies, changes=changes)
        self._grace = timedelta(seconds=sweep_grace_seconds)
        self._clock = clock
        self._once: Callable[..., BulkSendResponse] | None = None
        if idempotency is not None:
            self._once = idempotent_function(
                self._send_once,
                data_keyword_argument="envelope",
                persistence_store=idempotency,
                config=IDEMPOTENCY,
                output_serializer=PydanticSerializer(BulkSendResponse),
                key_prefix="bulk_send",
            )

    @classmethod
    def from_settings(
        cls, settings: BulkQueueSettings, *, dynamodb: DynamoDBClient, sqs: SQSClient, s3: S3Client
    ) -> BulkSender:
        name, retention = settings.jobs_table, settings.retention_days
        return cls(
            JobStore(dynamodb, name, retention_days=retention),
            Bulks(dynamodb, name, retention_days=retention),
            IdempotencyMarkers(dynamodb, name, retention_days=retention),
            JobQueues(sqs, priority_url=settings.priority_queue_url, bulk_url=settings.bulk_queue_url),
            BodyStore(dynamodb, settings.jobs_table, s3, settings.bodies_bucket),
            sweep_grace_seconds=settings.sweep_grace_seconds,
            idempotency=idempotency_store(settings.idempotency_table, dynamodb),
            suppressions=Suppressions(SuppressionStore(dynamodb, settings.jobs_table)),
            reputation=ReputationCheck(
                JobIndexes(dynamodb, name, retention_days=retention),
                thresholds_of(settings),
                jobs=JobStore(dynamodb, name, retention_days=retention),
            ),
            trail=AuditTrail(dynamodb, name, retention_days=retention),
            # A bulk send's jobs are created queued (or scheduled): counted, never a status event.
            changes=counts_only(dynamodb, name, retention_days=retention),
        )

    def send(self, request: BulkSendRequest, caller: Caller, *, idempotency_key: str | None = None) -> BulkSendResponse:
        caller.require(request.domain)
        if idempotency_key is None or self._once is None:
            return self.queue(request, caller=caller)
        envelope: dict[str, Any] = {
            "caller": caller.identity,
            "key": idempotency_key,
            "request": request.model_dump(mode="json"),
        }
        return self._once(
            envelope=envelope, request=request, key_hash=bulk_key_hash(caller, idempotency_key), caller=caller
        )

    def _send_once(
        self, *, envelope: dict[str, Any], request: BulkSendRequest, key_hash: str, caller: Caller
    ) -> BulkSendResponse:
        return self.queue(request, key_hash=key_hash, caller=caller)

    def queue(
        self, request: BulkSendRequest, *, key_hash: str | None = None, caller: Caller | None = None
    ) -> BulkSendResponse:
        """Create and queue one job per recipient (the domain already checked).

        ``key_hash`` (a bulk send with an ``Idempotency-Key``): the first
        attempt fixes the bulk send in its record; a later one finishes it.
        """
        recipients = self._recipients(request)
        total = len(recipients.addresses)
        listed = self._listed(request.domain, recipients.addresses)
        now = self._clock()
        every_listed = len(listed) == total
        if every_listed and (key_hash is None or not self._bulks.live_record(key_hash, now=epoch_seconds(now))):
            raise NoRecipients(f"no valid recipient: every address is on {request.domain}'s suppression list")
        if self._reputation is not None:
            # 409 domain_paused past the bounce or complaint threshold; nothing is written.
            self._reputation.require_good(request.domain)

        due_at = epoch_seconds(now + self._grace)
        record, first = self._open(request, key_hash, now, total)
        # A send_at more than a second ahead: the jobs are scheduled, not queued (the scheduler queues them).
        send_at = scheduled_for(request.send_at, now)
        every = {address: self._job(request, address, record, send_at) for address in recipients.addresses}
        found = set() if first else self._stored_before(record, every.values(), total)
        # A recipient listed since the first attempt keeps the job that attempt
        # stored (the worker will not send it to a listed address); only those
        # without a job are left out.
        self._leave_out_listed(recipients, listed, keep={a for a, job in every.items() if job.job_id in found})
        if not recipients.addresses:
            raise NoRecipients(f"no valid recipient: every address is on {request.domain}'s suppression list")
        total = len(recipients.addresses)
        jobs = [every[address] for address in recipients.addresses]
        # One body for the whole bulk send, under the bulk id.
        bodies = {record.bulk_id: Bodies(text=request.body)}
        actor = actor_of(caller) if caller is not None else None
        bulk = BulkItem.of(record.bulk_id, request.domain, request.subject, created_by=actor, send_at=send_at)
        also: list[TransactWriteItemTypeDef] = []
        if self._trail is not None and actor is not None:
            # The entry goes with the bulk's item, before any job: keyed by the
            # bulk id, a request finishing this bulk send rewrites it.
            made = audit_record(
                AuditAction.BULK_SEND,
                actor,
                record.bulk_id,
                f"Sent the bulk email \u201c{request.subject}\u201d to {total:,} recipients.",
                entry_id=record.bulk_id,
            )
            also.append(self._trail.put_request(request.domain, made.entry, entry_id=made.entry_id))
        try:
            self._bulks.put_bulk(bulk, sweep_at=due_at, also=also)
        except StorageError as exc:
            raise UnfinishedBulkSend(bulk_id=record.bulk_id, queued=0, total=total, keyed=key_hash is not None) from exc
        try:
            if key_hash is None:
                stored = self._outbox.store_and_queue(jobs, due_at=due_at, bodies=bodies)
            else:
                stored = self._outbox.store_once_and_queue(jobs, due_at=due_at, found=found, bodies=bodies)
        except PartlyStored as exc:
            if exc.stored is not None:
                self._record_stored(record.bulk_id, exc.stored)
            raise UnfinishedBulkSend(
                bulk_id=record.bulk_id, queued=exc.stored, total=total, keyed=key_hash is not None
            ) from exc
        self._record_stored(record.bulk_id, total)
        self._log(request, record, stored, recipients, retry=not first)
        return BulkSendResponse(
            bulk_id=record.bulk_id,
            queued=total,
            job_ids=[job.job_id for job in jobs],
            rejected=[RejectedInput(input=r.input, reason=r.reason) for r in recipients.rejected[:MAX_REJECTED_LISTED]],
            rejected_total=len(recipients.rejected),
            duplicates=recipients.duplicates,
        )

    def test_send(self, request: TestSendRequest, caller: Caller) -> TestSendResponse:
        """``POST /jobs/test``: one ``manual`` job of no bulk send to one address,
        queued on the priority queue (``test_send``) so it arrives while the
        admin reads the dialog. A suppressed address: 409 ``suppressed``,
        nothing written. A paused domain may still send tests: no pause check."""
        caller.require(request.domain)
        if self._suppressions is not None and self._suppressions.find([(request.domain, request.to)]):
            raise RecipientSuppressed(
                f"this address is on {request.domain}'s suppression list: remove it there to send to it"
            )
        job_id, created_at = new_job_id(self._clock())
        job = Job(
            job_id=job_id,
            created_at=created_at,
            domain=request.domain,
            type=JobType.MANUAL,
            recipient=request.to,
            subject=request.subject,
            status=JobStatus.QUEUED,
            body=job_id,
            test_send=True,
        )
        due_at = epoch_seconds(self._clock() + self._grace)
        # The audit entry goes in the same write as the job (common.logic.audit).
        entry = {job_id: record_test_send(self._trail, caller, job, clock=self._clock)} if self._trail else None
        self._outbox.store_and_queue([job], due_at=due_at, bodies={job_id: Bodies(text=request.body)}, with_jobs=entry)
        logger.info("test email queued", extra={"job_id": job_id, "domain": request.domain})
        return TestSendResponse(job_id=job_id)

    def _recipients(self, request: BulkSendRequest) -> RecipientList:
        """The selected rows' recipients and the typed-in addresses; 400 when
        none is valid, 413 past ``MAX_RECIPIENTS``."""
        selected = [job_id for job_id in dict.fromkeys(request.job_ids or []) if JOB_ID_RE.fullmatch(job_id)]
        recipients = collect_recipients(request, self._jobs.recipients_of(selected) if selected else [])
        if not recipients.addresses:
            raise NoRecipients("no valid recipient: select rows of this domain or type addresses")
        total = len(recipients.addresses)
        if total > MAX_RECIPIENTS:
            raise TooManyRecipients(f"{total} recipients; a bulk send may have at most {MAX_RECIPIENTS}")
        return recipients

    def _open(
        self, request: BulkSendRequest, key_hash: str | None, now: datetime, total: int
    ) -> tuple[BulkRecord, bool]:
        """The bulk send's record and whether this is its first attempt. With a
        key: the record stored for it (``Bulks.open_bulk``), 409 when it stands
        for another request. Without one, a record kept nowhere: its secret
        dies with this call."""
        record = new_bulk_record(key_hash or "0" * 64, request, now)
        if key_hash is None:
            return record, True
        try:
            record, first = self._bulks.open_bulk(record, now=epoch_seconds(now))
        except StorageError as exc:
            logger.exception("bulk send not started: storing its record failed", extra={"recipients": total})
            raise UnfinishedBulkSend(bulk_id=None, queued=0, total=total, keyed=True) from exc
        if record.request_hash != _sha256(request.model_dump(mode="json")):
            raise BulkKeyReused("this Idempotency-Key stands for another bulk send")
        return record, first

    def _stored_before(self, record: BulkRecord, jobs: Iterable[Job], total: int) -> set[str]:
        """What an earlier attempt of this keyed bulk send stored: the ids, among
        its jobs' and its body's, that exist (one consistent BatchGetItem per 100)."""
        wanted = [job.job_id for job in jobs] + [body_pk(record.bulk_id)]
        try:
            return self._jobs.existing_ids(wanted)
        except StorageError as exc:
            logger.exception("reading which jobs are stored failed", extra={"requested": total})
            raise UnfinishedBulkSend(bulk_id=record.bulk_id, queued=None, total=total, keyed=True) from exc

    def _record_stored(self, bulk_id: str, stored: int) -> None:
        """The bulk's count of jobs known stored, after they were written. When
        it cannot be written, ``GET /bulks/{bulk_id}`` counts the index alone."""
        try:
            self._bulks.record_stored(bulk_id, stored)
        except StorageError:
            logger.warning("the bulk's count of stored jobs was not written", extra={"bulk_id": bulk_id})

    def _listed(self, domain: str, addresses: Sequence[str]) -> dict[str, SuppressionEntry]:
        """The addresses on the domain's suppression list, by lower-cased address."""
        if self._suppressions is None:
            return {}
        found = self._suppressions.find((domain, address) for address in addresses)
        return {address: entry for (_domain, address), entry in found.items()}

    @staticmethod
    def _leave_out_listed(recipients: RecipientList, listed: dict[str, SuppressionEntry], *, keep: set[str]) -> None:
        """Listed addresses move to ``rejected``, but those in ``keep`` (their job exists)."""
        kept: list[str] = []
        for address in recipients.addresses:
            entry = listed.get(address.lower())
            if entry is None or address in keep:
                kept.append(address)
            else:
                recipients.reject(address, bulk_rejection(entry))
        recipients.addresses = kept

    @staticmethod
    def _log(
        request: BulkSendRequest, record: BulkRecord, stored: Stored, recipients: RecipientList, *, retry: bool
    ) -> None:
        logger.info(
            "bulk send queued",
            extra={
                "bulk_id": record.bulk_id,
                "domain": request.domain,
                "queued": len(recipients.addresses),
                "jobs_created": len(stored.created),
                "jobs_found": len(stored.found),
                "retry": retry,
                "rejected": len(recipients.rejected),
                "duplicates": recipients.duplicates,
            },
        )

    @staticmethod
    def _job(request: BulkSendRequest, address: str, record: BulkRecord, send_at: datetime | None) -> Job:
        job_id = bulk_job_id(record, address)
        return Job(
            job_id=job_id,
            created_at=ULID.from_str(job_id).datetime,
            domain=request.domain,
            type=JobType.MANUAL,
            recipient=address,
            subject=request.subject,
            status=JobStatus.QUEUED if send_at is None else JobStatus.SCHEDULED,
            send_at=send_at,
            body=record.bulk_id,
            bulk_id=record.bulk_id,
        )
