"""The pacer: a token bucket on a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.logic.pacing import Pacer


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
