"""Limits on the routes that take a password or a refresh token, which carry no credential for the
tier limits to count: per client address and, for logins, per account (the email's digest, so
no address is stored), on the same GCRA limiter as the tier limits (Redis when configured, so
the limit holds across replicas). Over a limit: 429 ``rate-limited`` with ``Retry-After``."""

from __future__ import annotations

from dataclasses import dataclass

from v100.kit.errors import RateLimited
from v100.services.gateway.clients import TrustedProxies
from v100.services.gateway.credentials import digest
from v100.services.gateway.limits import Bucket, Limiter, Rate

__all__ = ["AuthRates", "AuthThrottle"]


@dataclass(frozen=True, slots=True)
class AuthRates:
    login_per_address_per_minute: int
    login_per_account_per_minute: int
    signup_per_address_per_hour: int
    refresh_per_address_per_minute: int


class AuthThrottle:
    def __init__(self, limiter: Limiter, proxies: TrustedProxies, rates: AuthRates) -> None:
        self.limiter = limiter
        self.proxies = proxies

        def per(requests: int, window: int, name: str) -> Rate:
            # The whole allowance may come at once (burst), then it refills evenly.
            return Rate(requests, window, requests, name, "auth")

        self._login_address = per(rates.login_per_address_per_minute, 60, "login-address")
        self._login_account = per(rates.login_per_account_per_minute, 60, "login-account")
        self._signup = per(rates.signup_per_address_per_hour, 3600, "signup-address")
        self._refresh = per(rates.refresh_per_address_per_minute, 60, "refresh-address")

    async def login(self, address: str, email: str) -> None:
        account = digest(email.strip().lower())
        await self._check(
            [
                Bucket(f"auth:login:address:{address}", self._login_address),
                Bucket(f"auth:login:account:{account}", self._login_account),
            ],
            "Too many sign-in attempts.",
        )

    async def signup(self, address: str) -> None:
        await self._check(
            [Bucket(f"auth:signup:address:{address}", self._signup)], "Too many sign-ups."
        )

    async def refresh(self, address: str) -> None:
        await self._check(
            [Bucket(f"auth:refresh:address:{address}", self._refresh)], "Too many refreshes."
        )

    async def _check(self, buckets: list[Bucket], what: str) -> None:
        decision = await self.limiter.check(buckets)
        if not decision.allowed:
            seconds = decision.retry_after_seconds
            raise RateLimited(f"{what} Try again in {seconds} s.", retry_after=seconds)
