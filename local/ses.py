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
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from local.runtime import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

FAULTS_VARIABLE = "EMAILOPS_SES_FAULTS"
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
        if fate == "throttle":
            status, code, message = (
                "429 Too Many Requests",
                "TooManyRequestsException",
                "Maximum sending rate exceeded.",
            )
        else:
            status, code, message = "400 Bad Request", "MessageRejected", "Message rejected."
        body = json.dumps({"message": f"{message} (injected by {FAULTS_VARIABLE})"}).encode()
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
