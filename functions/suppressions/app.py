"""SuppressionsFunction: GET /suppressions (a domain's list), PUT and DELETE
/suppressions/{domain}/{email} (add by hand, remove)."""

from __future__ import annotations

# No collection until the imports are done (docs/adr/0033-cold-starts.md).
import gc

gc.disable()

# Powertools' packages load only the resolver and classes this function uses
# (docs/adr/0033-cold-starts.md).
from common.adapters.deferred_imports import defer_powertools_packages

defer_powertools_packages()

from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from common.adapters import aws
from common.adapters.api import api_resolver, caller_dependency, documented
from common.adapters.audit_trail import AuditTrail
from common.adapters.observability import logger, metrics, tracer
from common.adapters.secrets import read_secret
from common.adapters.suppressions import SuppressionStore
from common.logic.signing import MIN_CURSOR_KEY_CHARS
from common.logic.suppression_list import SuppressionCursors, list_suppressions
from common.logic.suppressions import lift, suppress_by_hand
from common.models.api import Caller
from common.models.suppression import SuppressionEntry
from common.models.suppression_list import ListSuppressionsQuery, SuppressionsPage, get_suppressions_settings

app = api_resolver()
current_caller = caller_dependency(get_suppressions_settings)


def _store() -> SuppressionStore:
    return SuppressionStore(aws.dynamodb(), get_suppressions_settings().jobs_table)


def _trail() -> AuditTrail:
    settings = get_suppressions_settings()
    return AuditTrail(aws.dynamodb(), settings.jobs_table, retention_days=settings.retention_days)


def _cursors() -> SuppressionCursors:
    settings = get_suppressions_settings()
    key = read_secret(
        settings.cursor_secret_id, max_age=settings.secrets_max_age_seconds, min_length=MIN_CURSOR_KEY_CHARS
    )
    return SuppressionCursors(key)


LIST_RESPONSES = documented(
    200,
    "a page of the domain's suppression list, newest first",
    {
        400: "invalid_request (domain missing or not a host name, a limit out of 1-100), "
        "invalid_cursor (altered, or of another domain's list)"
    },
)
PUT_RESPONSES = documented(
    200,
    "the entry listed for the address: added with reason manual, or the one already there",
    {
        400: "invalid_request: the domain or the address is not valid",
        404: "not_found: a path this route does not match",
    },
)
DELETE_RESPONSES = documented(
    204,
    "removed: that domain's emails reach the address again",
    {
        400: "invalid_request: the domain or the address is not valid",
        404: "not_found: the address is not listed (or a path this route does not match)",
    },
)


@app.get("/suppressions", summary="A domain's suppression list", responses=LIST_RESPONSES)
def get_suppressions(
    query: Annotated[ListSuppressionsQuery, Query()], caller: Annotated[Caller, Depends(current_caller)]
) -> SuppressionsPage:
    return list_suppressions(query, caller, store=_store(), cursors=_cursors)


@app.put("/suppressions/<domain>/<email>", summary="Suppress an address by hand", responses=PUT_RESPONSES)
def put_suppression(domain: str, email: str, caller: Annotated[Caller, Depends(current_caller)]) -> SuppressionEntry:
    return suppress_by_hand(unquote(domain), unquote(email), caller, store=_store(), trail=_trail())


@app.delete("/suppressions/<domain>/<email>", summary="Remove an address from the list", responses=DELETE_RESPONSES)
def delete_suppression(domain: str, email: str, caller: Annotated[Caller, Depends(current_caller)]) -> Response[None]:
    lift(unquote(domain), unquote(email), caller, store=_store(), trail=_trail())
    return Response(status_code=204)


@logger.inject_lambda_context(log_event=False)  # the event carries the caller's token
@tracer.capture_lambda_handler(capture_response=False)  # responses carry addresses
@metrics.log_metrics  # ApiServerErrors, when an answer is a 5xx (common.adapters.api)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


# What init made is never garbage: later collections skip it.
gc.freeze()
gc.enable()
