"""SendWorkerFunction: SQS batches from the priority and bulk queues (partial batch response)."""

from __future__ import annotations

# No collection until the imports are done (docs/adr/0033-cold-starts.md).
import gc

gc.disable()

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from common.adapters import aws
from common.adapters.bodies import BodyCache
from common.adapters.observability import logger, metrics, tracer
from common.adapters.tenants import Tenants
from common.logic.pacing import Pacer
from common.logic.sending import pacer_from_settings, process_batch, worker_from_settings
from common.models.worker_settings import get_worker_settings


@cache
def pacer() -> Pacer:
    """This execution environment's share of the account's SES send rate (read
    from SES, adapted to the busy workers), kept across invocations."""
    return pacer_from_settings(get_worker_settings(), aws.sesv2())


@cache
def body_cache() -> BodyCache:
    """Bodies read by this execution environment, kept across invocations (bounded)."""
    return BodyCache()


@cache
def tenants() -> Tenants | None:
    """With the SesTenants option: the domains' SES tenants this execution environment has made."""
    settings = get_worker_settings()
    if settings.ses_tenants != "Yes" or not settings.ses_identity_arn or not settings.configuration_set_arn:
        return None
    return Tenants(
        aws.sesv2(), identity_arn=settings.ses_identity_arn, configuration_set_arn=settings.configuration_set_arn
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    worker = worker_from_settings(
        get_worker_settings(),
        dynamodb=aws.dynamodb(),
        sqs=aws.sqs(),
        sesv2=aws.sesv2(),
        s3=aws.s3(),
        events=aws.events,
        pacer=pacer(),
        cache=body_cache(),
        tenants=tenants(),
    )
    return dict(process_batch(event, worker, context))


# What init made is never garbage: later collections skip it.
gc.freeze()
gc.enable()
