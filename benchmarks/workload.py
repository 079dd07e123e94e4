"""The emails the benchmarks send: ordinary ones, of a typical size."""

from __future__ import annotations

from typing import Any

DOMAIN = "acme.com"
# A follow-up of ordinary length: 1,500 characters of plain text.
_PARAGRAPH = (
    "Thank you for chatting with Acme today. Here is a summary of the conversation, the answers we gave "
    "and the links we shared, so that you can come back to them whenever you need them. "
)
BODY_TEXT = (_PARAGRAPH * 10)[:1500]
SUBJECT = "Your conversation with Acme, summarised"


def system_email(
    index: int, *, kind: str = "ai_followup", domain: str = DOMAIN, key: str | None = None
) -> dict[str, Any]:
    """One request to EnqueueFunction."""
    request: dict[str, Any] = {
        "type": kind,
        "domain": domain,
        "to": f"visitor{index}@example.org",
        "subject": SUBJECT,
        "body_text": BODY_TEXT,
    }
    if key is not None:
        request["idempotency_key"] = key
    return request


def addresses(count: int, *, tag: str) -> list[str]:
    return [f"{tag}.{i}@example.net" for i in range(count)]


def bulk_request(domain: str, typed: list[str], job_ids: list[str] | None = None) -> dict[str, Any]:
    """The body of POST /jobs/bulk."""
    body: dict[str, Any] = {
        "domain": domain,
        "extra_recipients": "\n".join(typed),
        "subject": "Our summer opening hours",
        "body": BODY_TEXT,
    }
    if job_ids:
        body["job_ids"] = job_ids
    return body
