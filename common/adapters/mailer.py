"""SES v2: the only code that sends email, and the one place its errors are classified.

Every error a send can raise becomes one of four outcomes (``common.models.errors``):

- ``BackPressure``: SES throttles, a quota is reached, or sending is paused
  (account or configuration set). Waited out, not counted toward giving up.
- ``TransientSendError``: SES's own 5xx, or the request never reached SES
  (botocore's ``ConnectionError`` family, credentials, configuration).
- ``AmbiguousSendError``: the request may have reached SES and been accepted
  (botocore's ``HTTPClientError`` family: read timeout, connection closed
  mid-answer; an incomplete answer). The worker decides per job type.
- ``PermanentSendError``: SES refused this email, or the request was invalid.

The error text a tenant admin reads is built from SES's error code only: a
plain cause and what to do. SES's own message can name our account, roles and
functions: it rides on the error's ``detail``, with ARNs and account ids
redacted, for the worker to log.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    ParamValidationError,
)
from botocore.exceptions import (
    ValidationError as BotocoreValidationError,
)

from common.models.errors import AmbiguousSendError, BackPressure, PermanentSendError, TransientSendError
from common.models.job import Bodies, Job

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

    from common.adapters.tenants import Tenants

THROTTLED_WAIT_SECONDS = 5  # throttled: the rate frees up within seconds
PAUSED_WAIT_SECONDS = 300  # paused or over quota: an operator or the clock must act


class Kind(Enum):
    THROTTLED = "throttled"  # back-pressure, short wait
    PAUSED = "paused"  # back-pressure, long wait
    TRANSIENT = "transient"
    PERMANENT = "permanent"


class SesError(NamedTuple):
    kind: Kind
    reason: str  # a plain cause and what to do, for the tenant admin


_THROTTLED = "SES is busy with the account's other emails (send rate reached); it is sent when the rate allows"
_SES_DOWN = "SES had a temporary failure; it is tried again automatically"

# Every error code SES v2 SendEmail documents, and the common ones of AWS APIs.
SES_ERRORS: dict[str, SesError] = {
    # SendEmail's own errors (SES API v2 reference)
    "TooManyRequestsException": SesError(Kind.THROTTLED, _THROTTLED),
    "LimitExceededException": SesError(
        Kind.PAUSED,
        "the SES account's sending quota is used up; it is sent once the quota allows "
        "(the operator can ask AWS for a higher quota)",
    ),
    "SendingPausedException": SesError(
        Kind.PAUSED,
        "sending is paused for the SES account or its configuration set; it is sent once the operator resumes sending",
    ),
    "AccountSuspendedException": SesError(
        Kind.PERMANENT,
        "the SES account may no longer send email; the operator must have AWS restore it, then send again",
    ),
    "MessageRejected": SesError(
        Kind.PERMANENT,
        "SES rejected the message: an address is not verified in SES or the content was refused; "
        "the operator must verify the sender (and, in the SES sandbox, the recipient) or check the content, "
        "then send again",
    ),
    "MailFromDomainNotVerifiedException": SesError(
        Kind.PERMANENT,
        "the sender's MAIL FROM domain is not verified in SES; "
        "the operator must publish and verify its MX and SPF records, then send again",
    ),
    "NotFoundException": SesError(
        Kind.PERMANENT,
        "the SES configuration set or sender identity does not exist; "
        "the operator must check the deployment's SES settings, then send again",
    ),
    "BadRequestException": SesError(
        Kind.PERMANENT,
        "SES refused the request as invalid, usually a malformed recipient or reply-to address; "
        "correct the address and send again",
    ),
    # Errors common to AWS APIs
    "Throttling": SesError(Kind.THROTTLED, _THROTTLED),
    "ThrottlingException": SesError(Kind.THROTTLED, _THROTTLED),
    "RequestLimitExceeded": SesError(Kind.THROTTLED, _THROTTLED),
    "InternalFailure": SesError(Kind.TRANSIENT, _SES_DOWN),
    "InternalServiceError": SesError(Kind.TRANSIENT, _SES_DOWN),
    "InternalServerError": SesError(Kind.TRANSIENT, _SES_DOWN),
    "ServiceUnavailable": SesError(Kind.TRANSIENT, _SES_DOWN),
    "ServiceUnavailableException": SesError(Kind.TRANSIENT, _SES_DOWN),
    "RequestTimeout": SesError(Kind.TRANSIENT, _SES_DOWN),
    "RequestTimeoutException": SesError(Kind.TRANSIENT, _SES_DOWN),
    "AccessDeniedException": SesError(
        Kind.PERMANENT,
        "Email Operations is not allowed to send this email through SES (a permission is missing on the "
        "platform's side); the operator must grant it, then send again",
    ),
    "AccessDenied": SesError(
        Kind.PERMANENT,
        "Email Operations is not allowed to send this email through SES (a permission is missing on the "
        "platform's side); the operator must grant it, then send again",
    ),
}
UNKNOWN_REASON = (
    "SES refused the email for a reason Email Operations does not know; the operator's logs have SES's answer"
)
UNKNOWN_TRANSIENT_REASON = "SES failed for a reason Email Operations does not know; it is tried again automatically"

# Redacted from SES's own words before they reach a log line.
_ARN = re.compile(r"\barn:[A-Za-z0-9-]+:[^\s\"',;)]*")
_ACCOUNT_ID = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9._]{0,63}$")


def domain_tag(domain: str) -> str:
    """The ``domain`` tag's value: the domain with each ``.`` written ``_``.

    SES v2's API reference allows only ASCII letters, digits, ``_`` and ``-``
    in a message tag's value (at most 256 characters). A domain (a lower-case
    host name of letters, digits, ``-`` and ``.``, at most 253 characters)
    never holds a ``_``, so the encoding is reversible: ``domain_from_tag``.
    """
    return domain.replace(".", "_")


def domain_from_tag(value: str) -> str:
    """The domain a ``domain`` tag names: ``acme_com`` -> ``acme.com``. A value
    written before the encoding (``acme.com``) is returned as it is."""
    return value.replace("_", ".")


def redact(text: str) -> str:
    """``text`` without ARNs or AWS account ids."""
    return _ACCOUNT_ID.sub("<account-id>", _ARN.sub("<arn>", text))


def classify(exc: ClientError) -> tuple[str, SesError]:
    """SES's error code (or "SESError" when it gives none usable) and what it means."""
    error = exc.response.get("Error", {})
    raw = str(error.get("Code", ""))
    code = raw if _CODE.match(raw) else "SESError"
    known = SES_ERRORS.get(code)
    if known is not None:
        return code, known
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if status == 429:
        return code, SesError(Kind.THROTTLED, _THROTTLED)
    if status >= 500:
        return code, SesError(Kind.TRANSIENT, UNKNOWN_TRANSIENT_REASON)
    return code, SesError(Kind.PERMANENT, UNKNOWN_REASON)


def describe(exc: ClientError) -> str:
    """The error an admin reads: SES's code and a plain reason, never SES's own words."""
    code, known = classify(exc)
    return f"{code}: {known.reason}"


def send_error(exc: ClientError) -> TransientSendError | PermanentSendError:
    """The domain error for what SES answered; SES's own words, redacted, only in its ``detail``."""
    code, known = classify(exc)
    text = f"{code}: {known.reason}"
    error = exc.response.get("Error", {})
    detail: dict[str, str | int | None] = {
        "ses_error_code": redact(str(error.get("Code", ""))),
        "ses_message": redact(str(error.get("Message", "")))[:1000],
        "http_status": exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"),
    }
    if known.kind is Kind.THROTTLED:
        return BackPressure(text, wait_seconds=THROTTLED_WAIT_SECONDS, detail=detail, rate_limited=True)
    if known.kind is Kind.PAUSED:
        return BackPressure(text, wait_seconds=PAUSED_WAIT_SECONDS, detail=detail)
    if known.kind is Kind.TRANSIENT:
        return TransientSendError(text, detail=detail)
    return PermanentSendError(text, detail=detail)


def network_error(exc: BotoCoreError) -> TransientSendError | PermanentSendError:
    """Anything botocore raises on its own, classified by its class tree. Its
    text is not kept: it may quote the request (the body) or the endpoint."""
    name = type(exc).__name__
    detail: dict[str, str | int | None] = {"error_type": name}
    if isinstance(exc, (ParamValidationError, BotocoreValidationError)):
        return PermanentSendError(
            f"the request to SES was invalid ({name}); the operator's logs have the details", detail=detail
        )
    if isinstance(exc, (HTTPClientError, IncompleteReadError)):
        # The request was sent: SES may have accepted it before the answer was lost.
        return AmbiguousSendError(
            f"the connection to SES failed after the email was handed over ({name})", detail=detail
        )
    # botocore's ConnectionError family (endpoint, connect timeout, proxy, TLS)
    # and everything before a request leaves: SES never saw it.
    return TransientSendError(f"SES could not be reached ({name}); it is tried again automatically", detail=detail)


def ascii_address(address: str) -> str:
    """``address`` with its domain in ASCII (IDNA, Punycode), as SES requires.

    The local part is left as it is (enqueue refuses non-ASCII ones); an
    address whose domain cannot be encoded is refused before SES is called.
    """
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    # Imported on first use, as in common.models.job: a cold start does not pay for it.
    from email_validator import EmailNotValidError, validate_email  # noqa: PLC0415

    try:
        ascii_domain = validate_email(address, check_deliverability=False).ascii_domain
    except EmailNotValidError as exc:
        raise PermanentSendError(
            "the address's domain is not a valid internationalised domain name; correct the address and send again"
        ) from exc
    return f"{local}@{ascii_domain}"


# SES v2 Content.Simple.Headers: a value of printable ASCII, and a name and
# value of at most 996 characters together (SES API reference, MessageHeader).
MAX_HEADER_CHARS = 996
_PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]*$")
ONE_CLICK_POST = "List-Unsubscribe=One-Click"


def unsubscribe_headers(url: str) -> list[dict[str, str]]:
    """RFC 8058's two headers for a one-click unsubscribe URL, checked against SES's limits."""
    headers = [
        {"Name": "List-Unsubscribe", "Value": f"<{url}>"},
        {"Name": "List-Unsubscribe-Post", "Value": ONE_CLICK_POST},
    ]
    for header in headers:
        if len(header["Name"]) + len(header["Value"]) > MAX_HEADER_CHARS or not _PRINTABLE_ASCII.match(header["Value"]):
            raise PermanentSendError(
                "the unsubscribe link does not fit an email header (printable ASCII, at most "
                f"{MAX_HEADER_CHARS} characters); the operator's logs have the details"
            )
    return headers


class Mailer:
    def __init__(
        self, client: SESV2Client, *, sender: str, configuration_set: str, tenants: Tenants | None = None
    ) -> None:
        """``tenants``: with the ``SesTenants`` option, each email is sent under its domain's SES tenant."""
        self._client = client
        self._sender = sender
        self._configuration_set = configuration_set
        self._tenants = tenants

    def send(self, job: Job, bodies: Bodies, *, unsubscribe_url: str | None = None) -> str:
        """Send one job with its body (stored apart: ``common.adapters.bodies``); returns SES's message id.

        ``unsubscribe_url``: sent as ``List-Unsubscribe`` with
        ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058).

        Raises ``BackPressure``, ``AmbiguousSendError``, ``TransientSendError``
        (all three: try again later) or ``PermanentSendError``.
        """
        body: dict[str, Any] = {"Text": {"Data": bodies.text, "Charset": "UTF-8"}}
        if bodies.html:
            body["Html"] = {"Data": bodies.html, "Charset": "UTF-8"}
        simple: dict[str, Any] = {"Subject": {"Data": job.subject, "Charset": "UTF-8"}, "Body": body}
        if unsubscribe_url is not None:
            simple["Headers"] = unsubscribe_headers(unsubscribe_url)
        request: dict[str, Any] = {
            "FromEmailAddress": self._sender,
            "Destination": {"ToAddresses": [ascii_address(job.recipient)]},
            "Content": {"Simple": simple},
            "ConfigurationSetName": self._configuration_set,
            "EmailTags": [
                {"Name": "job_id", "Value": job.job_id},
                {"Name": "domain", "Value": domain_tag(job.domain)},
                {"Name": "type", "Value": job.type.value},
            ],
        }
        if job.reply_to:
            request["ReplyToAddresses"] = [ascii_address(job.reply_to)]
        if self._tenants is not None:
            tenant = self._tenants.for_domain(job.domain)
            if tenant is not None:
                request["TenantName"] = tenant
        try:
            response = self._client.send_email(**request)
        except ClientError as exc:
            raise send_error(exc) from exc
        except BotoCoreError as exc:
            raise network_error(exc) from exc
        return str(response["MessageId"])


def account_send_rate(client: SESV2Client) -> float:
    """The account's maximum send rate, emails a second (SES v2 ``GetAccount``,
    ``SendQuota.MaxSendRate``). Raises ``TransientSendError`` when SES does not
    answer it."""
    try:
        quota = client.get_account().get("SendQuota") or {}
    except ClientError as exc:
        raise TransientSendError(f"GetAccount: {describe(exc)}") from exc
    except BotoCoreError as exc:
        raise TransientSendError(f"GetAccount: {type(exc).__name__}") from exc
    rate = quota.get("MaxSendRate")
    if rate is None or float(rate) <= 0:
        raise TransientSendError("GetAccount answered no positive MaxSendRate")
    return float(rate)
