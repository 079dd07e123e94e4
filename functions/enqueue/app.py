"""EnqueueFunction: Privas services invoke it with one email request or ``{"jobs": [...]}``."""

from __future__ import annotations

# No collection until the imports are done (docs/adr/0033-cold-starts.md).
import gc

gc.disable()

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from common.adapters import aws
from common.adapters.observability import logger, metrics, tracer
from common.logic.enqueue import Enqueuer, handle_invocation
from common.models.pipeline_settings import get_enqueue_settings


@logger.inject_lambda_context(log_event=False)  # the event holds email bodies and addresses
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    enqueuer = Enqueuer.from_settings(get_enqueue_settings(), dynamodb=aws.dynamodb(), sqs=aws.sqs(), s3=aws.s3())
    return handle_invocation(event, enqueuer)


# What init made is never garbage: later collections skip it.
gc.freeze()
gc.enable()
