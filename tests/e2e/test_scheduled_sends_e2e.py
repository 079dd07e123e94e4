"""End to end: scheduled sends and test sends through the local stack (its
schedules every 2 s here), driven only from outside: EnqueueFunction over the
Lambda Invoke API, the HTTP API, the worker and the embedded SES."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.e2e.test_local_stack import auth, email, enqueue, job, new_domain, ses_messages, wait_sent

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")]


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parsed(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def sent_to(stack, address: str) -> int:
    return sum(1 for m in ses_messages(stack) if m["destinations"]["ToAddresses"] == [address])


def test_a_scheduled_escalation_waits_then_is_sent_after_its_send_at(local_stack):
    domain = new_domain()
    send_at = datetime.now(UTC) + timedelta(seconds=8)
    result = enqueue(local_stack, email(domain, send_at=stamp(send_at)))
    [job_id] = result["job_ids"]
    detail = job(local_stack, job_id, domain).json()
    assert (detail["status"], detail["send_at"]) == ("scheduled", stamp(send_at))
    listed = requests.get(
        f"{local_stack.api}/jobs", params={"domain": domain, "status": "scheduled"}, headers=auth(domain), timeout=10
    ).json()["items"]
    assert [row["job_id"] for row in listed] == [job_id]
    assert sent_to(local_stack, f"owner@{domain}") == 0

    sent = wait_sent(local_stack, job_id, domain)
    assert parsed(sent["sent_at"]) >= send_at  # never before its time
    assert (parsed(sent["sent_at"]) - send_at).total_seconds() < 60  # queued within 60 s after it
    assert sent_to(local_stack, f"owner@{domain}") == 1


def test_a_job_canceled_while_scheduled_is_never_sent(local_stack):
    domain = new_domain()
    send_at = datetime.now(UTC) + timedelta(seconds=4)
    [job_id] = enqueue(local_stack, email(domain, send_at=stamp(send_at)))["job_ids"]
    canceled = requests.post(f"{local_stack.api}/jobs/{job_id}/cancel", headers=auth(domain), timeout=10)
    assert (canceled.status_code, canceled.json()["status"]) == (200, "canceled")
    time.sleep(10)  # past its send_at, and several scheduler runs (every 2 s here)
    assert job(local_stack, job_id, domain).json()["status"] == "canceled"
    assert sent_to(local_stack, f"owner@{domain}") == 0


def test_a_bulk_scheduled_then_canceled_sends_nothing(local_stack):
    domain = new_domain()
    send_at = datetime.now(UTC) + timedelta(seconds=5)
    body = {
        "domain": domain,
        "extra_recipients": f"a@{domain}, b@{domain}, c@{domain}",
        "subject": "Our opening hours",
        "body": "We are open every day from 9 to 17.",
        "send_at": stamp(send_at),
    }
    posted = requests.post(f"{local_stack.api}/jobs/bulk", json=body, headers=auth(domain), timeout=30)
    assert posted.status_code == 202, posted.text
    bulk_id = posted.json()["bulk_id"]
    progress = requests.get(f"{local_stack.api}/bulks/{bulk_id}", headers=auth(domain), timeout=10).json()
    assert (progress["send_at"], progress["counts"]["scheduled"]) == (stamp(send_at), 3)
    canceled = requests.post(f"{local_stack.api}/bulks/{bulk_id}/cancel", headers=auth(domain), timeout=30)
    assert (canceled.status_code, canceled.json()["canceled"]) == (200, 3)
    time.sleep(10)
    progress = requests.get(f"{local_stack.api}/bulks/{bulk_id}", headers=auth(domain), timeout=10).json()
    assert progress["counts"]["canceled"] == 3
    assert sum(sent_to(local_stack, f"{who}@{domain}") for who in "abc") == 0


def test_a_scheduled_bulk_is_sent_after_its_send_at(local_stack):
    domain = new_domain()
    send_at = datetime.now(UTC) + timedelta(seconds=5)
    body = {
        "domain": domain,
        "extra_recipients": f"a@{domain}, b@{domain}",
        "subject": "Our opening hours",
        "body": "We are open every day from 9 to 17.",
        "send_at": stamp(send_at),
    }
    posted = requests.post(f"{local_stack.api}/jobs/bulk", json=body, headers=auth(domain), timeout=30).json()
    for job_id in posted["job_ids"]:
        sent = wait_sent(local_stack, job_id, domain)
        assert parsed(sent["sent_at"]) >= send_at


@pytest.mark.parametrize("send_at", ["not a time", "2026-12-24T09:00:00", "far"])
def test_bad_times_are_refused_by_enqueue_and_bulk_send(local_stack, send_at):
    domain = new_domain()
    if send_at == "far":
        send_at = stamp(datetime.now(UTC) + timedelta(days=31))
    answer = enqueue(local_stack, email(domain, send_at=send_at))
    assert answer["error"]["code"] == "validation_error"
    assert [d["field"] for d in answer["error"]["details"]] == ["send_at"]
    body = {"domain": domain, "extra_recipients": f"a@{domain}", "subject": "S", "body": "B", "send_at": send_at}
    refused = requests.post(f"{local_stack.api}/jobs/bulk", json=body, headers=auth(domain), timeout=30)
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_send_at")


def test_a_time_past_sends_at_once(local_stack):
    domain = new_domain()
    [job_id] = enqueue(local_stack, email(domain, send_at=stamp(datetime.now(UTC) - timedelta(hours=1))))["job_ids"]
    assert job(local_stack, job_id, domain).json()["send_at"] is None
    wait_sent(local_stack, job_id, domain)


def test_a_test_email_goes_out_and_a_suppressed_address_is_409(local_stack):
    domain = new_domain()
    body = {"domain": domain, "to": f"me@{domain}", "subject": "Our opening hours", "body": "Open 9 to 17."}
    answer = requests.post(f"{local_stack.api}/jobs/test", json=body, headers=auth(domain), timeout=30)
    assert answer.status_code == 202, answer.text
    sent = wait_sent(local_stack, answer.json()["job_id"], domain)
    assert (sent["type"], sent["bulk_id"]) == ("manual", None)
    listed = requests.put(f"{local_stack.api}/suppressions/{domain}/me@{domain}", headers=auth(domain), timeout=10)
    assert listed.status_code == 200
    again = requests.post(f"{local_stack.api}/jobs/test", json=body, headers=auth(domain), timeout=30)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "suppressed")
