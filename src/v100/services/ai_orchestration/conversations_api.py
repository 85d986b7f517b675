"""Conversations with an agent under ``/v1/agents/{agent_id}/conversations``: start one (on the
agent's current version or one named), list, read, delete, read its messages in order, and send
a message (the agent answers; both are stored with the tokens and credits). Thin: parse, check
the scope, call ``ConversationService``, shape."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse

from v100.kit.auth import Principal
from v100.kit.db import unit_of_work
from v100.kit.http import Authorized, SessionDep
from v100.kit.idempotency import (
    IdempotencyKey,
    StoredAnswer,
    fingerprint,
    idempotent,
    recall,
    remember,
    replay_response,
)
from v100.services.ai_orchestration.api import paged
from v100.services.ai_orchestration.conversations import Turn
from v100.services.ai_orchestration.deps import ConversationsDep, SessionsDep
from v100.services.ai_orchestration.models import Conversation, ConversationMessage
from v100.services.ai_orchestration.schemas import (
    ConversationCreate,
    ConversationOut,
    ConversationPage,
    MessageCreate,
    MessageOut,
    MessagePage,
    TurnOut,
)

__all__ = ["conversations_router"]

AgentsRead = Annotated[Principal, Depends(Authorized("agents:read"))]
AgentsWrite = Annotated[Principal, Depends(Authorized("agents:write"))]

conversations_router = APIRouter(
    prefix="/v1/agents/{agent_id}/conversations", tags=["conversations"]
)

Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]
AgentId = Annotated[str, Path(max_length=36)]
ConversationId = Annotated[str, Path(max_length=36)]


def _conversation(conversation: Conversation) -> ConversationOut:
    return ConversationOut.model_validate(conversation, from_attributes=True)


def _message(message: ConversationMessage) -> MessageOut:
    return MessageOut.model_validate(message, from_attributes=True)


def _turn(turn: Turn) -> TurnOut:
    return TurnOut(message=_message(turn.message), reply=_message(turn.reply))


@conversations_router.post("", status_code=201, response_model=ConversationOut)
async def create_conversation(
    agent_id: AgentId,
    body: ConversationCreate,
    key: IdempotencyKey,
    principal: AgentsWrite,
    conversations: ConversationsDep,
    session: SessionDep,
) -> Response:
    """Start a conversation with the agent's current version (or the one named)."""
    work = conversations.create(
        session, principal.tenant_id, agent_id, title=body.title, version=body.version
    )
    return await idempotent(
        session, principal.tenant_id, key, f"create_conversation:{agent_id}", body, work,
        _conversation, status=201,
    )  # fmt: skip


@conversations_router.get("", response_model=ConversationPage)
async def list_conversations(
    agent_id: AgentId,
    principal: AgentsRead,
    conversations: ConversationsDep,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ConversationPage:
    """The agent's conversations, newest first."""
    page = await paged(
        conversations.page(session, principal.tenant_id, agent_id, limit=limit, cursor=cursor)
    )
    return ConversationPage(
        items=[_conversation(c) for c in page.items], next_cursor=page.next_cursor
    )


@conversations_router.get("/{conversation_id}", response_model=ConversationOut)
async def get_conversation(
    agent_id: AgentId,
    conversation_id: ConversationId,
    principal: AgentsRead,
    conversations: ConversationsDep,
    session: SessionDep,
) -> ConversationOut:
    """One conversation (the agent version it talks to)."""
    return _conversation(
        await conversations.get(session, principal.tenant_id, agent_id, conversation_id)
    )


@conversations_router.delete("/{conversation_id}", status_code=204)
async def delete_conversation(
    agent_id: AgentId,
    conversation_id: ConversationId,
    principal: AgentsWrite,
    conversations: ConversationsDep,
    session: SessionDep,
) -> Response:
    """Delete a conversation and its messages."""
    await conversations.delete(session, principal.tenant_id, agent_id, conversation_id)
    return Response(status_code=204)


@conversations_router.get("/{conversation_id}/messages", response_model=MessagePage)
async def list_messages(
    agent_id: AgentId,
    conversation_id: ConversationId,
    principal: AgentsRead,
    conversations: ConversationsDep,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> MessagePage:
    """The conversation's messages, oldest first, with each answer's tokens and credits."""
    page = await paged(
        conversations.messages(
            session, principal.tenant_id, agent_id, conversation_id, limit=limit, cursor=cursor
        )
    )
    return MessagePage(items=[_message(m) for m in page.items], next_cursor=page.next_cursor)


@conversations_router.post("/{conversation_id}/messages", status_code=201, response_model=TurnOut)
async def send_message(
    agent_id: AgentId,
    conversation_id: ConversationId,
    body: MessageCreate,
    key: IdempotencyKey,
    principal: AgentsWrite,
    conversations: ConversationsDep,
    sessions: SessionsDep,
) -> JSONResponse:
    """Send a message: the agent answers (billed), and both are stored."""
    tenant_id = principal.tenant_id
    print_ = fingerprint(f"send_message:{conversation_id}", body.model_dump(mode="json"))
    async with unit_of_work(sessions) as session:
        earlier = await recall(session, tenant_id, key, print_)
    if earlier is not None:
        return replay_response(earlier, replayed=True)
    answer: list[StoredAnswer] = []

    async def store(session: AsyncSession, turn: Turn) -> None:
        # The turn's ids and times are known once stored: the answer is shaped here.
        answer.append(StoredAnswer(201, _turn(turn).model_dump(mode="json")))
        await remember(session, tenant_id, key, print_, answer[0])

    await conversations.send(principal, agent_id, conversation_id, body.content, store)
    return replay_response(answer[0], replayed=False)
