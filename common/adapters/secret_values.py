"""Secret values kept per execution environment: each read again once older
than the ``max_age`` its reader gives (``common.adapters.secrets`` reads them;
``common.adapters.aws.secrets`` keeps the environment's one ``SecretValues``).

A module of its own, apart from ``secrets`` (which imports ``aws`` for the
environment's keeper), so that ``aws`` makes the keeper without importing
``secrets``: no circle of imports.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

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
