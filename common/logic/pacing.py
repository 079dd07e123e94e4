"""Pacing: one execution environment's share of the account's SES send rate.

SES allows the account ``MaxSendRate`` emails a second; up to
``PriorityMaximumConcurrency + BulkMaximumConcurrency`` execution
environments of SendWorkerFunction send at once, so each keeps to its share.
A token bucket holding one second's worth lets a short burst through and
holds the average to the share. Pure: the clock and the sleep are handed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    def __init__(
        self,
        rate_per_second: float | None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``rate_per_second``: ``None`` for no pacing."""
        if rate_per_second is not None and rate_per_second <= 0:
            raise ValueError("the send rate must be positive")
        self._rate = rate_per_second
        self._capacity = max(1.0, rate_per_second or 1.0)
        self._tokens = self._capacity
        self._monotonic = monotonic
        self._sleep = sleep
        self._last = monotonic()

    @classmethod
    def unlimited(cls) -> Pacer:
        return cls(None)

    @property
    def rate_per_second(self) -> float | None:
        return self._rate

    def _refill(self) -> None:
        now = self._monotonic()
        if self._rate is not None:
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
        self._last = now

    def wait_seconds(self) -> float:
        """How long the next send would wait."""
        if self._rate is None:
            return 0.0
        self._refill()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self._rate

    def acquire(self) -> None:
        """Wait for the next send's turn, and take it."""
        if self._rate is None:
            return
        wait = self.wait_seconds()
        if wait > 0:
            self._sleep(wait)
            self._refill()
        self._tokens -= 1
