"""The pacer: a token bucket on a fake clock, its share of the account's rate adapted (AIMD)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.logic.pacing import FALLBACK_RATE, RATE_REFRESH_SECONDS, RATE_RETRY_SECONDS, Pacer
from common.models.errors import TransientSendError
from local.ses import SendRate


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_burst_of_one_seconds_worth_then_the_rate() -> None:
    clock = Clock()
    pacer = Pacer(2.0, monotonic=clock.monotonic, sleep=clock.sleep)
    for _ in range(6):
        pacer.acquire()
    assert clock.slept == pytest.approx([0.5] * 4)


def test_time_that_passed_is_credited() -> None:
    clock = Clock()
    pacer = Pacer(2.0, monotonic=clock.monotonic, sleep=clock.sleep)
    pacer.acquire()
    pacer.acquire()
    assert pacer.wait_seconds() == pytest.approx(0.5)
    clock.now += 0.25
    assert pacer.wait_seconds() == pytest.approx(0.25)
    clock.now += 10
    assert pacer.wait_seconds() == 0


def test_unlimited_never_waits() -> None:
    pacer = Pacer.unlimited()
    for _ in range(100):
        pacer.acquire()
    assert pacer.wait_seconds() == 0


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Pacer(0)


@given(rate=st.floats(0.1, 50), sends=st.integers(1, 200))
def test_never_faster_than_the_rate(rate: float, sends: int) -> None:
    # n sends take at least (n - burst) / rate seconds
    clock = Clock()
    pacer = Pacer(rate, monotonic=clock.monotonic, sleep=clock.sleep)
    start = clock.now
    for _ in range(sends):
        pacer.acquire()
    burst = max(1.0, rate)
    assert clock.now - start >= (sends - burst) / rate - 1e-6


# ------------------------------------------------------------ the account's rate, shared by the busy workers
def _saturated(pacer: Pacer, clock: Clock, sends: int) -> float:
    """Seconds ``sends`` back-to-back sends take: the worker always has more to send."""
    start = clock.now
    for _ in range(sends):
        pacer.acquire()
    return clock.now - start


def test_a_worker_alone_uses_the_whole_rate_not_a_fraction() -> None:
    # Given an account of 14 emails a second and up to 7 environments that may send at once
    clock = Clock()
    pacer = Pacer(14.0, workers=7, monotonic=clock.monotonic, sleep=clock.sleep)
    assert pacer.rate_per_second == pytest.approx(2.0)  # it starts at the share of 7 busy workers
    # When it alone sends 1,000 emails (no throttle: no other worker is busy)
    seconds = _saturated(pacer, clock, 1000)
    # Then it climbs to the account's whole rate: 1,000 within the contract's 1.2 x 1,000 / 14 + 60 s,
    # and close to the ideal, where the static share of 2 a second took 500 s
    assert pacer.rate_per_second == pytest.approx(14.0)
    assert seconds <= 1.2 * 1000 / 14 + 60
    assert seconds <= 1000 / 14 + 5
    # and never faster than the account's rate
    assert seconds >= (1000 - 14) / 14 - 1e-6


def test_a_throttle_halves_the_share_once_per_burst_then_it_grows_slowly() -> None:
    clock = Clock()
    pacer = Pacer(20.0, workers=2, monotonic=clock.monotonic, sleep=clock.sleep)
    _saturated(pacer, clock, 200)
    assert pacer.rate_per_second == pytest.approx(20.0)
    # SES refuses three sends of one burst: one halving
    pacer.throttled()
    pacer.throttled()
    pacer.throttled()
    assert pacer.rate_per_second == pytest.approx(10.0)
    assert pacer.throttles == 3
    assert pacer.wait_seconds() > 0  # the bucket was emptied: the next send waits its turn
    clock.now += 1.0
    pacer.throttled()  # a second later: another signal
    assert pacer.rate_per_second == pytest.approx(5.0)
    # Past slow start it grows by a starting share (10/s) every 10 s of waiting, not doubling
    _saturated(pacer, clock, 60)
    assert 5.0 < pacer.rate_per_second <= 5.0 + 10.0 * (clock.now - 101.0) / 10 + 1e-6
    assert pacer.rate_per_second < 20.0


def test_after_idling_it_starts_again_from_the_starting_share() -> None:
    clock = Clock()
    pacer = Pacer(14.0, workers=7, monotonic=clock.monotonic, sleep=clock.sleep)
    _saturated(pacer, clock, 200)
    assert pacer.rate_per_second == pytest.approx(14.0)
    clock.now += 11  # longer than IDLE_SECONDS without a send
    pacer.acquire()
    assert pacer.rate_per_second == pytest.approx(2.0)


def test_the_rate_is_read_from_ses_at_the_first_send_and_again_every_ten_minutes() -> None:
    clock = Clock()
    rates = [14.0, 50.0]
    reads: list[float] = []

    def read() -> float:
        reads.append(clock.now)
        return rates[min(len(reads) - 1, 1)]

    pacer = Pacer(None, workers=7, read_rate=read, monotonic=clock.monotonic, sleep=clock.sleep)
    assert reads == []  # nothing read at the cold start
    pacer.acquire()
    assert pacer.account_rate == 14.0 and pacer.rate_per_second == pytest.approx(2.0)
    _saturated(pacer, clock, 100)
    assert len(reads) == 1
    clock.now = 100.0 + RATE_REFRESH_SECONDS
    pacer.acquire()
    assert len(reads) == 2 and pacer.account_rate == 50.0


def test_an_unreadable_rate_paces_to_the_lowest_an_account_has_and_is_read_again() -> None:
    clock = Clock()
    answers: list[float | Exception] = [TransientSendError("GetAccount: throttled"), 14.0]

    def read() -> float:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    pacer = Pacer(None, workers=1, read_rate=read, monotonic=clock.monotonic, sleep=clock.sleep)
    pacer.acquire()
    assert pacer.account_rate is None and pacer.rate_per_second == pytest.approx(FALLBACK_RATE)
    _saturated(pacer, clock, 5)
    assert pacer.rate_per_second == pytest.approx(FALLBACK_RATE)  # never past what it knows
    clock.now += RATE_RETRY_SECONDS
    pacer.acquire()
    assert pacer.account_rate == 14.0 and answers == []


class _Worker:
    """One execution environment's clock and pacer: its time passes as it sleeps and sends."""

    def __init__(self, rate: float) -> None:
        self.now = 0.0
        self.pacer = Pacer(None, workers=7, read_rate=lambda: rate, monotonic=self.monotonic, sleep=self.sleep)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(("busy", "rate"), [(2, 20.0), (3, 14.0)])
def test_busy_workers_share_the_rate_among_themselves_without_calling_each_other(busy: int, rate: float) -> None:
    # Given SES's rate as a bucket of one second's sends (as SES and the embedded SES keep it)
    now = [0.0]
    ses = SendRate(rate, clock=lambda: now[0])
    workers = [_Worker(rate) for _ in range(busy)]
    sent = throttled = 0
    last = 0.0
    # When each sends as fast as its pacer lets it (30 ms a send), 1,000 in all
    while sent < 1000:
        turn = min(workers, key=lambda w: w.now + w.pacer.wait_seconds())
        turn.pacer.acquire()
        now[0] = max(now[0], turn.now)
        if ses.take():
            sent, last = sent + 1, now[0]
        else:
            throttled += 1
            turn.pacer.throttled()
        turn.now += 0.03
    # Then together they use the rate: within 1.2 x ideal + 60 s, and close to the ideal,
    # with few of SES's refusals (each costs the job a wait: docs/adr/0074-pacing-to-the-accounts-rate.md)
    ideal = 1000 / rate
    assert last <= 1.2 * ideal + 60
    assert last <= 1.1 * ideal
    assert throttled <= 0.03 * 1000
