"""The delivery policy's moving parts: retry delays, the circuit breaker per channel endpoint, and the throttle
per recipient. All are in-process (each instance keeps its own; docs/notifications.md says what that means for
several instances). Times are ``time.monotonic()`` seconds unless a parameter says otherwise.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Breaker", "Throttle", "retry_delay"]


def retry_delay(
    attempt: int,
    delays: list[float],
    jitter: float,
    retry_after: float | None = None,
    max_retry_after: float = 300.0,
    rng: random.Random | None = None,
) -> float:
    """Seconds before the retry that follows failed attempt ``attempt`` (1-based): the provider's Retry-After when
    it gave one (capped), else ``delays[attempt - 1]`` (the last repeats) with up to ``jitter`` of it added or
    taken at random, so retries of many pages do not arrive together."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), max_retry_after)
    base = delays[min(attempt, len(delays)) - 1]
    if jitter <= 0 or base <= 0:
        return base
    spread = (rng or random).uniform(-jitter, jitter)
    return max(0.0, base * (1.0 + spread))


@dataclass(slots=True)
class Breaker:
    """Closed → ``failures`` consecutive failures → open for ``open_for`` seconds → half-open: one probe is let
    through; its success closes the breaker, its failure opens it again."""

    failures: int = 5
    open_for: float = 60.0
    consecutive: int = 0
    open_until: float = 0.0
    probing: bool = False
    #: how often it opened (a metric)
    opened: int = 0

    @property
    def state(self) -> str:
        if self.open_until == 0.0:
            return "closed"
        return "half_open" if self.probing else "open"

    def allow(self, now: float) -> bool:
        """May a send go out now? In half-open state, only the first caller (the probe) gets True."""
        if self.open_until == 0.0:
            return True
        if now < self.open_until or self.probing:
            return False
        self.probing = True
        return True

    def retry_at(self, now: float) -> float:
        """When a send held back by the open breaker should try again."""
        return max(self.open_until, now)

    def success(self) -> None:
        self.consecutive = 0
        self.open_until = 0.0
        self.probing = False

    def failure(self, now: float) -> None:
        self.consecutive += 1
        if self.probing or (self.open_until == 0.0 and self.consecutive >= self.failures):
            self.open_until = now + self.open_for
            self.opened += 1
        self.probing = False


@dataclass(slots=True)
class Throttle:
    """At most one send per ``interval`` seconds (a token bucket holding ``burst`` sends)."""

    interval: float
    burst: int = 1
    tokens: float = -1.0
    stamp: float = 0.0

    def available(self, now: float) -> float:
        """How many sends may go now (infinite for an unthrottled recipient); takes nothing."""
        if self.interval <= 0:
            return float("inf")
        if self.tokens < 0:
            return float(self.burst)
        return min(float(self.burst), self.tokens + (now - self.stamp) / self.interval)

    def wait(self, now: float) -> float:
        """Seconds until a send may go (0 when one may now); takes nothing."""
        tokens = self.available(now)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) * self.interval

    def take(self, now: float) -> float:
        """0 when a send may go now (and takes its token), else how many seconds until one may."""
        if self.interval <= 0:
            return 0.0
        if self.tokens < 0:  # first use: a full bucket
            self.tokens, self.stamp = float(self.burst), now
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) / self.interval)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) * self.interval
