"""ai_orchestration's request and response bodies for provider keys, agents (and their versions)
and conversations. The OpenAI-compatible bodies are in ``openai_format.py``; the Training
Sandbox's in ``sandbox_schemas.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from v100.kit.http import Listing, refusing_null
from v100.kit.text import Line, Paragraphs

__all__ = [
    "PLATFORM_OPERATIONS",
    "AgentCreate",
    "AgentOut",
    "AgentPage",
    "AgentTool",
    "AgentUpdate",
    "AgentVersionOut",
    "AgentVersionPage",
    "ConversationCreate",
    "ConversationOut",
    "ConversationPage",
    "MessageCreate",
    "MessageOut",
    "MessagePage",
    "Provider",
    "ProviderKeyIn",
    "ProviderOut",
    "ProviderPage",
    "TurnOut",
]

Provider = Literal["anthropic", "openai", "gemini"]
# The platform's own read-only APIs an agent's ``platform_api`` tool may be allowed to call
# (run from phase 2; docs/ai-orchestration.md, "Tools").
PLATFORM_OPERATIONS = ("videos.list", "videos.get", "transcripts.list", "transcripts.get")
PlatformOperation = Literal["videos.list", "videos.get", "transcripts.list", "transcripts.get"]
Name = Annotated[Line, Field(min_length=1, max_length=200)]
ModelName = Annotated[Line, Field(min_length=1, max_length=200)]
KnowledgeBaseId = Annotated[Line, Field(min_length=1, max_length=100)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- provider keys ------------------------------------------------------------------------


class ProviderKeyIn(_Body):
    # Sealed at rest, never answered (a hint of its last four characters is).
    api_key: Annotated[SecretStr, Field(min_length=1, max_length=4096)]
    # OpenAI-compatible servers only (vLLM, llama.cpp, Ollama...): where calls go, e.g.
    # ``https://gpu.example.com/v1``. Refused for another provider.
    base_url: Annotated[Line, Field(min_length=1, max_length=2048)] | None = None


class ProviderOut(BaseModel):
    provider: Provider
    # Whose key a call uses: the tenant's own, the operator's default, or none (no call can be
    # made: agents answer that no LLM is configured).
    source: Literal["tenant", "operator"] | None
    key_hint: str | None
    base_url: str | None
    updated_at: datetime | None


ProviderPage = Listing[ProviderOut]


# --- agents -------------------------------------------------------------------------------


class KnowledgeBaseSearchTool(_Body):
    """Searches the agent's knowledge bases (wired to rag_engine in phase 2)."""

    type: Literal["knowledge_base_search"]


class PlatformApiTool(_Body):
    """Calls the platform's own read-only APIs the tenant allows, as the tenant."""

    type: Literal["platform_api"]
    operations: Annotated[list[PlatformOperation], Field(min_length=1, max_length=8)]

    @field_validator("operations")
    @classmethod
    def _distinct(cls, operations: list[str]) -> list[str]:
        if len(set(operations)) != len(operations):
            raise ValueError("an operation is named twice")
        return operations


AgentTool = Annotated[KnowledgeBaseSearchTool | PlatformApiTool, Field(discriminator="type")]


def _one_of_each(tools: list[AgentTool]) -> list[AgentTool]:
    kinds = [tool.type for tool in tools]
    if len(set(kinds)) != len(kinds):
        raise ValueError("a tool type is named twice")
    return tools


class AgentCreate(_Body):
    name: Name
    # The system prompt.
    instructions: Annotated[Paragraphs, Field(max_length=32_000)] = ""
    # None: the installation's default provider; its default model when ``model`` is None.
    provider: Provider | None = None
    model: ModelName | None = None
    # Refused for Anthropic (its current API takes none): 422 temperature-not-supported.
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    # The reply's length bound (None: the installation's default_max_tokens).
    max_tokens: Annotated[int, Field(ge=1, le=200_000)] | None = None
    tools: Annotated[list[AgentTool], Field(max_length=2)] = Field(default_factory=list)
    knowledge_base_ids: Annotated[list[KnowledgeBaseId], Field(max_length=20)] = Field(
        default_factory=list
    )

    _tools = field_validator("tools")(_one_of_each)


class AgentUpdate(_Body):
    """Fields left out keep their value; every change makes a new version."""

    name: Name | None = None
    instructions: Annotated[Paragraphs, Field(max_length=32_000)] | None = None
    provider: Provider | None = None
    # Changing the provider without naming a model takes the new provider's default model.
    model: ModelName | None = None
    # null clears it (the vendor's default).
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=200_000)] | None = None
    tools: Annotated[list[AgentTool], Field(max_length=2)] | None = None
    knowledge_base_ids: Annotated[list[KnowledgeBaseId], Field(max_length=20)] | None = None

    _kept = refusing_null(
        "name", "instructions", "provider", "model", "tools", "knowledge_base_ids"
    )
    _tools = field_validator("tools")(lambda cls, v: v if v is None else _one_of_each(v))


class _AgentFields(BaseModel):
    name: str
    instructions: str
    provider: Provider
    model: str
    temperature: float | None
    max_tokens: int | None
    tools: list[AgentTool]
    knowledge_base_ids: list[str]


class AgentOut(_AgentFields):
    id: str
    # The current version (every change adds one).
    version: int
    created_at: datetime
    updated_at: datetime


AgentPage = Listing[AgentOut]


class AgentVersionOut(_AgentFields):
    agent_id: str
    version: int
    created_at: datetime


AgentVersionPage = Listing[AgentVersionOut]


# --- conversations ------------------------------------------------------------------------


class ConversationCreate(_Body):
    title: Name = "Conversation"
    # The version it talks to (None: the agent's current one); kept for the whole conversation.
    version: Annotated[int, Field(ge=1, le=1_000_000)] | None = None


class ConversationOut(BaseModel):
    id: str
    agent_id: str
    agent_version: int
    title: str
    created_at: datetime
    updated_at: datetime


ConversationPage = Listing[ConversationOut]


class MessageCreate(_Body):
    content: Annotated[Paragraphs, Field(min_length=1, max_length=100_000)]


class ToolCallOut(BaseModel):
    """A tool call of an answer: the tool, the arguments the model wrote (JSON text), and its
    answer or its error."""

    name: str
    arguments: str
    result: str | None
    error: str | None


class MessageOut(BaseModel):
    id: str
    conversation_id: str
    role: Literal["user", "assistant"]
    content: str
    # Assistant turns: the version that answered; "llm", or "no-llm" when no provider was
    # configured (the answer then says so); the provider and model; the tokens and credits.
    agent_version: int | None
    answered_by: Literal["llm", "no-llm"] | None
    provider: str | None
    model: str | None
    finish_reason: str | None
    input_tokens: int | None
    output_tokens: int | None
    credits: int | None
    # The agent's tools this answer called, in order (None: none).
    tool_calls: list[ToolCallOut] | None
    created_at: datetime


MessagePage = Listing[MessageOut]


class TurnOut(BaseModel):
    """A message sent and the agent's answer to it."""

    message: MessageOut
    reply: MessageOut
