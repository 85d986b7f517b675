"""The service's one clock: what "now" is for messages, retries, leases and the failing-endpoint
rule. Tests move it (``advance``) instead of waiting hours for the retry schedule."""

from __future__ import annotations

from datetime import datetime, timedelta

from v100.kit.db import utcnow

__all__ = ["Clock"]


class Clock:
    def __init__(self) -> None:
        self.shift = timedelta(0)

    def now(self) -> datetime:
        return utcnow() + self.shift

    def advance(self, seconds: float) -> None:
        self.shift += timedelta(seconds=seconds)
