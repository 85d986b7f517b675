"""The tenants' provider keys: set (sealed with ``kit.sealing`` under a context naming the tenant
and the provider, so a sealed key copied to another row does not open), listed with only a hint
of their last four characters, deleted; and, for a call, the credential to use: the tenant's own
key for the provider, else the operator's (settings), else none.

A tenant's OpenAI-compatible ``base_url`` (a self-hosted server) is held to ``kit.fetch``'s
rules when it is set and again before every call: http/https, no credentials in it, and every
address its host resolves to public unless ``provider_url_allow_cidrs`` allows it. A tenant's
Anthropic or Gemini key is used where the installation reaches that vendor
(``anthropic_base_url``, ``gemini_base_url``: its proxy, or the vendor's own API)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.fetch import FetchPolicy, check_url
from v100.kit.sealing import Sealer
from v100.services.ai_orchestration.errors import ProviderKeyNotFound
from v100.services.ai_orchestration.models import PROVIDERS, ProviderKey
from v100.services.ai_orchestration.repository import ProviderKeyRepository
from v100.services.ai_orchestration.settings import AiOrchestrationSettings, TokenRates

__all__ = ["Credential", "ProviderKeys", "ProviderStatus", "hint_of"]

Source = Literal["tenant", "operator"]


def hint_of(key: str) -> str:
    """What a listing shows of a key: its last four characters."""
    return "…" + key[-4:] if len(key) > 8 else "…"


def _context(tenant_id: str, provider: str) -> str:
    return f"provider-key:{tenant_id}:{provider}"


@dataclass(frozen=True, slots=True)
class Credential:
    """What a call to ``provider`` is made with, and who pays the vendor for it."""

    provider: str
    api_key: str
    base_url: str | None
    source: Source
    rates: TokenRates


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    """One provider as a tenant sees it: whose key a call would use (None: no key at all)."""

    provider: str
    source: Source | None
    key_hint: str | None
    base_url: str | None
    updated_at: datetime | None


class ProviderKeys:
    def __init__(self, settings: AiOrchestrationSettings, sealer: Sealer) -> None:
        self.settings = settings
        self.sealer = sealer
        self.policy = FetchPolicy(allow_cidrs=tuple(settings.provider_url_allow_cidrs))

    async def checked_base_url(self, url: str) -> str:
        """The URL when calls may be sent to it now; ``UrlNotAllowed`` otherwise."""
        return await check_url(url, self.policy)

    async def put(
        self,
        session: AsyncSession,
        tenant_id: str,
        provider: str,
        api_key: str,
        base_url: str | None,
    ) -> ProviderKey:
        """Set (or replace) the tenant's key for ``provider``."""
        if base_url is not None:
            base_url = await self.checked_base_url(base_url)
        repository = ProviderKeyRepository(session)
        row = await repository.of(tenant_id, provider)
        if row is None:
            row = ProviderKey(tenant_id=tenant_id, provider=provider)
        row.sealed_key = self.sealer.seal(api_key, context=_context(tenant_id, provider))
        row.key_hint = hint_of(api_key)
        row.base_url = base_url
        if row.id is None:
            await repository.add(row)
        else:
            await session.flush()
        return row

    async def delete(self, session: AsyncSession, tenant_id: str, provider: str) -> None:
        repository = ProviderKeyRepository(session)
        row = await repository.of(tenant_id, provider)
        if row is None:
            raise ProviderKeyNotFound(f"The tenant has no {provider} key of its own.")
        await session.delete(row)
        await session.flush()

    async def statuses(self, session: AsyncSession, tenant_id: str) -> Sequence[ProviderStatus]:
        """Every provider, with whose key a call would use."""
        rows = {row.provider: row for row in await ProviderKeyRepository(session).all(tenant_id)}
        out = []
        for provider in PROVIDERS:
            row = rows.get(provider)
            if row is not None:
                out.append(
                    ProviderStatus(provider, "tenant", row.key_hint, row.base_url, row.updated_at)
                )
            elif self._operator_key(provider) is not None:
                out.append(ProviderStatus(provider, "operator", None, None, None))
            else:
                out.append(ProviderStatus(provider, None, None, None, None))
        return out

    async def credential(
        self, session: AsyncSession, tenant_id: str, provider: str
    ) -> Credential | None:
        """The key a call to ``provider`` uses for this tenant; None when there is none."""
        statement = select(ProviderKey).where(
            ProviderKey.tenant_id == tenant_id, ProviderKey.provider == provider
        )
        row = (await session.execute(statement)).scalar_one_or_none()
        if row is not None:
            key = self.sealer.open(row.sealed_key, context=_context(tenant_id, provider))
            base_url = row.base_url
            if base_url is not None:
                # Again now: what the host resolves to may have changed since it was set.
                base_url = await self.checked_base_url(base_url)
            elif provider != "openai":
                # Anthropic and Gemini are reached where the installation reaches them (its
                # proxy, or the vendor's API); an OpenAI key without a base URL goes to
                # OpenAI itself, never to the operator's own OpenAI-compatible server.
                base_url = self._operator_url(provider)
            return Credential(provider, key, base_url, "tenant", self.settings.tenant_key_rates)
        operator = self._operator_key(provider)
        if operator is None:
            return None
        return Credential(
            provider,
            operator,
            self._operator_url(provider),
            "operator",
            self.settings.operator_key_rates,
        )

    def _operator_key(self, provider: str) -> str | None:
        secret = {
            "anthropic": self.settings.anthropic_api_key,
            "openai": self.settings.openai_api_key,
            "gemini": self.settings.gemini_api_key,
        }.get(provider)
        return None if secret is None else secret.get_secret_value()

    def _operator_url(self, provider: str) -> str | None:
        return {
            "anthropic": self.settings.anthropic_base_url,
            "openai": self.settings.openai_base_url,
            "gemini": self.settings.gemini_base_url,
        }.get(provider)
