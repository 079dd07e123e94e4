"""JobActionsFunction: POST /jobs/{job_id}/cancel, POST /bulks/{bulk_id}/cancel and
POST /jobs/{job_id}/retry (cancel and retry); and, from the actions queue, the
rest of a bulk cancel that one request handed on."""

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
from common.logic.actions import JobActions, finish_bulk_cancels
from common.models.actions import CancelResult, RetryResult, get_job_actions_settings
from common.models.api import Caller, JobSummary
from common.models.job import IdempotencyKey

app = api_resolver()
current_caller = caller_dependency(get_job_actions_settings)

NOT_FOUND = "not_found: no such job, or one of another domain"
CANCEL_RESPONSES = documented(
    200,
    "the job, now canceled: it will never be sent",
    {404: NOT_FOUND, 409: "not_cancelable: the job is not scheduled, queued or retrying (a job sending finishes)"},
)
BULK_CANCEL_RESPONSES = documented(
    200,
    "every job of the bulk send still scheduled, queued or retrying is canceled; canceled counts those this request "
    "canceled. With pending, the request handed the rest on: those are canceled in the background, within seconds",
    {
        404: "not_found: no such bulk send, or one of another domain",
        503: "cancel_unfinished: the request ran out of time part-way; the message says how many were "
        "canceled, and the same request again cancels the rest",
    },
)
RETRY_RESPONSES = documented(
    202,
    "a new job sending the same email, queued; its retry_of is the job retried, which is unchanged",
    {
        400: "invalid_request: a bad Idempotency-Key header",
        404: NOT_FOUND,
        409: "not_retryable: the job is not failed, bounced or canceled (or its body is no longer kept); "
        "suppressed: its recipient is now on the domain's suppression list; "
        "idempotency_key_reused: the Idempotency-Key stands for another request of the domain",
    },
)


def _actions() -> JobActions:
    # S3 only for a retry of a large body: its client is made on that first use.
    return JobActions.from_settings(get_job_actions_settings(), dynamodb=aws.dynamodb(), sqs=aws.sqs(), s3=aws.s3)


@app.post("/jobs/<job_id>/cancel", summary="Cancel a job", responses=CANCEL_RESPONSES)
def cancel_job(job_id: str, caller: Annotated[Caller, Depends(current_caller)]) -> JobSummary:
    return _actions().cancel(job_id, caller)


@app.post("/bulks/<bulk_id>/cancel", summary="Cancel a bulk send's unsent jobs", responses=BULK_CANCEL_RESPONSES)
def cancel_bulk(bulk_id: str, caller: Annotated[Caller, Depends(current_caller)]) -> CancelResult:
    return _actions().cancel_bulk(bulk_id, caller, time_left_ms=app.lambda_context.get_remaining_time_in_millis)


@app.post("/jobs/<job_id>/retry", status_code=202, summary="Send a job again", responses=RETRY_RESPONSES)
def retry_job(
    job_id: str,
    caller: Annotated[Caller, Depends(current_caller)],
    idempotency_key: Annotated[IdempotencyKey | None, Header(alias=IDEMPOTENCY_HEADER)] = None,
) -> RetryResult:
    return _actions().retry(job_id, caller, idempotency_key=idempotency_key)


@logger.inject_lambda_context(log_event=False)  # the event carries the caller's token
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:  # the actions queue
        return dict(finish_bulk_cancels(event, _actions(), context))
    return app.resolve(event, context)


# What init made is never garbage: later collections skip it.
gc.freeze()
gc.enable()
