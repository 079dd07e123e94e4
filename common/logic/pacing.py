"""Pacing: one execution environment's share of the account's SES send rate,
found without any call between the workers (docs/adr/0074-pacing-to-the-accounts-rate.md).

SES allows the account ``MaxSendRate`` emails a second (SES v2 ``GetAccount``,
read once per environment and again every ``RATE_REFRESH_SECONDS``). Up to
``PriorityMaximumConcurrency + BulkMaximumConcurrency`` execution environments
of SendWorkerFunction send at once; how many do at a given moment only SES
sees. So each environment adapts its share the way TCP finds a link's
bandwidth (additive increase, multiplicative decrease):

- it starts at ``MaxSendRate / workers`` (the share if every worker were busy);
- while it has more to send than its share lets through (it waits for its
  turn), its share doubles every second of waiting until SES first throttles
  it (slow start), then grows by a starting share every ``GROWTH_SECONDS`` of
  waiting, never past ``MaxSendRate``;
- when SES throttles it for the rate, its share halves (at most once a
  second: one burst of refusals is one signal) and its turn is given up;
- after ``IDLE_SECONDS`` without a send it starts again from the starting
  share, so an environment coming back from idle does not burst at the rate
  it had earned while the others sent little.

A worker alone thus climbs to the whole rate within seconds; several busy ones
settle around equal shares whose sum is the rate. A token bucket holding one
second's worth of the share lets a short burst through and holds the average
to it. Pure: the clock, the sleep and the rate's reading are handed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from common.adapters.observability import logger
from common.models.errors import EmailOpsError

# Until GetAccount answers: SES's sandbox rate, the lowest an account has.
FALLBACK_RATE = 1.0
# The account's rate is read again this often (a raise by AWS applies within it).
RATE_REFRESH_SECONDS = 600.0
# After a failed read of the account's rate, the next try.
RATE_RETRY_SECONDS = 60.0
# Past this without a send, the share starts again from the starting share.
IDLE_SECONDS = 10.0
# Past slow start, the share grows by one starting share per this many seconds of waiting.
GROWTH_SECONDS = 10.0
# The least share kept after throttles (one send in 10 s).
MIN_SHARE = 0.1
# Throttles closer together than this are one signal (one halving).
DECREASE_INTERVAL_SECONDS = 1.0


class Pacer:
    def __init__(
        self,
        account_rate: float | None,
        *,
        workers: int = 1,
        read_rate: Callable[[], float] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``account_rate``: the account's rate (``None`` with no ``read_rate``:
        no pacing); ``workers``: how many environments may send at once;
        ``read_rate``: reads the account's rate (SES ``GetAccount``), first at
        the first send, then every ``RATE_REFRESH_SECONDS``."""
        if account_rate is not None and account_rate <= 0:
            raise ValueError("the send rate must be positive")
        if workers < 1:
            raise ValueError("at least one worker sends")
        self._workers = workers
        self._read_rate = read_rate
        self._monotonic = monotonic
        self._sleep = sleep
        self._account: float | None = account_rate if account_rate is not None or read_rate is None else None
        self._read_due = monotonic() if read_rate is not None else float("inf")
        self._share = 0.0
        self._tokens = 0.0
        self._slow_start = True
        self._last_decrease = float("-inf")
        self._last_send = float("-inf")
        self._last = monotonic()
        self.throttles = 0  # SES's refusals for the rate this environment met
        if not self._unlimited:
            self._restart(full=True)

    @classmethod
    def unlimited(cls) -> Pacer:
        return cls(None)

    # ------------------------------------------------------------ what it holds
    @property
    def account_rate(self) -> float | None:
        return self._account

    @property
    def rate_per_second(self) -> float | None:
        """This environment's share now (``None``: no pacing)."""
        return None if self._unlimited else self._share

    @property
    def starting_share(self) -> float:
        return max(MIN_SHARE, (self._account or FALLBACK_RATE) / self._workers)

    @property
    def _unlimited(self) -> bool:
        return self._account is None and self._read_rate is None

    def _capacity(self) -> float:
        return max(1.0, self._share)

    def _restart(self, *, full: bool) -> None:
        """Back to the starting share, in slow start (``full``: a full bucket)."""
        self._share = min(self.starting_share, self._account or FALLBACK_RATE)
        self._slow_start = True
        self._tokens = self._capacity() if full else min(self._tokens, self._capacity())

    def _refresh_rate(self) -> None:
        if self._read_rate is None or self._monotonic() < self._read_due:
            return
        try:
            rate = float(self._read_rate())
            if rate <= 0:
                raise ValueError("not a positive rate")
        except (EmailOpsError, ValueError) as exc:
            logger.warning(
                "the account's send rate could not be read; paced to the last one known",
                extra={"reason": str(exc), "rate": self._account or FALLBACK_RATE},
            )
            self._read_due = self._monotonic() + RATE_RETRY_SECONDS
            return
        first = self._account is None
        self._account = rate
        self._read_due = self._monotonic() + RATE_REFRESH_SECONDS
        if first or self._share > rate:
            self._restart(full=first)

    def _refill(self) -> None:
        now = self._monotonic()
        self._tokens = min(self._capacity(), self._tokens + (now - self._last) * self._share)
        self._last = now

    # ------------------------------------------------------------ sending
    def wait_seconds(self) -> float:
        """How long the next send would wait."""
        if self._unlimited:
            return 0.0
        self._refresh_rate()
        self._refill()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self._share

    def acquire(self) -> None:
        """Wait for the next send's turn, and take it."""
        if self._unlimited:
            return
        self._refresh_rate()
        if self._monotonic() - self._last_send > IDLE_SECONDS and self._last_send > float("-inf"):
            self._restart(full=False)
        wait = self.wait_seconds()
        if wait > 0:
            self._sleep(wait)
            self._refill()
            self._grow(wait)
        self._tokens -= 1
        self._last_send = self._monotonic()

    def _grow(self, waited: float) -> None:
        """It had more to send than its share let through for ``waited`` seconds."""
        ceiling = self._account or FALLBACK_RATE
        if self._slow_start:
            self._share = min(ceiling, self._share * 2**waited)
        else:
            self._share = min(ceiling, self._share + self.starting_share * waited / GROWTH_SECONDS)

    def throttled(self) -> None:
        """SES refused a send for the account's rate: the share halves (once per
        ``DECREASE_INTERVAL_SECONDS``), slow start ends, and the bucket is emptied."""
        if self._unlimited:
            return
        self.throttles += 1
        now = self._monotonic()
        self._tokens = min(self._tokens, 0.0)
        self._slow_start = False
        if now - self._last_decrease >= DECREASE_INTERVAL_SECONDS:
            self._share = max(MIN_SHARE, self._share / 2)
            self._last_decrease = now
