"""What one SES event means for its job (``common.logic.events.interpret``):
pure, no AWS. The samples are AWS's documented records (tests/events/)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from common.logic.events import (
    Ignored,
    NotAnSesEvent,
    SesEventBridgeEvent,
    interpret,
    overridden_by,
    parse_record,
)
from common.models.job import MAX_EVENT_DETAIL_CHARS, JobStatus

EVENTS = Path(__file__).resolve().parents[1] / "events"
JOB_ID = "01JD4ZQ7D3R6X5V9K2M8N4P1QS"


def sample(name: str, **tags: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    event["detail"]["mail"]["tags"] |= {"job_id": [JOB_ID], "domain": ["acme.com"], "type": ["escalation"]}
    event["detail"]["mail"]["tags"] |= {k: [v] for k, v in tags.items()}
    return event


def meaning(event: dict[str, Any]):
    return interpret(SesEventBridgeEvent.model_validate(event))


def test_a_long_or_hostile_diagnostic_is_cut_to_one_safe_line() -> None:
    event = sample("ses_bounce_permanent.json")
    recipient = event["detail"]["bounce"]["bouncedRecipients"][0]
    recipient["diagnosticCode"] = (
        "smtp; 550 blocked\r\nby arn:aws:iam::123456789012:role/x for account 123456789012 " + "x" * 1000
    )
    detail = meaning(event).entry.detail
    assert len(detail) <= MAX_EVENT_DETAIL_CHARS
    assert "\n" not in detail and "\r" not in detail
    assert "123456789012" not in detail and "arn:aws" not in detail
    # Still says what happened and what to do
    assert detail.startswith("Permanent bounce") and "550 blocked" in detail


def test_a_bounce_on_the_account_suppression_list_says_so_without_a_remote_answer() -> None:
    event = sample("ses_bounce_permanent.json")
    event["detail"]["bounce"]["bounceSubType"] = "OnAccountSuppressionList"
    found = meaning(event)
    assert "the SES account's own suppression list" in found.entry.detail
    assert "550" not in found.entry.detail
    assert found.suppression == "bounced"


def test_unknown_subtypes_and_delay_types_are_named_not_dropped() -> None:
    bounce = sample("ses_bounce_transient.json")
    bounce["detail"]["bounce"]["bounceSubType"] = "SomethingNew"
    assert "SomethingNew" in meaning(bounce).entry.detail
    delay = sample("ses_delivery_delay.json")
    delay["detail"]["deliveryDelay"]["delayType"] = "MailboxFull"
    assert "mailbox is full" in meaning(delay).entry.detail


def test_an_event_identity_is_stable_and_changes_with_the_event() -> None:
    first = sample("ses_delivery_delay.json")
    again = copy.deepcopy(first)
    again["id"] = "another-eventbridge-id"  # a redelivery may carry another envelope id
    later = copy.deepcopy(first)
    later["detail"]["deliveryDelay"]["timestamp"] = "2020-06-16T02:25:40.095Z"
    assert meaning(first).event_id == meaning(again).event_id
    assert meaning(first).event_id != meaning(later).event_id


@pytest.mark.parametrize(
    "name",
    [
        "ses_delivery.json",
        "ses_delivery_delay.json",
        "ses_bounce_permanent.json",
        "ses_complaint.json",
        "ses_reject.json",
    ],
)
def test_an_event_identity_ignores_eventbridges_envelope(name: str) -> None:
    # A second publication of one SES event: another envelope id and time
    first = sample(name)
    again = copy.deepcopy(first)
    again["id"], again["time"] = "another-eventbridge-id", "2026-12-06T10:00:00Z"
    assert meaning(first).event_id == meaning(again).event_id
    assert meaning(first).entry.at == meaning(again).entry.at


def test_a_reject_is_one_per_email_and_dated_by_the_mail() -> None:
    first = sample("ses_reject.json")
    other_email = copy.deepcopy(first)
    other_email["detail"]["mail"]["messageId"] = "another-ses-message-id"
    assert meaning(first).event_id != meaning(other_email).event_id
    assert meaning(first).entry.at.isoformat() == "2016-10-14T17:38:15.211000+00:00"
    assert meaning(first).sent_at == meaning(first).entry.at


@pytest.mark.parametrize(
    ("tag", "domain"),
    [
        ("acme.com", "acme.com"),  # as written before the tag-safe encoding
        ("acme_com", "acme.com"),  # SES's tag characters: dots written "_"
        ("mail_acme-corp_co_uk", "mail.acme-corp.co.uk"),
        ("ACME_COM", "acme.com"),
        ("localhost", None),
        ("-acme_com", None),
        ("acme__com", None),
        ("acme.com/x", None),
        ("", None),
    ],
)
def test_the_domain_tag_is_read_in_one_place(tag: str, domain: str | None) -> None:
    assert meaning(sample("ses_delivery.json", domain=tag)).domain == domain


def test_the_event_carries_ses_time_of_acceptance_and_its_recipients() -> None:
    found = meaning(sample("ses_complaint.json"))
    assert found.sent_at.isoformat() == "2017-08-05T00:40:01.123000+00:00"
    assert found.recipients == ("recipient@example.com",)


def test_the_tags_name_the_job_and_a_missing_tag_is_ignored() -> None:
    found = meaning(sample("ses_delivery.json"))
    assert (found.job_id, found.domain, found.job_type.value if found.job_type else None) == (
        JOB_ID,
        "acme.com",
        "escalation",
    )
    untagged = sample("ses_delivery.json")
    untagged["detail"]["mail"]["tags"]["job_id"] = ["not-a-job-id"]
    with pytest.raises(Ignored):
        meaning(untagged)


def test_event_types_not_acted_on_are_ignored() -> None:
    event = sample("ses_delivery.json")
    event["detail"]["eventType"] = "Open"
    with pytest.raises(Ignored):
        meaning(event)


@pytest.mark.parametrize("body", ["", "[]", '{"source": "aws.ses"}', json.dumps({"source": "x", "detail-type": "y"})])
def test_a_body_that_is_not_an_ses_event_is_refused(body: str) -> None:
    with pytest.raises(NotAnSesEvent):
        parse_record(body)


def test_a_reject_fails_only_what_was_not_delivered() -> None:
    assert overridden_by(JobStatus.FAILED) == {
        JobStatus.QUEUED,
        JobStatus.RETRYING,
        JobStatus.SENDING,
        JobStatus.SENT,
        JobStatus.DELAYED,
    }
    assert JobStatus.FAILED in overridden_by(JobStatus.DELIVERED)
    found = meaning(sample("ses_reject.json"))
    assert found.status is JobStatus.FAILED and found.error is not None and "Bad content" in found.error
