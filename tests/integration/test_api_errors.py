"""Who the caller is, the one exception -> HTTP mapping, and what is (not) logged."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from pydantic import BaseModel, ValidationError

from common.api import caller_from_event, error_response, parse_domains_claim
from common.api_models import (
    Forbidden,
    InvalidCursor,
    NoRecipients,
    TooManyRecipients,
    Unauthenticated,
)
from common.errors import JobNotFound, QueueError, StorageError
from local.template import Stack
from tests.integration.api_support import Admin, event

TOKEN = "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl"


# ------------------------------------------------------------------ the caller
@pytest.mark.parametrize(
    ("claim", "every", "domains"),
    [
        ("acme.com beta.io", False, {"acme.com", "beta.io"}),
        ("  ACME.com\tbeta.io  ", False, {"acme.com", "beta.io"}),
        ("*", True, set()),
        ("acme.com *", True, set()),
        ('["acme.com", "beta.io"]', False, {"acme.com", "beta.io"}),
        ("[acme.com beta.io]", False, {"acme.com", "beta.io"}),
        ("[*]", True, set()),
        (["acme.com", "beta.io"], False, {"acme.com", "beta.io"}),
        ("acme.com, beta.io", False, {"acme.com", "beta.io"}),
        ("acme.com not_a_host -bad-.com", False, {"acme.com"}),
        ("", False, set()),
        (None, False, set()),
        (42, False, set()),
        ("[", False, set()),
    ],
)
def test_the_domains_claim_in_its_renderings(claim, every: bool, domains: set[str]) -> None:
    assert parse_domains_claim(claim) == (every, frozenset(domains))


def test_the_caller_comes_from_the_verified_claims() -> None:
    ev = event("list_jobs")
    caller = caller_from_event(ev, claim="domains")
    assert (caller.subject, set(caller.domains), caller.every_domain) == ("admin-1", {"acme.com", "beta.io"}, False)
    assert caller.may_see("acme.com")
    assert not caller.may_see("other.net")


def test_the_claim_name_is_configurable() -> None:
    ev = event("list_jobs")
    ev["requestContext"]["authorizer"]["jwt"]["claims"]["custom:tenants"] = "other.net"
    assert caller_from_event(ev, claim="custom:tenants").domains == {"other.net"}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda ev: ev.pop("requestContext"),
        lambda ev: ev["requestContext"].pop("authorizer"),
        lambda ev: ev["requestContext"]["authorizer"].pop("jwt"),
        lambda ev: ev["requestContext"]["authorizer"]["jwt"].pop("claims"),
        lambda ev: ev["requestContext"].update(authorizer="nonsense"),
    ],
)
def test_no_verified_claims_is_unauthenticated(mutate) -> None:
    ev = event("list_jobs")
    mutate(ev)
    with pytest.raises(Unauthenticated):
        caller_from_event(ev, claim="domains")


def test_claims_without_domains_are_forbidden() -> None:
    ev = event("list_jobs")
    ev["requestContext"]["authorizer"]["jwt"]["claims"]["domains"] = "not-a-domain"
    with pytest.raises(Forbidden):
        caller_from_event(ev, claim="domains")


# ------------------------------------------------------------------ the mapping
def _body(response) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(response.body)
    return loaded


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (Unauthenticated("no token"), 401, "unauthorized"),
        (Forbidden("not yours"), 403, "forbidden"),
        (JobNotFound("no such job"), 404, "not_found"),
        (NotFoundError(), 404, "not_found"),
        (InvalidCursor("bad"), 400, "invalid_cursor"),
        (NoRecipients("none"), 400, "no_recipients"),
        (TooManyRecipients("1001"), 413, "too_many_recipients"),
        (IdempotencyValidationError("different payload"), 409, "idempotency_key_reused"),
        (IdempotencyAlreadyInProgressError("running"), 409, "idempotency_in_progress"),
        (StorageError("BatchWriteItem failed: ProvisionedThroughputExceededException"), 500, "internal_error"),
        (QueueError("SendMessage failed"), 500, "internal_error"),
        (RuntimeError("boom at /var/task/common/jobs.py line 12"), 500, "internal_error"),
    ],
)
def test_each_exception_has_one_answer_in_the_envelope(exc: Exception, status: int, code: str) -> None:
    response = error_response(exc)
    assert response.status_code == status
    body = _body(response)
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    if status == 500:
        assert body["error"]["message"] == "something went wrong on our side"


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every record with its structured keys (Powertools puts them on the record)."""
    return "\n".join(json.dumps(record.__dict__, default=str) for record in caplog.records)


def test_an_answer_failing_its_own_model_is_500_not_400() -> None:
    from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

    exc = RequestValidationError([{"loc": ("response", "items"), "type": "missing", "msg": "Field required"}])
    response = error_response(exc)
    assert response.status_code == 500
    assert _body(response)["error"]["code"] == "internal_error"


def test_a_5xx_is_logged_with_its_trace_and_a_4xx_is_not(caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise StorageError("Query failed: InternalServerError")
    except StorageError as exc:
        failure = exc
    error_response(failure)
    [record] = caplog.records
    assert record.levelname == "ERROR"
    assert record.exc_info is not None
    assert record.exc_info[1] is failure
    caplog.clear()
    error_response(Forbidden("not yours"))
    [record] = caplog.records
    assert record.levelname == "INFO"
    assert record.exc_info is None


def test_a_stored_item_that_fails_validation_is_logged_without_its_content(caplog: pytest.LogCaptureFixture) -> None:
    class Stored(BaseModel):
        attempts: int

    try:
        Stored.model_validate({"attempts": "THE SECRET BODY"})
    except ValidationError as exc:
        response = error_response(exc)
    assert response.status_code == 500
    assert caplog.records
    assert "THE SECRET BODY" not in logged(caplog)


# ------------------------------------------------------------------ nothing sensitive logged
def test_no_token_body_or_address_is_logged(
    stack: Stack, lambda_context, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    admin = Admin(lambda_context, domains="acme.com", extra_headers={"authorization": TOKEN})
    secret_body = "Dear customer, your one-time code is 271828."
    reply = admin.bulk(
        {"domain": "acme.com", "subject": "Your code", "body": secret_body, "extra_recipients": "ann@example.org"}
    )
    assert reply.status == 202
    listed = admin.list_jobs()
    assert listed.status == 200
    detail = admin.get(reply.body["job_ids"][0])
    assert detail.body["body_text"] == secret_body
    printed = capsys.readouterr()
    records = logged(caplog)
    assert "bulk send queued" in records  # the log was captured
    for secret in (secret_body, TOKEN, "eyJhbGciOiJSUzI1NiJ9", "ann@example.org"):
        assert secret not in printed.out
        assert secret not in printed.err
        assert secret not in records
