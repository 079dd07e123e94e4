"""The embedded SES, closer to Amazon SES: who may send, and failures on demand.

- **Sender identity.** SES sends only from a verified identity: the address
  itself, or its domain (and subdomains). The local stack verifies ``SenderIdentity`` alone, as
  an operator does in AWS before the first deploy, so a ``SenderAddress``
  outside it is answered as SES answers it: ``MessageRejected`` (400), and the
  job is ``failed``. ``python -m local run`` refuses such a pair at start
  (``check_sender``), since every send would fail.
- **Faults.** ``EMAILOPS_SES_FAULTS="throttle=0.2,reject=0.05,seed=7"`` makes
  the embedded SES answer that fraction of SES v2 ``SendEmail`` calls with
  throttling (``TooManyRequestsException``, 429: the job is ``retrying``) or
  a permanent rejection (``MessageRejected``, 400: the job is ``failed``),
  before moto sees them (a refused call sends nothing). ``seed`` makes the
  sequence of outcomes the same on every run.
- **Sending rate.** ``EMAILOPS_SES_MAX_SEND_RATE`` (default 20 emails a second,
  below what the embedded AWS sustains; ``0`` for none) is the account's
  maximum send rate: SES counts recipients, and a ``SendEmail`` past the rate
  is answered as SES answers it, ``TooManyRequestsException`` (429) "Maximum
  sending rate exceeded.", before moto sees it. The rate is a bucket of one
  second's sends, refilled continuously; a send SES refuses for another
  reason gives its share back. SES v2 ``GetAccount`` reports the rate
  (``SendQuota.MaxSendRate``: ``local.limits.sesv2``).
"""

from __future__ import annotations

import io
import json
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from local.runtime import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

FAULTS_VARIABLE = "EMAILOPS_SES_FAULTS"
SEND_RATE_VARIABLE = "EMAILOPS_SES_MAX_SEND_RATE"
DEFAULT_MAX_SEND_RATE = 20.0
# SES v2 SendEmail: POST /v2/email/outbound-emails (the only send call the service makes).
SEND_EMAIL_PATH = "/v2/email/outbound-emails"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


# ------------------------------------------------------------------ sender
def sender_is_covered(address: str, identity: str) -> bool:
    """Whether verifying ``identity`` (an address, or a domain) lets SES send
    from ``address``: the same address, or an address of that domain or of
    one of its subdomains."""
    address, identity = address.strip().lower(), identity.strip().lower()
    if "@" in identity:
        return address == identity
    domain = address.rpartition("@")[2]
    return domain == identity or domain.endswith(f".{identity}")


def check_sender(parameters: Mapping[str, str]) -> None:
    """``ConfigurationError`` when SES could never send from ``SenderAddress``."""
    address, identity = parameters["SenderAddress"], parameters["SenderIdentity"]
    if not sender_is_covered(address, identity):
        raise ConfigurationError(
            f"SenderAddress {address} is not under SenderIdentity {identity}: SES would reject every"
            " email (MessageRejected: Email address is not verified). Set EMAILOPS_PARAM_SenderIdentity"
            f" to {address.rpartition('@')[2]} (or to the address itself), or EMAILOPS_PARAM_SenderAddress"
            f" to an address at {identity}"
        )


def verify_sender_identity(sesv2: SESV2Client, identity: str) -> None:
    """Leave ``identity`` the embedded SES's only verified identity."""
    listed = {entry["IdentityName"] for entry in sesv2.list_email_identities()["EmailIdentities"]}
    for other in sorted(listed - {identity}):
        sesv2.delete_email_identity(EmailIdentity=other)
    if identity not in listed:
        sesv2.create_email_identity(EmailIdentity=identity)


# ------------------------------------------------------------------ faults
@dataclass(frozen=True)
class SesFaults:
    """Fractions of ``SendEmail`` calls the embedded SES refuses."""

    throttle: float = 0.0
    reject: float = 0.0
    seed: int | None = None

    @property
    def active(self) -> bool:
        return self.throttle > 0 or self.reject > 0

    def describe(self) -> str:
        parts = [f"throttle={self.throttle:g}", f"reject={self.reject:g}"]
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return ",".join(parts)

    @classmethod
    def parse(cls, text: str) -> SesFaults:
        """``throttle=0.2,reject=0.05,seed=7`` (each optional; empty = none)."""
        values: dict[str, float] = {}
        seed: int | None = None
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, raw = (piece.strip() for piece in item.partition("="))
            if not sep or name not in ("throttle", "reject", "seed"):
                raise ConfigurationError(
                    f"{FAULTS_VARIABLE}={text!r}: expected throttle=<fraction>, reject=<fraction>"
                    " and seed=<integer>, comma-separated"
                )
            try:
                if name == "seed":
                    seed = int(raw)
                else:
                    values[name] = float(raw)
            except ValueError:
                raise ConfigurationError(f"{FAULTS_VARIABLE}: {name}={raw!r} is not a number") from None
            if name != "seed" and not 0 <= values[name] <= 1:
                raise ConfigurationError(f"{FAULTS_VARIABLE}: {name}={raw} must be between 0 and 1")
        faults = cls(throttle=values.get("throttle", 0.0), reject=values.get("reject", 0.0), seed=seed)
        if faults.throttle + faults.reject > 1:
            raise ConfigurationError(f"{FAULTS_VARIABLE}: throttle + reject must not exceed 1")
        return faults


# A fault's answer, as SES v2 gives it: status line, error code, message.
_REFUSALS = {
    "throttle": ("429 Too Many Requests", "TooManyRequestsException", "Maximum sending rate exceeded."),
    "reject": ("400 Bad Request", "MessageRejected", "Message rejected."),
}


class SesFaultInjector:
    """WSGI middleware of the embedded AWS: refuses a fraction of SES v2
    ``SendEmail`` calls with the error SES would answer; every other request
    goes through untouched."""

    def __init__(self, app: WsgiApp, faults: SesFaults) -> None:
        self._app = app
        self._faults = faults
        self._random = random.Random(faults.seed)  # noqa: S311 - a test double's dice, not a secret
        self._lock = threading.Lock()

    def draw(self) -> str | None:
        """The next call's fate: ``"throttle"``, ``"reject"`` or ``None`` (sent)."""
        with self._lock:
            roll = self._random.random()
        if roll < self._faults.throttle:
            return "throttle"
        if roll < self._faults.throttle + self._faults.reject:
            return "reject"
        return None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        is_send = environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") == SEND_EMAIL_PATH
        fate = self.draw() if is_send and self._faults.active else None
        if fate is None:
            return self._app(environ, start_response)
        return _refusal(start_response, *_REFUSALS[fate], note=f" (injected by {FAULTS_VARIABLE})")


# ------------------------------------------------------------------ sending rate
def parse_send_rate(text: str | None) -> float:
    """``EMAILOPS_SES_MAX_SEND_RATE``: emails a second, ``0`` for none (empty: the default)."""
    raw = (text or "").strip()
    if not raw:
        return DEFAULT_MAX_SEND_RATE
    try:
        rate = float(raw)
    except ValueError:
        raise ConfigurationError(f"{SEND_RATE_VARIABLE}={raw!r} is not a number") from None
    if not math.isfinite(rate) or rate < 0:
        raise ConfigurationError(f"{SEND_RATE_VARIABLE}={raw}: give emails a second, or 0 for no limit")
    return rate


class SendRate:
    """SES's maximum send rate: ``rate`` recipients a second, in bursts of up to
    one second's worth (at least one), refilled continuously."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("a send rate is positive")
        self.rate = rate
        self._capacity = max(rate, 1.0)
        self._tokens = self._capacity
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def take(self, count: int = 1) -> bool:
        """Whether ``count`` recipients may be sent now (they are counted if so)."""
        with self._lock:
            self._refill()
            # (a billionth of a send's slack: the clock's float arithmetic, not a rule)
            if self._tokens + 1e-9 < min(count, self._capacity):
                return False
            self._tokens -= count
            return True

    def give_back(self, count: int = 1) -> None:
        """Undo ``take``: SES did not send them."""
        with self._lock:
            self._tokens = min(self._capacity, self._tokens + count)


def _recipients(raw: bytes) -> int:
    try:
        request = json.loads(raw or b"{}")
        destination = request.get("Destination") or {}
        count = sum(len(destination.get(f) or []) for f in ("ToAddresses", "CcAddresses", "BccAddresses"))
    except (ValueError, AttributeError, TypeError):
        return 1
    return max(count, 1)


class SesSendRateLimiter:
    """WSGI middleware of the embedded AWS: SES v2 ``SendEmail`` calls past the
    account's send rate are refused as SES refuses them (429
    ``TooManyRequestsException``); every other request goes through untouched."""

    def __init__(self, app: WsgiApp, rate: SendRate) -> None:
        self._app = app
        self.rate = rate

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not (environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") == SEND_EMAIL_PATH):
            return self._app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        count = _recipients(raw)
        if not self.rate.take(count):
            return _refusal(start_response, *_REFUSALS["throttle"], note="")
        seen: dict[str, str] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"] = status
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        body = b"".join(self._app(environ, capture))
        if not seen.get("status", "").startswith("200"):
            self.rate.give_back(count)
        return [body]


def _refusal(start_response: StartResponse, status: str, code: str, message: str, *, note: str) -> list[bytes]:
    body = json.dumps({"message": f"{message}{note}"}).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("x-amzn-ErrorType", code),
            ("x-amzn-RequestId", str(uuid.uuid4())),
        ],
    )
    return [body]
