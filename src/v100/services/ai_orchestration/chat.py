"""The OpenAI-compatible chat: what a request's ``model`` names (an agent's current version, whose
instructions go first and whose settings the request's own override; or a provider's model the
tenant has a key for), the call made through ``ChatCalls`` (budgets, credits, the provider),
and the answer: whole, or as the stream's chunks in OpenAI's order. An agent with tools runs
them in the tool loop (``tool_loop.py``) beside the client's own tools, each round a call paid
for. An agent whose provider has no key answers that no LLM is configured (``no_llm.py``),
after an extractive answer from its knowledge bases when it has any, whole or streamed, at no
cost.

A request that the chosen provider cannot take is refused before anything is held: a
temperature for Anthropic, turns the neutral messages cannot carry."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.ai.llm import (
    ChatOptions,
    Finish,
    Message,
    Reply,
    StreamEvent,
    TextDelta,
    Tool,
    ToolCallDelta,
    ToolCallStart,
)
from v100.kit.auth import Principal
from v100.kit.db import unit_of_work
from v100.kit.errors import BadRequest, ProblemError
from v100.services.ai_orchestration.calls import Call, ChatCalls, Target
from v100.services.ai_orchestration.errors import AgentNotFound, ModelNotFound
from v100.services.ai_orchestration.no_llm import no_llm_reply
from v100.services.ai_orchestration.openai_format import (
    ChatRequest,
    ChunkWriter,
    neutral_messages,
    neutral_tools,
    tool_choice,
)
from v100.services.ai_orchestration.service import AgentService
from v100.services.ai_orchestration.targets import agent_target, parse_model, provider_target
from v100.services.ai_orchestration.tool_loop import (
    added,
    answer_with_tools,
    first_options,
    stream_with_tools,
)
from v100.services.ai_orchestration.tools import AgentTools

__all__ = ["ChatService", "Prepared"]


@dataclass
class Prepared:
    """A request made ready: where it goes and what is sent (``no_llm``: the text answered
    instead, when the agent's provider has no key)."""

    model: str  # as the answer names it: the request's ``model``
    target: Target
    messages: list[Message]
    options: ChatOptions
    tools: list[Tool]
    no_llm: str | None = None
    # The agent's own tools, run here (None: a provider's model, or an agent without tools).
    agent_tools: AgentTools | None = None

    @property
    def offered(self) -> list[Tool]:
        """The agent's tools and the client's."""
        own = [] if self.agent_tools is None else self.agent_tools.tools
        return [*own, *self.tools]


class ChatService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], agents: AgentService, calls: ChatCalls
    ) -> None:
        self.sessions = sessions
        self.agents = agents
        self.calls = calls

    async def prepare(self, request: ChatRequest, principal: Principal) -> Prepared:
        if request.stream_options is not None and not request.stream:
            raise BadRequest(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                extra={"param": "stream_options"},
            )
        try:
            messages = neutral_messages(request.messages)
        except ValueError as exc:
            raise BadRequest(str(exc), extra={"param": "messages"}) from exc
        keys = self.calls.resources.keys
        tenant_id = principal.tenant_id
        name = parse_model(request.model)
        instructions = ""
        knowledge_base_ids: list[str] = []
        agent_tools = None
        async with unit_of_work(self.sessions) as session:
            if name.agent_id is not None:
                try:
                    _, version = await self.agents.current(session, tenant_id, name.agent_id)
                except AgentNotFound:
                    raise ModelNotFound(f"The model {request.model!r} names no agent.") from None
                target = await agent_target(keys, session, tenant_id, version)
                instructions = version.instructions
                knowledge_base_ids = version.knowledge_base_ids
                agent_tools = AgentTools(self.calls.resources, version, principal)
            else:
                assert name.provider is not None
                assert name.model is not None
                target = await provider_target(keys, session, tenant_id, name.provider, name.model)
        if target.provider == "anthropic" and request.temperature is not None:
            raise BadRequest(
                "Anthropic's current API refuses a temperature: leave it out for this model.",
                extra={"param": "temperature"},
            )
        if instructions:
            messages.insert(0, Message.system(instructions))
        stop = request.stop
        options = self.calls.options(
            target,
            max_tokens=request.max_completion_tokens or request.max_tokens,
            temperature=request.temperature,
            stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
            tool_choice=tool_choice(request),
        )
        prepared = Prepared(request.model, target, messages, options, neutral_tools(request))
        if agent_tools is not None and agent_tools.tools:
            prepared.agent_tools = agent_tools
        if target.credential is None:
            question = next((m.content for m in reversed(messages) if m.role == "user"), "")
            prepared.no_llm = await no_llm_reply(
                self.calls.resources.rag, tenant_id, target.provider, target.model,
                knowledge_base_ids, question,
            )  # fmt: skip
        return prepared

    async def complete(self, prepared: Prepared, principal: Principal) -> Reply:
        """The whole answer."""
        if prepared.no_llm is not None:
            return Reply(prepared.no_llm, (), "stop", None, prepared.target.model)
        if prepared.agent_tools is None:
            reply, _ = await self.calls.complete(
                prepared.target, prepared.messages, prepared.options, prepared.tools, principal
            )
            return reply

        async def call(
            messages: Sequence[Message], options: ChatOptions, tools: Sequence[Tool]
        ) -> Reply:
            reply, _ = await self.calls.complete(prepared.target, messages, options, tools,
                                                 principal)  # fmt: skip
            return reply

        replies = await answer_with_tools(
            call, prepared.messages, prepared.options, prepared.offered, prepared.agent_tools,
            self.calls.settings.max_tool_rounds,
        )  # fmt: skip
        usage = None
        for reply in replies:
            usage = added(usage, reply.usage)
        return dataclasses.replace(replies[-1], usage=usage)

    async def open_stream(
        self, prepared: Prepared, principal: Principal
    ) -> AsyncGenerator[StreamEvent, None]:
        """The answer's events, with the first one already received: a refusal before any
        byte is sent is raised here (and answered with its status), not inside the stream."""
        if prepared.no_llm is not None:
            return _answered(prepared.no_llm, prepared.target.model)
        if prepared.agent_tools is None:
            return await self._open_round(
                prepared, principal, prepared.messages, prepared.options, prepared.tools
            )
        rounds = self.calls.settings.max_tool_rounds
        offered = prepared.offered
        first = await self._open_round(
            prepared, principal, prepared.messages,
            first_options(prepared.options, offered, rounds), offered,
        )  # fmt: skip

        async def call(
            messages: Sequence[Message], options: ChatOptions, tools: Sequence[Tool]
        ) -> AsyncGenerator[StreamEvent, None]:
            return await self._open_round(prepared, principal, messages, options, tools)

        return stream_with_tools(
            first, call, prepared.messages, prepared.options, offered, prepared.agent_tools,
            rounds,
        )  # fmt: skip

    async def _open_round(
        self,
        prepared: Prepared,
        principal: Principal,
        messages: Sequence[Message],
        options: ChatOptions,
        tools: Sequence[Tool],
    ) -> AsyncGenerator[StreamEvent, None]:
        """One call's events, its first already received."""
        call: Call = await self.calls.begin(
            prepared.target, messages, options, tools, principal, wait_for_hold=False
        )
        events = self.calls.stream(prepared.target, messages, options, tools, call)
        # The vendor's first token and the credit hold at once: billing's round trip is not
        # added to the time to first token. A refused hold stops the call before any byte.
        # The vendor's request is started first: it leaves before the hold's.
        first_event = asyncio.get_running_loop().create_task(anext(events))
        holding = self.calls.start_hold(call)
        try:
            await holding
        except BaseException:
            first_event.cancel()
            await asyncio.wait([first_event])
            await events.aclose()
            raise
        try:
            first = await first_event
        except BaseException:
            await events.aclose()
            raise
        return _prefixed(first, events)


async def _answered(text: str, model: str) -> AsyncGenerator[StreamEvent, None]:
    yield TextDelta(text)
    yield Finish("stop", None, model)


async def _prefixed(
    first: StreamEvent, rest: AsyncGenerator[StreamEvent, None]
) -> AsyncGenerator[StreamEvent, None]:
    async with aclosing(rest):  # left early (the client went away): the call settles
        yield first
        async for event in rest:
            yield event


async def sse(
    events: AsyncGenerator[StreamEvent, None], writer: ChunkWriter
) -> AsyncIterator[bytes]:
    """The stream's chunks; a failure after the first byte is an ``error`` chunk (OpenAI's SDK
    raises it), and the stream ends without ``[DONE]``, never passed off as whole."""
    async with aclosing(events):
        yield writer.role()
        try:
            async for event in events:
                if isinstance(event, TextDelta):
                    yield writer.text(event.text)
                elif isinstance(event, ToolCallStart):
                    yield writer.tool_start(event.index, event.id, event.name)
                elif isinstance(event, ToolCallDelta):
                    yield writer.tool_arguments(event.index, event.arguments)
                elif isinstance(event, Finish):
                    yield writer.finish(event.reason)
                    usage = writer.usage(event.usage)
                    if usage:
                        yield usage
                    yield writer.done()
        except ProblemError as exc:
            yield writer.error(exc.status, exc.detail or exc.title, exc.slug.replace("-", "_"))
