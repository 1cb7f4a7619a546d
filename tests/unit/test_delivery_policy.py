"""The delivery policy's parts: retry delays, the circuit breaker and the throttle (notify/policy.py)."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from llm_incident_manager.notify.policy import Breaker, Throttle, retry_delay

SEED_DELAYS = [1.0, 2.0, 4.0, 8.0, 16.0]


def test_retry_delays_follow_the_seed_without_jitter() -> None:
    assert [retry_delay(n, SEED_DELAYS, 0.0) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 16.0]


@given(attempt=st.integers(1, 20), jitter=st.floats(0.0, 1.0), seed=st.integers(0, 2**32))
def test_jitter_stays_within_its_share(attempt: int, jitter: float, seed: int) -> None:
    base = SEED_DELAYS[min(attempt, len(SEED_DELAYS)) - 1]
    delay = retry_delay(attempt, SEED_DELAYS, jitter, rng=random.Random(seed))
    assert base * (1 - jitter) - 1e-9 <= delay <= base * (1 + jitter) + 1e-9


def test_jitter_spreads_retries() -> None:
    rng = random.Random(7)
    delays = {round(retry_delay(3, SEED_DELAYS, 0.2, rng=rng), 6) for _ in range(50)}
    assert len(delays) > 40


@given(retry_after=st.floats(0, 10_000), cap=st.floats(1, 600))
def test_retry_after_wins_and_is_capped(retry_after: float, cap: float) -> None:
    assert retry_delay(1, SEED_DELAYS, 0.5, retry_after, cap) == min(retry_after, cap)


def test_breaker_opens_after_consecutive_failures_then_probes_once() -> None:
    breaker = Breaker(failures=5, open_for=60.0)
    for _ in range(4):
        assert breaker.allow(0.0)
        breaker.failure(0.0)
    assert breaker.state == "closed"
    breaker.success()  # a success in between resets the count
    for _ in range(5):
        assert breaker.allow(1.0)
        breaker.failure(1.0)
    assert breaker.state == "open"
    assert not breaker.allow(30.0)
    assert breaker.retry_at(30.0) == 61.0
    assert breaker.allow(61.0)  # the probe
    assert breaker.state == "half_open"
    assert not breaker.allow(61.5)  # only one probe at a time
    breaker.failure(62.0)  # the probe failed: open again for the whole period
    assert breaker.state == "open"
    assert not breaker.allow(100.0)
    assert breaker.allow(122.0)
    breaker.success()
    assert breaker.state == "closed"
    assert breaker.allow(122.1)
    assert breaker.opened == 2


@given(events=st.lists(st.tuples(st.booleans(), st.floats(0, 5)), max_size=60))
def test_breaker_never_lets_two_probes_through(events: list[tuple[bool, float]]) -> None:
    """Whatever the order of results, while open at most one caller is let through until it reports."""
    breaker = Breaker(failures=2, open_for=10.0)
    now = 0.0
    in_flight = 0
    for ok, step in events:
        now += step
        was_open = breaker.state != "closed"
        if breaker.allow(now):
            if was_open:
                in_flight += 1
                assert in_flight == 1
            if ok:
                breaker.success()
            else:
                breaker.failure(now)
            in_flight = 0


def test_throttle_holds_back_and_says_how_long() -> None:
    throttle = Throttle(interval=1.0, burst=1)
    assert throttle.take(10.0) == 0.0
    wait = throttle.take(10.25)
    assert abs(wait - 0.75) < 1e-9
    assert throttle.take(11.0) == 0.0


@given(times=st.lists(st.floats(0, 0.5), min_size=1, max_size=100), burst=st.integers(1, 6))
def test_throttle_never_exceeds_its_rate(times: list[float], burst: int) -> None:
    """Over any run, sends allowed ≤ burst + elapsed / interval."""
    throttle = Throttle(interval=1.0, burst=burst)
    now, allowed = 0.0, 0
    for step in times:
        now += step
        if throttle.take(now) == 0.0:
            allowed += 1
    assert allowed <= burst + now / 1.0 + 1e-9


def test_unthrottled_channel_never_waits() -> None:
    throttle = Throttle(interval=0.0)
    assert all(throttle.take(0.0) == 0.0 for _ in range(100))
