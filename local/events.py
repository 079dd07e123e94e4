"""The events AWS hands a function, built the way AWS builds them.

Pure functions, no I/O: the local stack uses them for its HTTP API, its queue
pollers and its schedules, and the built-artifact tests use them to call the
built handlers with the same events.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

# Lambda's attribute names on an SQS record (what ReceiveMessage with
# AttributeNames=All returns, minus what Lambda leaves out).
_SQS_RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "+json", "+xml")
_TEXT_TYPES_EXACT = ("application/x-www-form-urlencoded",)


# ------------------------------------------------------------------ SQS
def sqs_record(message: Mapping[str, Any], *, queue_arn: str, region: str) -> dict[str, Any]:
    """One record of an SQS event, from one message of ``ReceiveMessage``
    (called with ``AttributeNames``/``MessageAttributeNames`` = ``All``)."""
    attributes = message.get("Attributes", {})
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {k: str(attributes[k]) for k in _SQS_RECORD_ATTRIBUTES if k in attributes},
        "messageAttributes": {
            name: _message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [_b64(v) for v in value.get("BinaryListValues", [])],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = _b64(value["BinaryValue"])
    return converted


def _b64(value: bytes | str) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode()


def sqs_event(messages: Sequence[Mapping[str, Any]], *, queue_arn: str, region: str) -> dict[str, Any]:
    return {"Records": [sqs_record(m, queue_arn=queue_arn, region=region) for m in messages]}


def failed_message_ids(response: Any, message_ids: Sequence[str]) -> set[str]:
    """Which messages of a batch go back to the queue, read the way Lambda reads
    a ``ReportBatchItemFailures`` response.

    Nothing (``None``, ``{}``, an empty list): every message succeeded. An
    identifier that is empty or not in the batch, or a response of the wrong
    shape, fails the whole batch.
    """
    everything = set(message_ids)
    if response is None:
        return set()
    if not isinstance(response, dict):
        return everything
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return everything
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in everything:
            return everything
        failed.add(identifier)
    return failed


# ------------------------------------------------------------- schedules
def scheduled_event(*, rule_arn: str, region: str, account: str, now: datetime | None = None) -> dict[str, Any]:
    """What an EventBridge rule (SAM ``Schedule``) sends."""
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": when,
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


# ------------------------------------------------------------- HTTP API
def http_event(
    *,
    method: str,
    raw_path: str,
    route_key: str,
    path_parameters: Mapping[str, str] | None = None,
    raw_query_string: str = "",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    claims: Mapping[str, Any] | None = None,
    scopes: Sequence[str] | None = None,
    stage: str = "$default",
    source_ip: str = "127.0.0.1",
    api_id: str = "local",
    account: str = "123456789012",
    now: datetime | None = None,
) -> dict[str, Any]:
    """An HTTP API (payload format 2.0) event, as API Gateway builds it.

    Header names are lower-cased and repeated headers joined with commas;
    cookies move to ``cookies``; repeated query keys are joined with commas;
    a body that is not text is base64-encoded. ``claims`` (a verified JWT's)
    appear as the JWT authorizer puts them: every value a string.
    """
    moment = now or datetime.now(UTC)
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
            continue
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    host = joined.get("host", "localhost")
    request_id = base64.b32encode(uuid.uuid4().bytes[:10]).decode().rstrip("=")

    request_context: dict[str, Any] = {
        "accountId": account,
        "apiId": api_id,
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0],
        "http": {
            "method": method.upper(),
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": joined.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": stage,
        "time": moment.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(moment.timestamp() * 1000),
    }
    if claims is not None:
        request_context["authorizer"] = {
            "jwt": {"claims": {k: claim_text(v) for k, v in claims.items()}, "scopes": list(scopes) if scopes else None}
        }

    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query_string,
        "headers": joined,
        "requestContext": request_context,
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    query = query_parameters(raw_query_string)
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if body:
        if _is_text(joined.get("content-type", "")):
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
        else:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return event


def query_parameters(raw_query_string: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in parse_qsl(raw_query_string, keep_blank_values=True):
        values[key] = f"{values[key]},{value}" if key in values else value
    return values


def claim_text(value: Any) -> str:
    """A claim as the JWT authorizer hands it on: strings as they are, lists
    as ``[a b]``, everything else as its JSON text."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(claim_text(v) for v in value) + "]"
    return json.dumps(value, separators=(",", ":"))


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    if not kind:
        return True
    return kind in _TEXT_TYPES_EXACT or any(kind.startswith(t) or kind.endswith(t) for t in _TEXT_TYPES)


def http_response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """What API Gateway answers for a payload-2.0 integration's return value.

    A dict with ``statusCode`` is used as it is (``headers``, ``cookies``,
    ``body``, ``isBase64Encoded``); anything else is taken as a JSON body
    with status 200.
    """
    if isinstance(result, dict) and "statusCode" in result:
        status = int(result["statusCode"])
        headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers += [(str(name), str(v)) for v in values]
        headers += [("set-cookie", str(c)) for c in result.get("cookies") or []]
        raw = result.get("body")
        text = "" if raw is None else raw if isinstance(raw, str) else json.dumps(raw)
        body = base64.b64decode(text) if result.get("isBase64Encoded") else text.encode()
        return status, headers, body
    return 200, [("content-type", "application/json")], json.dumps(result).encode()
