"""SendWorkerFunction under the faults of issue #8: every network error
classified, back-pressure waited out, no live job's message in a dead-letter
queue, nothing of ours in a tenant's error, IDNA domains, running out of time.

Same harness as ``test_send_worker.py`` (moto from template.yaml; what moto
cannot produce is made at the SES client).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import (
    ConnectionClosedError,
    CredentialRetrievalError,
    EndpointConnectionError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    ParamValidationError,
    ProxyConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
    SSLError,
)
from botocore.stub import Stubber

from common.adapters import aws
from common.adapters.mailer import (
    PAUSED_WAIT_SECONDS,
    SES_ERRORS,
    THROTTLED_WAIT_SECONDS,
    UNKNOWN_REASON,
    account_send_rate,
)
from common.logic.pacing import Pacer
from common.logic.sending import MAX_PACE_SECONDS, SendPolicy, Worker, process_batch
from common.models.job import AttemptOutcome, JobStatus, JobType
from common.models.worker_settings import WorkerSettings
from local.limits import sesv2 as ses_limits
from local.template import load_template
from tests.helpers import load_function
from tests.integration.test_send_worker import (
    BULK,
    PRIORITY,
    REGION,
    CallLog,
    Harness,
    RaisingSes,
    failed_ids,
    harness,
    make_job,
    ses_errors,
)

__all__ = ["harness"]  # the fixture, shared

app = load_function("send_worker")

ENDPOINT = "https://email.us-east-1.amazonaws.com"
ACCOUNT_ID = "123456789012"
ROLE_ARN = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/emailops-SendWorkerFunctionRole-1AB2C3/emailops-SendWorker-XyZ"
IDENTITY_ARN = f"arn:aws:ses:us-east-1:{ACCOUNT_ID}:identity/example.com"


def ses_script(*answers: tuple[str, int] | None) -> tuple[Any, Stubber]:
    """An SES client answering in order: ``(code, status)`` an error, ``None`` success."""
    client = boto3.client("sesv2", region_name=REGION)
    stubber = Stubber(client)
    for answer in answers:
        if answer is None:
            stubber.add_response("send_email", {"MessageId": "ses-message-1"})
        else:
            code, status = answer
            stubber.add_client_error(
                "send_email", service_error_code=code, service_message="no", http_status_code=status
            )
    stubber.activate()
    return client, stubber


def run_until_done(harness: Harness, worker: Any, *, rounds: int, queue: str = PRIORITY) -> list[dict[str, Any]]:
    """Deliver, process and settle the queue's records until none is left; a
    returned record comes back at once (its delay elapsed)."""
    responses = []
    for _ in range(rounds):
        event = harness.deliver(queue)
        if not event["Records"]:
            break
        response = harness.process(event, worker)
        responses.append(response)
        harness.settle(event, response, queue)
        harness.clock.advance(MAX_PACE_SECONDS)
        if failed_ids(response):
            harness.release(event, queue)
    return responses


# ------------------------------------------------------------ item 3: every network error is classified
NOT_SENT = [
    lambda: EndpointConnectionError(endpoint_url=ENDPOINT),
    lambda: ProxyConnectionError(proxy_url="http://proxy:3128", error="refused"),
    lambda: SSLError(endpoint_url=ENDPOINT, error=Exception("handshake failure")),
    NoCredentialsError,
    lambda: CredentialRetrievalError(provider="container-role", error_msg="timed out"),
]
MAYBE_SENT = [
    lambda: ReadTimeoutError(endpoint_url=ENDPOINT),
    lambda: ConnectionClosedError(endpoint_url=ENDPOINT),
    lambda: HTTPClientError(error="connection reset by peer"),
    lambda: ResponseStreamingError(error="stream ended"),
    lambda: IncompleteReadError(actual_bytes=10, expected_bytes=99),
]


@pytest.mark.parametrize("make_error", NOT_SENT + MAYBE_SENT)
def test_every_botocore_error_is_a_counted_attempt_with_a_backoff(
    harness: Harness, make_error: Callable[[], BaseException]
) -> None:
    # Given SES cannot be reached or does not answer, for an escalation
    ses = RaisingSes(make_error)
    worker_sqs = boto3.client("sqs", region_name=REGION)
    visibility = CallLog()
    visibility.attach(worker_sqs)
    job = harness.put(make_job(job_type=JobType.ESCALATION))[0]
    event = harness.deliver()
    # When the worker tries it
    response = harness.process(event, harness.worker(sesv2=ses, sqs=worker_sqs))
    # Then it is an attempt like any other: logged, retrying, delayed by the backoff
    assert ses.calls == 1
    assert failed_ids(response) == [event["Records"][0]["messageId"]]
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.RETRYING
    assert stored.attempts == 1
    assert [e.outcome for e in stored.attempt_log] == [AttemptOutcome.RETRY]
    assert stored.error is not None and type(make_error()).__name__ in stored.error
    assert [p["VisibilityTimeout"] for p in visibility.params("ChangeMessageVisibility")] == [30]


def test_an_unlisted_http_client_error_ends_the_job_at_max_attempts_not_above(harness: Harness) -> None:
    # Given SES's connection always breaks with an SSL error
    ses = RaisingSes(lambda: SSLError(endpoint_url=ENDPOINT, error=Exception("bad record mac")))
    job = harness.put(make_job())[0]
    # When the message is delivered until the worker is done with it
    responses = run_until_done(harness, harness.worker(sesv2=ses), rounds=12)
    # Then the job failed on its own terms after exactly MaxAttempts attempts, each logged
    max_attempts = harness.settings.max_attempts
    assert ses.calls == max_attempts
    assert len(responses) == max_attempts
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.FAILED
    assert stored.attempts == max_attempts
    assert [e.outcome for e in stored.attempt_log] == [AttemptOutcome.RETRY] * (max_attempts - 1) + [
        AttemptOutcome.FAILED
    ]
    assert stored.error is not None and f"gave up after {max_attempts} attempts" in stored.error
    assert "stopped before finishing" not in stored.error


def test_an_invalid_request_fails_at_once_without_quoting_it(harness: Harness) -> None:
    ses = RaisingSes(lambda: ParamValidationError(report="Invalid length for parameter Data: SECRET-BODY"))
    job = harness.put(make_job())[0]
    assert harness.process(harness.deliver(), harness.worker(sesv2=ses)) == {"batchItemFailures": []}
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.FAILED
    assert stored.error is not None and "ParamValidationError" in stored.error
    assert "SECRET-BODY" not in stored.error


# ------------------------------------------------------------ item 9: ambiguous failures, per type
@pytest.mark.parametrize("make_error", MAYBE_SENT)
def test_an_ambiguous_failure_of_a_bulk_email_is_not_tried_again(
    harness: Harness, make_error: Callable[[], BaseException]
) -> None:
    # Given SES may have accepted a bulk email before the answer was lost
    ses = RaisingSes(make_error)
    job = harness.put(make_job(job_type=JobType.MANUAL))[0]
    # When the worker meets it
    response = harness.process(harness.deliver(BULK), harness.worker(sesv2=ses))
    # Then the job fails at once, saying why: a duplicate is worse than a loss for bulk
    assert response == {"batchItemFailures": []}
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.FAILED
    assert stored.attempts == 1
    assert stored.error is not None and "not sent twice" in stored.error


@pytest.mark.parametrize("make_error", NOT_SENT)
def test_a_bulk_email_that_never_reached_ses_is_tried_again(
    harness: Harness, make_error: Callable[[], BaseException]
) -> None:
    job = harness.put(make_job(job_type=JobType.MANUAL))[0]
    event = harness.deliver(BULK)
    response = harness.process(event, harness.worker(sesv2=RaisingSes(make_error)))
    assert failed_ids(response) == [event["Records"][0]["messageId"]]
    assert harness.job(job.job_id).status is JobStatus.RETRYING


@pytest.mark.parametrize("job_type", [t for t in JobType if t is not JobType.MANUAL])
def test_an_ambiguous_failure_of_a_system_email_is_tried_again(harness: Harness, job_type: JobType) -> None:
    # Given a read timeout on a system email (an escalation twice beats none)
    job = harness.put(make_job(job_type=job_type))[0]
    event = harness.deliver()
    response = harness.process(event, harness.worker(sesv2=RaisingSes(lambda: ReadTimeoutError(endpoint_url=ENDPOINT))))
    assert failed_ids(response) == [event["Records"][0]["messageId"]]
    assert harness.job(job.job_id).status is JobStatus.RETRYING


# ------------------------------------------------------------ item 4: back-pressure is not failure
@pytest.mark.parametrize(
    ("code", "status", "wait"),
    [
        ("TooManyRequestsException", 429, THROTTLED_WAIT_SECONDS),
        ("Throttling", 400, THROTTLED_WAIT_SECONDS),
        ("SendingPausedException", 400, PAUSED_WAIT_SECONDS),
        ("LimitExceededException", 400, PAUSED_WAIT_SECONDS),
    ],
)
def test_back_pressure_beyond_max_attempts_still_sends_the_escalation(
    harness: Harness, code: str, status: int, wait: int
) -> None:
    # Given SES pushes back more times than attempts are allowed, then accepts
    # (few enough that the message stays below maxReceiveCount: moto's delays are real time)
    max_attempts = harness.settings.max_attempts
    pushes = max_attempts + 2
    ses, stubber = ses_script(*[(code, status)] * pushes, None)
    worker_sqs = boto3.client("sqs", region_name=REGION)
    visibility = CallLog()
    visibility.attach(worker_sqs)
    job = harness.put(make_job(job_type=JobType.ESCALATION))[0]
    # When the message is delivered until the worker is done with it
    run_until_done(harness, harness.worker(sesv2=ses, sqs=worker_sqs), rounds=pushes + 2)
    # Then the escalation is sent; the waits are no attempts, and are one entry of the log
    stubber.assert_no_pending_responses()
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.SENT
    assert stored.attempts == 1
    assert [(e.outcome, e.repeated) for e in stored.attempt_log] == [
        (AttemptOutcome.RETRY, pushes),
        (AttemptOutcome.SENT, None),
    ]
    assert code in (stored.attempt_log[0].error or "")
    # And each wait starts at SES's hint and doubles while it lasts, capped at 5 minutes
    delays = [p["VisibilityTimeout"] for p in visibility.params("ChangeMessageVisibility")]
    assert delays[0] == wait
    assert delays == sorted(delays)
    assert max(delays) <= max(wait, MAX_PACE_SECONDS)


def test_waits_do_not_count_toward_giving_up_but_failures_still_do(harness: Harness) -> None:
    # Given SES throttles 3 times, then fails (5xx) every time
    max_attempts = harness.settings.max_attempts
    ses, stubber = ses_script(*[("TooManyRequestsException", 429)] * 3, *[("InternalFailure", 500)] * max_attempts)
    job = harness.put(make_job())[0]
    # When the message is delivered until the worker is done with it
    run_until_done(harness, harness.worker(sesv2=ses), rounds=20)
    # Then the job fails after MaxAttempts real failures, the only attempts counted;
    # the three waits are one entry before them
    stubber.assert_no_pending_responses()
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.FAILED
    assert stored.attempts == max_attempts
    assert [e.repeated for e in stored.attempt_log] == [3] + [None] * max_attempts
    assert stored.error is not None and "InternalFailure" in stored.error
    assert f"gave up after {max_attempts} attempts" in stored.error


# ------------------------------------------------------------ item 5: no live job's message in a DLQ
def test_a_long_wait_never_sends_a_live_jobs_message_to_the_dlq(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given SES pushes back more often than the queue's maxReceiveCount (10),
    # and (to keep moto's real-time delays short) its wait hint is 0 s
    monkeypatch.setattr("common.adapters.mailer.THROTTLED_WAIT_SECONDS", 0)
    receives = harness.settings.max_receive_count
    assert receives == 10
    pushes = receives + 5
    ses, stubber = ses_script(*[("TooManyRequestsException", 429)] * pushes, None)
    worker_sqs = boto3.client("sqs", region_name=REGION)
    calls = CallLog()
    calls.attach(worker_sqs)
    job = harness.put(make_job())[0]
    # When the message is delivered until the worker is done with it
    run_until_done(harness, harness.worker(sesv2=ses, sqs=worker_sqs), rounds=pushes + 5)
    # Then the job is sent, and nothing reached the dead-letter queue
    stubber.assert_no_pending_responses()
    assert harness.job(job.job_id).status is JobStatus.SENT
    assert harness.job(job.job_id).attempts == 1
    assert harness.dead_letters() == []
    # And it got there through fresh copies of its message, sent to its own queue
    copies = calls.params("SendMessage")
    assert copies
    assert {c["QueueUrl"] for c in copies} == {harness.stack.names[PRIORITY]}


def test_a_fresh_copy_keeps_the_delay_and_the_old_record_is_let_go(harness: Harness) -> None:
    # Given a message already received MaxReceiveCount - 1 times
    job = harness.put(make_job())[0]
    for _ in range(harness.settings.max_receive_count - 2):
        harness.release(harness.deliver())
    event = harness.deliver()
    assert event["Records"][0]["attributes"]["ApproximateReceiveCount"] == str(harness.settings.max_receive_count - 1)
    ses, _ = ses_script(("ServiceUnavailable", 503))
    worker_sqs = boto3.client("sqs", region_name=REGION)
    calls = CallLog()
    calls.attach(worker_sqs)
    # When its send fails and the job is to be retried
    response = harness.process(event, harness.worker(sesv2=ses, sqs=worker_sqs))
    # Then the record is done with, and a fresh copy carries the backoff as its delay
    assert response == {"batchItemFailures": []}
    (copy,) = calls.params("SendMessage")
    assert copy["MessageBody"] == event["Records"][0]["body"]
    assert copy["DelaySeconds"] == 30
    assert calls.params("ChangeMessageVisibility") == []
    assert harness.job(job.job_id).status is JobStatus.RETRYING


def rule_holds(assertion: Any, params: dict[str, str]) -> bool:
    """Evaluates the rule functions template.yaml's Rules use."""
    if isinstance(assertion, dict) and set(assertion) == {"Ref"}:
        return params[assertion["Ref"]]  # type: ignore[return-value]
    ((name, args),) = assertion.items()
    if name == "Fn::Not":
        return not rule_holds(args[0], params)
    if name == "Fn::And":
        return all(rule_holds(a, params) for a in args)
    if name == "Fn::Or":
        return any(rule_holds(a, params) for a in args)
    if name == "Fn::Equals":
        left, right = (rule_holds(a, params) if isinstance(a, dict) else a for a in args)
        return str(left) == str(right)
    if name == "Fn::Contains":
        values, value = args
        return str(rule_holds(value, params) if isinstance(value, dict) else value) in [str(v) for v in values]
    raise AssertionError(f"rule function {name} not understood")


def test_the_template_refuses_a_max_receive_count_not_above_max_attempts() -> None:
    template = load_template()
    params = template["Parameters"]
    attempts = range(int(params["MaxAttempts"]["MinValue"]), int(params["MaxAttempts"]["MaxValue"]) + 1)
    receive_counts = range(int(params["MaxReceiveCount"]["MinValue"]), 30)
    assertions = [a["Assert"] for rule in template["Rules"].values() for a in rule["Assertions"]]
    for max_attempts in attempts:
        for max_receive_count in receive_counts:
            values = {"MaxAttempts": str(max_attempts), "MaxReceiveCount": str(max_receive_count)}
            accepted = all(rule_holds(a, values) for a in assertions)
            assert accepted == (max_receive_count > max_attempts), values


def test_dead_letter_queues_keep_messages_14_days() -> None:
    resources = load_template()["Resources"]
    for queue, dlq in (("PriorityQueue", "PriorityDeadLetterQueue"), ("BulkQueue", "BulkDeadLetterQueue")):
        assert resources[dlq]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
        assert resources[queue]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq, "Arn"]}


def test_worker_settings_refuse_inconsistent_limits(harness: Harness) -> None:
    values = dict(harness.settings.model_dump(by_alias=True), MAX_ATTEMPTS=10, MAX_RECEIVE_COUNT=10)
    with pytest.raises(ValueError, match="MAX_RECEIVE_COUNT"):
        WorkerSettings.model_validate(values)


# ------------------------------------------------------------ item 7: nothing of ours reaches a tenant
def test_an_access_denied_leaks_no_arn_or_account_id(
    harness: Harness, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given SES answers AccessDenied with its usual text: our role, function and account
    message = f"User: {ROLE_ARN} is not authorized to perform: ses:SendEmail on resource: {IDENTITY_ARN}"
    client = boto3.client("sesv2", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_client_error("send_email", "AccessDeniedException", message, 403)
    stubber.activate()
    job = harness.put(make_job())[0]
    # When the worker meets it
    event = harness.deliver()
    response = dict(process_batch(event, harness.worker(sesv2=client)))
    # Then the job fails with a plain cause and what to do
    assert response == {"batchItemFailures": []}
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.FAILED
    assert stored.error == f"AccessDeniedException: {SES_ERRORS['AccessDeniedException'].reason}"
    # And nothing of ours is in the job, its log, or any log line
    out = capsys.readouterr()
    logged = out.out + out.err + caplog.text + json.dumps([vars(r) for r in caplog.records], default=str)
    stored_text = stored.model_dump_json()
    for secret in (ACCOUNT_ID, "arn:aws", "SendWorkerFunctionRole", "emailops-SendWorker"):
        assert secret not in stored_text
        assert secret not in logged
    # But the logs do keep SES's (redacted) words for the operator
    assert "is not authorized to perform: ses:SendEmail" in logged


def test_an_unknown_ses_code_gets_a_generic_sentence(harness: Harness) -> None:
    ses, _ = ses_errors("SomethingNewException", 400, 1, then_succeed=False)
    job = harness.put(make_job())[0]
    harness.process(harness.deliver(), harness.worker(sesv2=ses))
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.FAILED
    assert stored.error == f"SomethingNewException: {UNKNOWN_REASON}"


def test_every_send_email_error_of_the_ses_v2_reference_has_a_sentence() -> None:
    documented = {
        "AccountSuspendedException",
        "BadRequestException",
        "LimitExceededException",
        "MailFromDomainNotVerifiedException",
        "MessageRejected",
        "NotFoundException",
        "SendingPausedException",
        "TooManyRequestsException",
    }
    assert documented <= set(SES_ERRORS)
    for known in SES_ERRORS.values():
        assert not re.search(r"arn:|\d{12}", known.reason)


# ------------------------------------------------------------ item 8: addresses SES can send
def test_idn_domains_are_sent_in_punycode(harness: Harness) -> None:
    job = harness.put(make_job(recipient="user@bücher.de", reply_to="hilfe@bücher.de"))[0]
    calls = CallLog()
    ses = boto3.client("sesv2", region_name=REGION)
    calls.attach(ses)
    assert harness.process(harness.deliver(), harness.worker(sesv2=ses)) == {"batchItemFailures": []}
    (request,) = calls.params("SendEmail")
    assert request["Destination"]["ToAddresses"] == ["user@xn--bcher-kva.de"]
    assert request["ReplyToAddresses"] == ["hilfe@xn--bcher-kva.de"]
    stored = harness.job(job.job_id)
    assert stored.status is JobStatus.SENT
    assert stored.recipient == "user@bücher.de"  # the job keeps what it was given


# ------------------------------------------------------------ item 9: a worker that runs out of time
@dataclass
class ShrinkingContext:
    """A Lambda context whose remaining time drops by ``step_ms`` at each look."""

    remaining_ms: int
    step_ms: int
    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:test-function"
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        now = self.remaining_ms
        self.remaining_ms -= self.step_ms
        return now


def test_a_worker_short_of_time_returns_the_rest_unattempted(harness: Harness) -> None:
    # Given a batch of three jobs and an invocation with time for only the first
    jobs = harness.put(*(make_job(recipient=f"t{i}@acme.com") for i in range(3)))
    event = harness.deliver()
    assert len(event["Records"]) == 3
    worker = harness.worker()
    need = worker.time_needed_ms()
    # When the worker processes the batch
    context = ShrinkingContext(remaining_ms=need + 500, step_ms=1000)
    response = dict(process_batch(event, worker, context))  # type: ignore[arg-type]
    # Then the first is sent, the other two go back unattempted and visible at once
    _sent, *rest = event["Records"]
    assert sorted(failed_ids(response)) == sorted(r["messageId"] for r in rest)
    by_recipient = {j.recipient: harness.job(j.job_id) for j in jobs}
    statuses = sorted((job.status.value, job.attempts) for job in by_recipient.values())
    assert statuses == [("queued", 0), ("queued", 0), ("sent", 1)]
    assert len(harness.receive()) == 2  # released: no visibility timeout to wait out


def test_an_unattempted_record_near_max_receive_count_is_replaced_by_a_fresh_copy(harness: Harness) -> None:
    # Given a message already received MaxReceiveCount - 1 times, and no time left
    job = harness.put(make_job())[0]
    for _ in range(harness.settings.max_receive_count - 2):
        harness.release(harness.deliver())
    event = harness.deliver()
    worker_sqs = boto3.client("sqs", region_name=REGION)
    calls = CallLog()
    calls.attach(worker_sqs)
    worker = harness.worker(sqs=worker_sqs)
    # When the worker has no time for it
    response = dict(process_batch(event, worker, ShrinkingContext(remaining_ms=1000, step_ms=0)))  # type: ignore[arg-type]
    # Then a fresh copy, visible at once, replaces it; the job was not touched
    assert response == {"batchItemFailures": []}
    (copy,) = calls.params("SendMessage")
    assert copy["MessageBody"] == event["Records"][0]["body"]
    assert copy["DelaySeconds"] == 0
    assert harness.job(job.job_id).attempts == 0
    harness.settle(event, response)
    (fresh,) = harness.receive()
    assert fresh["Attributes"]["ApproximateReceiveCount"] == "1"


def test_the_time_needed_covers_the_ses_timeouts_and_the_pacers_wait() -> None:
    config: Any = aws.sesv2().meta.config
    assert (config.connect_timeout, config.read_timeout) == (
        aws.SES_CONNECT_TIMEOUT_SECONDS,
        aws.SES_READ_TIMEOUT_SECONDS,
    )
    budget = SendPolicy().record_budget_seconds
    assert budget > config.connect_timeout + config.read_timeout
    clock = [0.0]
    pacer = Pacer(1.0, monotonic=lambda: clock[0], sleep=lambda s: None)
    worker = Worker(None, None, None, None, SendPolicy(), pacer=pacer)  # type: ignore[arg-type]
    assert worker.time_needed_ms() == int(budget * 1000)
    pacer.acquire()
    assert worker.time_needed_ms() == int((budget + 1) * 1000)


class SleepingClock:
    """The pacer's clock: time passes only when it sleeps (the sends themselves take none)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_handler_paces_a_bulk_send_alone_to_the_accounts_whole_rate(
    harness: Harness, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an SES account of 14 emails a second (GetAccount answers it) and the template's
    # 5 + 2 execution environments that may send at once
    ses_limits.set_send_rate(ACCOUNT_ID, REGION, 14.0)
    app.pacer.cache_clear()
    assert app.pacer() is app.pacer()  # one per execution environment
    clock = SleepingClock()
    pacer = Pacer(
        None,
        workers=7,
        read_rate=lambda: account_send_rate(aws.sesv2()),
        monotonic=clock.monotonic,
        sleep=clock.sleep,
    )
    monkeypatch.setattr(app, "pacer", lambda: pacer)
    # When the handler alone sends a bulk send of 100, batch after batch
    harness.put(*(make_job(job_type=JobType.MANUAL, recipient=f"b{i}@acme.com") for i in range(100)))
    for _ in range(10):
        event = harness.deliver(BULK)
        harness.settle(event, app.handler(event, lambda_context), BULK)
    # Then all are sent, paced to the account's rate read from SES, not to a seventh of it
    assert all(harness.sent_to(f"b{i}@acme.com") == 1 for i in range(100))
    assert pacer.account_rate == 14.0
    assert pacer.rate_per_second == pytest.approx(14.0)
    seconds = clock.now - 1000.0
    assert seconds <= 100 / 14 + 5  # the static share (2 a second) took 50 s
    assert seconds >= (100 - 14) / 14 - 1e-6  # and never faster than the rate


def test_a_throttle_for_the_rate_slows_the_environments_pacer(harness: Harness) -> None:
    # Given a pacer at the account's whole rate, and SES throttling one send for the rate
    clock = SleepingClock()
    pacer = Pacer(20.0, workers=1, monotonic=clock.monotonic, sleep=clock.sleep)
    ses, stubber = ses_script(("TooManyRequestsException", 429))
    job = harness.put(make_job())[0]
    # When the worker meets it
    response = harness.process(harness.deliver(), harness.worker(sesv2=ses, pacer=pacer))
    # Then the job waits (not an attempt) and this environment's share halves
    stubber.assert_no_pending_responses()
    assert len(response["batchItemFailures"]) == 1
    assert harness.job(job.job_id).status is JobStatus.RETRYING
    assert pacer.throttles == 1
    assert pacer.rate_per_second == pytest.approx(10.0)
