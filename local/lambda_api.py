"""The Lambda Invoke API (``POST /2015-03-31/functions/{name}/invocations``),
enough of it for ``boto3.client("lambda", endpoint_url=...).invoke`` and
``list_functions``.

A function is named by its logical id or by an ARN ending in it.
``InvocationType`` ``RequestResponse`` answers with the result; ``Event``
answers 202 at once and runs the function in the background; ``DryRun``
answers 204. A function error is answered as Lambda answers it: status 200,
``X-Amz-Function-Error: Unhandled`` and Lambda's error object. A payload that
is not JSON, or nests deeper than ``MAX_PAYLOAD_DEPTH`` (further than a
Python runtime can unmarshal), is Lambda's 400 ``InvalidRequestContentException``.

Lambda's payload quotas ("Lambda quotas": invocation payload, 6 MB each way
for a synchronous invocation, 1 MB for an asynchronous one; the Lambda API
reference, ``Invoke``): a request over them is refused before the function
runs, 413 ``RequestEntityTooLargeException`` with Lambda's message; a
synchronous answer over 6 MB is a function error, ``Function.ResponseSizeTooLarge``,
as Lambda reports it (the function ran; its answer is lost).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from local.httpd import Request, Response
from local.runtime import LocalFunction, find_function

_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")
_LIST = re.compile(r"^/2015-03-31/functions/?$")
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024  # 6,291,456 bytes: "Request must be smaller than 6291456 bytes"
MAX_ASYNC_PAYLOAD = 1024 * 1024
# The answer's limit, as Lambda words it: "maximum allowed payload size (6291556 bytes)".
MAX_SYNC_RESPONSE = MAX_SYNC_PAYLOAD + 100
MAX_PAYLOAD_DEPTH = 500


def _error(status: int, code: str, message: str) -> Response:
    body = json.dumps({"Type": "User", "Message": message, "message": message}).encode()
    return Response(status, body, [("x-amzn-ErrorType", code), ("content-type", "application/json")])


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` arrays and objects deep (no recursion)."""
    stack = [(value, 0)]
    while stack:
        current, level = stack.pop()
        if isinstance(current, dict | list):
            if level == limit:
                return True
            stack.extend((child, level + 1) for child in (current.values() if isinstance(current, dict) else current))
    return False


class LambdaApi:
    def __init__(self, functions: Mapping[str, LocalFunction]) -> None:
        self._functions = functions

    def __call__(self, request: Request) -> Response:
        split = urlsplit(request.target)
        path = split.path
        if request.method == "GET" and _LIST.match(path):
            return self._list()
        match = _INVOKE.match(path)
        if not match:
            return _error(404, "UnknownOperationException", f"{request.method} {path} is not served locally")
        if request.method != "POST":
            return _error(405, "UnknownOperationException", "invocations take POST")
        name = unquote(match.group("name"))
        qualifier = parse_qs(split.query).get("Qualifier", [None])[0]
        if qualifier not in (None, "$LATEST"):
            name = f"{name}:{qualifier}"
        function = find_function(self._functions, name)
        if function is None:
            return _error(404, "ResourceNotFoundException", f"Function not found: {name}")
        return self._invoke(function, request)

    def _invoke(self, function: LocalFunction, request: Request) -> Response:
        invocation_type = request.header("X-Amz-Invocation-Type") or "RequestResponse"
        if invocation_type == "Event" and len(request.body) > MAX_ASYNC_PAYLOAD:
            return _error(
                413,
                "RequestEntityTooLargeException",
                f"{len(request.body)} byte payload is too large for the Event invocation type"
                f" (limit {MAX_ASYNC_PAYLOAD} bytes)",
            )
        if len(request.body) > MAX_SYNC_PAYLOAD:
            return _error(
                413,
                "RequestEntityTooLargeException",
                f"Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for the InvokeFunction operation",
            )
        too_deep = f"Could not parse request body into json: nested deeper than {MAX_PAYLOAD_DEPTH} levels"
        try:
            event: Any = json.loads(request.body) if request.body.strip() else {}
        except RecursionError:
            return _error(400, "InvalidRequestContentException", too_deep)
        except (UnicodeDecodeError, ValueError) as exc:
            return _error(400, "InvalidRequestContentException", f"Could not parse request body into json: {exc}")
        if _deeper_than(event, MAX_PAYLOAD_DEPTH):
            return _error(400, "InvalidRequestContentException", too_deep)

        if invocation_type == "DryRun":
            return Response(204)
        if invocation_type == "Event":
            threading.Thread(target=function.invoke, args=(event,), name=f"event-{function.name}", daemon=True).start()
            return Response(202, headers=[("content-type", "application/json")])
        if invocation_type != "RequestResponse":
            return _error(400, "InvalidParameterValueException", f"unknown InvocationType {invocation_type!r}")

        result = function.invoke(event)
        body = result.body()
        headers = [
            ("content-type", "application/json"),
            ("X-Amz-Executed-Version", "$LATEST"),
            ("x-amzn-RequestId", result.request_id),
        ]
        if len(body) > MAX_SYNC_RESPONSE:
            body = json.dumps(
                {
                    "errorMessage": "Response payload size exceeded maximum allowed payload size"
                    f" ({MAX_SYNC_RESPONSE} bytes).",
                    "errorType": "Function.ResponseSizeTooLarge",
                }
            ).encode()
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        elif result.failed:
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        if (request.header("X-Amz-Log-Type") or "").lower() == "tail":
            tail = f"START RequestId: {result.request_id} Version: $LATEST\nEND RequestId: {result.request_id}\n"
            headers.append(("X-Amz-Log-Result", base64.b64encode(tail.encode()).decode()))
        return Response(200, body, headers)

    def _list(self) -> Response:
        functions = [
            {
                "FunctionName": f.name,
                "FunctionArn": f.config.arn,
                "Runtime": f.config.runtime,
                "Handler": f.config.handler,
                "Timeout": int(f.config.timeout_seconds),
                "MemorySize": f.config.memory_mb,
                "Version": "$LATEST",
            }
            for f in self._functions.values()
        ]
        return Response(200, json.dumps({"Functions": functions}).encode(), [("content-type", "application/json")])
