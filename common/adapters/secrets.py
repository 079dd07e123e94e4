"""Secrets Manager: secrets read at run time, never put into the environment.

Each value is read once and then kept for ``max_age`` seconds per execution
environment (``SecretValues``, one per environment: ``common.adapters.aws.secrets``):
a function makes one ``GetSecretValue`` call per secret when it first needs it
and one more per ``max_age`` after that, so a rotated secret is picked up within
``max_age`` without a deploy. A ``max_age`` of 0 reads on every call.

The values are kept here, over the functions' own botocore client, rather than
by Powertools' parameters utility, which imports boto3 (docs/adr/0014-secrets-read-at-run-time.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from common.adapters import aws
from common.adapters.botocore_errors import error_name
from common.models.errors import SecretUnavailable

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class _Read(NamedTuple):
    value: str | bytes
    at: float  # on the keeper's clock


class SecretValues:
    """Each secret's value as last read; a reader takes it while it is younger
    than the ``max_age`` that reader gives, and reads it again otherwise."""

    def __init__(self, client: SecretsManagerClient, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._clock = clock
        self._last: dict[str, _Read] = {}
        # The local stack runs functions in threads of one process: one read at a time.
        self._reading = threading.Lock()

    def get(self, secret_id: str, *, max_age: int) -> str | bytes:
        """The secret's ``SecretString`` (or ``SecretBinary``), read again when
        the last read is ``max_age`` seconds old or older. Raises botocore's errors."""
        with self._reading:
            last = self._last.get(secret_id)
            now = self._clock()
            if last is not None and now - last.at < max_age:
                return last.value
            answer = self._client.get_secret_value(SecretId=secret_id)
            value = answer["SecretString"] if "SecretString" in answer else answer.get("SecretBinary", b"")
            self._last[secret_id] = _Read(value, now)
            return value


def read_secret(secret_id: str, *, max_age: int, min_length: int = 1, values: SecretValues | None = None) -> str:
    """The string value of secret ``secret_id`` (its ARN or name).

    Raises ``SecretUnavailable`` naming only the AWS error code: botocore's
    message quotes the secret's ARN (and the account id), which are never logged.
    """
    try:
        value = (values or aws.secrets()).get(secret_id, max_age=max_age)
    except (ClientError, BotoCoreError) as exc:
        raise SecretUnavailable(f"a secret could not be read: {error_name(exc)}") from None
    if not isinstance(value, str) or len(value) < min_length:
        raise SecretUnavailable(f"a secret is not a string of at least {min_length} characters")
    return value
