"""What ai_orchestration's endpoints are given, typed: its settings, the resources its component
opened (keys, chat model clients, billing, token budgets) and the domain services on them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from v100.kit.http import Provided, SettingsOf
from v100.services.ai_orchestration.keys import ProviderKeys
from v100.services.ai_orchestration.resources import Resources
from v100.services.ai_orchestration.service import AgentService
from v100.services.ai_orchestration.settings import AiOrchestrationSettings

__all__ = ["AgentsDep", "KeysDep", "ResourcesDep", "SettingsDep"]

SettingsDep = Annotated[AiOrchestrationSettings, Depends(SettingsOf(AiOrchestrationSettings))]
ResourcesDep = Annotated[Resources, Depends(Provided(Resources))]


async def get_keys(resources: ResourcesDep) -> ProviderKeys:
    return resources.keys


async def get_agents(settings: SettingsDep) -> AgentService:
    return AgentService(settings)


KeysDep = Annotated[ProviderKeys, Depends(get_keys)]
AgentsDep = Annotated[AgentService, Depends(get_agents)]
