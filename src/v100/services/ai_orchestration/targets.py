"""Where a call goes: an agent's version (its provider, model, temperature and reply bound, with
the tenant's or the operator's key for that provider, or none), or a model the OpenAI-compatible
endpoint names: ``agent:<id>`` (or an agent's bare id), ``<provider>/<model>``
(``openai/gpt-4o``), or a bare model name whose provider its name tells (``claude-...`` is
Anthropic's, ``gemini-...`` Gemini's, anything else goes to the OpenAI-compatible provider)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from v100.services.ai_orchestration.calls import Target
from v100.services.ai_orchestration.errors import ModelNotFound
from v100.services.ai_orchestration.keys import ProviderKeys
from v100.services.ai_orchestration.models import PROVIDERS, AgentVersion

__all__ = ["ModelName", "agent_target", "parse_model", "provider_target"]

_AGENT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True, slots=True)
class ModelName:
    """A parsed ``model``: an agent's id, or a provider and its model."""

    agent_id: str | None = None
    provider: str | None = None
    model: str | None = None


def parse_model(name: str) -> ModelName:
    if name.startswith("agent:"):
        return ModelName(agent_id=name.removeprefix("agent:"))
    if _AGENT_ID.match(name):
        return ModelName(agent_id=name)
    provider, slash, model = name.partition("/")
    if slash and provider in PROVIDERS and model:
        return ModelName(provider=provider, model=model)
    if name.startswith("claude-"):
        return ModelName(provider="anthropic", model=name)
    if name.startswith("gemini-"):
        return ModelName(provider="gemini", model=name)
    return ModelName(provider="openai", model=name)


async def agent_target(
    keys: ProviderKeys, session: AsyncSession, tenant_id: str, version: AgentVersion
) -> Target:
    """The agent version's call (its credential None when no key is configured)."""
    return Target(
        provider=version.provider,
        model=version.model,
        credential=await keys.credential(session, tenant_id, version.provider),
        temperature=version.temperature,
        max_tokens=version.max_tokens,
    )


async def provider_target(
    keys: ProviderKeys, session: AsyncSession, tenant_id: str, provider: str, model: str
) -> Target:
    """A provider's model, called with the tenant's or the operator's key; ``ModelNotFound``
    when there is neither (a model without a key does not exist for this tenant)."""
    credential = await keys.credential(session, tenant_id, provider)
    if credential is None:
        raise ModelNotFound(
            f"The model {model!r} is not available: no {provider} key is configured for this "
            f"tenant (set one at /v1/agents/providers) nor by the operator."
        )
    return Target(provider=provider, model=model, credential=credential)
