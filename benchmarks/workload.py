"""The emails the benchmarks send: ordinary ones, of a typical size."""

from __future__ import annotations

import random
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


_WORDS = [
    "account",
    "answer",
    "asked",
    "booking",
    "chat",
    "conversation",
    "customer",
    "delivery",
    "details",
    "email",
    "follow",
    "help",
    "hours",
    "invoice",
    "later",
    "link",
    "message",
    "month",
    "offer",
    "order",
    "page",
    "payment",
    "plan",
    "question",
    "reply",
    "request",
    "schedule",
    "service",
    "site",
    "summary",
    "support",
    "team",
    "thanks",
    "time",
    "today",
    "update",
    "visit",
    "visitor",
    "week",
    "welcome",
    "window",
    "wrote",
    "year",
    "you",
    "your",
    "we",
    "the",
    "a",
    "an",
    "and",
    "or",
    "of",
    "to",
    "in",
    "on",
    "for",
    "with",
    "at",
    "by",
    "from",
    "about",
    "as",
    "is",
    "are",
    "was",
    "be",
    "have",
    "has",
    "will",
    "can",
    "our",
    "this",
    "that",
]
TEXT_SEED = 20261201


def prose(chars: int, *, seed: int = TEXT_SEED) -> str:
    """``chars`` characters of plain text made of common words in a random order:
    it compresses about as ordinary writing does (a repeated paragraph would not)."""
    rng = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < chars:
        sentence = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 18))).capitalize() + ". "
        out.append(sentence)
        size += len(sentence)
    return "".join(out)[:chars]


def html(chars: int, *, seed: int = TEXT_SEED) -> str:
    """About ``chars`` characters of an HTML newsletter: paragraphs, links and headings around prose."""
    rng = random.Random(seed)
    parts = ['<!doctype html><html><body style="font-family:Arial,sans-serif">']
    size = len(parts[0])
    n = 0
    while size < chars - 20:
        n += 1
        text = prose(rng.randint(200, 600), seed=seed + n)
        block = (
            f'<h2 style="color:#223344">Section {n}</h2><p style="margin:0 0 12px">{text}</p>'
            f'<p><a href="https://acme.com/news/{n}?utm_source=email">Read more</a></p>'
        )
        parts.append(block)
        size += len(block)
    parts.append("</body></html>")
    return "".join(parts)[: max(chars - 14, 0)] + "</body></html>"
