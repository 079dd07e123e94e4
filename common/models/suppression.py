"""Suppression lists and one-click unsubscribe: their contract shapes and errors (docs/api.md).

A domain's suppression list holds the addresses its emails are never sent
to. An entry is keyed by domain and address; addresses compare
case-insensitively, so the stored ``email`` is lower-case.
"""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from common.models.errors import EmailOpsError
from common.models.job import Timestamp


class SuppressionReason(StrEnum):
    BOUNCED = "bounced"  # a permanent bounce (SES event)
    COMPLAINED = "complained"  # the recipient marked an email as spam (SES event)
    UNSUBSCRIBED = "unsubscribed"  # one-click unsubscribe
    MANUAL = "manual"  # added by an admin


# How each reason reads in a sentence: "<address> <what> on <date>".
REASON_WORDS: dict[SuppressionReason, str] = {
    SuppressionReason.BOUNCED: "bounced",
    SuppressionReason.COMPLAINED: "marked an email as spam",
    SuppressionReason.UNSUBSCRIBED: "unsubscribed",
    SuppressionReason.MANUAL: "was added by an admin",
}


class SuppressionEntry(BaseModel):
    """One address on one domain's list."""

    model_config = ConfigDict(defer_build=True)

    domain: str
    email: str = Field(description="lower-case")
    reason: SuppressionReason
    created_at: Timestamp
    job_id: str | None = Field(default=None, description="the job whose event put it there, or null")


class SuppressionNotFound(EmailOpsError):
    """The address is not on that domain's list."""

    code = "not_found"


class UnsubscribeLinkNotFound(EmailOpsError):
    """An unsubscribe token altered, forged, or unknown: the same 404 whatever is wrong with it."""

    code = "not_found"


class InvalidAddress(EmailOpsError):
    """An address in a path that is not one (400)."""

    code = "invalid_request"


class InvalidUnsubscribeRequest(EmailOpsError):
    """A one-click unsubscribe POST without ``List-Unsubscribe=One-Click`` (400)."""

    code = "invalid_request"
