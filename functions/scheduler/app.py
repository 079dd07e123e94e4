"""SchedulerFunction: once a minute, makes scheduled jobs ``queued`` at their ``send_at`` and queues them."""

from __future__ import annotations

# No collection until the imports are done (docs/adr/0033-cold-starts.md).
import gc

gc.disable()

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from common.adapters import aws
from common.adapters.observability import logger, metrics, tracer
from common.logic.scheduler import schedule, scheduler_from_settings
from common.models.pipeline_settings import get_scheduler_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    scheduler = scheduler_from_settings(get_scheduler_settings(), dynamodb=aws.dynamodb(), sqs=aws.sqs())
    return schedule(scheduler, time_left_ms=context.get_remaining_time_in_millis)


# What init made is never garbage: later collections skip it.
gc.freeze()
gc.enable()
