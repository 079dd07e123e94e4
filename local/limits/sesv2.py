"""SES v2's rules, in the embedded SES (moto 5.2.5), and the account's quota as
SES reports it.

moto's ``SendEmail`` ignores an email's tags and custom headers and never
measures it. Here, before moto sends anything, a ``SendEmail`` is refused with
``BadRequestException`` (400) when:

- a message tag's name or value holds anything but ASCII letters, digits,
  ``_`` and ``-``, or more than 256 characters (the name at least one): the
  SES v2 API reference, ``MessageTag``. SES's own error text, as seen from
  AWS, also lets ``.`` and ``@`` through in values; the documented rule is
  the one enforced, so nothing rests on the undocumented one;
- a custom header (``Content.Simple.Headers`` or ``Content.Template.Headers``)
  breaks the API reference's ``MessageHeader`` rules (a name of 1 to 126
  printable ASCII characters without ``:``, a value of 1 to 995 printable
  ASCII characters, name and value together at most 996, at most 15 headers),
  is one SES sets itself (``BCC``, ``CC``, ``Content-Disposition``,
  ``Content-Type``, ``Date``, ``From``, ``Message-ID``, ``MIME-Version``,
  ``Reply-To``, ``Return-Path``, ``Subject``, ``To``), or repeats a header
  that may appear only once (both: the SES developer guide, "Amazon SES header
  fields");
- the message is larger than 40 MB after base64 encoding (SES developer guide,
  "Service quotas in Amazon SES", SES API v2), the parts of a simple message
  each counted base64-encoded.

``GetAccount`` (moto has none) answers the embedded SES's quota: ``MaxSendRate``
the rate the local stack throttles at (``EMAILOPS_SES_MAX_SEND_RATE``,
``local.ses``), ``Max24HourSend`` -1 (no daily quota here: SES's "unlimited"),
``SentLast24Hours`` the recipients of the sends it accepted in the past 24
hours. SES v1's ``GetSendQuota`` answers the same figures.
"""

from __future__ import annotations

import base64
import binascii
import functools
import importlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

MAX_TAG_CHARS = 256
MAX_HEADERS = 15
MAX_HEADER_NAME_CHARS = 126
MAX_HEADER_VALUE_CHARS = 995
MAX_HEADER_CHARS = 996
MAX_MESSAGE_BYTES = 40 * 1024 * 1024  # 40 MB, in SES's reckoning (its v1 limit of 10 MB was 10,485,760 bytes)
_TAG = re.compile(r"^[A-Za-z0-9_-]*$")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # printable ASCII (33-126) without ':'
_HEADER_VALUE = re.compile(r"^[ -~]+$")
# Set by SES itself: never a custom header of SendEmail's Simple or Template content.
SES_HEADERS = frozenset(
    h.lower()
    for h in (
        "BCC",
        "CC",
        "Content-Disposition",
        "Content-Type",
        "Date",
        "From",
        "Message-ID",
        "MIME-Version",
        "Reply-To",
        "Return-Path",
        "Subject",
        "To",
    )
)
# "The following fields can't appear more than once in the header section of a message."
ONCE_ONLY_HEADERS = frozenset(
    h.lower()
    for h in (
        "Accept-Language",
        "acceptLanguage",
        "Archived-At",
        "Auto-Submitted",
        "Bounces-to",
        "Comments",
        "Content-Alternative",
        "Content-Base",
        "Content-Class",
        "Content-Description",
        "Content-Disposition",
        "Content-Duration",
        "Content-ID",
        "Content-Language",
        "Content-Length",
        "Content-Location",
        "Content-MD5",
        "Content-Transfer-Encoding",
        "Content-Type",
        "Date",
        "Delivered-To",
        "Disposition-Notification-Options",
        "Disposition-Notification-To",
        "DKIM-Signature",
        "DomainKey-Signature",
        "Errors-To",
        "From",
        "Importance",
        "In-Reply-To",
        "Keywords",
        "List-Archive",
        "List-Help",
        "List-Id",
        "List-Owner",
        "List-Post",
        "List-Subscribe",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "Message-Context",
        "Message-ID",
        "MIME-Version",
        "Organization",
        "Original-From",
        "Original-Message-ID",
        "Original-Recipient",
        "Original-Subject",
        "Precedence",
        "Priority",
        "References",
        "Reply-To",
        "Return-Path",
        "Return-Receipt-To",
        "Sender",
        "Solicitation",
        "Sensitivity",
        "Subject",
        "Thread-Index",
        "Thread-Topic",
        "User-Agent",
        "VBR-Info",
    )
)
# What GetAccount reports when the local stack sets no rate (EMAILOPS_SES_MAX_SEND_RATE=0, or
# the tests' in-process embedded AWS): far above what the embedded AWS sustains, so pacing to
# it never holds a sender back. SES itself always reports a rate.
RATE_WITHOUT_LIMIT = 1000.0
DAY_SECONDS = 24 * 3600


class InvalidSend(ValueError):
    """A ``SendEmail`` SES refuses as invalid (``BadRequestException``)."""


# ------------------------------------------------------------------ the rules
def check_tags(tags: Any) -> None:
    for tag in tags or []:
        name, value = str(tag.get("Name", "")), str(tag.get("Value", ""))
        if not name or len(name) > MAX_TAG_CHARS:
            raise InvalidSend(f"Invalid tag name <{name}>: it must be 1 to {MAX_TAG_CHARS} characters long.")
        if not _TAG.match(name):
            raise InvalidSend(
                f"Invalid tag name <{name}>: only alphanumeric ASCII characters, '_', and '-' are allowed."
            )
        if len(value) > MAX_TAG_CHARS:
            raise InvalidSend(f"Invalid tag value <{value}>: it must be at most {MAX_TAG_CHARS} characters long.")
        if not _TAG.match(value):
            raise InvalidSend(
                f"Invalid tag value <{value}>: only alphanumeric ASCII characters, '_', and '-' are allowed."
            )


def check_headers(headers: Any) -> None:
    headers = list(headers or [])
    if len(headers) > MAX_HEADERS:
        raise InvalidSend(f"A message can have at most {MAX_HEADERS} custom headers; it has {len(headers)}.")
    seen: set[str] = set()
    for header in headers:
        name, value = str(header.get("Name", "")), str(header.get("Value", ""))
        if not _HEADER_NAME.match(name) or len(name) > MAX_HEADER_NAME_CHARS:
            raise InvalidSend(
                f"Invalid header name <{name}>: 1 to {MAX_HEADER_NAME_CHARS} printable ASCII characters, no colon."
            )
        if not _HEADER_VALUE.match(value) or len(value) > MAX_HEADER_VALUE_CHARS:
            raise InvalidSend(
                f"Invalid value of header {name}: 1 to {MAX_HEADER_VALUE_CHARS} printable ASCII characters."
            )
        if len(name) + len(value) > MAX_HEADER_CHARS:
            raise InvalidSend(f"Header {name}: its name and value together exceed {MAX_HEADER_CHARS} characters.")
        key = name.lower()
        if key in SES_HEADERS:
            raise InvalidSend(f"Header {name} is set by SES and cannot be a custom header.")
        if key in seen and key in ONCE_ONLY_HEADERS:
            raise InvalidSend(f"Header {name} can appear only once in a message.")
        seen.add(key)


def _encoded(size: int) -> int:
    """Bytes after base64 encoding."""
    return 4 * ((size + 2) // 3)


def _raw_bytes(data: Any) -> int:
    try:
        return len(base64.b64decode(str(data), validate=True))
    except (binascii.Error, ValueError):
        return len(str(data).encode())


def message_bytes(content: Mapping[str, Any]) -> int:
    """The message's size after base64 encoding: a raw message as sent; a
    simple one by its parts (subject, bodies, headers, attachments), each encoded."""
    if "Raw" in content:
        return _encoded(_raw_bytes((content.get("Raw") or {}).get("Data", "")))
    simple = content.get("Simple") or {}
    parts = [simple.get("Subject") or {}, *((simple.get("Body") or {}).values())]
    size = sum(_encoded(len(str(part.get("Data", "")).encode())) for part in parts)
    size += sum(len(str(h.get("Name", ""))) + len(str(h.get("Value", ""))) + 4 for h in simple.get("Headers") or [])
    size += sum(_encoded(_raw_bytes(a.get("RawContent", ""))) for a in simple.get("Attachments") or [])
    return size


def check_send(request: Mapping[str, Any]) -> None:
    """``InvalidSend`` when SES would refuse this ``SendEmail`` as invalid."""
    check_tags(request.get("EmailTags"))
    content = request.get("Content") or {}
    for kind in ("Simple", "Template"):
        check_headers((content.get(kind) or {}).get("Headers"))
    size = message_bytes(content)
    if size > MAX_MESSAGE_BYTES:
        raise InvalidSend(f"Message length is more than {MAX_MESSAGE_BYTES} bytes long: {size}.")


def recipients(request: Mapping[str, Any]) -> int:
    """What SES counts toward its quotas: every address of To, Cc and Bcc."""
    destination = request.get("Destination") or {}
    return sum(len(destination.get(field) or []) for field in ("ToAddresses", "CcAddresses", "BccAddresses"))


# ------------------------------------------------------------------ the account
class _Sent:
    """The recipients of accepted sends, for ``SentLast24Hours``."""

    def __init__(self) -> None:
        self._sends: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def add(self, count: int, now: float) -> None:
        with self._lock:
            self._sends.append((now, count))

    def last_day(self, now: float) -> int:
        with self._lock:
            while self._sends and self._sends[0][0] <= now - DAY_SECONDS:
                self._sends.popleft()
            return sum(count for _, count in self._sends)


def _core(account: str, region: str) -> Any:
    backends: Any = importlib.import_module("moto.ses.models").ses_backends
    return backends[account][region]


def set_send_rate(account: str, region: str, rate: float) -> None:
    """The rate ``GetAccount`` reports for this account and Region (0: none set)."""
    _core(account, region).emailops_max_send_rate = rate


def send_quota(core: Any, now: float | None = None) -> dict[str, float]:
    """SES's ``SendQuota`` of the embedded SES (``core``: moto's SES backend)."""
    rate = float(getattr(core, "emailops_max_send_rate", 0.0) or 0.0)
    sent: _Sent | None = getattr(core, "emailops_sent", None)
    return {
        "Max24HourSend": -1.0,
        "MaxSendRate": rate if rate > 0 else RATE_WITHOUT_LIMIT,
        "SentLast24Hours": float(sent.last_day(time.time() if now is None else now) if sent else 0),
    }


def apply() -> None:
    """Patch moto's SES v2 (and v1's quota) in this process (``local.limits.apply`` calls it once)."""
    responses: Any = importlib.import_module("moto.sesv2.responses")
    ses_models: Any = importlib.import_module("moto.ses.models")
    core_exceptions: Any = importlib.import_module("moto.core.exceptions")
    handler = responses.SESV2Response

    send_email = handler.send_email

    @functools.wraps(send_email)
    def send_email_within_rules(self: Any) -> Any:
        request = json.loads(self.body or "{}")
        try:
            check_send(request)
        except InvalidSend as exc:
            raise core_exceptions.JsonRESTError("BadRequestException", str(exc)) from None
        answer = send_email(self)
        core = self.sesv2_backend.core_backend
        sent = core.__dict__.setdefault("emailops_sent", _Sent())
        sent.add(recipients(request), time.time())
        return answer

    def get_account(self: Any) -> str:
        return json.dumps(
            {
                "DedicatedIpAutoWarmupEnabled": False,
                "EnforcementStatus": "HEALTHY",
                "ProductionAccessEnabled": True,
                "SendQuota": send_quota(self.sesv2_backend.core_backend),
                "SendingEnabled": True,
            }
        )

    def get_send_quota(self: Any) -> Any:
        figures = send_quota(self)
        quota = ses_models.SESQuota(int(figures["SentLast24Hours"]))
        quota.max24_hour_send = figures["Max24HourSend"]
        quota.max_send_rate = figures["MaxSendRate"]
        return quota

    handler.send_email = send_email_within_rules
    handler.get_account = get_account
    # The moto server routes only the paths it lists (its "/v2/.*" is taken literally there).
    urls: Any = importlib.import_module("moto.sesv2.urls")
    urls.url_paths.setdefault("{0}/v2/email/account$", urls.url_paths["{0}/v2/email/outbound-emails$"])
    ses_models.SESBackend.get_send_quota = get_send_quota
