"""Who the caller is, the one exception -> HTTP mapping, and what is (not) logged."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from botocore.stub import Stubber
from pydantic import BaseModel, ValidationError

import common.logic.bulk  # noqa: F401 - registers the answers to Powertools' idempotency errors
from common.adapters import aws
from common.adapters.api import (
    SERVER_ERRORS_METRIC,
    caller_from_event,
    error_response,
    parse_domains_claim,
    read_json_object,
)
from common.adapters.observability import metrics
from common.logic.suppression_links import UnsubscribeTokens
from common.models.api import (
    MAX_BODY_DEPTH,
    BulkCancelUnfinished,
    BulkKeyReused,
    Forbidden,
    MalformedBody,
    NoRecipients,
    TooManyRecipients,
    Unauthenticated,
    UnfinishedBulkSend,
)
from common.models.errors import InvalidCursor, JobNotFound, QueueError, StorageError
from local.events import query_parameters
from local.http_api import routes
from local.template import Stack
from tests.helpers import load_function
from tests.integration.api_support import Admin, event
from tests.integration.suppression_support import call

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
        (BulkKeyReused("this Idempotency-Key stands for another bulk send"), 409, "idempotency_key_reused"),
        (StorageError("BatchWriteItem failed: ProvisionedThroughputExceededException"), 500, "internal_error"),
        (QueueError("SendMessage failed"), 500, "internal_error"),
        (RuntimeError("boom at /var/task/common/adapters/jobs.py line 12"), 500, "internal_error"),
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


# ------------------------------------------------------------------ malformed bodies (issue #8, item 12)
VALID_BULK = {"domain": "acme.com", "subject": "Hours", "body": "Open 9 to 17.", "extra_recipients": "a@example.org"}


def _post_bulk(lambda_context, body: str | bytes, content_type: str | None) -> dict[str, Any]:
    """POST /jobs/bulk through the handler; a ``bytes`` body arrives base64-encoded,
    as API Gateway passes a body it does not take for text."""
    ev = Admin(lambda_context, domains="acme.com beta.io")._event("bulk_queue", "POST", "/jobs/bulk")
    ev["headers"].pop("idempotency-key", None)
    ev["headers"].pop("content-type", None)
    if content_type is not None:
        ev["headers"]["content-type"] = content_type
    if isinstance(body, bytes):
        ev["body"], ev["isBase64Encoded"] = base64.b64encode(body).decode(), True
    else:
        ev["body"], ev["isBase64Encoded"] = body, False
    response: dict[str, Any] = load_function("bulk_queue").handler(ev, lambda_context)
    return response


def _queued(stack: Stack) -> int:
    sqs = boto3.client("sqs", region_name="us-east-1")
    attributes = sqs.get_queue_attributes(QueueUrl=stack.names["BulkQueue"], AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        # Powertools validated the first element of an array and dropped the rest.
        (json.dumps([VALID_BULK, {**VALID_BULK, "extra_recipients": "b@example.org"}]), None, "one JSON object"),
        (json.dumps([VALID_BULK]), "application/json", "one JSON object"),
        ('"acme.com"', "application/json", "one JSON object"),
        ("null", "application/json", "one JSON object"),
        # RecursionError in json.loads: 500 before.
        ("[" * 100_000 + "]" * 100_000, "application/json", "nested"),
        ('{"domain": ' + "[" * 5_000 + "]" * 5_000 + "}", "application/json", "nested"),
        # Not UTF-8 once base64-decoded: UnicodeDecodeError, 500 before.
        (b'{"domain": "acme\xff.com"}', "application/json", "UTF-8"),
        (b"\xff\xfe{}", None, "UTF-8"),
        # multipart/form-data without a boundary: ValueError, 500 before; with one, parsed as a form.
        ("domain=acme.com", "multipart/form-data", "must be JSON"),
        (
            "--x\r\nContent-Disposition: form-data; name=domain\r\n\r\nacme.com\r\n--x--",
            "multipart/form-data; boundary=x",
            "must be JSON",
        ),
        ("domain=acme.com&subject=Hours&body=Open", "application/x-www-form-urlencoded", "must be JSON"),
        (json.dumps(VALID_BULK), "text/plain", "must be JSON"),
        ("", "application/json", "missing"),
        # Silent guesses: the last of a repeated key won; NaN is no JSON value.
        ('{"domain": "acme.com", "domain": "beta.io", "subject": "s", "body": "b"}', None, '"domain"'),
        ('{"domain": "acme.com", "subject": "s", "body": "b", "job_ids": [NaN]}', None, "NaN"),
        ('{"domain": "acme.com",', "application/json", "not valid JSON"),
    ],
)
def test_a_malformed_body_is_400_and_queues_nothing(
    stack: Stack, lambda_context, body: str | bytes, content_type: str | None, says: str
) -> None:
    response = _post_bulk(lambda_context, body, content_type)
    assert response["statusCode"] == 400, response
    answer = json.loads(response["body"])
    assert set(answer) == {"error"}
    assert answer["error"]["code"] == "invalid_request"
    assert says in answer["error"]["message"]
    assert _queued(stack) == 0


@pytest.mark.parametrize("content_type", [None, "application/json", "Application/JSON; charset=utf-8"])
@pytest.mark.parametrize("encoded", [False, True])
def test_one_json_object_is_accepted_with_or_without_base64(
    stack: Stack, lambda_context, content_type: str | None, encoded: bool
) -> None:
    raw = json.dumps(VALID_BULK)
    response = _post_bulk(lambda_context, raw.encode() if encoded else raw, content_type)
    assert response["statusCode"] == 202, response
    assert json.loads(response["body"])["queued"] == 1
    assert _queued(stack) == 1


def test_the_body_may_nest_as_deep_as_its_limit_and_no_deeper() -> None:
    def nested(levels: int) -> str:  # an object holding lists: `levels` containers in all
        return '{"a": ' + "[" * (levels - 1) + "]" * (levels - 1) + "}"

    assert read_json_object(nested(MAX_BODY_DEPTH), base64_encoded=False, content_type="application/json")
    with pytest.raises(MalformedBody, match="nested deeper"):
        read_json_object(nested(MAX_BODY_DEPTH + 1), base64_encoded=False, content_type="application/json")


@pytest.mark.parametrize(
    ("raw_query", "named"),
    [
        ("domain=acme.com&status=canceled&status=delivered", "status"),
        ("status=failed&domain=acme.com&type=manual&type=manual", "type"),
        ("domain=acme.com&domain=beta.io", "domain"),
    ],
)
def test_a_query_parameter_given_twice_is_refused_not_half_read(stack: Stack, lambda_context, raw_query, named) -> None:
    # API Gateway joins a repeated parameter's values with commas; Powertools would validate one of them.
    admin = Admin(lambda_context, domains="acme.com beta.io")
    ev = admin._event("list_jobs", "GET", "/jobs")
    ev["rawQueryString"] = raw_query
    ev["queryStringParameters"] = query_parameters(raw_query)  # as the gateway (and the local stack) joins them
    reply = admin._call("list_jobs", ev)
    assert reply.status == 400
    assert reply.code == "invalid_request"
    assert reply.body["error"]["message"].startswith(f"{named}: ")
    # Each value alone is read
    assert admin.list_jobs(domain="acme.com", status="canceled").status == 200


# ------------------------------------------------------------------ bodies that are not UTF-8
SAMPLE_PATH_VALUES = {"job_id": "01JF0000000000000000000000", "bulk_id": "01JF0000000000000000000000"}
SAMPLE_PATH_VALUES |= {"domain": "acme.com", "email": "reader@example.org", "file": "app.js"}


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "application/json"])
def test_no_route_answers_a_body_that_is_not_utf8_with_a_5xx(stack: Stack, content_type: str | None) -> None:
    """Every route of the template, its path filled in (the unsubscribe link a
    valid one, so its body is read), with a body that is not UTF-8: refused or
    ignored, never a 500 (POST /unsubscribe/{token} was one)."""
    key = boto3.client("secretsmanager").get_secret_value(SecretId=stack.names["UnsubscribeSecret"])["SecretString"]
    values = {**SAMPLE_PATH_VALUES, "token": UnsubscribeTokens(key).token("acme.com", "reader@example.org")}
    tried = []
    for route in routes(stack):
        function = Path(stack.template["Resources"][route.function]["Properties"]["CodeUri"]).name
        params = {name: values[name] for name in re.findall(r"{(\w+)}", route.path)}
        path = route.path.format(**params)
        reply = call(
            function,
            route.method,
            path,
            route.path,
            params=params or None,
            body=b"\xff\xfe{\x80}",
            headers=(("content-type", content_type),) if content_type else (),
            domains="acme.com" if route.authorizer else None,
        )
        assert reply.status < 500, (route.route_key, reply.text)
        tried.append((route.route_key, reply.status))
    assert ("POST /unsubscribe/{token}", 400) in tried
    assert ("POST /jobs/bulk", 400) in tried


# ------------------------------------------------------------------ 5xx answers are counted
def server_errors(printed: str) -> list[dict[str, Any]]:
    """The EMF blobs (Powertools' metrics lines) that carry ApiServerErrors."""
    blobs = [json.loads(line) for line in printed.splitlines() if '"_aws"' in line]
    return [blob for blob in blobs if SERVER_ERRORS_METRIC in blob]


def test_a_5xx_answer_counts_once_in_the_server_errors_metric_and_a_4xx_does_not(
    stack: Stack, lambda_context, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the cursor key cannot be read (AWS's answer, stubbed): GET /jobs answers 500 itself
    admin = Admin(lambda_context, domains="acme.com")
    stubber = Stubber(aws.secretsmanager())
    stubber.add_client_error("get_secret_value", service_error_code="AccessDeniedException", http_status_code=400)
    stubber.activate()
    metrics.clear_metrics()  # what earlier tests of error_response alone left unflushed
    capsys.readouterr()
    reply = admin.list_jobs()
    stubber.deactivate()
    assert (reply.status, reply.code) == (500, "internal_error")
    # Then the function, which ended normally (no Lambda error), counted it once,
    # with the one service dimension the dashboard reads (tests/localstack/test_alarms.py)
    [blob] = server_errors(capsys.readouterr().out)
    assert blob[SERVER_ERRORS_METRIC] == [1.0]
    assert blob["service"] == "email-operations"
    [directive] = blob["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [["service"]]
    # A refusal is the caller's doing: not counted
    assert admin.list_jobs(status="nonsense").status == 400
    assert server_errors(capsys.readouterr().out) == []


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("boom"),
        StorageError("BatchWriteItem failed"),
        UnfinishedBulkSend(bulk_id=None, queued=0, total=3, keyed=False),
        BulkCancelUnfinished(bulk_id="01JF0000000000000000000000", canceled=2),
    ],
)
def test_every_5xx_the_mapping_answers_is_counted(exc: Exception) -> None:
    metrics.clear_metrics()
    assert error_response(exc).status_code >= 500
    assert metrics.metric_set[SERVER_ERRORS_METRIC]["Value"] == [1.0]
    metrics.clear_metrics()
    error_response(Forbidden("not yours"))
    assert SERVER_ERRORS_METRIC not in metrics.metric_set
