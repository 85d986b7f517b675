"""The agent's tool loop, the same for every provider (``v100.ai.llm``'s neutral messages): the
model is called with the agent's tools; while it asks only for them, they run (``tools.py``) and
their answers go back as the next turns; after ``rounds`` rounds it is called once more with
tool_choice ``none``, so an answer always ends the loop. A reply that asks for a tool that is
not the agent's (one a ``/v1/chat/completions`` client sent) ends the loop too: the client runs
its own. Each round is its own call, paid for as one (``ChatCalls``), or summed by the caller
(a test run). Streamed, the text of every round goes out as it comes; the tool calls the agent
runs never do, and the last event is one ``Finish`` with the usage of every round."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing

from v100.ai.llm import (
    ChatOptions,
    Finish,
    LLMUnavailable,
    Message,
    Reply,
    StreamEvent,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallEnd,
    Usage,
)
from v100.services.ai_orchestration.tools import AgentTools

__all__ = [
    "Round",
    "StreamRound",
    "added",
    "answer_with_tools",
    "first_options",
    "stream_with_tools",
]

# One call of the model: the conversation so far, the options, the tools offered.
Round = Callable[[Sequence[Message], ChatOptions, Sequence[Tool]], Awaitable[Reply]]
StreamRound = Callable[
    [Sequence[Message], ChatOptions, Sequence[Tool]],
    Awaitable[AsyncGenerator[StreamEvent, None]],
]


def added(a: Usage | None, b: Usage | None) -> Usage | None:
    if a is None or b is None:
        return a or b
    return Usage(a.input_tokens + b.input_tokens, a.output_tokens + b.output_tokens)


def _options(options: ChatOptions, offered: Sequence[Tool], last: bool) -> ChatOptions:
    # The last round may not call tools: its reply is the answer.
    return dataclasses.replace(options, tool_choice="none") if last and offered else options


async def answer_with_tools(
    call: Round,
    messages: list[Message],
    options: ChatOptions,
    tools: Sequence[Tool],
    agent_tools: AgentTools,
    rounds: int,
) -> list[Reply]:
    """Every reply of the answer, in order; the last one is the answer."""
    replies: list[Reply] = []
    for number in range(rounds + 1):
        last = number == rounds
        reply = await call(messages, _options(options, tools, last), tools)
        replies.append(reply)
        if last or reply.finish_reason != "tool_calls" or not agent_tools.owns(reply.tool_calls):
            return replies
        messages.append(reply.message())
        for tool_call in reply.tool_calls:
            messages.append(await agent_tools.run(tool_call))
    return replies  # not reached: the last round returns


async def stream_with_tools(
    first: AsyncGenerator[StreamEvent, None],
    call: StreamRound,
    messages: list[Message],
    options: ChatOptions,
    tools: Sequence[Tool],
    agent_tools: AgentTools,
    rounds: int,
) -> AsyncGenerator[StreamEvent, None]:
    """The answer's events: ``first`` is round one's, already opened (with
    ``first_options``), later rounds are opened by ``call``."""
    usage: Usage | None = None
    events = first
    for number in range(rounds + 1):
        last = number == rounds
        held: list[StreamEvent] = []
        calls: dict[int, ToolCall] = {}
        text: list[str] = []
        finish: Finish | None = None
        async with aclosing(events):
            async for event in events:
                if isinstance(event, TextDelta):
                    text.append(event.text)
                    yield event
                elif isinstance(event, Finish):
                    finish = event
                else:
                    if isinstance(event, ToolCallEnd):
                        calls[event.index] = event.call
                    held.append(event)
        if finish is None:
            raise LLMUnavailable("the stream ended without its finish")
        usage = added(usage, finish.usage)
        asked = [calls[i] for i in sorted(calls)]
        if last or finish.reason != "tool_calls" or not agent_tools.owns(asked):
            for event in held:
                yield event
            yield dataclasses.replace(finish, usage=usage)
            return
        messages.append(Message.assistant("".join(text), asked))
        for tool_call in asked:
            messages.append(await agent_tools.run(tool_call))
        events = await call(messages, _options(options, tools, number + 1 == rounds), tools)


def first_options(options: ChatOptions, tools: Sequence[Tool], rounds: int) -> ChatOptions:
    """The options of round one (the last round when ``rounds`` is 0)."""
    return _options(options, tools, rounds == 0)
