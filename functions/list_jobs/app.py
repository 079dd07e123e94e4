"""ListJobsFunction: GET /jobs (the log), GET /jobs/{job_id} (one job with its body),
GET /bulks (a domain's bulk sends), GET /bulks/{bulk_id} (a bulk send's progress),
GET /domains/{domain}/health (why bulk sends may be held) and GET /audit (who did what)."""

from __future__ import annotations

# No collection until the imports are done (docs/adr/0033-cold-starts.md).
import gc

gc.disable()

# Powertools' packages load only the resolver and classes this function uses
# (docs/adr/0033-cold-starts.md).
from common.adapters.deferred_imports import defer_powertools_packages

defer_powertools_packages()

from typing import Annotated, Any, TypeVar
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from common.adapters import aws
from common.adapters.api import api_resolver, caller_dependency, documented
from common.adapters.audit_trail import AuditTrail
from common.adapters.bodies import BodyStore
from common.adapters.bulks import Bulks
from common.adapters.dynamo import TableAdapter
from common.adapters.job_indexes import JobIndexes
from common.adapters.job_store import JobStore
from common.adapters.observability import logger, metrics, tracer
from common.adapters.secrets import read_secret
from common.logic.audit import AUDIT_CURSOR_PURPOSE, list_audit
from common.logic.bulk_list import BULKS_CURSOR_PURPOSE, list_bulks
from common.logic.health import domain_health
from common.logic.listing import CursorCodec, bulk_progress, job_detail, list_jobs
from common.logic.record_cursors import RecordCursors
from common.logic.reputation import ReputationCheck, thresholds_of
from common.logic.signing import MIN_CURSOR_KEY_CHARS
from common.logic.suppression_links import MIN_UNSUBSCRIBE_KEY_CHARS, UnsubscribeLinks, request_base_url
from common.models.api import Caller
from common.models.audit import AuditPage, AuditQuery
from common.models.health import DomainHealth
from common.models.listing import (
    BulkProgress,
    BulksPage,
    JobDetail,
    JobsPage,
    ListBulksQuery,
    ListJobsQuery,
    get_list_jobs_settings,
)

app = api_resolver()
current_caller = caller_dependency(get_list_jobs_settings)


Adapter = TypeVar("Adapter", bound=TableAdapter)


def _table(adapter: type[Adapter]) -> Adapter:
    """One of the jobs table's adapters (the log's index reads, its jobs, its bulks)."""
    settings = get_list_jobs_settings()
    return adapter(aws.dynamodb(), settings.jobs_table, retention_days=settings.retention_days)


def _bodies() -> BodyStore:
    settings = get_list_jobs_settings()
    return BodyStore(aws.dynamodb(), settings.jobs_table, aws.s3(), settings.bodies_bucket)


def _cursor_key() -> str:
    settings = get_list_jobs_settings()
    return read_secret(
        settings.cursor_secret_id, max_age=settings.secrets_max_age_seconds, min_length=MIN_CURSOR_KEY_CHARS
    )


def _cursors() -> CursorCodec:
    return CursorCodec(_cursor_key())


def _bulk_cursors() -> RecordCursors:
    return RecordCursors(_cursor_key(), purpose=BULKS_CURSOR_PURPOSE)


def _audit_cursors() -> RecordCursors:
    return RecordCursors(_cursor_key(), purpose=AUDIT_CURSOR_PURPOSE)


def _links() -> UnsubscribeLinks:
    """Manual jobs' unsubscribe URLs, under the API's base URL (in AWS: the one
    this request came in on; the function cannot reference its own API)."""
    settings = get_list_jobs_settings()

    def key() -> str:
        return read_secret(
            settings.unsubscribe_secret_id,
            max_age=settings.secrets_max_age_seconds,
            min_length=MIN_UNSUBSCRIBE_KEY_CHARS,
        )

    return UnsubscribeLinks(key, settings.api_base_url or request_base_url(app.current_event.raw_event))


LIST_RESPONSES = documented(
    200,
    "a page of the log, newest first",
    {
        400: "invalid_request (an unknown status or type, a limit out of 1-100, a recipient that is not an "
        "address, a bulk_id that is not a ULID, a created bound that is not RFC 3339 with a zone), "
        "invalid_cursor (altered, of another query, or of an older version)"
    },
)
DETAIL_RESPONSES = documented(
    200,
    "the job with its body and attempt log, and a manual job's unsubscribe_url",
    {404: "not_found: no such job, or one of another domain"},
)
BULK_RESPONSES = documented(
    200,
    "the bulk send with its jobs counted by status (every status, summing to total)",
    {404: "not_found: no such bulk send, or one of another domain"},
)


BULKS_RESPONSES = documented(
    200,
    "a page of the domain's bulk sends, newest first, each as GET /bulks/{bulk_id} answers it",
    {
        400: "invalid_request (domain missing or not a host name, a limit out of 1-100), "
        "invalid_cursor (altered, or of another domain's list)"
    },
)
HEALTH_RESPONSES = documented(
    200,
    "the domain's jobs sent in the last 24 hours, its bounce and complaint rates beside the pause thresholds, "
    "and whether POST /jobs/bulk would answer 409 domain_paused now (with the same message)",
    {400: "invalid_request: the domain is not a host name"},
)
AUDIT_RESPONSES = documented(
    200,
    "a page of the domain's audit trail, newest first",
    {
        400: "invalid_request (domain missing or not a host name, a limit out of 1-100), "
        "invalid_cursor (altered, or of another domain's trail)"
    },
)


# A page stops reading with this much of the function's time left (its budget
# of reads is the usual bound; this one holds when the store is slow).
PAGE_TIME_LEFT_MS = 10_000


def _out_of_time() -> bool:
    return bool(app.lambda_context.get_remaining_time_in_millis() < PAGE_TIME_LEFT_MS)


@app.get("/jobs", summary="The log", responses=LIST_RESPONSES)
def get_jobs(query: Annotated[ListJobsQuery, Query()], caller: Annotated[Caller, Depends(current_caller)]) -> JobsPage:
    return list_jobs(
        query,
        caller,
        indexes=_table(JobIndexes),
        jobs=_table(JobStore),
        bulks=_table(Bulks),
        cursors=_cursors(),
        out_of_time=_out_of_time,
    )


@app.get("/jobs/<job_id>", summary="One job with its body", responses=DETAIL_RESPONSES)
def get_job(job_id: str, caller: Annotated[Caller, Depends(current_caller)]) -> JobDetail:
    return job_detail(job_id, caller, jobs=_table(JobStore), bodies=_bodies(), unsubscribe_url=_links().url_for)


@app.get("/bulks/<bulk_id>", summary="A bulk send's progress", responses=BULK_RESPONSES)
def get_bulk(bulk_id: str, caller: Annotated[Caller, Depends(current_caller)]) -> BulkProgress:
    return bulk_progress(bulk_id, caller, indexes=_table(JobIndexes), bulks=_table(Bulks))


@app.get("/bulks", summary="A domain's bulk sends", responses=BULKS_RESPONSES)
def get_bulks(
    query: Annotated[ListBulksQuery, Query()], caller: Annotated[Caller, Depends(current_caller)]
) -> BulksPage:
    return list_bulks(query, caller, bulks=_table(Bulks), indexes=_table(JobIndexes), cursors=_bulk_cursors)


@app.get("/domains/<domain>/health", summary="Why bulk sends may be held", responses=HEALTH_RESPONSES)
def get_domain_health(domain: str, caller: Annotated[Caller, Depends(current_caller)]) -> DomainHealth:
    check = ReputationCheck(_table(JobIndexes), thresholds_of(get_list_jobs_settings()), jobs=_table(JobStore))
    return domain_health(unquote(domain), caller, check=check)


@app.get("/audit", summary="Who did what", responses=AUDIT_RESPONSES)
def get_audit(query: Annotated[AuditQuery, Query()], caller: Annotated[Caller, Depends(current_caller)]) -> AuditPage:
    return list_audit(query, caller, trail=_table(AuditTrail), cursors=_audit_cursors)


@logger.inject_lambda_context(log_event=False)  # the event carries the caller's token
@tracer.capture_lambda_handler(capture_response=False)  # responses carry email bodies
@metrics.log_metrics  # ApiServerErrors, when an answer is a 5xx (common.adapters.api)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


# What init made is never garbage: later collections skip it.
gc.freeze()
gc.enable()
