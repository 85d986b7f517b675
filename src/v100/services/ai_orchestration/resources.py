"""What ai_orchestration's requests and jobs work with besides their database session: its
settings, the tenants' keys (and the sealer that opens them), the chat model clients, billing's
client while tokens cost credits, the token budgets and rag_engine's client (knowledge bases).
The app opens them at start-up and hands them to its endpoints (``Provided(Resources)``) and to
the jobs it runs; a ``v100 worker ai_orchestration`` process opens its own from the environment
on first use."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from v100.ai.chunking import count_tokens
from v100.contracts.billing import BillingClient, connect_billing
from v100.contracts.rag import RagClient, connect_rag
from v100.kit.auth import InternalTokens
from v100.kit.http import Component, Runtime, ServiceClient
from v100.kit.sealing import Sealer
from v100.services.ai_orchestration.budgets import TokenBudgets
from v100.services.ai_orchestration.chat_models import ChatModels
from v100.services.ai_orchestration.keys import ProviderKeys
from v100.services.ai_orchestration.settings import AiOrchestrationSettings

__all__ = ["RESOURCES", "ResourceSlot", "Resources"]


@dataclass
class Resources:
    settings: AiOrchestrationSettings
    keys: ProviderKeys
    models: ChatModels
    budgets: TokenBudgets
    # None: tokens cost nothing here (billing off).
    billing: BillingClient | None
    rag: RagClient
    # The platform_api tools' clients, by service, made on first use.
    platform_clients: dict[str, ServiceClient] = field(default_factory=dict)

    @classmethod
    def open(cls, settings: AiOrchestrationSettings) -> Resources:
        billing = (
            connect_billing(settings.billing_url, settings.platform)
            if settings.billing_enabled
            else None
        )
        return cls(
            settings=settings,
            keys=ProviderKeys(settings, Sealer.from_settings(settings.platform)),
            models=ChatModels(settings),
            budgets=TokenBudgets(settings.platform.redis_url),
            billing=billing,
            rag=connect_rag(settings.rag_engine_url, settings.platform),
        )

    def platform_client(self, service: str) -> ServiceClient:
        """A client of ``service`` for the agents' platform_api tools (calls signed as the
        caller, as the gateway signs them)."""
        if service not in self.platform_clients:
            platform = self.settings.platform
            tokens = InternalTokens(
                platform.resolved_internal_token_secret, platform.internal_token_ttl_seconds
            )
            url = self.settings.platform_urls[service]
            self.platform_clients[service] = ServiceClient(url, tokens, timeout=30.0)
        return self.platform_clients[service]

    async def close(self) -> None:
        for client in self.platform_clients.values():
            await client.aclose()
        await self.models.aclose()
        await self.budgets.aclose()
        await self.rag.aclose()
        if self.billing is not None:
            await self.billing.aclose()


def warm_up(settings: AiOrchestrationSettings) -> None:
    """Load what the first call would otherwise load on the event loop: the cl100k tables its
    estimate counts with (near a second), and the SDK of each provider the operator has a key
    for (its import, seconds on a loaded machine)."""
    count_tokens("")
    if settings.anthropic_api_key is not None:
        import anthropic  # noqa: F401
    if settings.openai_api_key is not None:
        import openai  # noqa: F401


class ResourceSlot:
    """The process's resources: the app's, installed at start-up, or (a worker process) ones
    opened from the environment the first time a job asks."""

    def __init__(self) -> None:
        self._installed: Resources | None = None
        self._lock = asyncio.Lock()

    def installed(self, settings: AiOrchestrationSettings) -> Component:
        """The app's component: opened at start-up, provided to endpoints, closed at shutdown."""

        @contextlib.asynccontextmanager
        async def component(runtime: Runtime) -> AsyncIterator[None]:
            # Off the event loop, once per process: not inside the first call's time to
            # first token.
            await asyncio.to_thread(warm_up, settings)
            resources = Resources.open(settings)
            self._installed = resources
            runtime.provide(resources)
            try:
                yield
            finally:
                if self._installed is resources:
                    self._installed = None
                await resources.close()

        return component

    async def current(self) -> Resources:
        if self._installed is not None:
            return self._installed
        async with self._lock:
            if self._installed is None:
                self._installed = Resources.open(AiOrchestrationSettings())
            return self._installed


RESOURCES = ResourceSlot()
