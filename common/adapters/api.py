"""What both admin API functions share: the resolver, who the caller is, and the
one place that turns an exception into an HTTP answer.

Every error answers ``{"error": {"code", "message"}}`` (docs/api.md):
validation is 400 (not Powertools' 422), an oversize body or recipient list
413, anything unexpected 500 with a generic message and the details in the log
only. Nothing here logs a token, a request body or an email address.

A request body is read here, not by Powertools: it must be one JSON object in
UTF-8 (``Content-Type: application/json``, or none); anything else is 400
before a model sees it (``read_json_object``). The one route that takes a form
(one-click unsubscribe) reads its text here too (``request_text``): a body
that is not UTF-8 is 400 there as well.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.event_handler.types import EventHandlerInstance
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ConfigDict, TypeAdapter, ValidationError

from common.adapters.observability import logger, metrics
from common.models.api import (
    BODY_TOO_LARGE,
    MAX_BODY_DEPTH,
    TOO_MANY_RECIPIENTS,
    BulkCancelUnfinished,
    BulkKeyReused,
    BulkNotFound,
    Caller,
    DomainPaused,
    ErrorDetail,
    ErrorResponse,
    Forbidden,
    MalformedBody,
    NoRecipients,
    NotCancelable,
    NotRetryable,
    RecipientSuppressed,
    RepeatedQueryParameter,
    TooManyRecipients,
    Unauthenticated,
    UnfinishedBulkSend,
)
from common.models.api_settings import ApiSettings, get_cors_settings
from common.models.errors import EmailOpsError, IdempotencyKeyReused, InvalidCursor, JobNotFound
from common.models.job import INVALID_SEND_AT, Domain
from common.models.suppression import (
    InvalidAddress,
    InvalidUnsubscribeRequest,
    SuppressionNotFound,
    UnsubscribeLinkNotFound,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

EVERY_DOMAIN = "*"
IDEMPOTENCY_HEADER = "Idempotency-Key"
INTERNAL_MESSAGE = "something went wrong on our side"
# The 5xx answers the API functions make themselves (an exception caught and
# mapped: internal_error, bulk_send_unfinished, cancel_unfinished).
SERVER_ERRORS_METRIC = "ApiServerErrors"

# The one mapping from what went wrong to the HTTP answer.
_ANSWERS: dict[type[Exception], tuple[HTTPStatus, str | None]] = {
    Unauthenticated: (HTTPStatus.UNAUTHORIZED, None),
    Forbidden: (HTTPStatus.FORBIDDEN, None),
    JobNotFound: (HTTPStatus.NOT_FOUND, None),
    BulkNotFound: (HTTPStatus.NOT_FOUND, None),
    SuppressionNotFound: (HTTPStatus.NOT_FOUND, None),
    UnsubscribeLinkNotFound: (HTTPStatus.NOT_FOUND, None),
    InvalidAddress: (HTTPStatus.BAD_REQUEST, None),
    InvalidUnsubscribeRequest: (HTTPStatus.BAD_REQUEST, None),
    InvalidCursor: (HTTPStatus.BAD_REQUEST, None),
    MalformedBody: (HTTPStatus.BAD_REQUEST, None),
    RepeatedQueryParameter: (HTTPStatus.BAD_REQUEST, None),
    NoRecipients: (HTTPStatus.BAD_REQUEST, None),
    TooManyRecipients: (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, None),
    DomainPaused: (HTTPStatus.CONFLICT, None),
    IdempotencyKeyReused: (HTTPStatus.CONFLICT, None),
    BulkKeyReused: (HTTPStatus.CONFLICT, None),
    UnfinishedBulkSend: (HTTPStatus.INTERNAL_SERVER_ERROR, None),
    NotCancelable: (HTTPStatus.CONFLICT, None),
    NotRetryable: (HTTPStatus.CONFLICT, None),
    RecipientSuppressed: (HTTPStatus.CONFLICT, None),
    BulkCancelUnfinished: (HTTPStatus.SERVICE_UNAVAILABLE, None),
}
_MESSAGES: dict[str, str] = {
    "idempotency_key_reused": f"this {IDEMPOTENCY_HEADER} was already used for a different request",
    "idempotency_in_progress": f"a request with this {IDEMPOTENCY_HEADER} is still being processed: try again shortly",
}


def answer_as(kind: type[Exception], status: HTTPStatus, code: str) -> None:
    """Answer ``kind`` (and its subclasses) with ``status`` and ``code``: for the
    errors of a library only one function imports (Powertools' idempotency, in
    ``common.logic.bulk``), registered by the module that imports it, so that the
    other functions need not load it (it imports boto3:
    docs/adr/0033-cold-starts.md)."""
    _ANSWERS[kind] = (status, code)


# Validation error types the contract answers with 413.
_OVERSIZE = {BODY_TOO_LARGE, TOO_MANY_RECIPIENTS}
_MAX_LISTED_ERRORS = 5


def _error(status: HTTPStatus, code: str, message: str) -> Response[str]:
    body = ErrorResponse(error=ErrorDetail(code=code, message=message))
    return Response(status_code=status.value, content_type=content_types.APPLICATION_JSON, body=body.model_dump_json())


def _where(loc: Sequence[Any]) -> str:
    source, *path = loc or ("request",)
    if source == "header":
        return f"{IDEMPOTENCY_HEADER} header" if path == [IDEMPOTENCY_HEADER.lower()] else "header"
    # Query models are validated as one parameter named after the route's argument.
    names = [str(p) for p in path if isinstance(p, str) and p != "query"]
    return ".".join(names) or str(source)


def _invalid(exc: RequestValidationError) -> Response[str]:
    errors = list(exc.errors())
    if any(tuple(error.get("loc") or ())[:1] == ("response",) for error in errors):
        # Powertools reports an answer that fails its own model this way: our fault, not the caller's.
        failed = [{"loc": error.get("loc"), "type": error.get("type")} for error in errors]
        logger.error("response failed validation", extra={"errors": failed})
        return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", INTERNAL_MESSAGE)
    send_at = [error for error in errors if error.get("type") == INVALID_SEND_AT]
    if send_at:
        first = send_at[0]
        return _error(HTTPStatus.BAD_REQUEST, INVALID_SEND_AT, f"{_where(first['loc'])}: {first.get('msg')}")
    oversize = [error for error in errors if error.get("type") in _OVERSIZE]
    if oversize:
        first = oversize[0]
        return _error(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(first["type"]), f"{_where(first['loc'])}: {first.get('msg')}"
        )
    listed = "; ".join(
        f"{_where(error['loc'])}: {error.get('msg', 'is not valid')}" for error in errors[:_MAX_LISTED_ERRORS]
    )
    more = len(errors) - _MAX_LISTED_ERRORS
    return _error(HTTPStatus.BAD_REQUEST, "invalid_request", listed + (f"; and {more} more" if more > 0 else ""))


def error_response(exc: Exception) -> Response[str]:
    """Every exception a route lets out, answered in the contract's envelope.

    Each 5xx answered here counts once in ``SERVER_ERRORS_METRIC``: the function
    ends normally, so Lambda's ``Errors`` never sees it (the HTTP API's ``5xx``
    does, and ``HttpApi5xxAlarm`` watches that)."""
    answer = _answer(exc)
    if answer.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
        metrics.add_metric(name=SERVER_ERRORS_METRIC, unit=MetricUnit.Count, value=1)
    return answer


def _answer(exc: Exception) -> Response[str]:
    if isinstance(exc, RequestValidationError):
        answer = _invalid(exc)
    elif isinstance(exc, NotFoundError):
        answer = _error(HTTPStatus.NOT_FOUND, "not_found", "no such route")
    else:
        known = next((_ANSWERS[kind] for kind in type(exc).__mro__ if kind in _ANSWERS), None)
        if known is None:
            _log_internal(exc)
            return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", INTERNAL_MESSAGE)
        status, code = known
        code = code or (exc.code if isinstance(exc, EmailOpsError) else "error")
        answer = _error(status, code, _MESSAGES.get(code) or str(exc))
    logger.info("request refused", extra={"status": answer.status_code, "error_type": type(exc).__name__})
    return answer


def _log_internal(exc: Exception) -> None:
    if isinstance(exc, ValidationError):
        # A stored item that no longer validates: its text would quote the item.
        errors = [{"loc": error["loc"], "type": error["type"]} for error in exc.errors()]
        logger.error("stored data failed validation", extra={"model": exc.title, "errors": errors})
    else:
        logger.exception("request failed", exc_info=exc, extra={"error_type": type(exc).__name__})


class DashboardCors(CORSConfig):
    """CORS for the dashboard's origin only (``CORS_ALLOW_ORIGIN``), read when a
    response is built rather than when the module is imported. In AWS the HTTP
    API's CorsConfiguration answers too; this serves the local stack alike."""

    def __init__(self) -> None:
        super().__init__(allow_origin="", allow_headers=[IDEMPOTENCY_HEADER], max_age=600)

    def allowed_origin(self, extracted_origin: str) -> str | None:
        configured = get_cors_settings().cors_allow_origin
        return extracted_origin if configured is not None and extracted_origin == configured else None

    def to_dict(self, origin: str | None) -> dict[str, str]:
        if origin is None or self.allowed_origin(origin) is None:
            return {}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Headers": CORSConfig.build_allow_methods(self.allow_headers),
            "Access-Control-Max-Age": str(self.max_age),
            "Vary": "Origin",
        }


# ------------------------------------------------------------------ the body
_JSON_MEDIA_TYPE = "application/json"


def read_json_object(body: str | None, *, base64_encoded: bool, content_type: str) -> dict[str, Any]:
    """The request body as this API accepts it: one JSON object, UTF-8, at most
    ``MAX_BODY_DEPTH`` levels deep; ``MalformedBody`` (400) for anything else.

    No ``Content-Type`` counts as JSON; form and multipart bodies are refused
    rather than parsed (Powertools would parse them, and took the first element
    of a JSON array as if it were the whole body).
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in ("", _JSON_MEDIA_TYPE):
        raise MalformedBody(f"the request body must be JSON (Content-Type: {_JSON_MEDIA_TYPE})")
    text = _body_text(body or "", base64_encoded=base64_encoded)
    if not text.strip():
        raise MalformedBody("the request body is missing: send one JSON object")
    try:
        value = json.loads(text, object_pairs_hook=_no_repeated_keys, parse_constant=_no_constant)
    except RecursionError as exc:
        raise MalformedBody(f"the request body is nested deeper than {MAX_BODY_DEPTH} levels") from exc
    except ValueError as exc:  # json.JSONDecodeError, and the two hooks above
        raise MalformedBody(f"the request body is not valid JSON: {_reason(exc)}") from exc
    if not isinstance(value, dict):
        raise MalformedBody("the request body must be one JSON object, not " + _json_kind(value))
    if _depth(value) > MAX_BODY_DEPTH:
        raise MalformedBody(f"the request body is nested deeper than {MAX_BODY_DEPTH} levels")
    return value


def request_text(event: BaseProxyEvent) -> str:
    """A request's body as text, for a route that reads a body that is not JSON
    (the one-click unsubscribe form): API Gateway base64-encodes a body it does
    not take for text, and one that is not UTF-8 is ``MalformedBody`` (400).
    Powertools' ``decoded_body`` raises instead, which would answer 500."""
    return _body_text(event.body or "", base64_encoded=bool(event.is_base64_encoded))


def _body_text(body: str, *, base64_encoded: bool) -> str:
    if not base64_encoded:
        return body
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except binascii.Error as exc:
        raise MalformedBody("the request body is not valid base64") from exc
    except UnicodeDecodeError as exc:
        raise MalformedBody("the request body is not UTF-8 text") from exc


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for key, item in pairs:
        if key in value:
            raise ValueError(f"the key {json.dumps(key)[:80]} appears more than once")
        value[key] = item
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _reason(exc: ValueError) -> str:
    # Messages of our own hooks, or JSONDecodeError's position: never the body's text.
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return str(exc)


def _json_kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "true or false", type(None): "null"}
    return kinds.get(type(value), "a number")


def _depth(value: Any) -> int:
    """How deeply ``value`` nests (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        current, level = stack.pop()
        children = current.values() if isinstance(current, dict) else current if isinstance(current, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level <= MAX_BODY_DEPTH:
            stack.extend((child, level + 1) for child in children)
    return deepest


def repeated_query_parameters(raw_query_string: str) -> list[str]:
    """The names given more than once in a query string, in the order first given.

    API Gateway joins a repeated parameter's values with commas, which no value
    here holds, and Powertools then validates one of them: refused instead."""
    seen: set[str] = set()
    repeated: list[str] = []
    for name, _ in parse_qsl(raw_query_string, keep_blank_values=True):
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    return repeated


class _JsonObjectBodies(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, with the body read by ``read_json_object``
    and a query parameter given more than once refused (``repeated_query_parameters``).

    Powertools' own reading parses form and multipart bodies, answers 500 to a
    body that is not UTF-8, to multipart without a boundary and to deep nesting,
    and validates the first element of a JSON array in place of the body.
    """

    def handler(self, app: EventHandlerInstance, next_middleware: NextMiddleware) -> Response[Any]:
        repeated = repeated_query_parameters(app.current_event.raw_event.get("rawQueryString") or "")
        if repeated:
            raise RepeatedQueryParameter(f"{repeated[0]}: give it once (it was given more than once)")
        return super().handler(app, next_middleware)

    def _get_body(self, app: EventHandlerInstance) -> dict[str, Any]:
        event = app.current_event
        return read_json_object(
            event.body,
            base64_encoded=bool(event.is_base64_encoded),
            content_type=event.headers.get("content-type") or "",
        )


def api_resolver() -> APIGatewayHttpResolver:
    """An HTTP API (payload 2.0) resolver with request validation, CORS for the
    dashboard's origin, and every error in the contract's envelope."""
    app = APIGatewayHttpResolver(cors=DashboardCors(), enable_validation=True)
    # Request validation is Powertools' middleware; only its reading of the body
    # is replaced (the resolver keeps the middleware under this name).
    app._request_validation_middleware = _JsonObjectBodies()  # type: ignore[no-untyped-call]  # Powertools' __init__
    # One handler for everything: it is found through each exception's MRO.
    app.exception_handler(Exception)(error_response)
    return app


# For the OpenAPI document: who may get what, besides the route's own errors.
COMMON_ERRORS: dict[int, str] = {
    401: "unauthorized: no token, bad signature, expired token",
    403: "forbidden: the token names no domain, or the domain named is not among the caller's",
    # Answered by the gateway (or the local stack's server) before any function runs.
    414: "request_uri_too_long: the path and query are longer than the gateway takes",
    500: "internal_error",
}


# Only the JWT authorizer answers these: not on a route without one.
_JWT_ERRORS = (401, 403)


def documented(
    status: int,
    description: str,
    errors: Mapping[int, str],
    *,
    text_as: str | None = None,
    needs_jwt: bool = True,
) -> dict[int, OpenAPIResponse]:
    """A route's responses for the OpenAPI document: its success (the schema comes
    from the route's return type, or it is text of the media type ``text_as``,
    e.g. an HTML page) and its errors, each with the error envelope; 401 and 403
    only where a JWT is needed."""
    success: OpenAPIResponse = {"description": description}
    if text_as is not None:
        success["content"] = {text_as: {"schema": {"type": "string"}}}
    responses: dict[int, OpenAPIResponse] = {status: success}
    for code, what in documented_errors(errors, needs_jwt=needs_jwt).items():
        responses[code] = {"description": what, "content": {"application/json": {"model": ErrorResponse}}}
    return responses


def documented_errors(errors: Mapping[int, str], *, needs_jwt: bool = True) -> dict[int, str]:
    """A route's errors and those every route may answer, by status."""
    listed = {**COMMON_ERRORS, **errors}
    return {code: listed[code] for code in sorted(listed) if needs_jwt or code not in _JWT_ERRORS}


# ------------------------------------------------------------------ the caller
_domain = TypeAdapter(Domain, config=ConfigDict(defer_build=True))


def parse_domains_claim(value: Any) -> tuple[bool, frozenset[str]]:
    """``(every domain?, the domains)`` from the claim's value.

    Space-separated is the contract's form; a JSON list, and API Gateway's
    rendering of a list claim as ``"[a b]"``, are accepted too. Entries that
    are not host names are ignored.
    """
    if isinstance(value, str) and value.strip().startswith("[") and value.strip().endswith("]"):
        try:
            value = json.loads(value)
        except ValueError:
            value = value.strip()[1:-1]
    if isinstance(value, str):
        entries = value.replace(",", " ").split()
    elif isinstance(value, list):
        entries = [word for entry in value if isinstance(entry, str) for word in entry.replace(",", " ").split()]
    else:
        entries = []
    domains: set[str] = set()
    for entry in entries:
        if entry == EVERY_DOMAIN:
            return True, frozenset()
        try:
            domains.add(_domain.validate_python(entry))
        except ValidationError:
            continue
    return False, frozenset(domains)


def caller_from_event(event: Mapping[str, Any], *, claim: str) -> Caller:
    """The caller as the HTTP API's JWT authorizer verified it (its claims ride in
    ``requestContext.authorizer.jwt.claims``)."""
    request_context = event.get("requestContext")
    authorizer = request_context.get("authorizer") if isinstance(request_context, Mapping) else None
    jwt = authorizer.get("jwt") if isinstance(authorizer, Mapping) else None
    claims = jwt.get("claims") if isinstance(jwt, Mapping) else None
    if not isinstance(claims, Mapping):
        raise Unauthenticated("a valid bearer token is required")
    every_domain, domains = parse_domains_claim(claims.get(claim))
    if not every_domain and not domains:
        raise Forbidden(f"the token's {claim} claim names no domain")
    return Caller(subject=str(claims.get("sub") or ""), domains=domains, every_domain=every_domain)


def caller_dependency(settings: Callable[[], ApiSettings]) -> Callable[[Request], Caller]:
    """A ``Depends()`` callable giving a route its caller."""

    def current_caller(request: Request) -> Caller:
        return caller_from_event(request.resolved_event.raw_event, claim=settings().domains_claim)

    return current_caller
