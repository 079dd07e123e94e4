"""End to end: SES's mailbox simulator, as the local stack emulates it
(contract, section 6), reaches the jobs through the embedded EventBridge, the
template's rule, SesEventsQueue and SesEventsFunction, within 5 seconds."""

from __future__ import annotations

import time

import boto3
import pytest

from tests.e2e.stack_process import wait_until
from tests.e2e.test_local_stack import email, enqueue, job, new_domain

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")]

EVENT_SECONDS = 5  # the contract's bound, from SES's acceptance to the job's status
SEND_SECONDS = 60


def wait_status(stack, job_id: str, domain: str, status: str) -> dict:
    def reached():
        detail = job(stack, job_id, domain).json()
        assert detail["status"] not in ("failed", "retrying"), detail
        return detail if detail["status"] == status else None

    return wait_until(reached, SEND_SECONDS, interval=0.1, message=f"job {job_id} to be {status}")


def send(stack, to: str) -> tuple[str, str]:
    domain = new_domain()
    (job_id,) = enqueue(stack, email(domain, to=to))["job_ids"]
    return job_id, domain


def suppression(stack, domain: str, address: str) -> dict | None:
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=stack.aws,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    (table,) = [t for t in dynamodb.list_tables()["TableNames"] if t.endswith("-JobsTable")]
    item = dynamodb.get_item(TableName=table, Key={"pk": {"S": f"sup#{domain}#{address}"}}).get("Item")
    return {k: v.get("S") for k, v in item.items()} if item else None


def test_a_send_to_the_bounce_simulator_becomes_bounced_and_suppressed(local_stack):
    job_id, domain = send(local_stack, "bounce@simulator.amazonses.com")
    started = time.monotonic()
    detail = wait_status(local_stack, job_id, domain, "bounced")
    assert time.monotonic() - started < SEND_SECONDS
    (event,) = detail["events"]
    assert event["type"] == "bounced"
    assert "Permanent" in event["detail"] and "5.1.1" in event["detail"]
    assert detail["error"] == event["detail"]
    assert detail["sent_at"] and detail["message_id"]
    entry = suppression(local_stack, domain, "bounce@simulator.amazonses.com")
    assert entry is not None
    assert (entry["reason"], entry["job_id"], entry["domain"]) == ("bounced", job_id, domain)


def test_a_send_to_the_complaint_simulator_is_delivered_then_complained(local_stack):
    job_id, domain = send(local_stack, "complaint@simulator.amazonses.com")
    detail = wait_status(local_stack, job_id, domain, "complained")
    assert [e["type"] for e in detail["events"]] == ["delivered", "complained"]
    assert "the recipient marked this email as spam" in detail["events"][1]["detail"]
    assert detail["events"][0]["at"] <= detail["events"][1]["at"]
    entry = suppression(local_stack, domain, "complaint@simulator.amazonses.com")
    assert entry is not None and entry["reason"] == "complained"


def test_a_send_to_the_suppression_list_simulator_bounces_on_the_account_list(local_stack):
    job_id, domain = send(local_stack, "suppressionlist@simulator.amazonses.com")
    detail = wait_status(local_stack, job_id, domain, "bounced")
    (event,) = detail["events"]
    assert "suppression list" in event["detail"] and "Permanent" in event["detail"]


@pytest.mark.parametrize(
    "to", ["success@simulator.amazonses.com", "ooto@simulator.amazonses.com", "someone@example.org"]
)
def test_any_other_address_is_delivered_within_five_seconds_of_its_send(local_stack, to):
    job_id, domain = send(local_stack, to)

    def sent_or_later():
        detail = job(local_stack, job_id, domain).json()
        return detail if detail["sent_at"] else None

    sent = wait_until(sent_or_later, SEND_SECONDS, interval=0.05, message=f"job {job_id} to be sent")
    observed = time.monotonic()
    detail = wait_status(local_stack, job_id, domain, "delivered")
    assert time.monotonic() - observed < EVENT_SECONDS, sent
    (event,) = detail["events"]
    assert event["type"] == "delivered"
    assert suppression(local_stack, domain, to.lower()) is None
