"""Limits on the routes that take a password or a refresh token, which carry no credential for the
tier limits to count: per client address and, for logins, per account (the email's digest, so
no address is stored). Over a limit: 429 ``rate-limited`` with ``Retry-After``. The counting is
an ``AttemptLimiter``'s: ``app.py`` hands in the edge's GCRA limiter (Redis when configured, so
the limit holds across replicas), so identity holds the rules and the edge the arithmetic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from v100.kit.errors import RateLimited
from v100.services.gateway.clients import TrustedProxies
from v100.services.gateway.identity.credentials import digest

__all__ = ["Allowance", "AttemptLimiter", "AuthRates", "AuthThrottle"]


@dataclass(frozen=True, slots=True)
class AuthRates:
    login_per_address_per_minute: int
    login_per_account_per_minute: int
    signup_per_address_per_hour: int
    refresh_per_address_per_minute: int


@dataclass(frozen=True, slots=True)
class Allowance:
    """``requests`` per ``window_seconds``, all of which may come at once (then it refills
    evenly); ``name`` says which limit it is in the answer."""

    requests: int
    window_seconds: int
    name: str


class AttemptLimiter(Protocol):
    async def retry_after(self, attempts: Sequence[tuple[str, Allowance]]) -> int | None:
        """Count one attempt against every ``(key, allowance)`` at once, in all or none: None
        when all admit it, else the whole seconds until they would."""


class AuthThrottle:
    def __init__(self, limiter: AttemptLimiter, proxies: TrustedProxies, rates: AuthRates) -> None:
        self.limiter = limiter
        self.proxies = proxies
        self._login_address = Allowance(rates.login_per_address_per_minute, 60, "login-address")
        self._login_account = Allowance(rates.login_per_account_per_minute, 60, "login-account")
        self._signup = Allowance(rates.signup_per_address_per_hour, 3600, "signup-address")
        self._refresh = Allowance(rates.refresh_per_address_per_minute, 60, "refresh-address")

    async def login(self, address: str, email: str) -> None:
        account = digest(email.strip().lower())
        await self._check(
            [
                (f"auth:login:address:{address}", self._login_address),
                (f"auth:login:account:{account}", self._login_account),
            ],
            "Too many sign-in attempts.",
        )

    async def signup(self, address: str) -> None:
        await self._check([(f"auth:signup:address:{address}", self._signup)], "Too many sign-ups.")

    async def refresh(self, address: str) -> None:
        await self._check(
            [(f"auth:refresh:address:{address}", self._refresh)], "Too many refreshes."
        )

    async def _check(self, attempts: list[tuple[str, Allowance]], what: str) -> None:
        seconds = await self.limiter.retry_after(attempts)
        if seconds is not None:
            raise RateLimited(f"{what} Try again in {seconds} s.", retry_after=seconds)
