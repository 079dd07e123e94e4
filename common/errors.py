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


class SecretUnavailable(EmailOpsError):
    """Secrets Manager did not hand over a secret the function needs (or it is unfit)."""

    code = "secret_unavailable"
