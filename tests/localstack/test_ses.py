"""The embedded SES: it sends only from SenderIdentity, and refuses a fraction
of sends on demand (EMAILOPS_SES_FAULTS), as SES refuses them."""

from __future__ import annotations

import json
import os
import socket
import time
from collections import Counter

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from common.adapters.aws import reset_clients
from local.runtime import ConfigurationError
from local.ses import SesFaultInjector, SesFaults, check_sender, sender_is_covered
from local.stack import LocalStack, Settings
from local.tokens import mint

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

SEND = {"REQUEST_METHOD": "POST", "PATH_INFO": "/v2/email/outbound-emails"}


# ------------------------------------------------------------------ settings
def test_faults_are_read_from_the_environment():
    settings = Settings.from_env({"EMAILOPS_SES_FAULTS": "throttle=0.2, reject=0.05,seed=7"})
    assert settings.ses_faults == SesFaults(throttle=0.2, reject=0.05, seed=7)
    assert not Settings.from_env({}).ses_faults.active


@pytest.mark.parametrize(
    "text", ["throttle=2", "reject=-0.1", "throttle=0.6,reject=0.6", "bounce=0.1", "throttle", "seed=x"]
)
def test_bad_faults_are_refused_naming_the_variable(text):
    with pytest.raises(ConfigurationError, match="EMAILOPS_SES_FAULTS"):
        Settings.from_env({"EMAILOPS_SES_FAULTS": text})


def test_a_sender_outside_the_sender_identity_is_refused_at_start():
    with pytest.raises(ConfigurationError, match=r"SenderAddress noreply@acme\.com is not under SenderIdentity"):
        Settings.from_env({"EMAILOPS_PARAM_SenderAddress": "noreply@acme.com"})
    # Inside it (its domain, or the address itself) it starts
    Settings.from_env({"EMAILOPS_PARAM_SenderAddress": "noreply@acme.com", "EMAILOPS_PARAM_SenderIdentity": "acme.com"})
    check_sender({"SenderAddress": "Me@Acme.com", "SenderIdentity": "me@acme.com"})
    assert sender_is_covered("me@mail.acme.com", "acme.com")  # SES: a verified domain's subdomains too
    assert not sender_is_covered("me@notacme.com", "acme.com")
    assert not sender_is_covered("other@acme.com", "me@acme.com")


# ------------------------------------------------------------------ the middleware
def _app(environ, start_response):
    start_response("200 OK", [])
    return [b"sent"]


def _fates(injector, calls, environ=SEND):
    fates = []
    for _ in range(calls):
        got = {}
        body = b"".join(injector(dict(environ), lambda status, headers, got=got: got.update(status=status)))
        fates.append(
            {"200 OK": "sent", "429 Too Many Requests": "throttle", "400 Bad Request": "reject"}[got["status"]]
            if body
            else None
        )
    return fates


def test_the_injector_refuses_the_fractions_asked_and_repeats_itself_with_a_seed():
    faults = SesFaults(throttle=0.3, reject=0.1, seed=11)

    first = _fates(SesFaultInjector(_app, faults), 2000)
    again = _fates(SesFaultInjector(_app, faults), 2000)

    assert first == again
    counts = Counter(first)
    assert 0.25 < counts["throttle"] / 2000 < 0.35
    assert 0.07 < counts["reject"] / 2000 < 0.13
    assert counts["sent"] == 2000 - counts["throttle"] - counts["reject"]


def test_only_send_email_calls_are_refused():
    injector = SesFaultInjector(_app, SesFaults(throttle=1.0))
    assert _fates(injector, 3, {"REQUEST_METHOD": "GET", "PATH_INFO": "/v2/email/identities"}) == ["sent"] * 3
    assert _fates(injector, 3) == ["throttle"] * 3


# ------------------------------------------------------------------ through the running stack
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def start_stack():
    """``start(settings)``: the local stack in this process on free ports, with
    its embedded AWS; stopped, and the environment it set undone, afterwards."""
    saved = dict(os.environ)
    started = []

    def start(**kwargs):
        settings = Settings(api_port=_free_port(), lambda_port=_free_port(), aws_port=_free_port(), **kwargs)
        local = LocalStack(settings)
        started.append(local)
        local.start()
        return local

    yield start
    for local in started:
        # moto's backends live in this process: empty them for the next stack
        requests.post(f"{local.settings.aws_endpoint}/moto-api/reset", timeout=10)
        local.stop()
    os.environ.clear()
    os.environ.update(saved)
    reset_clients()


class Driver:
    """A Privas service and an admin in front of a running local stack."""

    def __init__(self, local: LocalStack) -> None:
        s = local.settings
        self.local = local
        self.token = mint(["acme.com"], secret=s.secret, rules=local.jwt_rules)
        self.lambda_ = boto3.client(
            "lambda",
            endpoint_url=s.lambda_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
        )
        self.sesv2 = boto3.client(
            "sesv2",
            endpoint_url=s.aws_endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(retries={"total_max_attempts": 1}),
        )

    def enqueue(self, count: int) -> list[str]:
        jobs = [
            {
                "type": "escalation",
                "domain": "acme.com",
                "to": f"owner{i}@acme.com",
                "subject": f"A visitor rang the bell ({i})",
                "body_text": "Someone is waiting in the chat.",
            }
            for i in range(count)
        ]
        answer = self.lambda_.invoke(FunctionName="EnqueueFunction", Payload=json.dumps({"jobs": jobs}))
        job_ids: list[str] = json.load(answer["Payload"])["job_ids"]
        return job_ids

    def job(self, job_id: str) -> dict:
        response = requests.get(
            f"{self.local.settings.api_url}/jobs/{job_id}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        response.raise_for_status()
        job: dict = response.json()
        return job

    def settled(self, job_ids: list[str], timeout: float = 30) -> list[dict]:
        """The jobs once none is ``queued`` or ``sending`` any more."""
        deadline = time.monotonic() + timeout
        while True:
            jobs = [self.job(job_id) for job_id in job_ids]
            if all(job["status"] not in ("queued", "sending") for job in jobs):
                return jobs
            assert time.monotonic() < deadline, [job["status"] for job in jobs]
            time.sleep(0.25)

    def send_from(self, sender: str) -> str:
        response = self.sesv2.send_email(
            FromEmailAddress=sender,
            Destination={"ToAddresses": ["someone@example.org"]},
            Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}},
        )
        return str(response["MessageId"])


def test_faults_make_jobs_retry_or_fail_as_ses_errors_do(start_stack):
    # Every send refused, a seeded mix of throttling and rejection; retries
    # wait long enough that each job is tried once here
    local = start_stack(
        parameters={"BackoffBaseSeconds": "900"}, ses_faults=SesFaults(throttle=0.5, reject=0.5, seed=3)
    )
    driver = Driver(local)

    jobs = driver.settled(driver.enqueue(8))

    statuses = Counter(job["status"] for job in jobs)
    assert set(statuses) == {"retrying", "failed"}, statuses
    for job in jobs:
        throttled = job["status"] == "retrying"
        # Throttling is a wait, not an attempt; a rejection is an attempt
        assert job["attempts"] == (0 if throttled else 1)
        assert [e.get("repeated") for e in job["attempt_log"]] == [1 if throttled else None]
        assert job["sent_at"] is None
        expected = "TooManyRequestsException" if throttled else "MessageRejected"
        assert expected in job["error"]
        # SES's own words (here, the note naming the fault variable) go to the log only
        assert "EMAILOPS_SES_FAULTS" not in job["error"]
    # boto3 reads the refusals as SES's own errors, with SES's status codes
    seen = {}
    while len(seen) < 2:
        with pytest.raises(ClientError) as caught:
            driver.send_from("no-reply@example.com")
        error = caught.value.response
        seen[error["Error"]["Code"]] = error["ResponseMetadata"]["HTTPStatusCode"]
    assert seen == {"TooManyRequestsException": 429, "MessageRejected": 400}


def test_throttling_past_max_receive_count_never_parks_a_live_jobs_message(start_stack):
    # Every send throttled, and SQS would give up after 2 receives: throttling
    # is waited out, and a record near the limit goes back as a fresh copy
    local = start_stack(
        parameters={"MaxAttempts": "1", "MaxReceiveCount": "2", "BackoffBaseSeconds": "0"},
        ses_faults=SesFaults(throttle=1.0),
    )
    driver = Driver(local)
    sqs = boto3.client(
        "sqs",
        endpoint_url=local.settings.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    dlq = local.stack.names["PriorityDeadLetterQueue"]

    (job_id,) = driver.enqueue(1)

    def waits(job: dict) -> int:
        return int(job["attempt_log"][-1].get("repeated") or 0) if job["attempt_log"] else 0

    deadline = time.monotonic() + 40
    while waits(driver.job(job_id)) <= 2:
        assert time.monotonic() < deadline, driver.job(job_id)
        time.sleep(0.5)
    job = driver.job(job_id)
    # More receives than MaxReceiveCount, MaxAttempts long passed: still retrying, not failed,
    # and none of the waits was an attempt
    assert job["status"] == "retrying"
    assert job["attempts"] == 0
    assert not sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=0).get("Messages")


def test_ses_sends_only_from_the_sender_identity(start_stack):
    # A SenderAddress outside SenderIdentity (what `make run` refuses at start)
    local = start_stack(parameters={"SenderAddress": "noreply@acme.com"})
    driver = Driver(local)

    (job,) = driver.settled(driver.enqueue(1))

    assert job["status"] == "failed"
    assert job["attempts"] == 1
    assert "MessageRejected" in job["error"]
    assert "not verified" in job["error"]
    # The identity verifies its domain's addresses, and only those
    identities = driver.sesv2.list_email_identities()["EmailIdentities"]
    assert [i["IdentityName"] for i in identities] == [local.stack.parameters["SenderIdentity"]]
    assert driver.send_from("anyone@example.com")
    assert driver.send_from("anyone@mail.example.com")
    for outside in ("noreply@acme.com", "anyone@notexample.com"):
        with pytest.raises(driver.sesv2.exceptions.MessageRejected):
            driver.send_from(outside)
