"""What other services use of billing: a typed async client for credits (reserve, capture,
release, deduct, balance) over ``kit.http.ServiceClient``, the models of its payloads, and the
low-balance event types it publishes on the ``credits`` stream.

    credits = connect_billing(settings.billing_url, settings.platform)  # aclose() when done
    hold = await credits.reserve(principal, 120, reason="transcode", reference=video_id,
                                 idempotency_key=f"transcode:{video_id}:hold")
    ...                                                   # do the work
    await credits.capture(principal, hold.id, 97, idempotency_key=f"transcode:{video_id}:cap")

Each call carries an idempotency key (derive it from the work, so a retry after a crash sends
the same one); the ServiceClient retries such calls on network errors and 502/503/504.
Refusals raise ``InsufficientCredits`` (409 insufficient-credits) or ``BillingError``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict

from v100.contracts._calls import Refused, platform_tokens, problem_of
from v100.kit.auth import Principal
from v100.kit.http import ServiceClient
from v100.kit.settings import PlatformSettings

__all__ = [
    "CREDITS_EXHAUSTED",
    "CREDITS_LOW",
    "CREDITS_STREAM",
    "SPEND_SCOPES",
    "BillingClient",
    "BillingError",
    "CreditBalance",
    "CreditGrantInfo",
    "CreditHold",
    "CreditsCrossing",
    "Deduction",
    "InsufficientCredits",
    "connect_billing",
    "spending_for",
]

# What a service's calls to billing carry: the tenant it works for, and only the scope to spend.
SPEND_SCOPES = frozenset({"service:credits"})


def spending_for(tenant_id: str) -> Principal:
    """The identity of a service's hold, capture, release or deduction for ``tenant_id``: no
    user, no key, ``service:credits`` only (no tenant credential can hold it)."""
    return Principal(tenant_id=tenant_id, scopes=SPEND_SCOPES, role="service")


CREDITS_STREAM = "credits"
CREDITS_LOW = "credits.low"
CREDITS_EXHAUSTED = "credits.exhausted"


class CreditsCrossing(BaseModel):
    """``data`` of credits.low and credits.exhausted."""

    available: int
    previous: int
    threshold: int


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CreditHold(_Payload):
    id: str
    amount: int
    captured_amount: int | None
    status: Literal["held", "captured", "released", "expired"]
    reason: str
    reference: str | None
    expires_at: datetime
    closed_at: datetime | None
    created_at: datetime


class Deduction(_Payload):
    id: str
    amount: int
    reason: str | None
    reference: str | None
    available_after: int
    created_at: datetime


class CreditGrantInfo(_Payload):
    id: str
    category: str
    priority: int
    amount: int
    remaining: int
    source: str
    expires_at: datetime | None


class CreditBalance(_Payload):
    available: int
    held: int
    by_category: dict[str, int]
    grants: list[CreditGrantInfo]


class BillingError(Refused):
    """billing refused a call; ``problem`` is its RFC 9457 body."""


class InsufficientCredits(BillingError):
    @property
    def available(self) -> int | None:
        value = self.problem.get("available")
        return int(value) if value is not None else None


class BillingClient:
    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def aclose(self) -> None:
        """Close the connections (of a client made by ``connect_billing``)."""
        await self._client.aclose()

    async def reserve(
        self,
        principal: Principal,
        amount: int,
        *,
        reason: str,
        idempotency_key: str,
        reference: str | None = None,
        expires_at: datetime | None = None,
    ) -> CreditHold:
        body: dict[str, Any] = {"amount": amount, "reason": reason, "reference": reference}
        if expires_at is not None:
            body["expires_at"] = expires_at.isoformat()
        response = await self._post(principal, "/v1/credits/holds", body, idempotency_key)
        return CreditHold.model_validate(response)

    async def capture(
        self, principal: Principal, hold_id: str, amount: int, *, idempotency_key: str
    ) -> CreditHold:
        path = f"/v1/credits/holds/{hold_id}/capture"
        response = await self._post(principal, path, {"amount": amount}, idempotency_key)
        return CreditHold.model_validate(response)

    async def release(
        self, principal: Principal, hold_id: str, *, idempotency_key: str
    ) -> CreditHold:
        path = f"/v1/credits/holds/{hold_id}/release"
        return CreditHold.model_validate(await self._post(principal, path, None, idempotency_key))

    async def deduct(
        self,
        principal: Principal,
        amount: int,
        *,
        reason: str,
        idempotency_key: str,
        reference: str | None = None,
    ) -> Deduction:
        body = {"amount": amount, "reason": reason, "reference": reference}
        response = await self._post(principal, "/v1/credits/deductions", body, idempotency_key)
        return Deduction.model_validate(response)

    async def balance(self, principal: Principal) -> CreditBalance:
        response = await self._client.get("/v1/credits/balance", principal=principal)
        return CreditBalance.model_validate(_answer(response))

    async def _post(
        self, principal: Principal, path: str, body: dict[str, Any] | None, key: str
    ) -> Any:
        response = await self._client.post(
            path, principal=principal, json=body, headers={"Idempotency-Key": key}
        )
        return _answer(response)


def connect_billing(
    url: str, platform: PlatformSettings, *, timeout: float = 15.0
) -> BillingClient:
    """A client of billing at ``url`` that signs its calls with the platform's internal token
    secret; it owns its connections (``aclose``)."""
    tokens = platform_tokens(platform)
    return BillingClient(ServiceClient(url, tokens, timeout=timeout))


def _answer(response: httpx.Response) -> Any:
    if response.status_code < 400:
        return response.json()
    problem = problem_of(response)
    if problem.get("type") == "/problems/insufficient-credits":
        raise InsufficientCredits(response.status_code, problem)
    raise BillingError(response.status_code, problem)
