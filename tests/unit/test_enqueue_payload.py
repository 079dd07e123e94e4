"""Validation of an EnqueueFunction payload (docs/api.md): pure logic, no AWS."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from common.logic.enqueue import ErrorResponse, InvalidPayload, bodies_of, job_from_request, parse_payload
from common.logic.plaintext import SHORTENED_NOTE
from common.models.job import (
    DERIVED_TEXT_RESERVE_BYTES,
    MAX_BODIES_BYTES,
    MAX_BODY_CHARS,
    NON_ASCII_LOCAL_PART,
    JobStatus,
    JobType,
    bodies_size,
)
from common.models.requests import EmailRequest

EVENTS = Path(__file__).resolve().parent.parent / "events"


def valid_request(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "type": "escalation",
        "domain": "acme.com",
        "to": "owner@acme.com",
        "subject": "A visitor asks for a human",
        "body_text": "Please join the conversation.",
    }
    request.update(changes)
    return request


def without(field: str, **changes: Any) -> dict[str, Any]:
    request = valid_request(**changes)
    del request[field]
    return request


def html_only(html: str, **changes: Any) -> dict[str, Any]:
    return without("body_text", body_html=html, **changes)


# (case name, one request, the field the error must name). Shared with the
# integration tests, which prove that none of these writes or queues anything.
INVALID_REQUESTS: list[tuple[str, dict[str, Any], str]] = [
    ("type missing", without("type"), "type"),
    ("type unknown", valid_request(type="newsletter"), "type"),
    ("type not a string", valid_request(type=3), "type"),
    ("domain missing", without("domain"), "domain"),
    ("domain not a host name", valid_request(domain="acme com"), "domain"),
    ("domain one label", valid_request(domain="acme"), "domain"),
    ("domain with a scheme", valid_request(domain="https://acme.com"), "domain"),
    ("domain too long", valid_request(domain=("a" * 60 + ".") * 5 + "com"), "domain"),
    ("to missing", without("to"), "to"),
    ("to not an address", valid_request(to="owner.acme.com"), "to"),
    ("to two addresses", valid_request(to="a@acme.com, b@acme.com"), "to"),
    ("to a list", valid_request(to=["a@acme.com"]), "to"),
    ("to too long", valid_request(to="a" * 310 + "@acme.com"), "to"),
    ("subject missing", without("subject"), "subject"),
    ("subject empty", valid_request(subject=""), "subject"),
    ("subject 201 characters", valid_request(subject="s" * 201), "subject"),
    ("subject with LF", valid_request(subject="Hello\nBcc: victim@example.com"), "subject"),
    ("subject with CR", valid_request(subject="Hello\rthere"), "subject"),
    ("subject not a string", valid_request(subject=42), "subject"),
    ("body_text missing", without("body_text"), "body_text"),
    ("body_text empty", valid_request(body_text=""), "body_text"),
    ("body_text 100,001 characters", valid_request(body_text="b" * 100_001), "body_text"),
    ("body_html empty", valid_request(body_html=""), "body_html"),
    ("body_html 100,001 characters", valid_request(body_html="<p>" + "h" * 99_998 + "</p>"), "body_html"),
    ("bodies over 300,000 bytes", valid_request(body_text="€" * 60_000, body_html="€" * 60_000), "body_text"),
    ("body_html not a string", valid_request(body_html={"html": "<p>x</p>"}), "body_html"),
    ("reply_to not an address", valid_request(reply_to="support"), "reply_to"),
    # SES needs an ASCII local part (issue #8, item 8); the domain may be internationalised.
    ("to with a non-ASCII local part", valid_request(to="müller@example.com"), "to"),
    ("to non-ASCII on both sides", valid_request(to="Ä@bücher.de"), "to"),
    ("reply_to with a non-ASCII local part", valid_request(reply_to="jürgen@acme.com"), "reply_to"),
    ("neither body_text nor body_html", without("body_text", body_html=None), "body_text"),
    (
        "body_html alone leaves no room for its text",
        html_only("€" * ((MAX_BODIES_BYTES - DERIVED_TEXT_RESERVE_BYTES) // 3 + 1)),
        "body_html",
    ),
    ("idempotency_key empty", valid_request(idempotency_key=""), "idempotency_key"),
    ("idempotency_key 129 characters", valid_request(idempotency_key="k" * 129), "idempotency_key"),
    ("idempotency_key with a space", valid_request(idempotency_key="conv 1"), "idempotency_key"),
    ("idempotency_key not ASCII", valid_request(idempotency_key="clé-1"), "idempotency_key"),
    ("idempotency_key a number", valid_request(idempotency_key=123), "idempotency_key"),
    ("unknown field", valid_request(cc="boss@acme.com"), "cc"),
    ("recipient instead of to", {**without("to"), "recipient": "owner@acme.com"}, "recipient"),
]


def rejected(payload: object) -> InvalidPayload:
    with pytest.raises(InvalidPayload) as caught:
        parse_payload(payload)
    return caught.value


# ------------------------------------------------------------------ accepted
def test_contract_example_is_one_request() -> None:
    payload = json.loads((EVENTS / "enqueue_single.json").read_text())
    [request] = parse_payload(payload)
    assert request.type is JobType.ESCALATION
    assert request.idempotency_key == "conv-123-bell"
    assert request.body_html is None


def test_batch_keeps_request_order() -> None:
    payload = json.loads((EVENTS / "enqueue_batch.json").read_text())
    requests = parse_payload(payload)
    assert [r.type for r in requests] == [JobType.AI_FOLLOWUP, JobType.INVITATION, JobType.MANUAL]


def test_limits_themselves_are_accepted() -> None:
    # Given every field at its largest allowed size
    request = valid_request(
        subject="s" * 200,
        body_text="b" * 100_000,
        body_html="h" * 100_000,
        reply_to="support@acme.com",
        idempotency_key="k" * 128,
    )
    # Then it is one valid request
    assert len(parse_payload(request)) == 1
    # And 1 and 100 requests are valid batches
    assert len(parse_payload({"jobs": [valid_request()]})) == 1
    assert len(parse_payload({"jobs": [valid_request() for _ in range(100)]})) == 100


def test_domain_and_address_domain_are_normalized() -> None:
    [request] = parse_payload(valid_request(domain=" Acme.COM ", to="Owner@ACME.com"))
    assert request.domain == "acme.com"
    assert request.to == "Owner@acme.com"


def test_internationalised_domain_with_an_ascii_local_part_is_accepted() -> None:
    # Given addresses whose domain is internationalised, in Unicode and in Punycode
    [unicode, punycode] = parse_payload(
        {
            "jobs": [
                valid_request(to="user@bücher.de", reply_to="help@bücher.de"),
                valid_request(to="user@xn--bcher-kva.de", reply_to="help@XN--BCHER-KVA.de"),
            ]
        }
    )
    # Then both are accepted, in one normal form (the mailer sends the ASCII one)
    assert (unicode.to, unicode.reply_to) == ("user@bücher.de", "help@bücher.de")
    assert (punycode.to, punycode.reply_to) == ("user@bücher.de", "help@bücher.de")


def test_non_ascii_local_part_is_refused_with_a_clear_reason() -> None:
    error = rejected(valid_request(to="josé@example.com", reply_to="zoë@acme.com"))
    messages = {d.field: d.message for d in error.details}
    assert messages == {"to": NON_ASCII_LOCAL_PART, "reply_to": NON_ASCII_LOCAL_PART}
    assert "ASCII" in NON_ASCII_LOCAL_PART
    assert error.message.startswith("Nothing was queued: 2 problems")


def test_html_only_request_is_accepted() -> None:
    [request] = parse_payload(html_only("<p>Hello</p>"))
    assert request.body_text is None
    assert request.body_html == "<p>Hello</p>"


def test_html_only_at_its_byte_limit_is_accepted() -> None:
    limit = MAX_BODIES_BYTES - DERIVED_TEXT_RESERVE_BYTES
    [request] = parse_payload(html_only("<p>" + "€" * ((limit - 7) // 3) + "</p>"))
    assert bodies_size("", request.body_html) <= limit


def test_no_body_names_body_text_with_a_reason() -> None:
    [detail] = rejected(without("body_text")).details
    assert (detail.field, detail.message) == ("body_text", "is required unless body_html is given")


def test_html_only_over_its_limit_names_body_html_and_the_limit() -> None:
    limit = MAX_BODIES_BYTES - DERIVED_TEXT_RESERVE_BYTES
    [detail] = rejected(html_only("€" * (limit // 3 + 1))).details
    assert detail.field == "body_html"
    assert str(limit) in detail.message


def test_every_type_is_accepted() -> None:
    requests = parse_payload({"jobs": [valid_request(type=t.value) for t in JobType]})
    assert [r.type for r in requests] == list(JobType)


# ------------------------------------------------------------------ rejected
@pytest.mark.parametrize(
    ("request_", "field"), [(r, f) for _, r, f in INVALID_REQUESTS], ids=[c for c, _, _ in INVALID_REQUESTS]
)
def test_invalid_single_request_names_its_field(request_: dict[str, Any], field: str) -> None:
    error = rejected(request_)
    assert field in [d.field for d in error.details]
    assert all(d.index is None for d in error.details)
    assert all(d.message for d in error.details)


@pytest.mark.parametrize(
    ("request_", "field"), [(r, f) for _, r, f in INVALID_REQUESTS], ids=[c for c, _, _ in INVALID_REQUESTS]
)
def test_one_invalid_request_rejects_the_whole_batch(request_: dict[str, Any], field: str) -> None:
    # Given a batch where only the third request is invalid
    payload = {"jobs": [valid_request(), valid_request(type="manual"), request_, valid_request()]}
    # When it is parsed
    error = rejected(payload)
    # Then the error names the third request (only) and the field
    assert {d.index for d in error.details} == {2}
    assert field in [d.field for d in error.details]


def test_every_invalid_request_of_a_batch_is_reported() -> None:
    payload = {"jobs": [valid_request(subject=""), valid_request(), valid_request(to="nobody", body_text="")]}
    error = rejected(payload)
    assert {(d.index, d.field) for d in error.details} == {(0, "subject"), (2, "to"), (2, "body_text")}
    assert error.total == 3
    assert error.message.startswith("Nothing was queued: 3 problems")
    assert "jobs[0].subject" in error.message


@pytest.mark.parametrize("payload", [None, "send it", 42, [valid_request()], True])
def test_payload_not_an_object(payload: object) -> None:
    error = rejected(payload)
    [detail] = error.details
    assert detail.field is None
    assert detail.index is None
    assert "object" in detail.message


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"jobs": []}, "jobs"),
        ({"jobs": [valid_request() for _ in range(101)]}, "jobs"),
        ({"jobs": valid_request()}, "jobs"),
        ({"jobs": None}, "jobs"),
        ({"jobs": [valid_request()], "priority": "high"}, "priority"),
        ({}, "type"),
    ],
    ids=["0 jobs", "101 jobs", "jobs an object", "jobs null", "field beside jobs", "empty object"],
)
def test_batch_shape_is_checked(payload: dict[str, Any], field: str) -> None:
    error = rejected(payload)
    assert field in [d.field for d in error.details]
    assert all(d.index is None for d in error.details)


def test_item_not_an_object_is_named_by_index() -> None:
    error = rejected({"jobs": [valid_request(), "owner@acme.com"]})
    [detail] = error.details
    assert (detail.index, detail.field) == (1, None)
    assert detail.message == "must be an object (one email request)"


def test_messages_are_for_a_person() -> None:
    error = rejected(valid_request(cc="x@acme.com", idempotency_key="a b", subject="a\nb", to="nobody"))
    messages = {d.field: d.message for d in error.details}
    assert messages["cc"] == "is not a known field"
    assert messages["subject"] == "must not contain line breaks"
    assert messages["idempotency_key"] == "may hold only printable ASCII characters, without spaces"
    assert "@" in messages["to"]
    assert rejected(without("subject")).details[0].message == "is required"
    assert rejected(without("body_text")).details[0].message == "is required unless body_html is given"


def test_error_never_echoes_the_request() -> None:
    # Given an invalid request whose body and recipient are private
    secret_body = "The door code is 4711"
    payload = {"jobs": [valid_request(body_text=secret_body, to="private person@acme.com", subject="x" * 300)]}
    # When it is rejected and the error rendered as the function returns it
    error = rejected(payload)
    rendered = json.dumps(
        ErrorResponse.model_validate(
            {"error": {"code": error.code, "message": error.message, "details": error.details}}
        ).model_dump(mode="json", exclude_none=True)
    )
    # Then neither the body, the address nor the subject appears in it
    assert secret_body not in rendered
    assert "private person" not in rendered
    assert "x" * 50 not in rendered


def test_many_problems_are_capped_but_counted() -> None:
    payload = {"jobs": [valid_request(subject="", body_text="") for _ in range(100)]}
    error = rejected(payload)
    assert error.total == 200
    assert len(error.details) == 100


# ------------------------------------------------------------------ request -> job
def test_job_from_request_is_queued_with_a_new_id() -> None:
    now = datetime(2026, 3, 5, 12, 0, 0, 123_456, tzinfo=UTC)
    request = EmailRequest.model_validate(valid_request(reply_to="help@acme.com", idempotency_key="k-1"))
    job = job_from_request(request, now)
    other = job_from_request(request, now)
    assert job.job_id != other.job_id
    assert job.created_at == datetime(2026, 3, 5, 12, 0, 0, 123_000, tzinfo=UTC)
    assert job.status is JobStatus.QUEUED
    assert job.attempts == 0
    assert job.attempt_log == []
    assert (job.recipient, job.reply_to, job.idempotency_key) == ("owner@acme.com", "help@acme.com", "k-1")
    assert (job.sent_at, job.error, job.message_id) == (None, None, None)


def test_html_only_job_gets_a_text_made_from_its_html() -> None:
    # Given an HTML-only request with a style sheet, a script, hidden text and a link
    html = (
        "<html><head><title>Invite</title><style>p { color: red }</style></head><body>"
        '<div style="display:none">preheader</div>'
        "<h1>Welcome</h1><p>Join the <a href='https://app.example.com/invite/abc'>workspace</a>.</p>"
        "<script>track('secret-token')</script><ul><li>one</li><li>two</li></ul></body></html>"
    )
    request = EmailRequest.model_validate(html_only(html))
    # When it becomes a job's body
    bodies = bodies_of(request)
    # Then the body keeps the HTML and gets the text a person reads in it, link target included
    assert bodies.html == html
    assert bodies.text.startswith("Welcome\n")
    assert "Join the [workspace](https://app.example.com/invite/abc)." in bodies.text
    assert "one" in bodies.text
    assert "two" in bodies.text
    # And nothing a mail client does not show leaks into it
    for hidden in ("color", "track", "secret-token", "preheader", "Invite", "<"):
        assert hidden not in bodies.text


def test_text_made_from_html_is_cut_to_the_bytes_left() -> None:
    # Given HTML-only text that takes almost all of the bodies' bytes
    html = "<p>" + "€" * 99_000 + "</p>"
    bodies = bodies_of(EmailRequest.model_validate(html_only(html)))
    # Then the derived text is cut so that both bodies fit one item, and says so
    assert bodies_size(bodies.text, bodies.html) <= MAX_BODIES_BYTES
    assert bodies.text.endswith(SHORTENED_NOTE)
    assert bodies.text.startswith("€€€")


def test_text_made_from_html_is_cut_to_the_characters_allowed() -> None:
    # Given a two-column table whose first column is wide: its text is far longer than its HTML
    rows = "".join("<tr><td>a</td><td>b</td></tr>" for _ in range(80))
    html = f"<table><tr><td>{'w' * 2_000}</td><td>x</td></tr>{rows}</table>"
    bodies = bodies_of(EmailRequest.model_validate(html_only(html)))
    # Then its text holds at most as many characters as any body may
    assert len(bodies.text) <= MAX_BODY_CHARS
    assert bodies.text.endswith(SHORTENED_NOTE)


def test_request_with_both_bodies_keeps_its_text() -> None:
    request = EmailRequest.model_validate(valid_request(body_text="Mine.", body_html="<p>Other</p>"))
    assert bodies_of(request).text == "Mine."


# ------------------------------------------------------------------ fingerprints
def test_fingerprint_is_the_same_for_the_same_request_in_another_spelling() -> None:
    first = EmailRequest.model_validate(valid_request(idempotency_key="k", to="Owner@ACME.com", reply_to="A@b.io"))
    again = EmailRequest.model_validate(
        valid_request(idempotency_key="k", to="owner@acme.com", domain="ACME.com", reply_to="a@B.IO")
    )
    assert first.fingerprint() == again.fingerprint()


@pytest.mark.parametrize(
    "change",
    [
        {"type": "invitation"},
        {"to": "other@acme.com"},
        {"subject": "Another subject"},
        {"body_text": "Another body."},
        {"body_html": "<p>Please join the conversation.</p>"},
        {"reply_to": "help@acme.com"},
    ],
    ids=["type", "recipient", "subject", "body_text", "body_html", "reply_to"],
)
def test_fingerprint_differs_when_the_request_does(change: dict[str, Any]) -> None:
    first = EmailRequest.model_validate(valid_request(idempotency_key="k"))
    other = EmailRequest.model_validate(valid_request(idempotency_key="k", **change))
    assert first.fingerprint() != other.fingerprint()


def test_fingerprint_holds_no_body() -> None:
    request = EmailRequest.model_validate(valid_request(body_text="The door code is 4711"))
    fingerprint = request.fingerprint()
    assert fingerprint.startswith("v1:")
    assert len(fingerprint) == len("v1:") + 64
    assert "4711" not in fingerprint
