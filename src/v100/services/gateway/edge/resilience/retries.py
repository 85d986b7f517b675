"""When the proxy sends a request again (docs/gateway-traffic.md, "Retries"): idempotent
methods, before anything of the answer went to the caller, with a body the gateway still holds,
after a connect error or a 502/503, within attempts and a retry budget, never into an open
breaker (the proxy asks the breaker)."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When the proxy sends a request again: idempotent methods, before anything of the answer
    went to the caller, with a body it still holds, after a connect error or a 502/503."""

    attempts: int = 2  # retries after the first try
    backoff_seconds: float = 0.025  # full jitter within base * 2**retry
    # Retries in flight to one upstream stay under this share of its requests in flight (at
    # least ``min_concurrency``): Envoy's retry budget, so a failing service is not hit with
    # a multiple of its traffic.
    budget_ratio: float = 0.2
    min_concurrency: int = 3
    # Idempotent requests with a declared body up to this size are read first, so they can be
    # sent again; larger ones stream through once.
    max_body_bytes: int = 64 * 1024

    def within_budget(self, attempt: int, retries_in_flight: int, in_flight: int) -> bool:
        """Whether retry number ``attempt + 1`` fits: attempts left, and the retries already in
        flight to the upstream (this request's own earlier one not held against it) under the
        budget."""
        if attempt >= self.attempts:
            return False
        others = retries_in_flight - (1 if attempt else 0)
        return others < max(self.min_concurrency, self.budget_ratio * in_flight)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (from 1): full jitter (AWS's "exponential
        backoff and jitter"), so retries of many callers spread."""
        return random.uniform(0, self.backoff_seconds * 2 ** (attempt - 1))
