"""The audit trail (docs/api.md, ``GET /audit``): one entry per admin action
that changed something in a domain, and per one-click unsubscribe. Entries
are written by the action's own request, in the same write where the action
is one write (docs/adr/0082-audit-trail.md)."""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from common.models.job import Domain, Timestamp
from common.models.paging import MAX_CURSOR_CHARS, MAX_PAGE_SIZE

# The actor of a one-click unsubscribe: a recipient, who has no JWT.
RECIPIENT_ACTOR = "recipient"
DEFAULT_AUDIT_PAGE_SIZE = 50
MAX_AUDIT_DETAIL_CHARS = 500


class AuditAction(StrEnum):
    BULK_SEND = "bulk_send"
    BULK_CANCEL = "bulk_cancel"
    JOB_CANCEL = "job_cancel"
    JOB_RETRY = "job_retry"
    TEST_SEND = "test_send"
    SUPPRESSION_ADD = "suppression_add"
    SUPPRESSION_REMOVE = "suppression_remove"
    UNSUBSCRIBE = "unsubscribe"


class AuditEntry(BaseModel):
    """One entry as ``GET /audit`` answers it."""

    model_config = ConfigDict(defer_build=True)

    at: Timestamp
    actor: str = Field(description="the JWT sub of the admin; recipient for a one-click unsubscribe")
    action: AuditAction
    target: str = Field(
        description="the bulk id (bulk_send, bulk_cancel), the job id (job_cancel, job_retry: the old job; "
        "test_send: the new job) or the address (suppressions, unsubscribe)"
    )
    detail: str = Field(max_length=MAX_AUDIT_DETAIL_CHARS, description="a sentence for a person")


class AuditQuery(BaseModel):
    model_config = ConfigDict(defer_build=True)

    domain: Domain = Field(description="one of your domains")
    limit: int = Field(default=DEFAULT_AUDIT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(
        default=None, min_length=1, max_length=MAX_CURSOR_CHARS, description="next_cursor of the previous page"
    )


class AuditPage(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[AuditEntry]
    next_cursor: str | None = Field(description="null on the last page")
