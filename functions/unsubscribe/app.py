"""UnsubscribeFunction: GET and POST /unsubscribe/{token}, without a JWT (RFC 8058
one-click unsubscribe from an admin's bulk email). A GET only shows a page
whose button makes the POST; the POST adds the recipient to the domain's
suppression list."""

from __future__ import annotations

# No collection until the imports are done (docs/adr/0033-cold-starts.md).
import gc

gc.disable()

# Powertools' packages load only the resolver and classes this function uses
# (docs/adr/0033-cold-starts.md).
from common.adapters.deferred_imports import defer_powertools_packages

defer_powertools_packages()

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from common.adapters import aws
from common.adapters.api import api_resolver, documented, request_text
from common.adapters.audit_trail import AuditTrail
from common.adapters.observability import logger, metrics, tracer
from common.adapters.secrets import read_secret
from common.adapters.suppressions import SuppressionStore
from common.logic.suppression_links import (
    MIN_UNSUBSCRIBE_KEY_CHARS,
    ONE_CLICK_FIELD,
    ONE_CLICK_VALUE,
    PAGE_HEADERS,
    UnsubscribeTokens,
    confirm_page,
    done_page,
    require_one_click,
)
from common.logic.suppressions import unsubscribe
from common.models.api_settings import get_unsubscribe_settings

app = api_resolver()


def _tokens() -> UnsubscribeTokens:
    settings = get_unsubscribe_settings()
    key = read_secret(
        settings.unsubscribe_secret_id,
        max_age=settings.secrets_max_age_seconds,
        min_length=MIN_UNSUBSCRIBE_KEY_CHARS,
    )
    return UnsubscribeTokens(key)


def _html(text: str) -> Response[str]:
    return Response(status_code=200, content_type=content_types.TEXT_HTML, body=text, headers=dict(PAGE_HEADERS))


# For the OpenAPI document (local/openapi.py; the template says these routes need no JWT).
_UNKNOWN_LINK = {404: "not_found: an altered, forged or unknown token"}
PAGE_RESPONSES = documented(
    200, "a page with one button that unsubscribes", _UNKNOWN_LINK, text_as=content_types.TEXT_HTML, needs_jwt=False
)
DONE_RESPONSES = documented(
    200,
    "unsubscribed (again: nothing changes): the recipient is on the domain's suppression list",
    {**_UNKNOWN_LINK, 400: f"invalid_request: the body is not the form {ONE_CLICK_FIELD}={ONE_CLICK_VALUE} in UTF-8"},
    text_as=content_types.TEXT_HTML,
    needs_jwt=False,
)
# RFC 8058's body, as mail clients send it (a multipart form is read too). The
# handler reads it itself: Powertools documents a body only for a Body
# parameter, and would then parse and validate the form its own way.
ONE_CLICK_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {ONE_CLICK_FIELD: {"type": "string", "enum": [ONE_CLICK_VALUE]}},
                    "required": [ONE_CLICK_FIELD],
                }
            }
        },
    }
}


@app.get(
    "/unsubscribe/<token>", summary="The one-click unsubscribe page (GET changes nothing)", responses=PAGE_RESPONSES
)
def get_unsubscribe(token: str) -> Response[str]:
    domain, _ = _tokens().read(token)
    return _html(confirm_page(domain))


@app.post(
    "/unsubscribe/<token>",
    summary="One-click unsubscribe (RFC 8058)",
    responses=DONE_RESPONSES,
    openapi_extensions=ONE_CLICK_BODY,
)
def post_unsubscribe(token: str) -> Response[str]:
    domain, email = _tokens().read(token)
    require_one_click(request_text(app.current_event), app.current_event.headers.get("content-type") or "")
    settings = get_unsubscribe_settings()
    unsubscribe(
        domain,
        email,
        store=SuppressionStore(aws.dynamodb(), settings.jobs_table),
        trail=AuditTrail(aws.dynamodb(), settings.jobs_table, retention_days=settings.retention_days),
    )
    logger.info("recipient unsubscribed", extra={"domain": domain})
    metrics.add_metric(name="Unsubscribes", unit=MetricUnit.Count, value=1)
    return _html(done_page(domain))


@logger.inject_lambda_context(log_event=False)  # the path carries the token
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


# What init made is never garbage: later collections skip it.
gc.freeze()
gc.enable()
