"""The admin HTTP API's edge: who calls, the errors it answers with (their
bodies and their classes), the API's limits, and a row of the log (docs/api.md).

What each route family takes and answers is in a module of its own, built
only by the function that serves it
(docs/adr/0033-cold-starts.md): ``common.models.listing`` (the log),
``common.models.bulk_send`` (bulk sends) and ``common.models.actions``
(cancel and retry).

The two limits the contract answers with 413 rather than 400 (a body, a
recipient list over its limit) raise pydantic errors of their own types,
``body_too_large`` and ``too_many_recipients``, so the one error mapping in
``common.adapters.api`` can tell them apart without reading any message text.
"""

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from common.models.errors import EmailOpsError
from common.models.job import (
    JobStatus,
    JobType,
    Timestamp,
)

# ------------------------------------------------------------------ limits
MAX_RECIPIENTS = 1_000
# Selected rows: several rows may name one recipient (a visitor emailed more
# than once), and the recipient limit counts after de-duplication, so more rows
# than recipients may be selected. 5,000 rows are 50 BatchGetItem calls of 100 keys.
MAX_BULK_JOB_IDS = 5_000
MAX_JOB_ID_CHARS = 64
# 1,000 addresses of the longest kind (320 characters) with a separator each,
# rounded down: a longer list cannot be a list of 1,000 recipients worth sending.
MAX_EXTRA_RECIPIENTS_CHARS = 200_000
# A request body is one JSON object; this API's deepest is two levels (an object
# holding a list), so anything far deeper is refused before it is looked at.
MAX_BODY_DEPTH = 32

BODY_TOO_LARGE = "body_too_large"
TOO_MANY_RECIPIENTS = "too_many_recipients"


# ------------------------------------------------------------------ errors
class Unauthenticated(EmailOpsError):
    """No verified token reached the function (the authorizer normally stops these)."""

    code = "unauthorized"


class Forbidden(EmailOpsError):
    """The domain named is not among the caller's domains, or the token lists none."""

    code = "forbidden"


class MalformedBody(EmailOpsError):
    """A request body that is not one JSON object in UTF-8: refused whole, never guessed at."""

    code = "invalid_request"


class RepeatedQueryParameter(EmailOpsError):
    """A query parameter given more than once (``?status=a&status=b``): no route takes
    one, and answering for one of the values would hide the others."""

    code = "invalid_request"


class NoRecipients(EmailOpsError):
    """A bulk send left without one valid recipient."""

    code = "no_recipients"


class TooManyRecipients(EmailOpsError):
    """More recipients than one bulk send may have."""

    code = TOO_MANY_RECIPIENTS


class DomainPaused(EmailOpsError):
    """The domain's recent bounce or complaint rate passed the service's
    thresholds: its bulk sends are held (409); the message says the rate and
    how to resume (``common.logic.reputation``)."""

    code = "domain_paused"

    def __init__(self, message: str, *, reputation: Any = None) -> None:
        super().__init__(message)
        self.reputation = reputation


class BulkKeyReused(EmailOpsError):
    """A bulk send's ``Idempotency-Key`` already stands for a different request:
    the same refusal (409 ``idempotency_key_reused``) as Powertools' own check."""

    code = "idempotency_key_reused"


class UnfinishedBulkSend(EmailOpsError):
    """Storage failed part-way through a bulk send (500): says how many of its
    emails are queued and how to queue the rest. Never names a recipient."""

    code = "bulk_send_unfinished"

    def __init__(self, *, bulk_id: str | None, queued: int | None, total: int, keyed: bool) -> None:
        self.bulk_id = bulk_id
        self.queued = queued
        self.total = total
        which = f"bulk send {bulk_id}" if bulk_id else "this bulk send"
        if queued is None:
            done = f"Storage failed before it could be told how many of the {total} emails of {which} are queued."
        else:
            done = f"{queued} of the {total} emails of {which} are queued; storage failed before the rest."
        if keyed:
            then = (
                "To queue the rest, send the same request again with the same Idempotency-Key: "
                "no recipient is queued twice."
            )
        else:
            then = (
                f"Sending the same request again would queue all {total} again; "
                "with an Idempotency-Key, a retry queues only the rest."
            )
        super().__init__(f"{done} {then}")


# ------------------------------------------------------------------ caller
class Caller(BaseModel):
    """Who calls, from the verified JWT: its subject and the domains it may act on."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    subject: str
    domains: frozenset[str] = frozenset()
    every_domain: bool = False

    def may_see(self, domain: str) -> bool:
        return self.every_domain or domain in self.domains

    def require(self, domain: str) -> None:
        if not self.may_see(domain):
            raise Forbidden(f"{domain} is not among your domains")

    @property
    def identity(self) -> str:
        """What makes two requests "from the same caller" (idempotency keys are per caller)."""
        return self.subject or "domains:" + ("*" if self.every_domain else " ".join(sorted(self.domains)))


# ------------------------------------------------------------------ errors out
class ErrorDetail(BaseModel):
    model_config = ConfigDict(defer_build=True)

    code: str = Field(description="snake_case, stable: what went wrong")
    message: str = Field(description="for a person")


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer has this body."""

    model_config = ConfigDict(defer_build=True)

    error: ErrorDetail


# ------------------------------------------------------------------ GET /jobs
class JobSummary(BaseModel):
    """A row of the log (docs/api.md)."""

    model_config = ConfigDict(defer_build=True)

    job_id: str
    created_at: Timestamp
    domain: str
    type: JobType
    recipient: str
    subject: str
    status: JobStatus
    attempts: int
    sent_at: Timestamp | None = None
    error: str | None = None
    bulk_id: str | None = None
    send_at: Timestamp | None = Field(
        default=None, description="when a scheduled job is (or was) due; null: sent as soon as possible"
    )


# ------------------------------------------------------------------ GET /bulks/{bulk_id}
class BulkNotFound(EmailOpsError):
    """No such bulk send, or one of a domain the caller may not see (the same 404)."""

    code = "not_found"


# ------------------------------------------------------------------ cancel and retry (v2)
class NotCancelable(EmailOpsError):
    """Only a job still ``queued`` or ``retrying`` can be canceled (409)."""

    code = "not_cancelable"


class NotRetryable(EmailOpsError):
    """Only a job ``failed``, ``bounced`` or ``canceled`` can be sent again (409)."""

    code = "not_retryable"


class RecipientSuppressed(EmailOpsError):
    """The job's recipient is on its domain's suppression list now (409): never named in the message."""

    code = "suppressed"


class BulkCancelUnfinished(EmailOpsError):
    """A bulk cancel that ran out of time part-way (503): says how many were
    canceled and that calling again cancels the rest (it is safe to repeat)."""

    code = "cancel_unfinished"

    def __init__(self, *, bulk_id: str, canceled: int) -> None:
        self.canceled = canceled
        super().__init__(
            f"{canceled} jobs of bulk send {bulk_id} were canceled before this request ran out of time; "
            "send the same request again to cancel the rest (jobs already canceled are not counted twice)"
        )
