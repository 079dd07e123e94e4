"""The mailer's classification, redaction and addresses: no AWS (a stand-in SES client)."""

from __future__ import annotations

import inspect
from typing import Any

import botocore.exceptions
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from common.adapters.mailer import (
    PAUSED_WAIT_SECONDS,
    SES_ERRORS,
    THROTTLED_WAIT_SECONDS,
    UNKNOWN_REASON,
    Mailer,
    ascii_address,
    describe,
    redact,
    send_error,
)
from common.models.errors import AmbiguousSendError, BackPressure, PermanentSendError, TransientSendError
from common.models.job import Bodies, Job, JobType, new_job_id

BOTOCORE_ERRORS = sorted(
    (cls for _, cls in inspect.getmembers(botocore.exceptions, inspect.isclass) if issubclass(cls, BotoCoreError)),
    key=lambda cls: cls.__name__,
)


class RaisingClient:
    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.requests: list[dict[str, Any]] = []

    def send_email(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        raise self.error


class AcceptingClient(RaisingClient):
    def send_email(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        return {"MessageId": "m-1"}


def job(recipient: str = "owner@acme.com", reply_to: str | None = None, job_type: JobType = JobType.ESCALATION) -> Job:
    job_id, created_at = new_job_id()
    return Job(
        job_id=job_id,
        created_at=created_at,
        domain="acme.com",
        type=job_type,
        recipient=recipient,
        subject="s",
        body=job_id,
        reply_to=reply_to,
    )


BODIES = Bodies(text="SECRET-BODY")


def client_error(code: str, status: int, message: str = "words") -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "SendEmail")


@pytest.mark.parametrize("cls", BOTOCORE_ERRORS, ids=lambda cls: cls.__name__)
def test_every_botocore_error_becomes_a_send_error(cls: type[BotoCoreError]) -> None:
    # Given SES's client raises any of botocore's own exceptions (built without
    # its keyword arguments: only its class matters)
    error = cls.__new__(cls)
    mailer = Mailer(RaisingClient(error), sender="no-reply@acme.com", configuration_set="cs")  # type: ignore[arg-type]
    # Then the mailer raises a classified send error, naming the class, chained to it
    with pytest.raises((TransientSendError, PermanentSendError)) as raised:
        mailer.send(job(), BODIES)
    assert cls.__name__ in str(raised.value)
    assert raised.value.__cause__ is error
    assert "SECRET-BODY" not in str(raised.value)


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (botocore.exceptions.SSLError, TransientSendError),
        (botocore.exceptions.ProxyConnectionError, TransientSendError),
        (botocore.exceptions.EndpointConnectionError, TransientSendError),
        (botocore.exceptions.ConnectTimeoutError, TransientSendError),
        (botocore.exceptions.NoCredentialsError, TransientSendError),
        (botocore.exceptions.ReadTimeoutError, AmbiguousSendError),
        (botocore.exceptions.ConnectionClosedError, AmbiguousSendError),
        (botocore.exceptions.HTTPClientError, AmbiguousSendError),
        (botocore.exceptions.IncompleteReadError, AmbiguousSendError),
        (botocore.exceptions.ParamValidationError, PermanentSendError),
        (botocore.exceptions.UnknownParameterError, PermanentSendError),
    ],
)
def test_botocore_errors_by_class_tree(cls: type[BotoCoreError], expected: type[Exception]) -> None:
    mailer = Mailer(RaisingClient(cls.__new__(cls)), sender="a@acme.com", configuration_set="cs")  # type: ignore[arg-type]
    with pytest.raises(expected) as raised:
        mailer.send(job(), BODIES)
    if expected is TransientSendError:
        assert not isinstance(raised.value, AmbiguousSendError)


@pytest.mark.parametrize(
    ("code", "status", "kind", "wait"),
    [
        ("TooManyRequestsException", 429, BackPressure, THROTTLED_WAIT_SECONDS),
        ("SendingPausedException", 400, BackPressure, PAUSED_WAIT_SECONDS),
        ("LimitExceededException", 400, BackPressure, PAUSED_WAIT_SECONDS),
        ("SomethingThrottledNew", 429, BackPressure, THROTTLED_WAIT_SECONDS),
        ("ServiceUnavailable", 503, TransientSendError, None),
        ("BadGateway", 502, TransientSendError, None),
        ("MessageRejected", 400, PermanentSendError, None),
        ("AccountSuspendedException", 400, PermanentSendError, None),
        ("SomethingNewException", 400, PermanentSendError, None),
    ],
)
def test_ses_codes_are_classified(code: str, status: int, kind: type[Exception], wait: int | None) -> None:
    error = send_error(client_error(code, status))
    assert type(error) is kind
    if wait is not None:
        assert isinstance(error, BackPressure)
        assert error.wait_seconds == wait


def test_the_admins_error_is_the_code_and_a_sentence_never_ses_words() -> None:
    text = describe(client_error("MessageRejected", 400, "Email address is not verified: arn:aws:ses:x:123456789012:y"))
    assert text == f"MessageRejected: {SES_ERRORS['MessageRejected'].reason}"
    assert describe(client_error("Weird<script>", 400)) == f"SESError: {UNKNOWN_REASON}"


def test_redaction_removes_arns_and_account_ids() -> None:
    text = (
        "User: arn:aws:sts::123456789012:assumed-role/Role-1/fn is not authorized on "
        "arn:aws-us-gov:ses:us-gov-west-1:123456789012:identity/x.com (account 123456789012)."
    )
    redacted = redact(text)
    assert "123456789012" not in redacted
    assert "arn:" not in redacted
    assert "Role-1" not in redacted
    assert redacted.startswith("User: <arn> is not authorized on <arn> (account <account-id>).")
    assert redact("phone 1234567890123 stays") == "phone 1234567890123 stays"  # 13 digits: not an account id


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("user@bücher.de", "user@xn--bcher-kva.de"),
        ("info@münchen.example.com", "info@xn--mnchen-3ya.example.com"),
        ("Owner@Acme.com", "Owner@Acme.com"),  # ASCII: unchanged
        ("not-an-address", "not-an-address"),  # SES refuses it, as before
    ],
)
def test_ascii_address(address: str, expected: str) -> None:
    assert ascii_address(address) == expected


def test_an_undecodable_idn_domain_is_refused_before_ses() -> None:
    client = AcceptingClient(Exception())
    mailer = Mailer(client, sender="a@acme.com", configuration_set="cs")  # type: ignore[arg-type]
    with pytest.raises(PermanentSendError):
        mailer.send(job(recipient="user@bü cher.de"), BODIES)
    assert client.requests == []


def test_recipient_and_reply_to_go_out_in_punycode() -> None:
    client = AcceptingClient(Exception())
    mailer = Mailer(client, sender="a@acme.com", configuration_set="cs")  # type: ignore[arg-type]
    assert mailer.send(job(recipient="user@bücher.de", reply_to="hilfe@bücher.de"), BODIES) == "m-1"
    (request,) = client.requests
    assert request["Destination"]["ToAddresses"] == ["user@xn--bcher-kva.de"]
    assert request["ReplyToAddresses"] == ["hilfe@xn--bcher-kva.de"]
