"""What a Privas service sends to enqueue emails (docs/api.md, "Enqueue"): one
request, or a batch of up to ``MAX_JOBS_PER_ENQUEUE``.

Apart from the job (``common.models.job``): only the functions that take
requests (enqueue) build these models, not those that send or sweep
(docs/adr/0033-cold-starts.md).
"""

import hashlib
import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from common.models.job import (
    BODIES_TOO_LARGE,
    BODY_MISSING,
    DERIVED_TEXT_RESERVE_BYTES,
    MAX_BODIES_BYTES,
    MAX_JOBS_PER_ENQUEUE,
    BodyHtml,
    BodyText,
    Domain,
    EmailAddress,
    IdempotencyKey,
    JobType,
    SendAt,
    Subject,
    bodies_size,
)

# A batch, written as json.dumps writes it, takes at most this many bytes: under
# the 6 MB (6,291,456 bytes) a synchronous Lambda invocation carries, so every
# valid batch can be sent, however its caller writes it (docs/api.md, "How large
# a batch may be").
MAX_ENQUEUE_PAYLOAD_BYTES = 6_000_000
PAYLOAD_TOO_LARGE = "payload_too_large"  # validation error type of that check


class EmailRequest(BaseModel):
    """One email a Privas service asks to send (docs/api.md).

    ``body_text``, ``body_html`` or both; without ``body_text`` the job's text
    is made from the HTML when it is enqueued (``common.logic.plaintext``).
    """

    model_config = ConfigDict(defer_build=True, extra="forbid")

    type: JobType
    domain: Domain
    to: EmailAddress
    subject: Subject
    body_text: BodyText | None = None
    body_html: BodyHtml | None = None
    reply_to: EmailAddress | None = None
    idempotency_key: IdempotencyKey | None = None
    send_at: SendAt | None = None

    @model_validator(mode="after")
    def _has_a_body_that_fits_one_item(self) -> "EmailRequest":
        # Their own error types, so callers can name the fields they are about.
        if self.body_text is None:
            if self.body_html is None:
                raise PydanticCustomError(BODY_MISSING, "is required unless body_html is given")
            limit = MAX_BODIES_BYTES - DERIVED_TEXT_RESERVE_BYTES
            if bodies_size("", self.body_html) > limit:
                raise PydanticCustomError(
                    BODIES_TOO_LARGE,
                    "body_html without body_text must not exceed {limit} bytes (UTF-8): "
                    "the plain-text version made from it needs the rest of {total}",
                    {"limit": limit, "total": MAX_BODIES_BYTES, "field": "body_html"},
                )
        elif bodies_size(self.body_text, self.body_html) > MAX_BODIES_BYTES:
            raise PydanticCustomError(
                BODIES_TOO_LARGE,
                "body_text and body_html together must not exceed {limit} bytes (UTF-8)",
                {"limit": MAX_BODIES_BYTES, "field": "body_text"},
            )
        return self

    def fingerprint(self) -> str:
        """What makes two requests with one idempotency key the same request:
        a SHA-256 of type, recipient, subject, bodies and reply-to, in their
        normal forms, addresses compared case-insensitively as everywhere in
        this service (never the bodies themselves)."""
        reply_to = self.reply_to.lower() if self.reply_to else None
        parts = [self.type.value, self.to.lower(), self.subject, self.body_text, self.body_html, reply_to]
        canonical = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
        return "v1:" + hashlib.sha256(canonical.encode()).hexdigest()


class EnqueueBatch(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    jobs: Annotated[list[EmailRequest], Field(min_length=1, max_length=MAX_JOBS_PER_ENQUEUE)]

    @model_validator(mode="before")
    @classmethod
    def _fits_one_invocation(cls, data: Any) -> Any:
        """Refuse a batch larger than ``MAX_ENQUEUE_PAYLOAD_BYTES`` written as
        ``json.dumps`` writes it, whatever encoding it came in: then every valid
        batch fits a synchronous Lambda invocation (6 MB) however a caller writes it."""
        if isinstance(data, dict):
            size = payload_size(data)
            if size > MAX_ENQUEUE_PAYLOAD_BYTES:
                raise PydanticCustomError(
                    PAYLOAD_TOO_LARGE,
                    "the batch takes {size} bytes as JSON (as json.dumps writes it, non-ASCII characters as "
                    "\\uXXXX escapes); at most {limit} bytes fit one call, under Lambda's 6 MB invocation "
                    "payload: send fewer requests per call",
                    {"size": size, "limit": MAX_ENQUEUE_PAYLOAD_BYTES},
                )
        return data


def payload_size(payload: Any) -> int:
    """``payload``'s bytes as Python's ``json.dumps`` writes it by default
    (``\\uXXXX`` escapes for non-ASCII, ``", "`` and ``": "`` separators): at
    least what any compact JSON encoder writes for the same values."""
    return len(json.dumps(payload, default=str))
