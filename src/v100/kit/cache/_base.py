"""The cache interface both backends implement: bytes by string key, each entry with a time to
live. A cache may forget anything at any time; callers treat a miss as normal."""

from __future__ import annotations

from abc import ABC, abstractmethod

__all__ = ["Cache"]


class Cache(ABC):
    @abstractmethod
    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""

    @abstractmethod
    async def set(self, key: str, value: bytes, ttl_seconds: float | None) -> None:
        """Store ``value``; it expires after ``ttl_seconds`` (> 0). None keeps it until it is
        evicted, which callers choose on purpose, hence no default."""

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Forget ``key``; True when it was there."""

    @abstractmethod
    async def ping(self) -> bool:
        """True when the backend answers (for ``/ready``); never raises for an outage."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections (the in-process cache drops its entries)."""


def check_ttl(ttl_seconds: float | None) -> None:
    if ttl_seconds is not None and ttl_seconds <= 0:
        raise ValueError(f"ttl_seconds must be positive or None, not {ttl_seconds}")
