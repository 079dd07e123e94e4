"""Domain exceptions. Adapters raise these (``raise ... from exc``); handlers map them."""


class EmailOpsError(Exception):
    """Base of every error this service raises on purpose."""

    code = "internal_error"


class StorageError(EmailOpsError):
    """DynamoDB refused or kept failing a request."""

    code = "storage_error"


class QueueError(EmailOpsError):
    """SQS refused or kept failing a request."""

    code = "queue_error"


class JobNotFound(EmailOpsError):
    """No such job (or one the caller may not see)."""

    code = "not_found"


class SendError(EmailOpsError):
    """A send failed. ``str()`` is what an admin reads; ``detail`` is what only
    the operator's log may show (SES's own words, redacted)."""

    code = "send_error"

    def __init__(self, message: str, *, detail: dict[str, str | int | None] | None = None) -> None:
        super().__init__(message)
        self.detail = detail or {}


class TransientSendError(SendError):
    """SES (or the network to it) failed in a way that may pass: retry later."""

    code = "transient_send_error"


class PermanentSendError(SendError):
    """SES refused the message for good: retrying cannot help."""

    code = "permanent_send_error"


class BackPressure(TransientSendError):
    """SES said "not now" for the whole account: throttled, over a quota, or
    sending paused by an operator. Waited out; it says nothing about the email,
    so it does not count toward the give-up limit."""

    code = "back_pressure"

    def __init__(
        self,
        message: str,
        *,
        wait_seconds: int,
        detail: dict[str, str | int | None] | None = None,
        rate_limited: bool = False,
    ) -> None:
        """``rate_limited``: SES throttled the send for the account's rate (the
        worker's pacer slows down), rather than a quota or a pause."""
        super().__init__(message, detail=detail)
        self.wait_seconds = wait_seconds
        self.rate_limited = rate_limited


class AmbiguousSendError(TransientSendError):
    """The request may have reached SES and been accepted (the answer was lost):
    trying again risks a duplicate, not trying risks a loss."""

    code = "ambiguous_send_error"


class SecretUnavailable(EmailOpsError):
    """Secrets Manager did not hand over a secret the function needs (or it is unfit)."""

    code = "secret_unavailable"


class IdempotencyKeyReused(EmailOpsError):
    """An idempotency key already stands for a different request."""

    code = "idempotency_key_reused"

    def __init__(self, domain: str, key: str) -> None:
        self.domain = domain
        self.key = key
        super().__init__("idempotency key already used for a different request")


class InvalidCursor(EmailOpsError):
    """A cursor altered, forged, or made for another query."""

    code = "invalid_cursor"


class InvalidStatsRange(EmailOpsError):
    """``GET /stats``: ``from`` after ``to``, or a range longer than allowed."""

    code = "invalid_request"
