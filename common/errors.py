"""Domain exceptions. Adapters raise these (``raise ... from exc``); handlers map them."""

from __future__ import annotations


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


class TransientSendError(EmailOpsError):
    """SES (or the network to it) failed in a way that may pass: retry later."""

    code = "transient_send_error"


class PermanentSendError(EmailOpsError):
    """SES refused the message for good: retrying cannot help."""

    code = "permanent_send_error"


class IdempotencyKeyReused(EmailOpsError):
    """An idempotency key already stands for a different request."""

    code = "idempotency_key_reused"

    def __init__(self, domain: str, key: str) -> None:
        self.domain = domain
        self.key = key
        super().__init__("idempotency key already used for a different request")
