"""End to end on the local stack: suppression lists and one-click unsubscribe,
driven only from outside (real HTTP, boto3 Invoke)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import requests

from tests.e2e.stack_process import wait_until
from tests.e2e.test_local_stack import SEND_SECONDS, auth, email, enqueue, job, new_domain, wait_sent

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")]


def detail(stack, job_id: str, domain: str) -> dict:
    response = job(stack, job_id, domain)
    assert response.status_code == 200, response.text
    body: dict = response.json()
    return body


def suppressions(stack, domain: str) -> list[dict]:
    response = requests.get(f"{stack.api}/suppressions", params={"domain": domain}, headers=auth(domain), timeout=10)
    assert response.status_code == 200, response.text
    items: list[dict] = response.json()["items"]
    return items


def test_one_click_unsubscribe_from_a_bulk_email_suppresses_the_next_one(local_stack):
    domain = new_domain()
    reader = f"reader@{domain}"
    response = requests.post(
        f"{local_stack.api}/jobs/bulk",
        headers=auth(domain),
        json={"domain": domain, "extra_recipients": reader, "subject": "News", "body": "Hello."},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    [job_id] = response.json()["job_ids"]
    sent = wait_sent(local_stack, job_id, domain)
    url = sent["unsubscribe_url"]
    assert url.startswith(f"{local_stack.api}/unsubscribe/")

    # A link scanner's GET (no token) shows the page and changes nothing
    page = requests.get(url, timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert '<form method="post">' in page.text
    assert suppressions(local_stack, domain) == []

    # The mail client's one-click POST (no token) unsubscribes, once
    for _ in range(2):
        done = requests.post(url, data={"List-Unsubscribe": "One-Click"}, timeout=10)
        assert done.status_code == 200, done.text
    [entry] = suppressions(local_stack, domain)
    assert (entry["email"], entry["reason"], entry["job_id"]) == (reader, "unsubscribed", None)

    # An altered token is 404
    altered = url[:-1] + ("A" if url[-1] != "A" else "B")
    assert requests.post(altered, data={"List-Unsubscribe": "One-Click"}, timeout=10).status_code == 404

    # The next email to that recipient is not sent
    [next_id] = enqueue(local_stack, email(domain, kind="escalation", to=reader.upper()))["job_ids"]
    suppressed = detail(local_stack, next_id, domain)
    assert suppressed["status"] == "suppressed"
    assert "remove it under Suppressions" in suppressed["error"]
    assert suppressed["unsubscribe_url"] is None


def test_suppressions_by_hand_over_http(local_stack):
    domain, other = new_domain(), new_domain()
    address = "Someone@Example.org"
    path = f"{local_stack.api}/suppressions/{domain}/{quote(address)}"
    put = requests.put(path, headers=auth(domain), timeout=10)
    assert put.status_code == 200, put.text
    assert (put.json()["email"], put.json()["reason"]) == ("someone@example.org", "manual")
    assert requests.put(path, timeout=10).status_code == 401
    assert requests.put(path, headers=auth(other), timeout=10).status_code == 403
    assert (
        requests.put(f"{local_stack.api}/suppressions/{domain}/nope", headers=auth(domain), timeout=10).status_code
        == 400
    )

    [job_id] = enqueue(local_stack, email(domain, to="someone@example.org"))["job_ids"]
    assert detail(local_stack, job_id, domain)["status"] == "suppressed"

    delete = requests.delete(path.lower(), headers=auth(domain), timeout=10)
    assert delete.status_code == 204
    assert requests.delete(path, headers=auth(domain), timeout=10).status_code == 404
    assert suppressions(local_stack, domain) == []
    [again] = enqueue(local_stack, email(domain, to="someone@example.org"))["job_ids"]
    wait_until(
        lambda: detail(local_stack, again, domain)["status"] == "sent" or None,
        SEND_SECONDS,
        message="the email to a removed address to be sent",
    )
