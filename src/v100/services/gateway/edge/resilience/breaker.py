"""The circuit breaker the gateway keeps per upstream service: closed while the service answers,
open (callers get 503 at once, the service is left alone) after too many failures in a sliding
window or in a row, then half-open with a few probe requests that close it again or reopen it
for longer. Active health checks can hold it open while the service is down. Pure bookkeeping:
no I/O, no awaits, so every decision is atomic on the event loop."""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["BreakerPolicy", "BreakerState", "CircuitBreaker", "Ticket"]


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Ticket(enum.IntEnum):
    """What an admitted request holds until its outcome is known."""

    NORMAL = 1
    PROBE = 2  # one of the few requests let through while half-open


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When the breaker trips and how it recovers (Envoy's outlier detection and resilience4j's
    breaker, reduced to what one upstream address needs)."""

    enabled: bool = True
    # Trip on this share of failures among the requests of the last ``window_seconds``...
    failure_ratio: float = 0.5
    window_seconds: float = 10.0
    # ...once at least this many were seen, so three unlucky requests never trip it (the
    # minimum Traefik lacked until its RequestThreshold(), traefik#10963)...
    minimum_requests: int = 20
    # ...or on this many failures in a row, whatever the volume (Envoy's consecutive_5xx).
    consecutive_failures: int = 5
    # Open this long the first time; each reopening from half-open doubles it, up to the max
    # (Envoy's base/max ejection time), so a service that keeps failing is probed less often.
    open_seconds: float = 5.0
    max_open_seconds: float = 60.0
    # Requests let through at once while half-open; that many successes close the breaker.
    half_open_probes: int = 3


_BUCKETS = 10


class _Window:
    """Requests and failures over the last ``seconds``, in ten buckets: O(1) to record, O(10)
    to read (done only on a failure, when the ratio can have crossed the threshold)."""

    __slots__ = ("_failed", "_stamps", "_total", "_width")

    def __init__(self, seconds: float) -> None:
        self._width = seconds / _BUCKETS
        self._stamps = [-1] * _BUCKETS
        self._total = [0] * _BUCKETS
        self._failed = [0] * _BUCKETS

    def add(self, now: float, failed: bool) -> None:
        tick = int(now / self._width)
        slot = tick % _BUCKETS
        if self._stamps[slot] != tick:
            self._stamps[slot] = tick
            self._total[slot] = 0
            self._failed[slot] = 0
        self._total[slot] += 1
        if failed:
            self._failed[slot] += 1

    def counts(self, now: float) -> tuple[int, int]:
        oldest = int(now / self._width) - _BUCKETS
        total = failed = 0
        for slot, stamp in enumerate(self._stamps):
            if stamp > oldest:
                total += self._total[slot]
                failed += self._failed[slot]
        return total, failed

    def clear(self) -> None:
        self._stamps = [-1] * _BUCKETS


Transition = Callable[[str, BreakerState, BreakerState, str], None]


class CircuitBreaker:
    """One upstream's breaker. ``admit`` before calling the upstream; then exactly one of
    ``record`` (the upstream answered or failed) or ``release`` (nothing was learnt: the caller
    went away first) for every ticket it gave."""

    def __init__(
        self,
        name: str,
        policy: BreakerPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.policy = policy or BreakerPolicy()
        self.state = BreakerState.CLOSED
        # Held open by failing active health checks, whatever the traffic says.
        self.down = False
        self.down_retry_after = 1.0
        self.on_transition: Transition | None = None
        self._clock = clock
        self._window = _Window(self.policy.window_seconds)
        self._consecutive = 0
        self._open_until = 0.0
        self._trips = 0  # reopenings since the last close: the cool-down grows with them
        self._probes = 0  # probe tickets out
        self._probe_successes = 0

    # --- the request path -----------------------------------------------------------------

    def admit(self) -> Ticket | None:
        """A ticket to call the upstream, or None: answer 503 without calling it."""
        if self.state is BreakerState.CLOSED and not self.down:
            return Ticket.NORMAL
        if self.down or not self.policy.enabled:
            return None if self.down else Ticket.NORMAL
        if self.state is BreakerState.OPEN:
            if self._clock() < self._open_until:
                return None
            self._move(BreakerState.HALF_OPEN, "cool-down over")
            self._probes = 0
            self._probe_successes = 0
        if self._probes >= self.policy.half_open_probes:
            return None
        self._probes += 1
        return Ticket.PROBE

    def record(self, ticket: Ticket, ok: bool) -> None:
        """The outcome of an admitted call: ``ok`` unless it failed to connect, timed out or the
        upstream answered 502/503/504 (a 4xx or 500 is an answer, not an outage)."""
        policy = self.policy
        if ticket is Ticket.PROBE:
            self._probes = max(0, self._probes - 1)
            if self.state is not BreakerState.HALF_OPEN:
                return  # a health check moved the breaker meanwhile
            if not ok:
                self._trip("a probe failed")
            else:
                self._probe_successes += 1
                if self._probe_successes >= policy.half_open_probes:
                    self._close("probes succeeded")
            return
        if self.state is not BreakerState.CLOSED or not policy.enabled:
            return  # answers of calls admitted before it opened decide nothing now
        now = self._clock()
        self._window.add(now, not ok)
        if ok:
            self._consecutive = 0
            return
        self._consecutive += 1
        if self._consecutive >= policy.consecutive_failures:
            self._trip(f"{self._consecutive} failures in a row")
            return
        total, failed = self._window.counts(now)
        if total >= policy.minimum_requests and failed >= policy.failure_ratio * total:
            self._trip(f"{failed} of {total} requests failed in {policy.window_seconds:g} s")

    def release(self, ticket: Ticket) -> None:
        """The call ended without telling anything about the upstream."""
        if ticket is Ticket.PROBE:
            self._probes = max(0, self._probes - 1)

    def retry_after(self) -> int:
        """Whole seconds until the upstream may be tried again (for ``Retry-After``)."""
        if self.down:
            return max(1, math.ceil(self.down_retry_after))
        return max(1, math.ceil(self._open_until - self._clock()))

    # --- active health checks -------------------------------------------------------------

    def mark_down(self, reason: str, retry_after: float) -> None:
        """Failing health checks: refuse every request until ``mark_up``."""
        self.down_retry_after = retry_after
        if not self.down:
            self.down = True
            self._move(BreakerState.OPEN, f"health checks failed: {reason}")

    def mark_up(self) -> None:
        """Health checks pass again: the upstream takes traffic at once, with a clean slate."""
        if self.down:
            self.down = False
            self._close("health checks pass")

    # --- transitions ----------------------------------------------------------------------

    def _trip(self, reason: str) -> None:
        policy = self.policy
        seconds = min(policy.open_seconds * 2**self._trips, policy.max_open_seconds)
        self._trips += 1
        self._open_until = self._clock() + seconds
        self._consecutive = 0
        self._window.clear()
        self._move(BreakerState.OPEN, f"{reason}; open for {seconds:g} s")

    def _close(self, reason: str) -> None:
        self._trips = 0
        self._consecutive = 0
        self._probes = 0
        self._window.clear()
        self._move(BreakerState.CLOSED, reason)

    def _move(self, to: BreakerState, reason: str) -> None:
        previous, self.state = self.state, to
        if previous is not to:
            self._notify(previous, to, reason)

    def _notify(self, previous: BreakerState, to: BreakerState, reason: str) -> None:
        if self.on_transition is not None:
            self.on_transition(self.name, previous, to, reason)
