"""The retry schedule: pure arithmetic, no AWS."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from common.logic.sending import MAX_BACKOFF_SECONDS, MAX_PACE_SECONDS, Outcome, Result, SendPolicy, small_jitter


def test_delay_doubles_from_the_base_and_is_capped() -> None:
    policy = SendPolicy(backoff_base_seconds=30)
    assert [policy.backoff(n) for n in range(1, 8)] == [30, 60, 120, 240, 480, 900, 900]


def test_zero_base_retries_at_once() -> None:
    assert SendPolicy(backoff_base_seconds=0).backoff(4) == 0


@given(base=st.integers(0, 900), attempts=st.integers(1, 50))
def test_delay_never_shrinks_and_never_exceeds_the_cap(base: int, attempts: int) -> None:
    policy = SendPolicy(backoff_base_seconds=base)
    assert policy.backoff(attempts) <= policy.backoff(attempts + 1) <= MAX_BACKOFF_SECONDS


@given(delay=st.integers(0, 900))
def test_jitter_is_at_most_a_tenth(delay: int) -> None:
    assert 0 <= small_jitter(delay) <= delay // 10


def test_only_a_retry_or_a_held_record_goes_back_to_the_queue() -> None:
    assert [o for o in Outcome if Result(o).returns_to_queue] == [Outcome.RETRY, Outcome.HELD]


def test_back_pressure_waits_double_from_the_hint_and_are_capped() -> None:
    assert [SendPolicy.pace(5, waits) for waits in range(8)] == [5, 10, 20, 40, 80, 160, 300, 300]
    assert [SendPolicy.pace(300, waits) for waits in range(3)] == [300, 300, 300]
    assert SendPolicy.pace(0, 4) == 0


@given(hint=st.integers(0, 300), waits=st.integers(0, 100))
def test_back_pressure_waits_stay_within_an_sqs_delay(hint: int, waits: int) -> None:
    assert 0 <= SendPolicy.pace(hint, waits) <= MAX_PACE_SECONDS <= 900


def test_a_fresh_copy_one_receive_before_the_dead_letter_queue() -> None:
    policy = SendPolicy(max_receive_count=10)
    assert [n for n in range(1, 12) if policy.needs_fresh_copy(n)] == [9, 10, 11]
