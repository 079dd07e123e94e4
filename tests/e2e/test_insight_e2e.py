"""End to end: GET /bulks, GET /domains/{domain}/health and GET /audit through
the local stack's HTTP API, after a bulk send the worker sends to SES's
mailbox simulator (a permanent bounce, a complaint, deliveries) and admin
actions made over HTTP; each function runs with its role's permissions."""

from __future__ import annotations

import time

import jwt
import pytest
import requests

from tests.e2e.test_local_stack import SECRET, new_domain, wait_sent
from tests.e2e.test_ses_events_e2e import wait_status

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")]

BOUNCE = "bounce@simulator.amazonses.com"
COMPLAINT = "complaint@simulator.amazonses.com"


def auth(domains: str, sub: str = "alice") -> dict[str, str]:
    claims = {"domains": domains, "sub": sub, "exp": int(time.time()) + 3600}
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


def get(stack, path: str, domains: str, **params) -> requests.Response:
    return requests.get(f"{stack.api}{path}", params=params, headers=auth(domains), timeout=30)


def test_bulks_health_and_audit_after_a_bulk_send_with_a_bounce_and_a_complaint(local_stack):
    domain = new_domain()
    # Given alice's bulk send to SES's bounce and complaint simulators and three other addresses
    recipients = [BOUNCE, COMPLAINT, *(f"reader{n}@example.org" for n in range(3))]
    sent = requests.post(
        f"{local_stack.api}/jobs/bulk",
        headers=auth(domain),
        json={"domain": domain, "extra_recipients": ", ".join(recipients), "subject": "News", "body": "Hello."},
        timeout=30,
    )
    assert sent.status_code == 202, sent.text
    bulk_id, job_ids = sent.json()["bulk_id"], sent.json()["job_ids"]
    by_recipient = dict(zip(recipients, job_ids, strict=True))
    for job_id in job_ids:
        wait_sent(local_stack, job_id, domain)
    wait_status(local_stack, by_recipient[BOUNCE], domain, "bounced")
    wait_status(local_stack, by_recipient[COMPLAINT], domain, "complained")
    for n in range(3):
        wait_status(local_stack, by_recipient[f"reader{n}@example.org"], domain, "delivered")
    # and bob suppresses an address by hand
    put = requests.put(
        f"{local_stack.api}/suppressions/{domain}/someone@example.org", headers=auth(domain, "bob"), timeout=30
    )
    assert put.status_code == 200, put.text

    # Then GET /bulks lists the bulk send with its counts, its sender and no cancel
    listed = get(local_stack, "/bulks", domain, domain=domain)
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    assert item == get(local_stack, f"/bulks/{bulk_id}", domain).json()
    assert (item["bulk_id"], item["created_by"], item["send_at"], item["canceled"], item["total"]) == (
        bulk_id,
        "alice",
        None,
        False,
        5,
    )
    assert (item["counts"]["bounced"], item["counts"]["complained"], item["counts"]["delivered"]) == (1, 1, 3)

    # and the domain's health counts the five sends, the permanent bounce and the complaint
    health = get(local_stack, f"/domains/{domain}/health", domain).json()
    assert (health["sent"], health["bounced"], health["complained"]) == (5, 1, 1)
    assert health["bounce_rate"] == pytest.approx(0.2) and health["complaint_rate"] == pytest.approx(0.2)
    # too few sends to judge (PauseMinimumSends 100): not paused, and a bulk send is accepted
    assert (health["paused"], health["message"]) == (False, None)
    again = requests.post(
        f"{local_stack.api}/jobs/bulk",
        headers=auth(domain),
        json={"domain": domain, "extra_recipients": "late@example.org", "subject": "More", "body": "Hi."},
        timeout=30,
    )
    assert again.status_code == 202, again.text

    # and the trail names who did what, newest first (the event path's suppressions are not admin actions)
    trail = get(local_stack, "/audit", domain, domain=domain).json()["items"]
    assert [(e["action"], e["actor"]) for e in trail] == [
        ("bulk_send", "alice"),
        ("suppression_add", "bob"),
        ("bulk_send", "alice"),
    ]
    assert trail[-1]["target"] == bulk_id and trail[1]["target"] == "someone@example.org"


def test_another_tenants_domain_is_403_everywhere_and_a_star_caller_sees_it(local_stack):
    domain, other = new_domain(), new_domain()
    for path, params in (
        ("/bulks", {"domain": domain}),
        (f"/domains/{domain}/health", {}),
        ("/audit", {"domain": domain}),
    ):
        refused = get(local_stack, path, other, **params)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "forbidden"
        assert get(local_stack, path, "*", **params).status_code == 200


@pytest.mark.parametrize("path", ["/bulks", "/audit"])
def test_a_bad_limit_or_cursor_is_400(local_stack, path):
    domain = new_domain()
    for params, code in (
        ({"limit": 0}, "invalid_request"),
        ({"limit": 101}, "invalid_request"),
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({}, None),
    ):
        reply = get(local_stack, path, domain, domain=domain, **params)
        if code is None:
            assert reply.status_code == 200 and reply.json() == {"items": [], "next_cursor": None}
        else:
            assert (reply.status_code, reply.json()["error"]["code"]) == (400, code)
