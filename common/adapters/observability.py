"""The one place that makes Logger, Tracer and Metrics.

Never log an email body, a token or a whole event: log ids, counts and codes.

Tracing: with ``Tracing: Active`` Lambda records each invocation's segments
itself, with no code in the function. The X-Ray SDK (Powertools' Tracer) adds a
subsegment per AWS call; it is loaded only when ``TRACE_SDK_CALLS`` is
``true`` (the template's ``TraceSdkCalls``). Otherwise the handlers' tracer
decorators are no-ops and no cold start pays for importing the SDK
(docs/adr/0033-cold-starts.md).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

TRACE_SDK_CALLS_ENV = "TRACE_SDK_CALLS"


class NoTracer:
    """What the handlers use of Powertools' Tracer, doing nothing: the
    decorators return the handler itself."""

    def capture_lambda_handler(
        self,
        lambda_handler: Callable[..., Any] | None = None,
        capture_response: bool | None = None,
        capture_error: bool | None = None,
    ) -> Callable[..., Any]:
        if lambda_handler is None:
            return functools.partial(
                self.capture_lambda_handler, capture_response=capture_response, capture_error=capture_error
            )
        return lambda_handler

    def capture_method(
        self,
        method: Callable[..., Any] | None = None,
        capture_response: bool | None = None,
        capture_error: bool | None = None,
    ) -> Callable[..., Any]:
        if method is None:
            return functools.partial(
                self.capture_method, capture_response=capture_response, capture_error=capture_error
            )
        return method

    def put_annotation(self, key: str, value: str | float | bool) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        return None


def tracing_sdk_calls(environ: dict[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(TRACE_SDK_CALLS_ENV, "false")
    return value.strip().lower() == "true"


def make_tracer() -> Tracer | NoTracer:
    if not tracing_sdk_calls():
        return NoTracer()
    # Imported here: only a stack that traces AWS calls loads the X-Ray SDK.
    from aws_lambda_powertools import Tracer  # noqa: PLC0415

    # The functions make no HTTP calls but AWS SDK calls: patching botocore alone
    # traces every one of them, and spares the X-Ray SDK's search for, and
    # patching of, every other library it supports (docs/benchmarks.md).
    return Tracer(patch_modules=("botocore",))


logger = Logger()
tracer = make_tracer()
metrics = Metrics()
