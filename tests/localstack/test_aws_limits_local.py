"""The local stack's own share of AWS's limits: Lambda's payload sizes at the
Invoke API, and the embedded SES's sending rate (EMAILOPS_SES_MAX_SEND_RATE),
throttled as SES throttles and reported by GetAccount."""

from __future__ import annotations

import io
import json
import os
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from common.adapters.aws import reset_clients
from local import httpd
from local.lambda_api import MAX_ASYNC_PAYLOAD, MAX_SYNC_PAYLOAD, MAX_SYNC_RESPONSE, LambdaApi
from local.runtime import ConfigurationError, Invocation
from local.ses import DEFAULT_MAX_SEND_RATE, SendRate, SesSendRateLimiter, parse_send_rate
from local.stack import LocalStack, Settings

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


# ------------------------------------------------------------------ Lambda's payload sizes
class Answering:
    """A function whose answer is ``size`` bytes of JSON (a string of that length, quoted)."""

    name = "EnqueueFunction"

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.size = 10

    def invoke(self, event: Any) -> Invocation:
        self.events.append(event)
        return Invocation("a" * (self.size - 2), "r")


@pytest.fixture
def invoke() -> Iterator[tuple[Any, Answering]]:
    function = Answering()
    server = httpd.bind(0, "EMAILOPS_LAMBDA_PORT", LambdaApi({"EnqueueFunction": function}), "test")
    httpd.serve_in_background(server, "test-lambda")
    client = boto3.client(
        "lambda",
        endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
    )
    try:
        yield client, function
    finally:
        server.shutdown()
        server.server_close()


def _payload(size: int) -> bytes:
    """A JSON payload of exactly ``size`` bytes."""
    return json.dumps({"p": "x" * (size - len('{"p": ""}'))}).encode()


def test_a_synchronous_payload_over_6_mb_is_refused_before_the_function_runs(invoke):
    client, function = invoke
    client.invoke(FunctionName="EnqueueFunction", Payload=_payload(MAX_SYNC_PAYLOAD))
    assert len(function.events) == 1

    with pytest.raises(ClientError) as exc:
        client.invoke(FunctionName="EnqueueFunction", Payload=_payload(MAX_SYNC_PAYLOAD + 1))

    error = exc.value.response["Error"]
    assert error["Code"] == "RequestEntityTooLargeException"
    assert error["Message"] == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert len(function.events) == 1


def test_an_asynchronous_payload_over_1_mb_is_refused(invoke):
    client, function = invoke
    with pytest.raises(ClientError) as exc:
        client.invoke(FunctionName="EnqueueFunction", InvocationType="Event", Payload=_payload(MAX_ASYNC_PAYLOAD + 1))
    assert exc.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert "too large for the Event invocation type" in exc.value.response["Error"]["Message"]
    assert function.events == []


def test_an_answer_over_6_mb_is_lambdas_function_error(invoke):
    client, function = invoke
    function.size = MAX_SYNC_RESPONSE
    assert "FunctionError" not in client.invoke(FunctionName="EnqueueFunction", Payload=b"{}")

    function.size = MAX_SYNC_RESPONSE + 1
    response = client.invoke(FunctionName="EnqueueFunction", Payload=b"{}")

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read()) == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }


# ------------------------------------------------------------------ SES's sending rate
class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_allows_one_seconds_sends_then_one_per_interval():
    clock = Clock()
    rate = SendRate(20, clock=clock)
    assert all(rate.take() for _ in range(20))
    assert not rate.take()
    clock.now += 0.05  # one send's worth at 20 a second
    assert rate.take()
    assert not rate.take()
    rate.give_back()
    assert rate.take()


def test_a_rate_below_one_a_second_still_sends_one_at_a_time():
    clock = Clock()
    rate = SendRate(0.5, clock=clock)
    assert rate.take()
    clock.now += 1.0
    assert not rate.take()
    clock.now += 1.0
    assert rate.take()


def _send(limiter: SesSendRateLimiter, recipients: int = 1, path: str = "/v2/email/outbound-emails") -> dict:
    body = json.dumps({"Destination": {"ToAddresses": [f"r{n}@example.org" for n in range(recipients)]}}).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    got: dict = {}

    def start_response(status, headers, exc_info=None):
        got.update(status=status, headers=dict(headers))

    got["body"] = b"".join(limiter(environ, start_response))
    return got


def test_sends_past_the_rate_are_answered_as_ses_throttles():
    answers = iter(["200 OK"] * 20 + ["400 Bad Request", "200 OK"])

    def ses(environ, start_response):
        is_send = environ["PATH_INFO"] == "/v2/email/outbound-emails"
        start_response(next(answers) if is_send else "200 OK", [])
        return [b"{}"]

    clock = Clock()
    limiter = SesSendRateLimiter(ses, SendRate(20, clock=clock))
    assert [_send(limiter)["status"] for _ in range(20)] == ["200 OK"] * 20

    throttled = _send(limiter)

    assert throttled["status"] == "429 Too Many Requests"
    assert throttled["headers"]["x-amzn-ErrorType"] == "TooManyRequestsException"
    assert json.loads(throttled["body"]) == {"message": "Maximum sending rate exceeded."}
    # Other calls are not counted; a send SES refused gives its share back
    assert _send(limiter, path="/v2/email/identities")["status"] == "200 OK"
    clock.now += 0.05
    assert _send(limiter)["status"] == "400 Bad Request"
    assert _send(limiter)["status"] == "200 OK"  # the refused send's share came back


def test_the_rate_counts_recipients_as_ses_does():
    def ses(environ, start_response):
        start_response("200 OK", [])
        return [b"{}"]

    limiter = SesSendRateLimiter(ses, SendRate(20, clock=Clock()))
    assert _send(limiter, recipients=15)["status"] == "200 OK"
    assert _send(limiter, recipients=6)["status"] == "429 Too Many Requests"
    assert _send(limiter, recipients=5)["status"] == "200 OK"


def test_the_rate_is_read_from_the_environment():
    assert Settings.from_env({}).ses_max_send_rate == DEFAULT_MAX_SEND_RATE == 20
    assert Settings.from_env({"EMAILOPS_SES_MAX_SEND_RATE": "0"}).ses_max_send_rate == 0
    assert parse_send_rate("2.5") == 2.5
    for bad in ("-1", "fast", "inf"):
        with pytest.raises(ConfigurationError, match="EMAILOPS_SES_MAX_SEND_RATE"):
            parse_send_rate(bad)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def running_stack() -> Iterator[Any]:
    saved = dict(os.environ)
    started: list[LocalStack] = []

    def start(**kwargs: Any) -> LocalStack:
        settings = Settings(api_port=_free_port(), lambda_port=_free_port(), aws_port=_free_port(), **kwargs)
        local = LocalStack(settings)
        started.append(local)
        local.start()
        return local

    yield start
    for local in started:
        requests.post(f"{local.settings.aws_endpoint}/moto-api/reset", timeout=10)
        local.stop()
    os.environ.clear()
    os.environ.update(saved)
    reset_clients()


def _sesv2(local: LocalStack) -> Any:
    return boto3.client(
        "sesv2",
        endpoint_url=local.settings.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_the_embedded_ses_throttles_past_its_rate_and_reports_it(running_stack):
    local = running_stack(ses_max_send_rate=3.0)
    sesv2 = _sesv2(local)
    sender = local.stack.parameters["SenderAddress"] if local.stack else ""

    outcomes = []
    for _ in range(6):
        try:
            sesv2.send_email(
                FromEmailAddress=sender,
                Destination={"ToAddresses": ["someone@example.org"]},
                Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}},
            )
            outcomes.append("sent")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])

    assert outcomes[:3] == ["sent"] * 3
    assert "TooManyRequestsException" in outcomes[3:]
    quota = sesv2.get_account()["SendQuota"]
    assert quota["MaxSendRate"] == 3.0
    assert quota["SentLast24Hours"] == outcomes.count("sent")
