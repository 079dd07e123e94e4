"""BulkQueueFunction: POST /jobs/bulk (Bulk Send) and POST /jobs/test (a test email first)."""

from __future__ import annotations

# No collection until the imports are done (docs/adr/0033-cold-starts.md).
import gc

gc.disable()

# Powertools' packages load only the resolver and classes this function uses
# (docs/adr/0033-cold-starts.md).
from common.adapters.deferred_imports import defer_powertools_packages

defer_powertools_packages()

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.utilities.typing import LambdaContext

from common.adapters import aws
from common.adapters.api import IDEMPOTENCY_HEADER, api_resolver, caller_dependency, documented
from common.adapters.observability import logger, metrics, tracer
from common.logic.bulk import IDEMPOTENCY, BulkSender
from common.models.api import Caller
from common.models.bulk_send import (
    BulkSendRequest,
    BulkSendResponse,
    TestSendRequest,
    TestSendResponse,
    get_bulk_queue_settings,
)
from common.models.job import IdempotencyKey

app = api_resolver()
current_caller = caller_dependency(get_bulk_queue_settings)
BULK_RESPONSES = documented(
    202,
    "one job per recipient created and queued",
    {
        400: "invalid_request (malformed JSON, a field missing or invalid), no_recipients, "
        "invalid_send_at (send_at not a time, or more than 30 days ahead)",
        409: "idempotency_key_reused: the Idempotency-Key came with a different request; "
        "idempotency_in_progress: its first request is still running; "
        "domain_paused: the domain's recent bounce or complaint rate passed the service's thresholds "
        "(the message says the rate and how to resume); its system emails still flow",
        413: "body_too_large, too_many_recipients",
        500: "bulk_send_unfinished: storage failed part-way; the message says how many emails are queued "
        "(with an Idempotency-Key, the same request again queues the rest); internal_error",
    },
)


@app.post("/jobs/bulk", status_code=202, summary="Bulk Send", responses=BULK_RESPONSES)
def post_bulk(
    request: BulkSendRequest,
    caller: Annotated[Caller, Depends(current_caller)],
    idempotency_key: Annotated[IdempotencyKey | None, Header(alias=IDEMPOTENCY_HEADER)] = None,
) -> BulkSendResponse:
    sender = BulkSender.from_settings(get_bulk_queue_settings(), dynamodb=aws.dynamodb(), sqs=aws.sqs(), s3=aws.s3())
    return sender.send(request, caller, idempotency_key=idempotency_key)


TEST_RESPONSES = documented(
    202,
    "one manual job (bulk_id null) to that address, on the priority queue",
    {
        400: "invalid_request (malformed JSON, a field missing or invalid, not an address)",
        409: "suppressed: the address is on the domain's suppression list (a paused domain may still send tests)",
        413: "body_too_large",
    },
)


@app.post("/jobs/test", status_code=202, summary="Send a test email", responses=TEST_RESPONSES)
def post_test(request: TestSendRequest, caller: Annotated[Caller, Depends(current_caller)]) -> TestSendResponse:
    sender = BulkSender.from_settings(get_bulk_queue_settings(), dynamodb=aws.dynamodb(), sqs=aws.sqs(), s3=aws.s3())
    return sender.test_send(request, caller)


@logger.inject_lambda_context(log_event=False)  # the event carries the token and the email body
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    IDEMPOTENCY.register_lambda_context(context)
    return app.resolve(event, context)


# What init made is never garbage: later collections skip it.
gc.freeze()
gc.enable()
