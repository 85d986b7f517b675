"""Conversations with an agent: each talks to one version of it (the current one when started,
or one named), kept for the whole conversation; a turn sends the version's instructions, the
conversation's last messages and the new one, and stores the message and the answer together
with who answered, the model, the tokens and the credits. No transaction is open while the model
answers (a SQLite writer would hold the database): the history is read in one unit of work, the
turn stored in another. An agent with tools runs them in the tool loop (``tool_loop.py``), each
round a call paid for, and the answer records every tool call. With no key for the version's
provider the answer says that no LLM is configured (``no_llm.py``), after an extractive answer
from its knowledge bases when it has any, and costs nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.ai.llm import ChatOptions, Message, Reply, Tool
from v100.kit.auth import Principal
from v100.kit.db import Page, unit_of_work, utcnow
from v100.services.ai_orchestration.calls import ChatCalls
from v100.services.ai_orchestration.errors import ConversationNotFound
from v100.services.ai_orchestration.models import Conversation, ConversationMessage
from v100.services.ai_orchestration.no_llm import ANSWERED_BY, no_llm_reply
from v100.services.ai_orchestration.repository import ConversationRepository, MessageRepository
from v100.services.ai_orchestration.service import AgentService
from v100.services.ai_orchestration.targets import agent_target
from v100.services.ai_orchestration.tool_loop import added, answer_with_tools
from v100.services.ai_orchestration.tools import AgentTools

__all__ = ["ConversationService", "Turn"]

# The messages of a conversation a turn sends (the newest ones), besides the instructions.
HISTORY = 100

Store = Callable[[AsyncSession, "Turn"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Turn:
    message: ConversationMessage
    reply: ConversationMessage


class ConversationService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        agents: AgentService,
        calls: ChatCalls,
    ) -> None:
        self.sessions = sessions
        self.agents = agents
        self.calls = calls

    async def create(
        self,
        session: AsyncSession,
        tenant_id: str,
        agent_id: str,
        *,
        title: str,
        version: int | None,
    ) -> Conversation:
        agent = await self.agents.get(session, tenant_id, agent_id)
        number = version or agent.version
        await self.agents.version(session, tenant_id, agent_id, number)
        conversation = Conversation(
            tenant_id=tenant_id, agent_id=agent_id, agent_version=number, title=title
        )
        return await ConversationRepository(session).add(conversation)

    async def get(
        self, session: AsyncSession, tenant_id: str, agent_id: str, conversation_id: str
    ) -> Conversation:
        conversation = await ConversationRepository(session).of(
            tenant_id, agent_id, conversation_id
        )
        if conversation is None:
            raise ConversationNotFound()
        return conversation

    async def page(
        self,
        session: AsyncSession,
        tenant_id: str,
        agent_id: str,
        *,
        limit: int,
        cursor: str | None,
    ) -> Page[Conversation]:
        await self.agents.get(session, tenant_id, agent_id)
        return await ConversationRepository(session).page(
            tenant_id, agent_id, limit=limit, cursor=cursor
        )

    async def delete(
        self, session: AsyncSession, tenant_id: str, agent_id: str, conversation_id: str
    ) -> None:
        conversation = await self.get(session, tenant_id, agent_id, conversation_id)
        await session.delete(conversation)
        await session.flush()

    async def messages(
        self,
        session: AsyncSession,
        tenant_id: str,
        agent_id: str,
        conversation_id: str,
        *,
        limit: int,
        cursor: str | None,
    ) -> Page[ConversationMessage]:
        await self.get(session, tenant_id, agent_id, conversation_id)
        return await MessageRepository(session).page(
            tenant_id, conversation_id, limit=limit, cursor=cursor
        )

    async def send(
        self,
        principal: Principal,
        agent_id: str,
        conversation_id: str,
        content: str,
        store: Store | None = None,
    ) -> Turn:
        """The agent's answer to ``content``, stored with it (``store`` runs in the same unit
        of work: the idempotent answer)."""
        tenant_id = principal.tenant_id
        async with unit_of_work(self.sessions) as session:
            conversation = await self.get(session, tenant_id, agent_id, conversation_id)
            version = await self.agents.version(
                session, tenant_id, agent_id, conversation.agent_version
            )
            history = await MessageRepository(session).history(
                tenant_id, conversation_id, last=HISTORY
            )
            target = await agent_target(self.calls.resources.keys, session, tenant_id, version)
        messages = [Message.system(version.instructions)] if version.instructions else []
        messages += [Message(row.role, row.content) for row in history]  # type: ignore[arg-type]
        messages.append(Message.user(content))

        reply = ConversationMessage(
            tenant_id=tenant_id, conversation_id=conversation_id, role="assistant",
            agent_version=version.version, provider=version.provider, model=version.model,
        )  # fmt: skip
        if target.credential is None:
            reply.content = await no_llm_reply(
                self.calls.resources.rag, tenant_id, version.provider, version.model,
                version.knowledge_base_ids, content,
            )  # fmt: skip
            reply.answered_by = ANSWERED_BY
            reply.finish_reason = "stop"
        else:
            tools = AgentTools(self.calls.resources, version, principal)
            credits: list[int | None] = []
            usage = None

            async def call(
                sent: Sequence[Message], options: ChatOptions, offered: Sequence[Tool]
            ) -> Reply:
                nonlocal usage
                answer, made = await self.calls.complete(target, sent, options, offered,
                                                         principal)  # fmt: skip
                usage = added(usage, made.usage)
                credits.append(made.credits)
                return answer

            replies = await answer_with_tools(
                call, messages, self.calls.options(target), tools.tools, tools,
                self.calls.settings.max_tool_rounds,
            )  # fmt: skip
            answer = replies[-1]
            reply.content = answer.text
            reply.answered_by = "llm"
            reply.model = answer.model or version.model
            reply.finish_reason = answer.finish_reason
            if usage is not None:
                reply.input_tokens = usage.input_tokens
                reply.output_tokens = usage.output_tokens
            known = [c for c in credits if c is not None]
            reply.credits = sum(known) if known else None
            reply.tool_calls = [r.as_json() for r in tools.records] or None

        async with unit_of_work(self.sessions) as session:
            conversation = await self.get(session, tenant_id, agent_id, conversation_id)
            now = utcnow()
            message = ConversationMessage(
                tenant_id=tenant_id, conversation_id=conversation_id, role="user",
                content=content, created_at=now,
            )  # fmt: skip
            repository = MessageRepository(session)
            await repository.add(message)
            reply.created_at = now
            await repository.add(reply)
            conversation.updated_at = now
            turn = Turn(message, reply)
            if store is not None:
                await store(session, turn)
        return turn
