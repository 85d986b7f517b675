"""What ai_orchestration's endpoints are given, typed: its settings, the resources its component
opened (keys, chat model clients, billing, token budgets) and the domain services on them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.errors import BackendUnavailable
from v100.kit.http import Provided, RuntimeDep, SettingsOf
from v100.services.ai_orchestration.calls import ChatCalls
from v100.services.ai_orchestration.conversations import ConversationService
from v100.services.ai_orchestration.keys import ProviderKeys
from v100.services.ai_orchestration.knowledge_bases import KnowledgeBases
from v100.services.ai_orchestration.resources import Resources
from v100.services.ai_orchestration.sandbox import Sandbox
from v100.services.ai_orchestration.service import AgentService
from v100.services.ai_orchestration.settings import AiOrchestrationSettings

__all__ = [
    "AgentsDep",
    "CallsDep",
    "ConversationsDep",
    "KeysDep",
    "KnowledgeBasesDep",
    "ResourcesDep",
    "SandboxDep",
    "SessionsDep",
    "SettingsDep",
]

SettingsDep = Annotated[AiOrchestrationSettings, Depends(SettingsOf(AiOrchestrationSettings))]
ResourcesDep = Annotated[Resources, Depends(Provided(Resources))]


async def get_sessions(runtime: RuntimeDep) -> async_sessionmaker[AsyncSession]:
    if runtime.sessions is None or not runtime.migrated.is_set():
        raise BackendUnavailable("The database is not ready yet.", retry_after=1)
    return runtime.sessions


SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessions)]


async def get_keys(resources: ResourcesDep) -> ProviderKeys:
    return resources.keys


async def get_agents(settings: SettingsDep) -> AgentService:
    return AgentService(settings)


async def get_calls(resources: ResourcesDep) -> ChatCalls:
    return ChatCalls(resources)


async def get_knowledge_bases(resources: ResourcesDep, runtime: RuntimeDep) -> KnowledgeBases:
    return KnowledgeBases(resources.rag, runtime.bus)


KeysDep = Annotated[ProviderKeys, Depends(get_keys)]
KnowledgeBasesDep = Annotated[KnowledgeBases, Depends(get_knowledge_bases)]
AgentsDep = Annotated[AgentService, Depends(get_agents)]
CallsDep = Annotated[ChatCalls, Depends(get_calls)]


async def get_conversations(
    sessions: SessionsDep, agents: AgentsDep, calls: CallsDep
) -> ConversationService:
    return ConversationService(sessions, agents, calls)


ConversationsDep = Annotated[ConversationService, Depends(get_conversations)]


async def get_sandbox(agents: AgentsDep) -> Sandbox:
    return Sandbox(agents)


SandboxDep = Annotated[Sandbox, Depends(get_sandbox)]
