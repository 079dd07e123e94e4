"""The local stack's SES event emulation (local/ses_events.py): the mailbox
simulator's events for each recipient of contract section 6, in SES's record
shape and EventBridge entry, published only for sends SES accepted."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from common.logic.events import SesEventBridgeEvent, interpret
from local.ses import SEND_EMAIL_PATH
from local.ses_events import (
    AcceptedSend,
    SesEventEmulator,
    accepted_send,
    entry,
    mail_object,
    simulated_records,
    simulator_mailbox,
)

NOW = datetime(2026, 12, 2, 10, 0, 0, 123000, tzinfo=UTC)
JOB_ID = "01JD4ZQ7D3R6X5V9K2M8N4P1QS"


def request(to: str, *, configuration_set: str | None = "email-operations") -> dict[str, Any]:
    body: dict[str, Any] = {
        "FromEmailAddress": "no-reply@example.com",
        "Destination": {"ToAddresses": [to]},
        "Content": {"Simple": {"Subject": {"Data": "Hello"}, "Body": {"Text": {"Data": "SECRET BODY"}}}},
        "EmailTags": [
            {"Name": "job_id", "Value": JOB_ID},
            {"Name": "domain", "Value": "acme.com"},
            {"Name": "type", "Value": "escalation"},
        ],
    }
    if configuration_set:
        body["ConfigurationSetName"] = configuration_set
    return body


def records(to: str) -> list[dict[str, Any]]:
    send = accepted_send(request(to), {"MessageId": "m-1"}, NOW)
    assert send is not None
    mail = mail_object(send, region="us-east-1", account="123456789012", identity="example.com")
    return simulated_records(send, mail)


@pytest.mark.parametrize(
    ("to", "mailbox"),
    [
        ("bounce@simulator.amazonses.com", "bounce"),
        ("Bounce+label@Simulator.AmazonSES.com", "bounce"),
        ("owner@acme.com", None),
        ("bounce@simulator.amazonses.com.evil.example", None),
    ],
)
def test_simulator_addresses_are_recognised_case_insensitively_with_labels(to: str, mailbox: str | None) -> None:
    assert simulator_mailbox(to) == mailbox


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("bounce@simulator.amazonses.com", [("Bounce", "Permanent", "General")]),
        ("complaint@simulator.amazonses.com", [("Delivery", None, None), ("Complaint", None, None)]),
        ("suppressionlist@simulator.amazonses.com", [("Bounce", "Permanent", "OnAccountSuppressionList")]),
        ("ooto@simulator.amazonses.com", [("Delivery", None, None)]),
        ("success@simulator.amazonses.com", [("Delivery", None, None)]),
        ("someone@example.org", [("Delivery", None, None)]),
    ],
)
def test_each_simulator_address_gives_the_events_of_section_6(to: str, expected: list[tuple[Any, ...]]) -> None:
    found = records(to)
    kinds = [
        (r["eventType"], r.get("bounce", {}).get("bounceType"), r.get("bounce", {}).get("bounceSubType")) for r in found
    ]
    assert kinds == expected
    for record in found:
        assert record["mail"]["messageId"] == "m-1"
        assert record["mail"]["tags"]["job_id"] == [JOB_ID]
        assert record["mail"]["tags"]["ses:configuration-set"] == ["email-operations"]
        assert "SECRET BODY" not in json.dumps(record)
    if to.startswith("bounce@"):
        assert found[0]["bounce"]["bouncedRecipients"][0]["status"] == "5.1.1"


def test_each_record_reads_as_the_service_reads_an_ses_event() -> None:
    for to in ("bounce@simulator.amazonses.com", "complaint@simulator.amazonses.com", "a@example.org"):
        for record in records(to):
            put = entry(record, region="us-east-1", account="123456789012")
            assert put["Source"] == "aws.ses" and put["EventBusName"] == "default"
            envelope = {"source": put["Source"], "detail-type": put["DetailType"], "detail": json.loads(put["Detail"])}
            meaning = interpret(SesEventBridgeEvent.model_validate(envelope))
            assert meaning.job_id == JOB_ID and meaning.domain == "acme.com"


def test_the_complaint_follows_the_delivery() -> None:
    delivery, complaint = records("complaint@simulator.amazonses.com")
    assert delivery["delivery"]["timestamp"] < complaint["complaint"]["timestamp"]


def test_a_send_without_a_configuration_set_publishes_nothing() -> None:
    assert accepted_send(request("a@example.org", configuration_set=None), {"MessageId": "m"}, NOW) is None


class FakePublisher:
    def __init__(self) -> None:
        self.sends: list[AcceptedSend] = []

    def accepted(self, send: AcceptedSend) -> None:
        self.sends.append(send)


def call(emulator: SesEventEmulator, path: str, body: dict[str, Any]) -> tuple[str, bytes]:
    raw = json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.input": io.BytesIO(raw),
    }
    seen: dict[str, str] = {}
    out = b"".join(emulator(environ, lambda status, headers, *_: seen.setdefault("status", status)))
    return seen["status"], out


def app_answering(status: str, answer: dict[str, Any]):
    def app(environ: dict[str, Any], start_response: Any):
        # The request body reaches the app whole
        assert json.loads(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))["FromEmailAddress"]
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(answer).encode()]

    return app


def test_an_accepted_send_is_published_and_answered_unchanged() -> None:
    publisher = FakePublisher()
    emulator = SesEventEmulator(app_answering("200 OK", {"MessageId": "m-9"}), publisher)  # type: ignore[arg-type]
    status, body = call(emulator, SEND_EMAIL_PATH, request("a@example.org"))
    assert (status, json.loads(body)) == ("200 OK", {"MessageId": "m-9"})
    assert [s.message_id for s in publisher.sends] == ["m-9"]
    assert publisher.sends[0].tags["job_id"] == JOB_ID


def test_a_refused_send_or_another_call_publishes_nothing() -> None:
    publisher = FakePublisher()
    refused = SesEventEmulator(app_answering("400 Bad Request", {"message": "no"}), publisher)  # type: ignore[arg-type]
    assert call(refused, SEND_EMAIL_PATH, request("a@example.org"))[0] == "400 Bad Request"
    other = SesEventEmulator(app_answering("200 OK", {"MessageId": "m"}), publisher)  # type: ignore[arg-type]
    call(other, "/v2/email/identities", request("a@example.org"))
    assert publisher.sends == []


@pytest.mark.parametrize(("raw", "on"), [(None, True), ("on", True), ("off", False), ("false", False)])
def test_the_emulation_is_on_unless_emailops_ses_events_is_off(raw: str | None, on: bool) -> None:
    from local.stack import Settings

    env = {} if raw is None else {"EMAILOPS_SES_EVENTS": raw}
    assert Settings.from_env(env).ses_events is on


def test_a_bad_emailops_ses_events_value_is_refused_by_name() -> None:
    from local.runtime import ConfigurationError
    from local.stack import Settings

    with pytest.raises(ConfigurationError, match="EMAILOPS_SES_EVENTS"):
        Settings.from_env({"EMAILOPS_SES_EVENTS": "sometimes"})
