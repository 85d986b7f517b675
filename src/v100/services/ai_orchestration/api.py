"""ai_orchestration's endpoints under ``/v1/agents``: the tenant's provider keys
(``/v1/agents/providers``: set, list with a hint only, delete), and agents with their immutable
versions (create, list, read, change: a new version, delete). Thin: parse, check the scope,
call the domain, shape."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Response

from v100.kit.auth import Principal
from v100.kit.db import InvalidCursorError
from v100.kit.errors import BadRequest, ValidationFailed
from v100.kit.http import Authorized, SessionDep
from v100.kit.idempotency import IdempotencyKey, idempotent
from v100.services.ai_orchestration.deps import AgentsDep, KeysDep
from v100.services.ai_orchestration.keys import ProviderStatus
from v100.services.ai_orchestration.models import Agent, AgentVersion
from v100.services.ai_orchestration.schemas import (
    AgentCreate,
    AgentOut,
    AgentPage,
    AgentUpdate,
    AgentVersionOut,
    AgentVersionPage,
    Provider,
    ProviderKeyIn,
    ProviderOut,
    ProviderPage,
)

__all__ = ["PREFIX", "agents_router", "providers_router"]

AgentsRead = Annotated[Principal, Depends(Authorized("agents:read"))]
AgentsWrite = Annotated[Principal, Depends(Authorized("agents:write"))]

PREFIX = "/v1/agents"
# Listed first: its paths are matched before the agents' ``/{agent_id}``.
providers_router = APIRouter(prefix=f"{PREFIX}/providers", tags=["agents"])
agents_router = APIRouter(prefix=PREFIX, tags=["agents"])

T = TypeVar("T")
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]
AgentId = Annotated[str, Path(max_length=36)]
VersionNumber = Annotated[int, Path(ge=1, le=1_000_000)]


def _provider(status: ProviderStatus) -> ProviderOut:
    return ProviderOut.model_validate(status, from_attributes=True)


def agent_out(agent: Agent, version: AgentVersion) -> AgentOut:
    return AgentOut(
        id=agent.id,
        version=agent.version,
        name=version.name,
        instructions=version.instructions,
        provider=version.provider,
        model=version.model,
        temperature=version.temperature,
        max_tokens=version.max_tokens,
        tools=version.tools,
        knowledge_base_ids=version.knowledge_base_ids,
        created_at=agent.created_at,
        updated_at=agent.updated_at,
    )


def _version(version: AgentVersion) -> AgentVersionOut:
    return AgentVersionOut.model_validate(version, from_attributes=True)


async def paged(fetch: Awaitable[T]) -> T:
    """``fetch`` awaited, a bad cursor answered 400."""
    try:
        return await fetch
    except InvalidCursorError:
        raise BadRequest("The cursor is not valid.") from None


# --- provider keys ------------------------------------------------------------------------


@providers_router.get("", response_model=ProviderPage)
async def list_providers(principal: AgentsRead, keys: KeysDep, session: SessionDep) -> ProviderPage:
    """Each provider, with whose key calls use (the tenant's, the operator's, or none)."""
    statuses = await keys.statuses(session, principal.tenant_id)
    return ProviderPage(items=[_provider(s) for s in statuses], next_cursor=None)


@providers_router.put("/{provider}", response_model=ProviderOut)
async def put_provider_key(
    provider: Provider,
    body: ProviderKeyIn,
    principal: AgentsWrite,
    keys: KeysDep,
    session: SessionDep,
) -> ProviderOut:
    """Set the tenant's own key for a provider (sealed at rest, never shown again)."""
    if body.base_url is not None and provider != "openai":
        raise ValidationFailed(
            "base_url is for OpenAI-compatible servers only (provider openai).",
            extra={"errors": [{"loc": ["body", "base_url"], "msg": "only for openai"}]},
        )
    row = await keys.put(
        session, principal.tenant_id, provider, body.api_key.get_secret_value(), body.base_url
    )
    return ProviderOut(
        provider=provider,
        source="tenant",
        key_hint=row.key_hint,
        base_url=row.base_url,
        updated_at=row.updated_at,
    )


@providers_router.delete("/{provider}", status_code=204)
async def delete_provider_key(
    provider: Provider, principal: AgentsWrite, keys: KeysDep, session: SessionDep
) -> Response:
    """Remove the tenant's own key (calls then use the operator's, if any)."""
    await keys.delete(session, principal.tenant_id, provider)
    return Response(status_code=204)


# --- agents -------------------------------------------------------------------------------


@agents_router.post("", status_code=201, response_model=AgentOut)
async def create_agent(
    body: AgentCreate,
    key: IdempotencyKey,
    principal: AgentsWrite,
    agents: AgentsDep,
    session: SessionDep,
) -> Response:
    """Create an agent (its version 1)."""
    work = agents.create(session, principal.tenant_id, body.model_dump(exclude_unset=True))
    return await idempotent(
        session, principal.tenant_id, key, "create_agent", body, work,
        lambda made: agent_out(*made), status=201,
    )  # fmt: skip


@agents_router.get("", response_model=AgentPage)
async def list_agents(
    principal: AgentsRead,
    agents: AgentsDep,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AgentPage:
    """The tenant's agents, newest first, each as its current version."""
    page, currents = await paged(
        agents.agents(session, principal.tenant_id, limit=limit, cursor=cursor)
    )
    return AgentPage(
        items=[agent_out(agent, currents[agent.id]) for agent in page.items],
        next_cursor=page.next_cursor,
    )


@agents_router.get("/{agent_id}", response_model=AgentOut)
async def get_agent(
    agent_id: AgentId, principal: AgentsRead, agents: AgentsDep, session: SessionDep
) -> AgentOut:
    """An agent as its current version."""
    return agent_out(*await agents.current(session, principal.tenant_id, agent_id))


@agents_router.patch("/{agent_id}", response_model=AgentOut)
async def update_agent(
    agent_id: AgentId,
    body: AgentUpdate,
    principal: AgentsWrite,
    agents: AgentsDep,
    session: SessionDep,
) -> AgentOut:
    """Change an agent: a new version (earlier ones stay as they were)."""
    changes = body.model_dump(exclude_unset=True)
    return agent_out(*await agents.update(session, principal.tenant_id, agent_id, changes))


@agents_router.delete("/{agent_id}", status_code=204)
async def delete_agent(
    agent_id: AgentId, principal: AgentsWrite, agents: AgentsDep, session: SessionDep
) -> Response:
    """Delete an agent with its versions, conversations and test runs."""
    await agents.delete(session, principal.tenant_id, agent_id)
    return Response(status_code=204)


@agents_router.get("/{agent_id}/versions", response_model=AgentVersionPage)
async def list_agent_versions(
    agent_id: AgentId,
    principal: AgentsRead,
    agents: AgentsDep,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AgentVersionPage:
    """Every version of an agent, newest first."""
    page = await paged(
        agents.versions(session, principal.tenant_id, agent_id, limit=limit, cursor=cursor)
    )
    return AgentVersionPage(items=[_version(v) for v in page.items], next_cursor=page.next_cursor)


@agents_router.get("/{agent_id}/versions/{version}", response_model=AgentVersionOut)
async def get_agent_version(
    agent_id: AgentId,
    version: VersionNumber,
    principal: AgentsRead,
    agents: AgentsDep,
    session: SessionDep,
) -> AgentVersionOut:
    """One version of an agent, as it was."""
    await agents.get(session, principal.tenant_id, agent_id)
    return _version(await agents.version(session, principal.tenant_id, agent_id, version))
