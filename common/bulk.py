"""POST /jobs/bulk: one email from an admin to the recipients of selected rows
and to typed-in addresses (CONTRACT.md section 3).

1. The domain must be the caller's (403 otherwise).
2. Recipients: each selected job id that is a job of that domain gives its
   recipient (read 100 keys per BatchGetItem, three attributes only); every
   other id is rejected with the same reason, whether it does not exist or
   belongs to another domain. Then the typed-in addresses
   (``common.recipients``). Duplicates are dropped case-insensitively, the
   first seen kept.
3. No valid recipient: 400 ``no_recipients``; more than 1,000: 413
   ``too_many_recipients``. Nothing is written in either case.
4. One ``manual`` job per recipient, all with the same ``bulk_id``, written 25
   per BatchWriteItem, then queued 10 per SendMessageBatch on the bulk queue.
   A job is written before its message is queued; one whose message could
   not be queued stays ``queued`` with its ``due_at`` and the sweeper sends it.
   If DynamoDB fails part-way, the jobs already written are queued (they would
   be sent by the sweeper anyway) and the caller gets a 500.

With an ``Idempotency-Key`` header the whole send runs once per (caller, key)
for 24 hours (Powertools idempotency, on its own table): a repeat gets the
first 202 back and queues nothing; the same key with a different request is
409. Refusals (4xx, 5xx) are not remembered: fixing the request and sending
it again with the same key works.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer

from common.api_models import (
    MAX_RECIPIENTS,
    BulkSendRequest,
    BulkSendResponse,
    Caller,
    NoRecipients,
    RejectedInput,
    TooManyRecipients,
)
from common.clock import epoch_seconds, utc_now
from common.jobs import JobRecipient, JobsTable
from common.models import JOB_ID_RE, Job, JobStatus, JobType, new_job_id
from common.observability import logger
from common.outbox import Outbox
from common.queues import JobQueues
from common.recipients import RecipientList

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

    from common.settings import BulkQueueSettings

IDEMPOTENCY_SECONDS = 24 * 60 * 60

# The key is (caller, header value); the request must be the same, or 409.
IDEMPOTENCY = IdempotencyConfig(
    event_key_jmespath="[caller, key]",
    payload_validation_jmespath="request",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=IDEMPOTENCY_SECONDS,
)


@cache
def idempotency_store(table_name: str, client: DynamoDBClient) -> DynamoDBPersistenceLayer:
    """One persistence layer per table and client (made on first use, not at import)."""
    return DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)


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
        jobs: JobsTable,
        queues: JobQueues,
        *,
        sweep_grace_seconds: int,
        idempotency: BasePersistenceLayer | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._jobs = jobs
        self._outbox = Outbox(jobs, queues)
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
    def from_settings(cls, settings: BulkQueueSettings, *, dynamodb: DynamoDBClient, sqs: SQSClient) -> BulkSender:
        return cls(
            JobsTable(dynamodb, settings.jobs_table, retention_days=settings.retention_days),
            JobQueues(sqs, priority_url=settings.priority_queue_url, bulk_url=settings.bulk_queue_url),
            sweep_grace_seconds=settings.sweep_grace_seconds,
            idempotency=idempotency_store(settings.idempotency_table, dynamodb),
        )

    def send(self, request: BulkSendRequest, caller: Caller, *, idempotency_key: str | None = None) -> BulkSendResponse:
        caller.require(request.domain)
        if idempotency_key is None or self._once is None:
            return self.queue(request)
        envelope: dict[str, Any] = {
            "caller": caller.identity,
            "key": idempotency_key,
            "request": request.model_dump(mode="json"),
        }
        return self._once(envelope=envelope, request=request)

    def _send_once(self, *, envelope: dict[str, Any], request: BulkSendRequest) -> BulkSendResponse:
        return self.queue(request)

    def queue(self, request: BulkSendRequest) -> BulkSendResponse:
        """Create and queue one job per recipient (the domain already checked)."""
        selected = [job_id for job_id in dict.fromkeys(request.job_ids or []) if JOB_ID_RE.fullmatch(job_id)]
        recipients = collect_recipients(request, self._jobs.recipients_of(selected) if selected else [])
        if not recipients.addresses:
            raise NoRecipients("no valid recipient: select rows of this domain or type addresses")
        if len(recipients.addresses) > MAX_RECIPIENTS:
            raise TooManyRecipients(
                f"{len(recipients.addresses)} recipients; a bulk send may have at most {MAX_RECIPIENTS}"
            )

        now = self._clock()
        bulk_id, _ = new_job_id(now)
        jobs = [self._job(request, address, bulk_id, now) for address in recipients.addresses]
        self._outbox.store_and_queue(jobs, due_at=epoch_seconds(now + self._grace))
        logger.info(
            "bulk send queued",
            extra={
                "bulk_id": bulk_id,
                "domain": request.domain,
                "queued": len(jobs),
                "rejected": len(recipients.rejected),
                "duplicates": recipients.duplicates,
            },
        )
        return BulkSendResponse(
            bulk_id=bulk_id,
            queued=len(jobs),
            job_ids=[job.job_id for job in jobs],
            rejected=[RejectedInput(input=r.input, reason=r.reason) for r in recipients.rejected],
            duplicates=recipients.duplicates,
        )

    @staticmethod
    def _job(request: BulkSendRequest, address: str, bulk_id: str, now: datetime) -> Job:
        job_id, created_at = new_job_id(now)
        return Job(
            job_id=job_id,
            created_at=created_at,
            domain=request.domain,
            type=JobType.MANUAL,
            recipient=address,
            subject=request.subject,
            status=JobStatus.QUEUED,
            body_text=request.body,
            bulk_id=bulk_id,
        )
