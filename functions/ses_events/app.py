"""SesEventsFunction: SQS batches of SES's events from EventBridge (partial batch response)."""

from __future__ import annotations

# No collection until the imports are done (docs/adr/0033-cold-starts.md).
import gc

gc.disable()

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from common.adapters import aws
from common.adapters.observability import logger, metrics, tracer
from common.adapters.ses_event_writes import SesEventWrites
from common.adapters.suppressions import SuppressionStore
from common.logic.changes import changes_for
from common.logic.events import process_batch
from common.models.pipeline_settings import get_ses_events_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_ses_events_settings()
    writes = SesEventWrites(aws.dynamodb(), settings.jobs_table, retention_days=settings.retention_days)
    changes = changes_for(
        aws.dynamodb(),
        settings.jobs_table,
        retention_days=settings.retention_days,
        bus=settings.status_event_bus,
        events=aws.events,
    )
    suppressions = SuppressionStore(aws.dynamodb(), settings.jobs_table)
    return dict(process_batch(event, writes, suppressions, changes=changes))


# What init made is never garbage: later collections skip it.
gc.freeze()
gc.enable()
