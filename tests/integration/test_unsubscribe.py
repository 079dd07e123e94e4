"""One-click unsubscribe (RFC 8058): the headers of manual emails, the job's
unsubscribe_url, and GET/POST /unsubscribe/{token} without a JWT (moto, template.yaml)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from common.adapters import aws
from common.adapters.mailer import MAX_HEADER_CHARS, unsubscribe_headers
from common.logic.suppression_links import UnsubscribeTokens, request_base_url
from common.models.errors import PermanentSendError
from common.models.job import JobStatus
from common.models.listing import get_list_jobs_settings
from common.models.settings import reset_settings
from common.models.suppression import SuppressionReason
from local.jobs_table import JobsTable
from local.template import Stack
from tests.conftest import FakeLambdaContext
from tests.helpers import load_function
from tests.integration.suppression_support import call, deliver, store, unsubscribe

ONE_CLICK = b"List-Unsubscribe=One-Click"
FORM = "application/x-www-form-urlencoded"


def jobs() -> JobsTable:
    return JobsTable(aws.dynamodb(), get_list_jobs_settings().jobs_table)


def record_sends() -> list[dict[str, Any]]:
    sends: list[dict[str, Any]] = []
    aws.sesv2().meta.events.register("provide-client-params.sesv2.SendEmail", lambda params, **_: sends.append(params))
    return sends


def send_bulk_and_escalation(stack: Stack) -> tuple[str, str, list[dict[str, Any]]]:
    """One manual email (a bulk send) and one escalation, both sent by the worker."""
    reply = call(
        "bulk_queue",
        "POST",
        "/jobs/bulk",
        "/jobs/bulk",
        body=json.dumps(
            {"domain": "acme.com", "extra_recipients": "Reader@Example.org", "subject": "News", "body": "Hello."}
        ).encode(),
    )
    assert reply.status == 202, reply.text
    [manual_id] = reply.json["job_ids"]
    [escalation_id] = load_function("enqueue").handler(
        {"type": "escalation", "domain": "acme.com", "to": "owner@acme.com", "subject": "Bell", "body_text": "Hi"},
        FakeLambdaContext(),
    )["job_ids"]
    sends = record_sends()
    for queue in ("BulkQueue", "PriorityQueue"):
        assert load_function("send_worker").handler(deliver(stack, queue), FakeLambdaContext()) == {
            "batchItemFailures": []
        }
    return manual_id, escalation_id, sends


def detail(job_id: str) -> dict[str, Any]:
    reply = call("list_jobs", "GET", f"/jobs/{job_id}", "/jobs/{job_id}", params={"job_id": job_id})
    assert reply.status == 200, reply.text
    body: dict[str, Any] = reply.json
    return body


def token_of(url: str) -> str:
    return url.rsplit("/unsubscribe/", 1)[1]


# ---------------------------------------------------------------- headers and URL
def test_manual_emails_carry_the_one_click_headers_and_others_none(stack: Stack) -> None:
    manual_id, escalation_id, sends = send_bulk_and_escalation(stack)
    by_recipient = {s["Destination"]["ToAddresses"][0].lower(): s for s in sends}
    manual = by_recipient["reader@example.org"]["Content"]["Simple"]
    headers = {h["Name"]: h["Value"] for h in manual["Headers"]}
    assert set(headers) == {"List-Unsubscribe", "List-Unsubscribe-Post"}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = headers["List-Unsubscribe"]
    assert url.startswith("<" + os.environ["API_BASE_URL"] + "/unsubscribe/") and url.endswith(">")
    assert "Headers" not in by_recipient["owner@acme.com"]["Content"]["Simple"]
    # The job's detail shows the URL sent; other types have none
    assert detail(manual_id)["unsubscribe_url"] == url[1:-1]
    assert detail(escalation_id)["unsubscribe_url"] is None
    job = jobs().get(manual_id)
    assert job is not None and job.status is JobStatus.SENT


def test_in_aws_the_detail_uses_the_url_the_request_came_in_on(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    manual_id, _, _ = send_bulk_and_escalation(stack)
    monkeypatch.delenv("API_BASE_URL")  # ListJobsFunction cannot reference its own API in the template
    reset_settings()
    url = detail(manual_id)["unsubscribe_url"]
    assert url.startswith("https://api.example.com/unsubscribe/")


def test_the_token_names_domain_and_recipient_whatever_the_case() -> None:
    tokens = UnsubscribeTokens("k" * 32)
    assert tokens.token("acme.com", "Reader@Example.org") == tokens.token("acme.com", "reader@example.org")
    assert tokens.read(tokens.token("acme.com", "Reader@Example.org")) == ("acme.com", "reader@example.org")
    assert tokens.token("acme.com", "a@example.org") != tokens.token("beta.io", "a@example.org")
    assert UnsubscribeTokens("j" * 32).token("acme.com", "a@example.org") != tokens.token("acme.com", "a@example.org")


def test_the_longest_address_and_domain_still_fit_an_ses_header() -> None:
    domain = ".".join(["d" * 63] * 3) + "." + "e" * 61  # 253 characters
    email = "l" * 64 + "@" + domain
    url = "https://abcdefghij.execute-api.ap-southeast-2.amazonaws.com/unsubscribe/" + UnsubscribeTokens(
        "k" * 32
    ).token(domain, email)
    headers = unsubscribe_headers(url)
    assert all(len(h["Name"]) + len(h["Value"]) <= MAX_HEADER_CHARS for h in headers)
    with pytest.raises(PermanentSendError):
        unsubscribe_headers("https://x/" + "a" * MAX_HEADER_CHARS)
    with pytest.raises(PermanentSendError):
        unsubscribe_headers("https://x/\r\nBcc: someone@example.org")


def test_request_base_url_follows_the_gateway() -> None:
    event = {"requestContext": {"domainName": "abc.execute-api.us-east-1.amazonaws.com", "stage": "$default"}}
    assert request_base_url(event) == "https://abc.execute-api.us-east-1.amazonaws.com"
    event = {
        "headers": {"X-Forwarded-Proto": "http"},
        "requestContext": {"domainName": "127.0.0.1:3000", "stage": "dev"},
    }
    assert request_base_url(event) == "http://127.0.0.1:3000/dev"


# ---------------------------------------------------------------- the routes
def test_a_get_shows_a_page_and_changes_nothing(stack: Stack) -> None:
    manual_id, _, _ = send_bulk_and_escalation(stack)
    token = token_of(detail(manual_id)["unsubscribe_url"])
    reply = unsubscribe("GET", token)
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/html")
    csp = reply.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "form-action 'self'" in csp
    assert '<form method="post">' in reply.text
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in reply.text
    assert '<button type="submit">Unsubscribe</button>' in reply.text
    assert '<html lang="en">' in reply.text and "<title>" in reply.text
    assert "<script" not in reply.text
    assert store().get("acme.com", "reader@example.org") is None
    assert unsubscribe("GET", token).status == 200
    assert store().get("acme.com", "reader@example.org") is None


def test_a_post_unsubscribes_once_and_again_changes_nothing(stack: Stack) -> None:
    manual_id, _, _ = send_bulk_and_escalation(stack)
    token = token_of(detail(manual_id)["unsubscribe_url"])
    first = unsubscribe("POST", token, body=ONE_CLICK, content_type=FORM)
    assert first.status == 200, first.text
    entry = store().get("acme.com", "reader@example.org")
    assert entry is not None and entry.reason is SuppressionReason.UNSUBSCRIBED and entry.job_id is None
    second = unsubscribe("POST", token, body=ONE_CLICK, content_type=FORM)
    assert second.status == 200
    assert store().get("acme.com", "reader@example.org") == entry
    assert len(store().page("acme.com", limit=10)[0]) == 1
    # The next email to that recipient is suppressed, saying why
    [job_id] = load_function("enqueue").handler(
        {"type": "manual", "domain": "acme.com", "to": "reader@example.org", "subject": "More", "body_text": "Hi"},
        FakeLambdaContext(),
    )["job_ids"]
    job = jobs().get(job_id)
    assert job is not None and job.status is JobStatus.SUPPRESSED
    assert job.error is not None and "unsubscribed on" in job.error


def test_a_multipart_one_click_post_works_too(stack: Stack) -> None:
    token = UnsubscribeTokens(_key(stack)).token("acme.com", "multi@example.org")
    body = b'--XyZ\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--XyZ--\r\n'
    reply = unsubscribe("POST", token, body=body, content_type="multipart/form-data; boundary=XyZ")
    assert reply.status == 200, reply.text
    assert store().get("acme.com", "multi@example.org") is not None


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"", None), (b"List-Unsubscribe=No", FORM), (b'{"List-Unsubscribe": "One-Click"}', "application/json")],
)
def test_a_post_without_the_one_click_body_is_400_and_changes_nothing(
    stack: Stack, body: bytes, content_type: str | None
) -> None:
    token = UnsubscribeTokens(_key(stack)).token("acme.com", "reader@example.org")
    reply = unsubscribe("POST", token, body=body, content_type=content_type)
    assert (reply.status, reply.code) == (400, "invalid_request")
    assert store().get("acme.com", "reader@example.org") is None


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"List-Unsubscribe=One-Click\xff", FORM),
        (b"\xff\xfe\x00", FORM),
        (b"List-Unsubscribe=One-\xc3\x28Click", "text/plain"),
        (b"\x80List-Unsubscribe=One-Click", None),
        (
            b'--XyZ\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n\xe9\r\n--XyZ--',
            "multipart/form-data; boundary=XyZ",
        ),
    ],
)
def test_a_post_whose_body_is_not_utf8_is_400_and_changes_nothing(
    stack: Stack, body: bytes, content_type: str | None
) -> None:
    # The gateway hands such a body on base64-encoded; it was a 500 (the
    # decoding error reached the catch-all) before the body was read as the JSON routes read theirs
    token = UnsubscribeTokens(_key(stack)).token("acme.com", "reader@example.org")
    reply = unsubscribe("POST", token, body=body, content_type=content_type)
    assert (reply.status, reply.code) == (400, "invalid_request"), reply.text
    assert "UTF-8" in reply.json["error"]["message"]
    assert store().get("acme.com", "reader@example.org") is None


def _key(stack: Stack) -> str:
    secrets = aws.secretsmanager()
    value: str = secrets.get_secret_value(SecretId=stack.names["UnsubscribeSecret"])["SecretString"]
    return value


def _altered(token: str) -> list[str]:
    payload, signature = token.split(".")
    flip = {"A": "B", "B": "A"}
    return [
        ("B" if payload[0] != "B" else "C") + payload[1:] + "." + signature,
        payload + "." + signature[:-1] + flip.get(signature[-1], "A"),
        payload + "." + signature + "A",
        payload,
        "",
        "not-a-token",
        token + "." + signature,
    ]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_altered_forged_or_unknown_token_is_404_and_changes_nothing(stack: Stack, method: str) -> None:
    real = UnsubscribeTokens(_key(stack)).token("acme.com", "reader@example.org")
    forged = UnsubscribeTokens("someone-elses-key-0123456789").token("acme.com", "reader@example.org")
    for token in [*_altered(real), forged]:
        if not token:
            continue
        reply = unsubscribe(method, token, body=ONE_CLICK, content_type=FORM)
        assert (reply.status, reply.code) == (404, "not_found"), token
    assert store().page("acme.com", limit=10)[0] == []
