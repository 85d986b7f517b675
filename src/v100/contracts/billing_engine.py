"""What other services use of billing_engine: a typed async client for the tier a tenant's
subscription gives it (the gateway's rate limits read it), over ``kit.http.ServiceClient``.
billing_engine announces every change of it as ``subscription.changed`` (contracts/events.py).

    engine = BillingEngineClient(ServiceClient("http://127.0.0.1:8086", runtime.tokens), "gateway")
    tier = await engine.tier(tenant_id)         # TenantTier(tier="pro", subscription_id="...")

Failures raise ``BillingEngineError`` (an answer that is not the tier) or the kit's
``UpstreamUnavailable`` (no answer); callers on a request path decide what to fall back to.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

from v100.contracts._calls import Refused, problem_of
from v100.kit.auth import Principal
from v100.kit.http import ServiceClient

__all__ = ["TIER_PATH", "BillingEngineClient", "BillingEngineError", "TenantTier"]

TIER_PATH = "/v1/subscriptions/current/tier"
# The gateway asks on the tenant's behalf, not as one of its users or keys: it reads only.
_READER_SCOPES = frozenset({"billing:read"})


class TenantTier(BaseModel):
    """``free`` and no subscription id when the tenant has no live subscription."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    tier: str
    subscription_id: str | None = None


class BillingEngineError(Refused):
    """billing_engine answered, but not with what was asked; ``problem`` is its body."""


class BillingEngineClient:
    """``caller`` names the calling service: reads on a tenant's behalf that no user or key of
    it made go as ``service:<caller>`` (the token's subject; kit tokens need one)."""

    def __init__(self, client: ServiceClient, caller: str) -> None:
        self._client = client
        self._caller = f"service:{caller}"

    async def tier(self, tenant_id: str) -> TenantTier:
        """The tier the tenant's live subscription gives it."""
        principal = Principal(
            tenant_id=tenant_id, user_id=self._caller, scopes=_READER_SCOPES, role="service"
        )
        response = await self._client.get(TIER_PATH, principal=principal)
        if response.status_code != 200:
            raise BillingEngineError(response.status_code, problem_of(response))
        try:
            return TenantTier.model_validate_json(response.content)
        except ValidationError as exc:
            raise BillingEngineError(200, {"detail": str(exc)[:200]}) from exc

    async def aclose(self) -> None:
        await self._client.aclose()
