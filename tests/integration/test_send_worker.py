"""SendWorkerFunction against moto, on the tables and queues template.yaml defines.

SQS events are built from messages received from the moto queues, so their
bodies, ARNs and receipt handles are real. Time is a clock handed to the
worker, never a sleep; "the visibility timeout elapsed" is the test setting
the message's visibility to 0. What moto cannot produce (throttling, 5xx,
connection errors, a worker dying) is made at the SES client: ``Stubber``, or
a tiny client object raising botocore's own exceptions.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)
from botocore.stub import Stubber
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import DynamoDBBackend
from moto.ses.models import ses_backends

from common.adapters import aws
from common.adapters.bodies import BodyStore
from common.adapters.mailer import SES_ERRORS, Kind
from common.adapters.queues import JobQueues
from common.logic.pacing import Pacer
from common.logic.sending import Outcome, Worker, process_batch, worker_from_settings
from common.logic.sweeper import Sweeper, sweeper_from_settings
from common.models.clock import epoch_seconds, utc_now
from common.models.job import AttemptOutcome, Bodies, Job, JobStatus, JobType, QueueMessage, new_job_id
from common.models.pipeline_settings import get_sweeper_settings
from common.models.worker_settings import WorkerSettings, get_worker_settings
from local.jobs_table import JobsTable
from local.template import Stack, load_template
from tests.helpers import load_function, put_with_bodies

REGION = "us-east-1"
EVENTS = Path(__file__).resolve().parents[1] / "events"
PRIORITY, BULK = "PriorityQueue", "BulkQueue"

send_worker_handler = load_function("send_worker").handler


# ---------------------------------------------------------------- helpers
class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or utc_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_job(
    *,
    domain: str = "acme.com",
    job_type: JobType = JobType.ESCALATION,
    recipient: str = "owner@acme.com",
    body_html: str | None = None,
    reply_to: str | None = None,
) -> Job:
    job_id, created_at = new_job_id()
    BODIES[job_id] = Bodies(text=f"SECRET-BODY-{job_id}: please join the conversation.", html=body_html)
    return Job(
        job_id=job_id,
        created_at=created_at,
        domain=domain,
        type=job_type,
        recipient=recipient,
        subject="A visitor asks for a human",
        body=job_id,
        reply_to=reply_to,
    )


# The body of each job made by make_job, by body id (stored apart from the job).
BODIES: dict[str, Bodies] = {}


class CallLog:
    """Records every AWS call a client makes: (operation, params)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.*.*", self._record)

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.name, params))

    def names(self) -> Counter[str]:
        return Counter(name for name, _ in self.calls)

    def params(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation]


@dataclass
class Harness:
    stack: Stack
    clock: FakeClock = field(default_factory=FakeClock)
    dynamodb: Any = field(default_factory=lambda: boto3.client("dynamodb", region_name=REGION))
    sqs: Any = field(default_factory=lambda: boto3.client("sqs", region_name=REGION))
    sesv2: Any = field(default_factory=lambda: boto3.client("sesv2", region_name=REGION))
    s3: Any = field(default_factory=lambda: boto3.client("s3", region_name=REGION))

    @property
    def settings(self) -> WorkerSettings:
        return get_worker_settings()

    @property
    def table(self) -> JobsTable:
        return JobsTable(self.dynamodb, self.stack.names["JobsTable"])

    @property
    def bodies(self) -> BodyStore:
        return BodyStore(self.dynamodb, self.stack.names["JobsTable"], self.s3, self.settings.bodies_bucket)

    @property
    def queues(self) -> JobQueues:
        return JobQueues(self.sqs, priority_url=self.stack.names[PRIORITY], bulk_url=self.stack.names[BULK])

    def worker(
        self,
        *,
        sesv2: Any = None,
        dynamodb: Any = None,
        sqs: Any = None,
        settings: WorkerSettings | None = None,
        pacer: Pacer | None = None,
    ) -> Worker:
        return worker_from_settings(
            settings or self.settings,
            dynamodb=dynamodb or self.dynamodb,
            sqs=sqs or self.sqs,
            sesv2=sesv2 or self.sesv2,
            s3=self.s3,
            clock=self.clock,
            jitter=lambda delay: 0,
            pacer=pacer,
        )

    def sweeper(self, *, dynamodb: Any = None, sqs: Any = None) -> Sweeper:
        return sweeper_from_settings(
            get_sweeper_settings(), dynamodb=dynamodb or self.dynamodb, sqs=sqs or self.sqs, clock=self.clock
        )

    # ------------------------------------------------------ jobs and queues
    def put(self, *jobs: Job, queue: bool = True) -> list[Job]:
        """Write jobs and their bodies as enqueue does (due after the grace period), then queue them."""
        due_at = epoch_seconds(self.clock.now) + self.settings.sweep_grace_seconds
        put_with_bodies(self.table, self.bodies, jobs, BODIES, due_at=due_at)
        if queue:
            assert self.queues.send([QueueMessage.for_job(job) for job in jobs]) == []
        return list(jobs)

    def receive(self, queue: str = PRIORITY) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.stack.names[queue], MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def event(self, messages: list[dict[str, Any]], queue: str = PRIORITY) -> dict[str, Any]:
        """An SQS event as Lambda delivers it, from messages received from moto."""
        template = json.loads((EVENTS / "sqs_send_worker.json").read_text())["Records"][0]
        records = []
        for message in messages:
            record = dict(template)
            record.update(
                messageId=message["MessageId"],
                receiptHandle=message["ReceiptHandle"],
                body=message["Body"],
                md5OfBody=message["MD5OfBody"],
                eventSourceARN=self.stack.arns[queue],
                attributes={**template["attributes"], **message.get("Attributes", {})},
            )
            records.append(record)
        return {"Records": records}

    def deliver(self, queue: str = PRIORITY) -> dict[str, Any]:
        return self.event(self.receive(queue), queue)

    def process(self, event: dict[str, Any], worker: Worker | None = None) -> dict[str, Any]:
        return dict(process_batch(event, worker or self.worker()))

    def settle(self, event: dict[str, Any], response: dict[str, Any], queue: str = PRIORITY) -> None:
        """What Lambda does after a batch: delete the records not reported failed."""
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        for record in event["Records"]:
            if record["messageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.stack.names[queue], ReceiptHandle=record["receiptHandle"])

    def release(self, event: dict[str, Any], queue: str = PRIORITY) -> None:
        """The records' visibility timeout elapsed: they can be received again."""
        for record in event["Records"]:
            self.sqs.change_message_visibility(
                QueueUrl=self.stack.names[queue], ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
            )

    def job(self, job_id: str) -> Job:
        stored = self.table.get(job_id)
        assert stored is not None
        return stored

    def dead_letters(self, queue: str = "PriorityDeadLetterQueue") -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.stack.names[queue], MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    @staticmethod
    def sent() -> list[Any]:
        """What moto's SES accepted."""
        sent: list[Any] = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
        return sent

    def sent_to(self, recipient: str) -> int:
        return sum(1 for m in self.sent() if recipient in m.destinations.get("ToAddresses", []))

    def assert_sent_once_after(self, job_id: str, *, attempts: int, recipient: str = "owner@acme.com") -> None:
        """One email out, the job ``sent``, every attempt counted, only the last one logged."""
        assert self.sent_to(recipient) == 1
        stored = self.job(job_id)
        assert stored.status is JobStatus.SENT
        assert stored.attempts == attempts
        assert [e.outcome for e in stored.attempt_log] == [AttemptOutcome.SENT]


@pytest.fixture
def harness(stack: Stack) -> Harness:
    return Harness(stack)


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def ses_errors(code: str, status: int, times: int, *, then_succeed: bool = True) -> tuple[Any, Stubber]:
    """An SES client that fails ``times`` times with ``code``, then accepts."""
    client = boto3.client("sesv2", region_name=REGION)
    stubber = Stubber(client)
    for _ in range(times):
        stubber.add_client_error(
            "send_email", service_error_code=code, service_message="try later", http_status_code=status
        )
    if then_succeed:
        stubber.add_response("send_email", {"MessageId": "ses-message-1"})
    stubber.activate()
    return client, stubber


class RaisingSes:
    """A stand-in SES client whose send raises what the network would."""

    def __init__(self, make_error: Callable[[], BaseException]) -> None:
        self._make_error = make_error
        self.calls = 0

    def send_email(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        raise self._make_error()


class WorkerDied(BaseException):
    """The Lambda process ends here (timeout, out of memory): nothing after runs."""


# ---------------------------------------------------------------- the happy path
def test_handler_sends_a_queued_job_once_and_records_it(
    harness: Harness, lambda_context: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given a queued job with an HTML part and a reply-to address
    job = make_job(body_html="<p>Please join.</p>", reply_to="support@acme.com")
    harness.put(job)
    calls = CallLog()
    calls.attach(aws.sesv2())
    # When the worker's handler gets the queue's batch
    response = send_worker_handler(harness.deliver(), lambda_context)
    # Then nothing goes back to the queue, and SES got exactly one email
    assert response == {"batchItemFailures": []}
    assert harness.sent_to("owner@acme.com") == 1
    (request,) = calls.params("SendEmail")
    assert request["ConfigurationSetName"] == harness.settings.configuration_set
    assert request["FromEmailAddress"] == harness.settings.sender_address
    assert request["ReplyToAddresses"] == ["support@acme.com"]
    assert request["Content"]["Simple"]["Body"]["Html"]["Data"] == "<p>Please join.</p>"
    assert {"Name": "job_id", "Value": job.job_id} in request["EmailTags"]
    # And the job is sent, with one attempt, SES's message id and no error
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.SENT
    assert stored.attempts == 1
    assert stored.error is None
    assert stored.sent_at is not None
    assert stored.message_id == harness.sent()[0].id
    assert [e.outcome for e in stored.attempt_log] == [AttemptOutcome.SENT]
    # And the logs name the job but never carry its body; the metric is emitted
    assert any(getattr(r, "job_id", None) == job.job_id for r in caplog.records)
    assert not [r for r in caplog.records if "SECRET-BODY" in str(vars(r))]
    metrics_out = capsys.readouterr().out
    assert '"EmailsSent"' in metrics_out
    assert "SECRET-BODY" not in metrics_out


def test_per_sent_email_one_claim_one_send_one_write(harness: Harness, lambda_context: Any) -> None:
    # Given three queued jobs
    jobs = harness.put(*(make_job(recipient=f"r{i}@acme.com") for i in range(3)))
    calls = CallLog()
    for client in (aws.dynamodb(), aws.sqs(), aws.sesv2()):
        calls.attach(client)
    # When the worker sends them
    event = harness.deliver()
    assert len(event["Records"]) == 3
    assert send_worker_handler(event, lambda_context) == {"batchItemFailures": []}
    # Then it made exactly 3 claims, 3 SES sends and 3 final writes, and for
    # the batch one read of its bodies and one of its recipients' suppression
    # entries (eventually consistent), and for the batch one write of its
    # statistics counters (docs/adr/0084-statistics-counters.md), and nothing else
    assert calls.names() == Counter({"UpdateItem": 6, "SendEmail": 3, "BatchGetItem": 2, "TransactWriteItems": 1})
    read, suppressions = calls.params("BatchGetItem")
    assert [len(r["Keys"]) for r in read["RequestItems"].values()] == [3]
    assert all(r["ConsistentRead"] for r in read["RequestItems"].values())
    assert [len(r["Keys"]) for r in suppressions["RequestItems"].values()] == [3]
    assert not any(r["ConsistentRead"] for r in suppressions["RequestItems"].values())
    updates = calls.params("UpdateItem")
    claims = [u for u in updates if u.get("ReturnValues") == "ALL_NEW"]
    finals = [u for u in updates if u.get("ConditionExpression") == "lease_token = :token AND #status = :sending"]
    assert len(claims) == 3
    assert len(finals) == 3
    assert all(harness.job(j.job_id).status is JobStatus.SENT for j in jobs)


def test_bulk_queue_records_are_sent_too(harness: Harness) -> None:
    job = harness.put(make_job(job_type=JobType.MANUAL))[0]
    response = harness.process(harness.deliver(BULK))
    assert response == {"batchItemFailures": []}
    assert harness.job(job.job_id).status is JobStatus.SENT


# ---------------------------------------------------------------- at-least-once delivery
def test_same_message_delivered_n_times_sends_once(harness: Harness) -> None:
    # Given one job whose message SQS delivers four times, in one batch
    job = harness.put(make_job())[0]
    for _ in range(3):
        assert harness.queues.send([QueueMessage.for_job(job)]) == []
    event = harness.deliver()
    assert len(event["Records"]) == 4
    # When the worker processes the batch, and later a fifth delivery
    response = harness.process(event)
    harness.settle(event, response)
    assert harness.queues.send([QueueMessage.for_job(job)]) == []
    later = harness.process(harness.deliver())
    # Then one email went out, every record is done, and one attempt is recorded
    assert harness.sent_to("owner@acme.com") == 1
    assert response == later == {"batchItemFailures": []}
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.SENT
    assert stored.attempts == 1
    assert len(stored.attempt_log) == 1


@pytest.fixture
def atomic_moto_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies a conditional update to an item atomically; moto does
    not lock, so two threads could both pass a condition. Serialize its
    UpdateItem the way DynamoDB does, so the test tests our code, not moto."""
    lock = threading.Lock()
    original = DynamoDBBackend.update_item

    def update_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "update_item", update_item)


@pytest.mark.usefixtures("atomic_moto_updates")
def test_two_workers_claiming_at_once_send_once(harness: Harness) -> None:
    # Given one job delivered twice, to two workers that claim at the same moment
    job = harness.put(make_job())[0]
    assert harness.queues.send([QueueMessage.for_job(job)]) == []
    messages = harness.receive()
    assert len(messages) == 2
    barrier = threading.Barrier(2, timeout=10)

    def worker_with_own_clients() -> Worker:
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        first = [True]

        def meet_at_the_claim(**_: Any) -> None:
            if first[0]:
                first[0] = False
                barrier.wait()

        dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", meet_at_the_claim)
        return harness.worker(dynamodb=dynamodb, sesv2=boto3.client("sesv2", region_name=REGION))

    workers = [worker_with_own_clients(), worker_with_own_clients()]
    # When both process their delivery concurrently
    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(
            pool.map(
                lambda pair: harness.process(harness.event([pair[0]]), pair[1]), zip(messages, workers, strict=True)
            )
        )
    # Then exactly one email went out and neither record returns to the queue
    assert harness.sent_to("owner@acme.com") == 1
    assert responses == [{"batchItemFailures": []}] * 2
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.SENT
    assert stored.attempts == 1


# ---------------------------------------------------------------- transient failures
@pytest.mark.parametrize("k", [1, 3])
def test_unavailable_k_times_then_sent(harness: Harness, k: int) -> None:
    # Given SES fails k times (its own 5xx), then accepts
    ses, stubber = ses_errors("ServiceUnavailable", 503, k)
    worker_sqs = boto3.client("sqs", region_name=REGION)
    worker = harness.worker(sesv2=ses, sqs=worker_sqs)
    job = harness.put(make_job())[0]
    visibility = CallLog()
    visibility.attach(worker_sqs)
    for attempt in range(1, k + 1):
        # When a delivery fails
        event = harness.deliver()
        response = harness.process(event, worker)
        # Then only that record goes back, delayed 30 s, 60 s, 120 s ...
        assert failed_ids(response) == [event["Records"][0]["messageId"]]
        delay = 30 * 2 ** (attempt - 1)
        assert visibility.params("ChangeMessageVisibility")[-1]["VisibilityTimeout"] == delay
        assert harness.receive() == []  # hidden until the delay passes
        stored = harness.job(job.job_id)
        assert stored.status is JobStatus.RETRYING
        assert stored.attempts == attempt
        assert stored.error is not None and "ServiceUnavailable" in stored.error
        harness.clock.advance(delay)
        harness.release(event)
    # When the next delivery comes
    event = harness.deliver()
    assert harness.process(event, worker) == {"batchItemFailures": []}
    # Then the job is sent with k+1 attempts, each in the log, and no error left
    stubber.assert_no_pending_responses()
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.SENT
    assert stored.attempts == k + 1
    assert [e.outcome for e in stored.attempt_log] == [AttemptOutcome.RETRY] * k + [AttemptOutcome.SENT]
    assert stored.error is None
    assert stored.message_id == "ses-message-1"


def test_transient_on_the_last_allowed_attempt_fails_the_job(harness: Harness) -> None:
    # Given SES fails every time (its own 5xx), and 5 attempts are allowed
    max_attempts = harness.settings.max_attempts
    assert max_attempts == 5
    ses, _ = ses_errors("ServiceUnavailable", 503, max_attempts, then_succeed=False)
    worker_sqs = boto3.client("sqs", region_name=REGION)
    worker = harness.worker(sesv2=ses, sqs=worker_sqs)
    job = harness.put(make_job())[0]
    visibility = CallLog()
    visibility.attach(worker_sqs)
    responses = []
    for _ in range(max_attempts):
        event = harness.deliver()
        responses.append(harness.process(event, worker))
        harness.settle(event, responses[-1])
        harness.clock.advance(900)
        if failed_ids(responses[-1]):
            harness.release(event)
    # Then 4 records went back and the 5th did not; the job failed with 5 attempts
    assert [len(failed_ids(r)) for r in responses] == [1, 1, 1, 1, 0]
    assert [p["VisibilityTimeout"] for p in visibility.params("ChangeMessageVisibility")] == [30, 60, 120, 240]
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.FAILED
    assert stored.attempts == 5
    assert [e.outcome for e in stored.attempt_log] == [AttemptOutcome.RETRY] * 4 + [AttemptOutcome.FAILED]
    assert stored.error is not None
    assert "ServiceUnavailable" in stored.error
    assert "gave up after 5 attempts" in stored.error
    assert harness.receive() == []


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("TooManyRequestsException", 429),
        ("LimitExceededException", 400),
        ("ThrottlingException", 400),
        ("InternalFailure", 500),
        ("ServiceUnavailable", 503),
        ("BadGateway", 502),
    ],
)
def test_transient_ses_errors_retry(harness: Harness, code: str, status: int) -> None:
    ses, _ = ses_errors(code, status, 1, then_succeed=False)
    job = harness.put(make_job())[0]
    event = harness.deliver()
    response = harness.process(event, harness.worker(sesv2=ses))
    assert failed_ids(response) == [event["Records"][0]["messageId"]]
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.RETRYING
    assert stored.error is not None and code in stored.error
    assert [e.outcome for e in stored.attempt_log] == [AttemptOutcome.RETRY]
    # SES's back-pressure (throttling, a used-up quota) is a wait, not an attempt
    back_pressure = SES_ERRORS[code].kind in (Kind.THROTTLED, Kind.PAUSED) if code in SES_ERRORS else False
    assert stored.attempts == (0 if back_pressure else 1)
    assert [e.repeated for e in stored.attempt_log] == [1 if back_pressure else None]


@pytest.mark.parametrize(
    "make_error",
    [
        lambda: EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com"),
        lambda: ConnectTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com"),
    ],
)
def test_network_errors_retry(harness: Harness, make_error: Callable[[], BaseException]) -> None:
    ses = RaisingSes(make_error)
    job = harness.put(make_job())[0]
    event = harness.deliver()
    response = harness.process(event, harness.worker(sesv2=ses))
    assert ses.calls == 1
    assert len(failed_ids(response)) == 1
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.RETRYING
    assert stored.error is not None and "could not be reached" in stored.error


# ---------------------------------------------------------------- permanent failures
@pytest.mark.parametrize("code", sorted(c for c, e in SES_ERRORS.items() if e.kind is Kind.PERMANENT))
def test_permanent_ses_errors_fail_at_once(harness: Harness, code: str) -> None:
    # Given SES refuses the message for good
    ses, stubber = ses_errors(code, 400, 1, then_succeed=False)
    job = harness.put(make_job())[0]
    # When the worker tries it
    response = harness.process(harness.deliver(), harness.worker(sesv2=ses))
    # Then the record is done, the job failed after one attempt with a readable error
    assert response == {"batchItemFailures": []}
    stubber.assert_no_pending_responses()
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.FAILED
    assert stored.attempts == 1
    assert stored.error is not None
    # built from SES's code alone: a plain cause and what to do, never SES's own words
    assert stored.error == f"{code}: {SES_ERRORS[code].reason}"
    assert "try later" not in stored.error
    assert [e.outcome for e in stored.attempt_log] == [AttemptOutcome.FAILED]
    assert stored.attempt_log[0].error == stored.error


def test_unverified_sender_is_rejected_once(harness: Harness) -> None:
    # Given a sender SES has not verified (moto rejects it as SES does)
    settings = harness.settings.model_copy(update={"sender_address": "someone@unverified.example"})
    job = harness.put(make_job())[0]
    # When the worker sends, and the message is delivered again
    event = harness.deliver()
    response = harness.process(event, harness.worker(settings=settings))
    harness.release(event)
    again = harness.process(harness.deliver(), harness.worker(settings=settings))
    # Then one attempt, failed, with SES's reason; nothing sent
    assert response == again == {"batchItemFailures": []}
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.FAILED
    assert stored.attempts == 1
    assert stored.error is not None
    assert "MessageRejected" in stored.error
    assert "not verified" in stored.error
    assert harness.sent() == []


def test_bad_recipient_address_fails_at_once(harness: Harness) -> None:
    job = harness.put(make_job(recipient="not-an-address"))[0]
    assert harness.process(harness.deliver()) == {"batchItemFailures": []}
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.FAILED
    assert stored.attempts == 1
    assert stored.error


# ---------------------------------------------------------------- poison messages
def test_poison_messages_go_to_the_dlq_and_the_rest_is_sent(harness: Harness) -> None:
    # Given a batch with two good jobs, a message that is not JSON, one for no
    # job, and one naming a real job under another domain
    good = harness.put(make_job(recipient="a@acme.com"), make_job(recipient="b@acme.com"))
    url = harness.stack.names[PRIORITY]
    harness.sqs.send_message(QueueUrl=url, MessageBody="not json {")
    ghost = QueueMessage(job_id=new_job_id()[0], domain="acme.com", type=JobType.ESCALATION)
    harness.sqs.send_message(QueueUrl=url, MessageBody=ghost.model_dump_json())
    forged = QueueMessage(job_id=good[0].job_id, domain="beta.io", type=JobType.ESCALATION)
    harness.sqs.send_message(QueueUrl=url, MessageBody=forged.model_dump_json())
    event = harness.deliver()
    assert len(event["Records"]) == 5
    # When the worker processes it
    response = harness.process(event)
    # Then no record goes back; the good jobs are sent, once each
    assert response == {"batchItemFailures": []}
    assert harness.sent_to("a@acme.com") == 1
    assert harness.sent_to("b@acme.com") == 1
    # And the three poison messages are in the dead-letter queue, bodies intact, with a reason
    parked = harness.dead_letters()
    assert sorted(m["Body"] for m in parked) == sorted(
        ["not json {", ghost.model_dump_json(), forged.model_dump_json()]
    )
    assert all(m["MessageAttributes"]["reason"]["StringValue"] for m in parked)
    # And the job named by the forged message was not touched by it
    assert harness.job(good[0].job_id).attempts == 1


def test_a_batch_that_fails_entirely_reports_every_record(harness: Harness) -> None:
    ses, _ = ses_errors("ServiceUnavailable", 503, 2, then_succeed=False)
    harness.put(make_job(recipient="a@acme.com"), make_job(recipient="b@acme.com"))
    event = harness.deliver()
    response = harness.process(event, harness.worker(sesv2=ses))
    assert sorted(failed_ids(response)) == sorted(r["messageId"] for r in event["Records"])


def test_poison_message_that_cannot_be_parked_goes_back_to_the_queue(harness: Harness) -> None:
    # Given the dead-letter queue cannot be reached
    sqs = boto3.client("sqs", region_name=REGION)
    stubber = Stubber(sqs)
    stubber.add_client_error("send_message", service_error_code="ServiceUnavailable", http_status_code=503)
    stubber.activate()
    harness.sqs.send_message(QueueUrl=harness.stack.names[PRIORITY], MessageBody="garbage")
    event = harness.deliver()
    worker = worker_from_settings(harness.settings, dynamodb=harness.dynamodb, sqs=sqs, sesv2=harness.sesv2)
    # When the worker meets the poison message
    response = harness.process(event, worker)
    # Then the record is returned (the redrive policy moves it after maxReceiveCount)
    assert failed_ids(response) == [event["Records"][0]["messageId"]]


# ---------------------------------------------------------------- dying workers
def test_worker_dying_between_claim_and_send_sends_once_after_the_lease(harness: Harness) -> None:
    # Given a worker that dies after its claim, before SES is called
    job = harness.put(make_job())[0]
    event = harness.deliver()
    dying = RaisingSes(WorkerDied)
    with pytest.raises(WorkerDied):
        harness.process(event, harness.worker(sesv2=dying))
    assert dying.calls == 1  # it got as far as the send, which never happened
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.SENDING
    assert stored.attempts == 1
    # When SQS delivers the message again, after its visibility timeout (longer than the lease)
    harness.clock.advance(180)
    harness.release(event)
    assert harness.process(harness.deliver()) == {"batchItemFailures": []}
    # Then it is sent exactly once, and both attempts counted
    harness.assert_sent_once_after(job.job_id, attempts=2)


def test_attempts_used_up_by_dead_workers_fail_the_job_without_sending(harness: Harness) -> None:
    # Given a job claimed five times by workers that all died
    job = harness.put(make_job())[0]
    message = QueueMessage.for_job(job)
    now_ms = int(harness.clock.now.timestamp() * 1000)
    for i in range(5):
        claim = harness.table.claim(message, now_ms=now_ms + i * 61_000, lease_seconds=60, token=f"dead-{i}", due_at=0)
        assert claim.job is not None and claim.job.attempts == i + 1
    harness.clock.advance(6 * 61)
    # When its message is delivered once more
    assert harness.process(harness.deliver()) == {"batchItemFailures": []}
    # Then it fails, readable, without an email
    assert harness.sent() == []
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.FAILED
    assert stored.error is not None and "gave up" in stored.error


def test_a_worker_that_lost_its_lease_does_not_overwrite_the_new_holder(harness: Harness) -> None:
    # Given SES answers so slowly that the lease expires and another worker claims the job
    job = harness.put(make_job())[0]
    table = harness.table
    message = QueueMessage.for_job(job)

    class SlowThrottledSes:
        def send_email(self, **_: Any) -> dict[str, Any]:
            later_ms = int((harness.clock.now + timedelta(seconds=120)).timestamp() * 1000)
            assert table.claim(message, now_ms=later_ms, lease_seconds=60, token="newer", due_at=0).job is not None
            response: Any = {
                "Error": {"Code": "TooManyRequestsException", "Message": "slow down"},
                "ResponseMetadata": {"HTTPStatusCode": 429},
            }
            raise ClientError(response, "SendEmail")

    worker_sqs = boto3.client("sqs", region_name=REGION)
    visibility = CallLog()
    visibility.attach(worker_sqs)
    # When the slow worker's send fails
    response = harness.process(harness.deliver(), harness.worker(sesv2=SlowThrottledSes(), sqs=worker_sqs))
    # Then it writes nothing and does not delay the message: the new holder decides
    assert response == {"batchItemFailures": []}
    assert visibility.params("ChangeMessageVisibility") == []
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.SENDING
    assert stored.attempt_log == []
    assert stored.attempts == 2


def test_outcomes_are_reported_per_record(harness: Harness) -> None:
    job = harness.put(make_job())[0]
    worker = harness.worker()
    event = harness.deliver()
    from common.logic.sending import Delivery

    record = event["Records"][0]
    first = worker.process(Delivery(record["body"], record["eventSourceARN"], record["receiptHandle"]))
    second = worker.process(Delivery(record["body"], record["eventSourceARN"], record["receiptHandle"]))
    assert first.outcome is Outcome.SENT
    assert second.outcome is Outcome.DUPLICATE
    assert first.message == QueueMessage.for_job(job)


# ---------------------------------------------------------------- the template's timings
def test_template_timings_keep_the_lease_safe() -> None:
    """A live worker must never outlive its lease, or two could send one job;
    SQS must not redeliver before a worker is done; a job must fail on its own
    terms before SQS parks its message."""
    template = load_template()
    resources = template["Resources"]
    worker = resources["SendWorkerFunction"]["Properties"]
    timeout = int(worker.get("Timeout", template["Globals"]["Function"]["Timeout"]))
    assert int(worker["Environment"]["Variables"]["LEASE_SECONDS"]) > timeout
    for queue in ("PriorityQueue", "BulkQueue"):
        assert int(resources[queue]["Properties"]["VisibilityTimeout"]) >= 6 * timeout
    # A worker's starting share of the send rate needs the queues' concurrency; the
    # account's rate is read from SES (GetAccount), never configured
    variables = worker["Environment"]["Variables"]
    assert variables["MAX_RECEIVE_COUNT"] == {"Ref": "MaxReceiveCount"}
    assert "MAX_SEND_RATE" not in variables
    for source in worker["Events"].values():
        concurrency = source["Properties"]["ScalingConfig"]["MaximumConcurrency"]["Ref"]
        assert concurrency in {"PriorityMaximumConcurrency", "BulkMaximumConcurrency"}
        assert {"Ref": concurrency} in variables.values()
    params = template["Parameters"]
    assert int(params["MaxReceiveCount"]["Default"]) > int(params["MaxAttempts"]["Default"])
    for source in worker["Events"].values():
        assert source["Properties"]["BatchSize"] <= 10
        assert "ReportBatchItemFailures" in source["Properties"]["FunctionResponseTypes"]
