"""Counted attempts on the same limiter as the tier limits, for rules that live elsewhere (the
identity room's sign-in limits): each ``(key, allowance)`` becomes a GCRA bucket, and one
attempt is decided against all of them at once, recorded in all or none."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from v100.services.gateway.edge.limits._gcra import Bucket, Rate
from v100.services.gateway.edge.limits._limiter import Limiter

__all__ = ["AttemptLimits"]


class _Allowance(Protocol):
    @property
    def requests(self) -> int: ...
    @property
    def window_seconds(self) -> int: ...
    @property
    def name(self) -> str: ...


class AttemptLimits:
    def __init__(self, limiter: Limiter, group: str = "auth") -> None:
        self.limiter = limiter
        self.group = group
        self._rates: dict[tuple[int, int, str], Rate] = {}

    def _rate(self, allowance: _Allowance) -> Rate:
        key = (allowance.requests, allowance.window_seconds, allowance.name)
        rate = self._rates.get(key)
        if rate is None:
            # The whole allowance may come at once (burst), then it refills evenly.
            rate = self._rates[key] = Rate(
                allowance.requests,
                allowance.window_seconds,
                allowance.requests,
                allowance.name,
                self.group,
            )
        return rate

    async def retry_after(self, attempts: Sequence[tuple[str, _Allowance]]) -> int | None:
        decision = await self.limiter.check([Bucket(key, self._rate(a)) for key, a in attempts])
        return None if decision.allowed else decision.retry_after_seconds
