"""ai_orchestration's tables: the tenants' provider keys (sealed), knowledge bases (their passages
are rag_engine's collection of the same id), agents and their immutable versions, conversations
and their messages, the Training Sandbox's test sets, runs and results, the kit's job table and
the stored answers of idempotent POSTs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from v100.kit.db import ID_LENGTH, TYPE_ANNOTATION_MAP, TenantOwned, Timestamped, service_metadata
from v100.kit.idempotency import add_idempotency_table
from v100.kit.jobs import add_job_table


class Base(DeclarativeBase):
    metadata = service_metadata("ai_orchestration")
    type_annotation_map = TYPE_ANNOTATION_MAP


add_job_table(Base.metadata)
add_idempotency_table(Base.metadata)

# The providers a key, an agent or a model may name (``v100.ai.llm``'s three).
PROVIDERS = ("anthropic", "openai", "gemini")


class ProviderKey(Base, TenantOwned, Timestamped):
    """A tenant's own key for one provider, sealed (``kit.sealing``, context
    ``provider-key:<tenant>:<provider>``); only its last four characters are ever shown."""

    __tablename__ = "provider_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "provider"),)

    provider: Mapped[str] = mapped_column(String(16))
    sealed_key: Mapped[str] = mapped_column(Text)
    key_hint: Mapped[str] = mapped_column(String(8))
    # OpenAI-compatible servers only: where the key is used (checked against SSRF when set
    # and at every connection).
    base_url: Mapped[str | None] = mapped_column(String(2048))


class KnowledgeBase(Base, TenantOwned, Timestamped):
    """A knowledge base: its documents and passages live in rag_engine's collection of the same
    id, made with ``embedding_model`` when the knowledge base is (ADR 0041, ADR 0046)."""

    __tablename__ = "knowledge_bases"

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    embedding_model: Mapped[str] = mapped_column(String(100))
    dimension: Mapped[int] = mapped_column(Integer)


class Agent(Base, TenantOwned, Timestamped):
    """An agent: what it is now is its latest version (``version``); every change adds one."""

    __tablename__ = "agents"

    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)


class AgentVersion(Base, TenantOwned):
    """One immutable version of an agent: everything a conversation or a test run used."""

    __tablename__ = "agent_versions"
    __table_args__ = (UniqueConstraint("agent_id", "version"),)

    agent_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    instructions: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(200))
    temperature: Mapped[float | None] = mapped_column(Float)
    max_tokens: Mapped[int | None] = mapped_column(Integer)
    # [{"type": "knowledge_base_search"}, {"type": "platform_api", "operations": [...]}]
    tools: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    knowledge_base_ids: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class Conversation(Base, TenantOwned, Timestamped):
    """A conversation with one version of an agent (the version it was started on)."""

    __tablename__ = "conversations"

    agent_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    agent_version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))


class ConversationMessage(Base, TenantOwned):
    """One turn. An assistant turn says who answered (``answered_by``: ``llm``, or ``no-llm``
    when no provider was configured), with which model, and the tokens it cost."""

    __tablename__ = "conversation_messages"

    conversation_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    agent_version: Mapped[int | None] = mapped_column(Integer)
    answered_by: Mapped[str | None] = mapped_column(String(16))
    provider: Mapped[str | None] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(200))
    finish_reason: Mapped[str | None] = mapped_column(String(32))
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    credits: Mapped[int | None] = mapped_column(Integer)
    # The agent's tools the answer called, in order: [{"name", "arguments", "result" | "error"}]
    # (``tools.ToolRecord``); None for a user turn or an answer that called none.
    tool_calls: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]


class TestSet(Base, TenantOwned, Timestamped):
    """Prompts with the facts a good answer states: ``cases`` is
    ``[{"prompt": ..., "expected_facts": [...]}]``."""

    __tablename__ = "test_sets"
    __test__ = False  # not a pytest class

    name: Mapped[str] = mapped_column(String(200))
    cases: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


# queued -> running -> completed | failed
RUN_STATUSES = ("queued", "running", "completed", "failed")


class TestRun(Base, TenantOwned, Timestamped):
    """One version of an agent answering every case of a test set, as a job."""

    __tablename__ = "test_runs"
    __test__ = False

    agent_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    agent_version: Mapped[int] = mapped_column(Integer)
    test_set_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("test_sets.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    cases: Mapped[int] = mapped_column(Integer)
    passed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    # Once failed: a problem type slug and a sentence for people.
    error: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(String(500))
    job_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    hold_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    # The credits held (what the capture may take; tool rounds beyond it are deducted).
    held: Mapped[int | None] = mapped_column(Integer)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    credits: Mapped[int | None] = mapped_column(Integer)
    finished_at: Mapped[datetime | None]


class TestResult(Base, TenantOwned):
    """One case of a run: the answer and which expected facts it stated."""

    __tablename__ = "test_results"
    __test__ = False
    __table_args__ = (UniqueConstraint("run_id", "position"),)

    run_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("test_runs.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    prompt: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    answered_by: Mapped[str] = mapped_column(String(16))
    passed: Mapped[bool] = mapped_column(Boolean)
    found_facts: Mapped[list[str]] = mapped_column(JSON)
    missing_facts: Mapped[list[str]] = mapped_column(JSON)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
