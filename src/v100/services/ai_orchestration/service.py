"""Agents and their versions: an agent is a name over a line of immutable versions (instructions,
provider and model, temperature, reply bound, tools, knowledge bases); creating one writes
version 1, every change writes the next, and what it is now is its latest. A provider left out
is the installation's default, a model left out the provider's default, both written into the
version, so a version says exactly what it ran with. Anthropic's current API refuses a
temperature: a version that would send one to it is refused (422) rather than failing later."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.db import Page, utcnow
from v100.services.ai_orchestration.errors import (
    AgentNotFound,
    AgentVersionNotFound,
    TemperatureNotSupported,
)
from v100.services.ai_orchestration.knowledge_bases import check_knowledge_bases
from v100.services.ai_orchestration.models import Agent, AgentVersion
from v100.services.ai_orchestration.repository import AgentRepository, AgentVersionRepository
from v100.services.ai_orchestration.settings import AiOrchestrationSettings

__all__ = ["AgentService"]

# The fields of a version, as a body names them.
_FIELDS = (
    "name",
    "instructions",
    "provider",
    "model",
    "temperature",
    "max_tokens",
    "tools",
    "knowledge_base_ids",
)


class AgentService:
    def __init__(self, settings: AiOrchestrationSettings) -> None:
        self.settings = settings

    async def create(
        self, session: AsyncSession, tenant_id: str, fields: dict[str, Any]
    ) -> tuple[Agent, AgentVersion]:
        values = {name: fields.get(name) for name in _FIELDS}
        provider: str = values["provider"] or self.settings.default_provider
        values["provider"] = provider
        values["model"] = values["model"] or self._default_model(provider)
        values["instructions"] = values["instructions"] or ""
        values["tools"] = values["tools"] or []
        values["knowledge_base_ids"] = values["knowledge_base_ids"] or []
        _check(values)
        await check_knowledge_bases(session, tenant_id, values["knowledge_base_ids"] or [])
        agent = await AgentRepository(session).add(
            Agent(tenant_id=tenant_id, name=values["name"], version=1)
        )
        version = await AgentVersionRepository(session).add(
            AgentVersion(
                tenant_id=tenant_id, agent_id=agent.id, version=1, created_at=utcnow(), **values
            )
        )
        return agent, version

    async def update(
        self, session: AsyncSession, tenant_id: str, agent_id: str, changes: dict[str, Any]
    ) -> tuple[Agent, AgentVersion]:
        """A new version with ``changes`` applied to the current one (the same version back
        when nothing changes)."""
        agent, current = await self.current(session, tenant_id, agent_id)
        values = {name: getattr(current, name) for name in _FIELDS}
        if "provider" in changes and changes["provider"] != current.provider:
            # Another provider's models have other names: its default unless one is named.
            values["model"] = self._default_model(changes["provider"])
        values.update(changes)
        if all(values[name] == getattr(current, name) for name in _FIELDS):
            return agent, current
        _check(values)
        if values["knowledge_base_ids"] != current.knowledge_base_ids:
            await check_knowledge_bases(session, tenant_id, values["knowledge_base_ids"] or [])
        agent.version += 1
        agent.name = values["name"]
        agent.updated_at = utcnow()
        version = await AgentVersionRepository(session).add(
            AgentVersion(
                tenant_id=tenant_id,
                agent_id=agent.id,
                version=agent.version,
                created_at=utcnow(),
                **values,
            )
        )
        return agent, version

    async def get(self, session: AsyncSession, tenant_id: str, agent_id: str) -> Agent:
        agent = await AgentRepository(session).get(tenant_id, agent_id)
        if agent is None:
            raise AgentNotFound()
        return agent

    async def current(
        self, session: AsyncSession, tenant_id: str, agent_id: str
    ) -> tuple[Agent, AgentVersion]:
        found = await AgentRepository(session).with_current(tenant_id, agent_id)
        if found is not None:
            return found
        # Which one is missing, for the error: read apart (a failing request only).
        agent = await self.get(session, tenant_id, agent_id)
        return agent, await self.version(session, tenant_id, agent_id, agent.version)

    async def version(
        self, session: AsyncSession, tenant_id: str, agent_id: str, number: int
    ) -> AgentVersion:
        version = await AgentVersionRepository(session).of(tenant_id, agent_id, number)
        if version is None:
            raise AgentVersionNotFound(f"The agent has no version {number}.")
        return version

    async def agents(
        self, session: AsyncSession, tenant_id: str, *, limit: int, cursor: str | None
    ) -> tuple[Page[Agent], dict[str, AgentVersion]]:
        """A page of agents, and each one's current version by agent id."""
        page = await AgentRepository(session).list(tenant_id, limit=limit, cursor=cursor)
        currents = await AgentVersionRepository(session).currents(tenant_id, page.items)
        return page, {version.agent_id: version for version in currents}

    async def versions(
        self,
        session: AsyncSession,
        tenant_id: str,
        agent_id: str,
        *,
        limit: int,
        cursor: str | None,
    ) -> Page[AgentVersion]:
        await self.get(session, tenant_id, agent_id)
        return await AgentVersionRepository(session).page(
            tenant_id, agent_id, limit=limit, cursor=cursor
        )

    async def delete(self, session: AsyncSession, tenant_id: str, agent_id: str) -> None:
        """The agent, its versions, conversations and test runs."""
        if not await AgentRepository(session).delete(tenant_id, agent_id):
            raise AgentNotFound()

    def _default_model(self, provider: str) -> str:
        return self.settings.default_models.get(provider) or provider


def _check(values: dict[str, Any]) -> None:
    if values["provider"] == "anthropic" and values["temperature"] is not None:
        raise TemperatureNotSupported(
            "Anthropic's current API refuses a temperature: leave temperature null for an "
            "Anthropic model (or choose another provider).",
            extra={"errors": [{"loc": ["body", "temperature"], "msg": "not for anthropic"}]},
        )
