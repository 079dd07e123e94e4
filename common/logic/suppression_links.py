"""One-click unsubscribe (RFC 8058): the signed token, the URL, and the small page.

A token names a domain and a recipient and is signed with the unsubscribe key
(a Secrets Manager secret of its own, read at run time like the cursor key):
``<payload>.<signature>``, both base64url without padding; the payload is
``<domain>\\n<address, lower-case>``, the signature the first 16 bytes of
HMAC-SHA256 over a purpose label and the payload. The same domain and
recipient always give the same token, so a job's ``unsubscribe_url`` is
computed from the job, never stored, and the worker and ``GET /jobs/{job_id}``
agree on it. Any change to a token (or a token signed with another key) fails
the check: the routes answer 404, never saying why.

The token is opaque to its users (nothing reads it but this module) but not
secret from them: it carries the recipient's own address, which is in the
email it rides in anyway. Pure: no AWS here.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from common.logic.signing import Signer
from common.models.job import Job, JobType
from common.models.suppression import InvalidUnsubscribeRequest, UnsubscribeLinkNotFound

# The shortest key accepted: HMAC-SHA256 wants a key of some length.
MIN_UNSUBSCRIBE_KEY_CHARS = 16
_PURPOSE = b"email-operations/unsubscribe/v1\n"
_SIGNATURE_BYTES = 16
# A domain (253) and an address (320) with the separator, base64url: the longest token's payload.
MAX_TOKEN_CHARS = 800
UNSUBSCRIBE_PATH = "/unsubscribe/"
# RFC 8058: the body a mail client POSTs.
ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"


class UnsubscribeTokens:
    """Signs and checks unsubscribe tokens with one key."""

    def __init__(self, key: str) -> None:
        if len(key) < MIN_UNSUBSCRIBE_KEY_CHARS:
            raise ValueError(f"the unsubscribe key must have at least {MIN_UNSUBSCRIBE_KEY_CHARS} characters")
        self._signer = Signer(key, purpose=_PURPOSE, size=_SIGNATURE_BYTES)

    def token(self, domain: str, email: str) -> str:
        return self._signer.seal(f"{domain}\n{email.lower()}".encode())

    def read(self, token: str) -> tuple[str, str]:
        """``(domain, email)`` of a token this service signed; ``UnsubscribeLinkNotFound`` otherwise."""
        unknown = UnsubscribeLinkNotFound("no such unsubscribe link")
        if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
            raise unknown
        payload = self._signer.unseal(token)
        if payload is None:
            raise unknown
        try:
            domain, email = payload.decode().split("\n")
        except (UnicodeDecodeError, ValueError):
            raise unknown from None
        return domain, email


def unsubscribe_url(base_url: str, token: str) -> str:
    return base_url.rstrip("/") + UNSUBSCRIBE_PATH + token


class UnsubscribeLinks:
    """A job's one-click unsubscribe URL: ``manual`` jobs only (admins' bulk
    emails); ``None`` for the others. ``key`` is called when a URL is made (it
    reads the key: Secrets Manager, cached)."""

    def __init__(self, key: Callable[[], str], base_url: str) -> None:
        self._key = key
        self._base_url = base_url

    def url_for(self, job: Job) -> str | None:
        if job.type is not JobType.MANUAL:
            return None
        return unsubscribe_url(self._base_url, UnsubscribeTokens(self._key()).token(job.domain, job.recipient))


def request_base_url(event: Mapping[str, Any]) -> str:
    """The base URL an HTTP API request came in on: ``https://<domainName>`` (and
    its stage when not ``$default``), the scheme from ``X-Forwarded-Proto``."""
    context = event.get("requestContext") or {}
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    scheme = headers.get("x-forwarded-proto", "https").split(",")[0].strip() or "https"
    host = str(context.get("domainName") or headers.get("host") or "")
    stage = str(context.get("stage") or "$default")
    return f"{scheme}://{host}" + ("" if stage == "$default" else f"/{stage}")


def is_one_click(body: str, content_type: str) -> bool:
    """Whether a POST body says ``List-Unsubscribe=One-Click`` (RFC 8058), as a
    form (``application/x-www-form-urlencoded``, or none) or multipart form."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        return _multipart_one_click(body, content_type)
    if media_type not in ("", "application/x-www-form-urlencoded", "text/plain"):
        return False
    values = parse_qs(body.strip(), keep_blank_values=True)
    return ONE_CLICK_VALUE in values.get(ONE_CLICK_FIELD, [])


def _multipart_one_click(body: str, content_type: str) -> bool:
    parameters = [p.strip() for p in content_type.split(";")[1:]]
    boundary = next((p.split("=", 1)[1].strip('"') for p in parameters if p.startswith("boundary=")), "")
    if not boundary:
        return False
    for part in body.split("--" + boundary):
        head, _, value = part.partition("\r\n\r\n")
        if f'name="{ONE_CLICK_FIELD}"' in head and value.strip().rstrip("-").strip() == ONE_CLICK_VALUE:
            return True
    return False


def require_one_click(body: str, content_type: str) -> None:
    if not is_one_click(body, content_type):
        raise InvalidUnsubscribeRequest(f"send {ONE_CLICK_FIELD}={ONE_CLICK_VALUE} as a form to unsubscribe (RFC 8058)")


# ------------------------------------------------------------------ the page
# The page runs no script and loads nothing: its only style is inline, allowed by its hash.
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;"
    "line-height:1.5;color:#1a1a1a;background:#fff}"
    "button{font:inherit;padding:.5rem 1rem;border:2px solid #1a1a1a;border-radius:4px;"
    "background:#1a1a1a;color:#fff;cursor:pointer}"
    "button:focus{outline:3px solid #0b57d0;outline-offset:2px}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n<h1>{_escape(title)}</h1>\n{body}</main>\n</body>\n</html>\n"
    )


def confirm_page(domain: str) -> str:
    """What a GET shows: one button that makes the one-click POST to this same URL."""
    return _page(
        "Unsubscribe",
        f"<p>Stop receiving emails that {_escape(domain)} sends through this service?</p>\n"
        '<form method="post">\n'
        f'<input type="hidden" name="{ONE_CLICK_FIELD}" value="{ONE_CLICK_VALUE}">\n'
        '<button type="submit">Unsubscribe</button>\n</form>\n',
    )


def done_page(domain: str) -> str:
    return _page(
        "You are unsubscribed",
        f"<p>{_escape(domain)} will not send you these emails any more.</p>\n",
    )
