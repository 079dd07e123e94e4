"""SweeperFunction: on a schedule, queues again the jobs whose message or worker was lost."""

from __future__ import annotations

# No collection until the imports are done (docs/adr/0033-cold-starts.md).
import gc

gc.disable()

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from common.adapters import aws
from common.adapters.observability import logger, metrics, tracer
from common.logic.sweeper import sweep, sweeper_from_settings
from common.models.pipeline_settings import get_sweeper_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    sweeper = sweeper_from_settings(get_sweeper_settings(), dynamodb=aws.dynamodb(), sqs=aws.sqs())
    return sweep(sweeper, time_left_ms=context.get_remaining_time_in_millis)


# What init made is never garbage: later collections skip it.
gc.freeze()
gc.enable()
