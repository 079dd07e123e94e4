"""SES v2: the only code that sends email, and the one place errors are classified."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)

from common.errors import PermanentSendError, TransientSendError
from common.models import Job

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

# Worth another try later: the service or the network said "not now".
TRANSIENT_CODES = frozenset(
    {
        "TooManyRequestsException",
        "LimitExceededException",  # sending quota or rate exceeded
        "Throttling",
        "ThrottlingException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServiceError",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# Never worth another try; named here so the admin reads a plain reason.
PERMANENT_REASONS = {
    "MessageRejected": "SES rejected the message",
    "MailFromDomainNotVerifiedException": "the sender's MAIL FROM domain is not verified",
    "AccountSuspendedException": "the SES account is suspended",
    "SendingPausedException": "sending is paused for this account or configuration set",
    "NotFoundException": "the SES configuration set or identity does not exist",
    "BadRequestException": "SES refused the request (bad address or parameters)",
}
_NETWORK_ERRORS = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)

# SES tag values allow letters, digits, '_', '-', '.', '@' only.
_TAG_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.@")


def _tag_value(value: str) -> str:
    return "".join(c if c in _TAG_ALLOWED else "_" for c in value)[:256]


def describe(exc: ClientError) -> str:
    """An error an admin can read: code, a plain reason, and SES's own words."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    reason = PERMANENT_REASONS.get(code, "")
    message = str(error.get("Message", "")).strip()
    text = code + (f": {reason}" if reason else "") + (f" ({message})" if message else "")
    return text[:500]


def is_transient(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code in TRANSIENT_CODES or status >= 500


class Mailer:
    def __init__(self, client: SESV2Client, *, sender: str, configuration_set: str) -> None:
        self._client = client
        self._sender = sender
        self._configuration_set = configuration_set

    def send(self, job: Job) -> str:
        """Send one job; returns SES's message id.

        Raises ``TransientSendError`` (try again later) or ``PermanentSendError``.
        """
        body: dict[str, Any] = {"Text": {"Data": job.body_text, "Charset": "UTF-8"}}
        if job.body_html:
            body["Html"] = {"Data": job.body_html, "Charset": "UTF-8"}
        request: dict[str, Any] = {
            "FromEmailAddress": self._sender,
            "Destination": {"ToAddresses": [job.recipient]},
            "Content": {"Simple": {"Subject": {"Data": job.subject, "Charset": "UTF-8"}, "Body": body}},
            "ConfigurationSetName": self._configuration_set,
            "EmailTags": [
                {"Name": "job_id", "Value": job.job_id},
                {"Name": "domain", "Value": _tag_value(job.domain)},
                {"Name": "type", "Value": job.type.value},
            ],
        }
        if job.reply_to:
            request["ReplyToAddresses"] = [job.reply_to]
        try:
            response = self._client.send_email(**request)
        except ClientError as exc:
            if is_transient(exc):
                raise TransientSendError(describe(exc)) from exc
            raise PermanentSendError(describe(exc)) from exc
        except _NETWORK_ERRORS as exc:
            raise TransientSendError(f"network error reaching SES: {type(exc).__name__}") from exc
        except ParamValidationError as exc:
            # Its text may quote the request (the body): not repeated here.
            raise PermanentSendError("the request to SES was invalid (ParamValidationError)") from exc
        return str(response["MessageId"])
