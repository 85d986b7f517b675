"""OpenAIChat through the official SDK against the local fake of OpenAI's API: the system
prompt as the first message, a stream's deltas with the usage that comes after the finish,
tool calls whose arguments come in fragments and their results sent back as tool messages, a
server that puts the finish on its last content chunk, every error told apart, and the SDK's
own retry on 429."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from v100.ai.llm import (
    ChatOptions,
    Finish,
    LLMAuthError,
    LLMBadRequest,
    LLMContextTooLong,
    LLMRateLimited,
    LLMUnavailable,
    Message,
    OpenAIChat,
    StreamEvent,
    TextDelta,
    Tool,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    collect,
)
from v100.kit.testing.fakes.openai import OpenAIFake, ScriptedCall
from v100.kit.testing.servers import serving

from .support import drain

KEY = "sk-test"
OPTIONS = ChatOptions(model="gpt-4.1-mini", temperature=0.2, max_tokens=300, stop=("END",))
LOOKUP = Tool(
    "lookup",
    "Find an order by its number.",
    {"type": "object", "properties": {"order": {"type": "integer"}}, "required": ["order"]},
)
CONVERSATION = [Message.system("You are terse."), Message.user("Say hello.")]


@pytest.fixture
async def served() -> AsyncIterator[tuple[OpenAIFake, str]]:
    fake = OpenAIFake(api_key=KEY)
    async with serving(fake.app, lifespan="off") as url:
        yield fake, url + "/v1"


@pytest.fixture
async def chat(served: tuple[OpenAIFake, str]) -> AsyncIterator[OpenAIChat]:
    model = OpenAIChat(KEY, base_url=served[1], max_retries=0)
    yield model
    await model.aclose()


async def test_a_completion_sends_the_system_prompt_first(
    served: tuple[OpenAIFake, str], chat: OpenAIChat
) -> None:
    fake, _ = served
    fake.reply("Hello.", usage=(14, 3))
    reply = await chat.complete(CONVERSATION, OPTIONS)
    assert reply.text == "Hello."
    assert reply.finish_reason == "stop"
    assert reply.usage == Usage(14, 3)
    assert reply.model == "gpt-4.1-mini"
    sent = fake.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.authorization == f"Bearer {KEY}"
    assert sent.body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hello."},
    ]
    assert sent.body["max_completion_tokens"] == 300
    assert sent.body["temperature"] == 0.2
    assert sent.body["stop"] == ["END"]
    assert "tools" not in sent.body


async def test_a_stream_gives_deltas_then_the_usage_that_follows_the_finish(
    served: tuple[OpenAIFake, str], chat: OpenAIChat
) -> None:
    fake, _ = served
    fake.reply(["Once", " upon", " a time"], finish="length", usage=(20, 3))
    events = [e async for e in chat.stream(CONVERSATION, OPTIONS)]
    assert events == [
        TextDelta("Once"),
        TextDelta(" upon"),
        TextDelta(" a time"),
        Finish("length", Usage(20, 3), "gpt-4.1-mini", "length"),
    ]
    assert fake.requests[-1].body["stream"] is True
    assert fake.requests[-1].body["stream_options"] == {"include_usage": True}


async def test_streamed_tool_calls_are_reassembled_and_results_go_back_as_tool_messages(
    served: tuple[OpenAIFake, str], chat: OpenAIChat
) -> None:
    fake, _ = served
    first = ['{"or', 'der"', ": 4", "2}"]
    second = ["{", '"order": 7}']
    fake.reply(
        tool_calls=[
            ScriptedCall("lookup", {"order": 42}, chunks=first, id="call_a"),
            ScriptedCall("lookup", {"order": 7}, chunks=second, id="call_b"),
        ]
    )
    options = ChatOptions(model="gpt-4.1-mini", tool_choice="required")
    events = [e async for e in chat.stream(CONVERSATION, options, [LOOKUP])]
    assert events[0] == ToolCallStart(0, "call_a", "lookup")
    assert [e.arguments for e in events if isinstance(e, ToolCallDelta) and e.index == 0] == first
    assert ToolCallStart(1, "call_b", "lookup") in events
    ends = [e for e in events if isinstance(e, ToolCallEnd)]
    assert [e.call.parsed_arguments() for e in ends] == [{"order": 42}, {"order": 7}]
    finish = events[-1]
    assert isinstance(finish, Finish)
    assert finish.reason == "tool_calls"
    sent = fake.requests[-1].body
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Find an order by its number.",
                "parameters": LOOKUP.parameters,
            },
        }
    ]
    assert sent["tool_choice"] == "required"

    fake.reply("Order 42 shipped; 7 is unknown.")
    calls = [e.call for e in ends]
    reply = await chat.complete(
        [
            *CONVERSATION,
            Message.assistant("", calls),
            Message.tool_result("call_a", "shipped"),
            Message.tool_result("call_b", "unknown order", is_error=True),
        ],
        ChatOptions(model="gpt-4.1-mini", tool_choice="lookup"),
        [LOOKUP],
    )
    assert reply.text == "Order 42 shipped; 7 is unknown."
    turns = fake.requests[-1].body["messages"]
    assert turns[2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": "".join(first)},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": "".join(second)},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "shipped"},
        {"role": "tool", "tool_call_id": "call_b", "content": "unknown order"},
    ]
    assert fake.requests[-1].body["tool_choice"] == {
        "type": "function",
        "function": {"name": "lookup"},
    }


async def test_text_then_a_call_and_collect_gives_what_complete_gives(
    served: tuple[OpenAIFake, str], chat: OpenAIChat
) -> None:
    fake, _ = served
    call = ScriptedCall("lookup", {"order": 1}, id="call_z")
    fake.reply(["Checking", "..."], tool_calls=[call], usage=(5, 6))
    fake.reply(["Checking", "..."], tool_calls=[call], usage=(5, 6))
    whole = await chat.complete(CONVERSATION, OPTIONS, [LOOKUP])
    streamed = await collect(chat.stream(CONVERSATION, OPTIONS, [LOOKUP]))
    assert streamed == whole
    assert whole.text == "Checking..."
    assert whole.finish_reason == "tool_calls"


async def test_a_server_that_puts_the_finish_on_its_last_content_chunk_loses_nothing(
    served: tuple[OpenAIFake, str],
) -> None:
    fake, url = served
    # A self-hosted server, which knows only the older max_tokens field.
    server = OpenAIChat(KEY, base_url=url, max_retries=0, max_tokens_field="max_tokens")
    fake.reply(["Last", " words"], finish_on_last_chunk=True, usage=(3, 2))
    events = [e async for e in server.stream(CONVERSATION, OPTIONS)]
    await server.aclose()
    assert events == [
        TextDelta("Last"),
        TextDelta(" words"),
        Finish("stop", Usage(3, 2), "gpt-4.1-mini", "stop"),
    ]
    assert fake.requests[-1].body["max_tokens"] == 300
    assert "max_completion_tokens" not in fake.requests[-1].body


async def test_errors_are_told_apart(served: tuple[OpenAIFake, str], chat: OpenAIChat) -> None:
    fake, url = served
    wrong = OpenAIChat("sk-wrong", base_url=url, max_retries=0)
    with pytest.raises(LLMAuthError, match="invalid_api_key"):
        await wrong.complete(CONVERSATION, OPTIONS)
    await wrong.aclose()

    fake.context_window = 10
    with pytest.raises(LLMContextTooLong, match="maximum context length"):
        await chat.complete([Message.user("word " * 50)], OPTIONS)
    fake.context_window = 128_000

    fake.fail_next(1, status=429, retry_after=3)
    with pytest.raises(LLMRateLimited) as limited:
        await chat.complete(CONVERSATION, OPTIONS)
    assert limited.value.retry_after == 3
    assert limited.value.status == 429

    for status in (500, 503):
        fake.fail_next(1, status=status)
        with pytest.raises(LLMUnavailable) as down:
            await chat.complete(CONVERSATION, OPTIONS)
        assert down.value.status == status
        assert not isinstance(down.value, LLMRateLimited)

    # A tool message that answers no call: OpenAI refuses the turns.
    with pytest.raises(LLMBadRequest, match="must be a response to a preceeding message"):
        await chat.complete([Message.user("hi"), Message.tool_result("call_x", "?")], OPTIONS)


async def test_a_cut_stream_is_unavailable_never_a_short_reply(
    served: tuple[OpenAIFake, str], chat: OpenAIChat
) -> None:
    fake, _ = served
    fake.reply(["one", "two", "three"], cut_after=3)
    seen: list[StreamEvent] = []
    with pytest.raises(LLMUnavailable, match="ended before its finish"):
        await drain(chat.stream(CONVERSATION, OPTIONS), seen)
    assert seen == [TextDelta("one"), TextDelta("two")]


async def test_an_unscripted_request_is_an_error_not_an_answer(
    served: tuple[OpenAIFake, str],
) -> None:
    fake, url = served
    retrying = OpenAIChat(KEY, base_url=url, max_retries=2)
    with pytest.raises(LLMUnavailable, match="no reply scripted"):
        await retrying.complete(CONVERSATION, OPTIONS)
    await retrying.aclose()
    assert len(fake.requests) == 1  # marked not to be retried


async def test_the_sdk_retries_a_429_after_the_time_it_is_told(
    served: tuple[OpenAIFake, str],
) -> None:
    fake, url = served
    chat = OpenAIChat(KEY, base_url=url, max_retries=2)
    fake.fail_next(2, status=429, retry_after=0.01)
    fake.reply("finally")
    assert (await chat.complete(CONVERSATION, OPTIONS)).text == "finally"
    fake.fail_next(1, status=503, retry_after=0.01)
    fake.reply(["streamed"])
    assert (await collect(chat.stream(CONVERSATION, OPTIONS))).text == "streamed"
    await chat.aclose()
    counts = [r.headers["x-stainless-retry-count"] for r in fake.requests]
    assert counts == ["0", "1", "2", "0", "1"]
