"""SweeperFunction: on a schedule, queues again the jobs whose message or worker was lost."""

from __future__ import annotations

# Garbage collection waits until the imports are done: they make objects that
# live as long as the execution environment, which a collection would only walk
# (docs/decisions.md, "Cold starts: no garbage collection during init").
import gc

gc.disable()

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from common.adapters import aws
from common.adapters.observability import logger, metrics, tracer
from common.logic.sweeper import sweep, sweeper_from_settings
from common.models.settings import get_sweeper_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    return sweep(sweeper_from_settings(get_sweeper_settings(), dynamodb=aws.dynamodb(), sqs=aws.sqs()))


# What the imports made stays out of every later collection (it is never garbage).
gc.freeze()
gc.enable()
