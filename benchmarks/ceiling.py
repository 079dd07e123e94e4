"""The embedded AWS's ceiling: the bulk worker's calls for a number of emails,
made one after another in a plain loop on one thread, through the service's
own adapters: BatchWriteItem of 25, SendMessageBatch of 10, then per batch of
10 a ReceiveMessage, per email a claim, a read of its bulk's cancel mark, a
SendEmail and a final write, and a DeleteMessageBatch. No Lambda runtime, no
poller, no Powertools.

Figure 4 divides its calls per second by its calls per email: the most emails
per second the embedded AWS can take. Figure 5 runs it on a thread of its own
as its control load: the bulk worker's work without a bulk send.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from dataclasses import dataclass

from benchmarks.harness import BenchError, BenchStack
from benchmarks.workload import BODY_TEXT, addresses
from common.adapters.mailer import Mailer
from common.adapters.queues import JobQueues
from common.models.clock import epoch_seconds, utc_now
from common.models.job import AttemptLogEntry, AttemptOutcome, Bodies, Job, JobStatus, JobType, QueueMessage, new_job_id
from local.jobs_table import JobsTable

CEILING_DOMAIN = "ceiling.example"
CEILING_BULK = "01JGQ7A2B3C4D5E6F7G8H9J0K1"  # no such bulk: its mark is read as the worker reads one


@dataclass(frozen=True)
class Ceiling:
    emails: int
    calls: int
    seconds: float

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.seconds

    @property
    def calls_per_email(self) -> float:
        return self.calls / self.emails


def run_ceiling(bench: BenchStack, size: int, *, stop: threading.Event | None = None) -> Ceiling:
    """The call mix of ``size`` emails in a plain loop; ``stop`` ends it early
    (then it counts the emails it sent)."""
    queue_url = bench.sqs.create_queue(QueueName=f"emailops-bench-ceiling-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    table = JobsTable(bench.dynamodb, bench.jobs_table)
    queues = JobQueues(bench.sqs, priority_url=queue_url, bulk_url=queue_url)
    sender = bench.stack.parameters["SenderAddress"]
    mailer = Mailer(bench.sesv2, sender=sender, configuration_set=bench.stack.names["ConfigurationSet"])
    now = utc_now()
    jobs = []
    for i, address in enumerate(addresses(size, tag="ceiling")):
        job_id, created_at = new_job_id(now)
        jobs.append(
            Job(
                job_id=job_id,
                created_at=created_at,
                domain=CEILING_DOMAIN,
                type=JobType.MANUAL,
                recipient=address,
                subject=f"Ceiling {i}",
                body=job_id,
            )
        )
    bodies = Bodies(text=BODY_TEXT)
    due_at = epoch_seconds(now) + 900
    lease = uuid.uuid4().hex
    calls, processed = 0, 0
    started = time.perf_counter()
    table.put_new(jobs, due_at=due_at)
    calls += math.ceil(size / 25)
    if queues.send([QueueMessage.for_job(job) for job in jobs]):
        raise BenchError("the ceiling's messages could not all be queued")
    calls += math.ceil(size / 10)
    for _ in range(size):  # at most one batch per email
        if processed >= size or (stop is not None and stop.is_set()):
            break
        messages = bench.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        calls += 1
        for message in messages:
            claim = table.claim(
                QueueMessage.model_validate_json(message["Body"]),
                now_ms=int(time.time() * 1000),
                lease_seconds=60,
                token=lease,
                due_at=due_at,
            )
            if claim.job is None:
                raise BenchError("the ceiling's claim found no job")
            # A bulk's email: the worker reads its bulk's cancel mark after the claim (while the
            # jobs table has that read of one bulk: a worker that reads the mark with its batch's
            # reads makes none, and neither does this loop then).
            canceled = getattr(table, "bulk_canceled", None)
            if canceled is not None and canceled(CEILING_BULK):
                raise BenchError("the ceiling's bulk reads as canceled")
            message_id = mailer.send(claim.job, bodies)  # as if cached: one body for all
            sent_at = utc_now()
            table.record_attempt(
                claim.job,
                token=lease,
                entry=AttemptLogEntry(at=sent_at, outcome=AttemptOutcome.SENT),
                status=JobStatus.SENT,
                message_id=message_id,
                sent_at=sent_at,
            )
            calls += 4 if canceled is not None else 3
        if messages:
            bench.sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
            calls += 1
        processed += len(messages)
    seconds = time.perf_counter() - started
    bench.sqs.delete_queue(QueueUrl=queue_url)
    if processed < size and stop is None:
        raise BenchError(f"the ceiling loop sent {processed} of {size}")
    return Ceiling(emails=processed, calls=calls, seconds=seconds)
