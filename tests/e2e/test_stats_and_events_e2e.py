"""End to end: ``GET /stats`` (contract, section 3) agrees with ``GET /jobs``
after a bulk send with bounces and complaints, per day and per type, for one
domain, several and a ``*`` caller; and the status events of section 9 reach an
SQS queue through a rule on the embedded EventBridge, one per (job_id, status),
within 5 seconds."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import requests

from tests.e2e.stack_process import wait_until
from tests.e2e.test_local_stack import auth, email, enqueue, new_domain, token

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")]

AGREE_SECONDS = 10  # the contract: within 10 seconds of any change
SETTLE_SECONDS = 90
EVENT_SECONDS = 5
STATUSES = (
    "scheduled",
    "queued",
    "sending",
    "retrying",
    "sent",
    "delayed",
    "delivered",
    "bounced",
    "complained",
    "failed",
    "suppressed",
    "canceled",
)
TYPES = ("ai_followup", "visitor_capture", "escalation", "invitation", "manual")
SETTLED = ("delivered", "bounced", "complained", "failed", "suppressed", "canceled")
DETAIL_FIELDS = {
    "job_id",
    "domain",
    "type",
    "recipient",
    "status",
    "at",
    "bulk_id",
    "retry_of",
    "idempotency_key",
    "error",
}


def aws(stack, service: str):
    return boto3.client(
        service,
        endpoint_url=stack.aws,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def stats(stack, headers: dict[str, str], **query) -> requests.Response:
    return requests.get(f"{stack.api}/stats", headers=headers, params=query, timeout=30)


def log(stack, headers: dict[str, str], **query) -> list[dict]:
    """Every job of ``GET /jobs`` for that query, page by page."""
    items: list[dict] = []
    cursor = None
    while True:
        params = {**query, "limit": 100} | ({"cursor": cursor} if cursor else {})
        response = requests.get(f"{stack.api}/jobs", headers=headers, params=params, timeout=30)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def expected(jobs: list[dict], first: str, last: str) -> dict:
    """What ``GET /stats`` must say over those jobs, computed from the log."""
    days: dict[str, Counter] = {}
    types: dict[str, Counter] = {t: Counter() for t in TYPES}
    for job in jobs:
        day = job["created_at"][:10]
        if first <= day <= last:
            days.setdefault(day, Counter())[job["status"]] += 1
            types[job["type"]][job["status"]] += 1
    return {
        "days": {day: dict(c) for day, c in days.items()},
        "types": {t: dict(c) for t, c in types.items()},
    }


def observed(body: dict) -> dict:
    return {
        "days": {d["day"]: {s: n for s, n in d["counts"].items() if n} for d in body["days"] if d["total"]},
        "types": {t: {s: n for s, n in v["counts"].items() if n} for t, v in body["types"].items()},
    }


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def bulk_send(stack, domain: str, recipients: list[str]) -> dict:
    response = requests.post(
        f"{stack.api}/jobs/bulk",
        headers=auth(domain),
        json={
            "domain": domain,
            "extra_recipients": ", ".join(recipients),
            "subject": "Our opening hours change",
            "body": "From Monday we open at 8.",
        },
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return response.json()


def wait_settled(stack, domain: str, count: int) -> list[dict]:
    def settled():
        jobs = log(stack, auth(domain), domain=domain)
        if len(jobs) == count and all(j["status"] in SETTLED for j in jobs):
            return jobs
        return None

    return wait_until(settled, SETTLE_SECONDS, interval=0.5, message=f"{domain}'s jobs to settle")


def agree(stack, headers: dict[str, str], jobs_of, **query) -> dict:
    """Wait (10 s at most) until ``GET /stats`` says what the log says."""
    started = time.monotonic()
    last_seen: dict = {}

    def same():
        nonlocal last_seen
        response = stats(stack, headers, **query)
        assert response.status_code == 200, response.text
        body = response.json()
        last_seen = observed(body)
        want = expected(jobs_of(), body["from"], body["to"])
        return body if last_seen == want else None

    body = wait_until(same, AGREE_SECONDS, interval=0.5, message=f"GET /stats to agree with GET /jobs: {last_seen}")
    assert time.monotonic() - started <= AGREE_SECONDS + 1
    return body


# ------------------------------------------------------------------ GET /stats
def test_stats_agree_with_the_log_after_a_bulk_send_with_bounces_and_complaints(local_stack):
    domain = new_domain()
    recipients = [f"reader{n}@example.org" for n in range(6)] + [
        "bounce@simulator.amazonses.com",
        "complaint@simulator.amazonses.com",
        "suppressionlist@simulator.amazonses.com",
    ]
    sent = bulk_send(local_stack, domain, recipients)
    (escalation,) = enqueue(local_stack, email(domain, to="success@simulator.amazonses.com"))["job_ids"]
    jobs = wait_settled(local_stack, domain, len(sent["job_ids"]) + 1)
    assert {j["status"] for j in jobs} == {"delivered", "bounced", "complained"}

    body = agree(local_stack, auth(domain), lambda: log(local_stack, auth(domain), domain=domain), domain=domain)

    # Every status a key, every type a key; counts sum to totals; one entry per day, oldest first.
    assert body["to"] == today()
    assert body["from"] == (datetime.now(UTC).date() - timedelta(days=29)).isoformat()
    assert len(body["days"]) == 30
    assert [d["day"] for d in body["days"]] == sorted(d["day"] for d in body["days"])
    for entry in [*body["days"], *body["types"].values()]:
        assert tuple(entry["counts"]) == STATUSES
        assert sum(entry["counts"].values()) == entry["total"]
    assert tuple(body["types"]) == TYPES
    (day,) = [d for d in body["days"] if d["total"]]
    assert day["counts"]["bounced"] == 2 and day["counts"]["complained"] == 1
    assert day["counts"]["delivered"] == 7
    assert body["types"]["manual"]["total"] == 9
    assert body["types"]["escalation"]["counts"]["delivered"] == 1
    assert escalation in {j["job_id"] for j in jobs}


def test_stats_without_a_domain_sum_the_callers_domains_and_a_star_caller_sees_every_domain(local_stack):
    first, second = new_domain(), new_domain()
    enqueue(local_stack, {"jobs": [email(first), email(first, kind="invitation"), email(second, kind="ai_followup")]})
    wait_settled(local_stack, first, 2)
    wait_settled(local_stack, second, 1)
    both = {"Authorization": f"Bearer {token(first, second)}"}

    def jobs_of_both():
        return log(local_stack, both, domain=first) + log(local_stack, both, domain=second)

    body = agree(local_stack, both, jobs_of_both, **{"from": today(), "to": today()})
    assert body["days"][0]["total"] == 3
    assert body["types"]["invitation"]["total"] == 1 and body["types"]["ai_followup"]["total"] == 1

    # A `*` caller: one domain of it agrees with the log exactly, and the whole platform counts at
    # least both domains (other tests of this stack change other domains' jobs all the while, so the
    # platform's figures are compared with the log only where nothing else moves)
    star = {"Authorization": f"Bearer {token('*')}"}
    agree(
        local_stack,
        star,
        lambda: log(local_stack, star, domain=first),
        domain=first,
        **{"from": today(), "to": today()},
    )
    platform = stats(local_stack, star, **{"from": today(), "to": today()})
    assert platform.status_code == 200, platform.text
    assert platform.json()["days"][0]["total"] >= body["days"][0]["total"] == 3


def test_stats_of_another_tenants_domain_are_403(local_stack):
    mine, theirs = new_domain(), new_domain()
    response = stats(local_stack, auth(mine), domain=theirs)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2026-12-05", "to": "2026-12-01"},  # from after to
        {"from": "2026-01-01", "to": "2026-04-03"},  # 92 days is the most: this is 93
        {"from": "2026-13-01"},  # not a day
        {"to": "yesterday"},
    ],
)
def test_a_bad_range_is_400_invalid_request(local_stack, query):
    domain = new_domain()
    response = stats(local_stack, auth(domain), domain=domain, **query)
    assert response.status_code == 400, response.text[:300]
    assert response.json()["error"]["code"] == "invalid_request"


def test_a_range_of_92_days_is_answered_day_by_day(local_stack):
    domain = new_domain()
    response = stats(local_stack, auth(domain), domain=domain, **{"from": "2026-01-01", "to": "2026-04-02"})
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    assert len(body["days"]) == 92
    assert body["days"][0]["day"] == "2026-01-01" and body["days"][-1]["day"] == "2026-04-02"


# ------------------------------------------------------------------ status events
@pytest.fixture
def subscribed(local_stack):
    """A Privas service's subscription: a rule on the default bus, its target a queue."""
    events, sqs = aws(local_stack, "events"), aws(local_stack, "sqs")
    name = f"status-events-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventPattern=json.dumps({"source": ["privas.email-operations"]}))
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn}])
    yield sqs, url
    events.remove_targets(Rule=name, Ids=["queue"])
    events.delete_rule(Name=name)
    sqs.delete_queue(QueueUrl=url)


def received(sqs, url: str, domain: str, want: int, seconds: float) -> list[tuple[float, dict]]:
    """The events of ``domain`` the queue received (with when), until ``want`` arrived."""
    got: list[tuple[float, dict]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(got) < want:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            event = json.loads(message["Body"])
            if event["detail"]["domain"] == domain:
                got.append((time.time(), event))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return got


def test_status_events_reach_a_queue_through_a_rule_one_per_job_and_status(local_stack, subscribed):
    sqs, url = subscribed
    domain = new_domain()
    payload = {
        "jobs": [
            email(domain, to="success@simulator.amazonses.com"),
            email(domain, to="bounce@simulator.amazonses.com", kind="visitor_capture"),
            email(domain, to="complaint@simulator.amazonses.com", kind="ai_followup", idempotency_key="conv-1"),
        ]
    }
    delivered, bounced, complained = enqueue(local_stack, payload)["job_ids"]
    want = {
        (delivered, "sent"),
        (delivered, "delivered"),
        (bounced, "sent"),
        (bounced, "bounced"),
        (complained, "sent"),
        (complained, "delivered"),
        (complained, "complained"),
    }
    got = received(sqs, url, domain, len(want), 60)
    # A moment more: nothing else (no duplicate) arrives.
    got += received(sqs, url, domain, 1, 3)
    pairs = [(e["detail"]["job_id"], e["detail"]["status"]) for _, e in got]
    assert sorted(pairs) == sorted(want)
    for when, event in got:
        assert event["source"] == "privas.email-operations"
        assert event["detail-type"] == "Email Status Changed"
        detail = event["detail"]
        assert set(detail) == DETAIL_FIELDS
        assert detail["domain"] == domain and detail["bulk_id"] is None and detail["retry_of"] is None
        at = datetime.fromisoformat(detail["at"].replace("Z", "+00:00")).timestamp()
        assert when - at < EVENT_SECONDS, (detail, when - at)
    by_pair = {(e["detail"]["job_id"], e["detail"]["status"]): e["detail"] for _, e in got}
    assert by_pair[(complained, "complained")]["idempotency_key"] == "conv-1"
    assert by_pair[(bounced, "bounced")]["error"] and by_pair[(bounced, "bounced")]["type"] == "visitor_capture"
    assert by_pair[(delivered, "delivered")]["error"] is None
    assert by_pair[(delivered, "sent")]["recipient"] == "success@simulator.amazonses.com"


def test_a_suppressed_and_a_canceled_job_are_events_too(local_stack, subscribed):
    sqs, url = subscribed
    domain = new_domain()
    listed = requests.put(f"{local_stack.api}/suppressions/{domain}/gone@example.org", headers=auth(domain), timeout=10)
    assert listed.status_code == 200, listed.text
    (suppressed,) = enqueue(local_stack, email(domain, to="gone@example.org"))["job_ids"]
    sent = bulk_send(local_stack, domain, [f"r{n}@example.org" for n in range(40)])
    canceled = requests.post(f"{local_stack.api}/bulks/{sent['bulk_id']}/cancel", headers=auth(domain), timeout=30)
    assert canceled.status_code == 200, canceled.text
    n_canceled = canceled.json()["canceled"]
    got = received(sqs, url, domain, 1 + 40 + n_canceled, 60)
    statuses = Counter(e["detail"]["status"] for _, e in got)
    assert statuses["suppressed"] == 1
    assert statuses["canceled"] == n_canceled
    suppressed_event = next(e["detail"] for _, e in got if e["detail"]["status"] == "suppressed")
    assert suppressed_event["job_id"] == suppressed and "suppression list" in suppressed_event["error"]
    assert all(e["detail"]["bulk_id"] == sent["bulk_id"] for _, e in got if e["detail"]["status"] == "canceled")
    pairs = [(e["detail"]["job_id"], e["detail"]["status"]) for _, e in got]
    assert len(pairs) == len(set(pairs))
