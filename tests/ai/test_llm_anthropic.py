"""AnthropicChat through the official SDK against the local fake of Anthropic's Messages API:
the system prompt as ``system``, a stream's deltas, usage and finish, a tool call whose
arguments come in fragments and its result sent back as a ``tool_result`` block, every error
told apart, and the SDK's own retry on 429."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from v100.ai.llm import (
    AnthropicChat,
    ChatOptions,
    Finish,
    LLMAuthError,
    LLMBadRequest,
    LLMContextTooLong,
    LLMRateLimited,
    LLMUnavailable,
    Message,
    StreamEvent,
    TextDelta,
    Tool,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    collect,
)
from v100.kit.testing.fakes.anthropic import AnthropicFake, ScriptedCall
from v100.kit.testing.servers import serving

from .support import drain

KEY = "sk-ant-test"
OPTIONS = ChatOptions(model="claude-sonnet-4-5", max_tokens=300)
WEATHER = Tool(
    "weather",
    "The weather in a city today.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CONVERSATION = [Message.system("You are terse."), Message.user("Say hello.")]


@pytest.fixture
async def served() -> AsyncIterator[tuple[AnthropicFake, str]]:
    fake = AnthropicFake(api_key=KEY)
    async with serving(fake.app, lifespan="off") as url:
        yield fake, url


@pytest.fixture
async def chat(served: tuple[AnthropicFake, str]) -> AsyncIterator[AnthropicChat]:
    model = AnthropicChat(KEY, base_url=served[1], max_retries=0)
    yield model
    await model.aclose()


async def test_a_completion_sends_the_system_prompt_as_the_system_parameter(
    served: tuple[AnthropicFake, str], chat: AnthropicChat
) -> None:
    fake, _ = served
    fake.reply("Hello.", usage=(14, 3))
    reply = await chat.complete(CONVERSATION, OPTIONS)
    assert reply.text == "Hello."
    assert reply.finish_reason == "stop"
    assert reply.vendor_reason == "end_turn"
    assert reply.usage == Usage(14, 3)
    assert reply.tool_calls == ()
    assert reply.model == "claude-sonnet-4-5"
    sent = fake.requests[-1]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["anthropic-version"] == "2026-10-21"
    assert sent.body["system"] == "You are terse."
    assert [m["role"] for m in sent.body["messages"]] == ["user"]
    assert sent.body["max_tokens"] == 300
    assert "temperature" not in sent.body
    assert "tools" not in sent.body
    assert "stream" not in sent.body


async def test_a_stream_gives_deltas_in_order_then_usage_and_the_finish(
    served: tuple[AnthropicFake, str], chat: AnthropicChat
) -> None:
    fake, _ = served
    fake.reply(["Once", " upon", " a time"], finish="max_tokens", usage=(20, 3))
    events = [e async for e in chat.stream(CONVERSATION, OPTIONS)]
    assert events == [
        TextDelta("Once"),
        TextDelta(" upon"),
        TextDelta(" a time"),
        Finish("length", Usage(20, 3), "claude-sonnet-4-5", "max_tokens"),
    ]
    assert fake.requests[-1].body["stream"] is True


async def test_a_streamed_tool_call_is_reassembled_and_its_result_goes_back_as_tool_result(
    served: tuple[AnthropicFake, str], chat: AnthropicChat
) -> None:
    fake, _ = served
    chunks = ['{"ci', 'ty": "Par', 'is", "days"', ": 2}"]
    fake.reply(
        "Let me look.",
        tool_calls=[
            ScriptedCall("weather", {"city": "Paris", "days": 2}, chunks=chunks, id="toolu_1"),
            ScriptedCall("weather", {}, id="toolu_2"),
        ],
    )
    options = ChatOptions(model="claude-sonnet-4-5", tool_choice="weather")
    events = [e async for e in chat.stream(CONVERSATION, options, [WEATHER])]
    assert events[0] == TextDelta("Let me look.")
    assert events[1] == ToolCallStart(0, "toolu_1", "weather")
    assert [e.arguments for e in events if isinstance(e, ToolCallDelta) and e.index == 0] == chunks
    ends = [e for e in events if isinstance(e, ToolCallEnd)]
    assert [e.call.parsed_arguments() for e in ends] == [{"city": "Paris", "days": 2}, {}]
    # Each call's fragments joined are its arguments (the call without any included).
    for end in ends:
        fragments = [e.arguments for e in events if isinstance(e, ToolCallDelta)]
        indexes = [e.index for e in events if isinstance(e, ToolCallDelta)]
        joined = "".join(f for f, i in zip(fragments, indexes, strict=True) if i == end.index)
        assert joined == end.call.arguments
    finish = events[-1]
    assert isinstance(finish, Finish)
    assert finish.reason == "tool_calls"
    sent = fake.requests[-1].body
    assert sent["tools"] == [
        {
            "name": "weather",
            "description": "The weather in a city today.",
            "input_schema": WEATHER.parameters,
        }
    ]
    assert sent["tool_choice"] == {"type": "tool", "name": "weather"}

    fake.reply("Sunny in Paris.")
    calls = [e.call for e in ends]
    reply = await chat.complete(
        [
            *CONVERSATION,
            Message.assistant("Let me look.", calls),
            Message.tool_result("toolu_1", "sunny, 24 C"),
            Message.tool_result("toolu_2", "no such city", is_error=True),
        ],
        OPTIONS,
        [WEATHER],
    )
    assert reply.text == "Sunny in Paris."
    turns = fake.requests[-1].body["messages"]
    assert turns[1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me look."},
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "weather",
                "input": {"city": "Paris", "days": 2},
            },
            {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {}},
        ],
    }
    assert turns[2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny, 24 C"},
            {
                "type": "tool_result",
                "tool_use_id": "toolu_2",
                "content": "no such city",
                "is_error": True,
            },
        ],
    }


async def test_collect_gives_what_complete_gives(
    served: tuple[AnthropicFake, str], chat: AnthropicChat
) -> None:
    fake, _ = served
    call = ScriptedCall("weather", {"city": "Oslo"}, id="toolu_9")
    fake.reply(["A", "B"], tool_calls=[call], usage=(5, 6))
    fake.reply(["A", "B"], tool_calls=[call], usage=(5, 6))
    whole = await chat.complete(CONVERSATION, OPTIONS, [WEATHER])
    streamed = await collect(chat.stream(CONVERSATION, OPTIONS, [WEATHER]))
    assert streamed == whole
    assert whole.tool_calls[0].arguments == json.dumps({"city": "Oslo"}, separators=(",", ":"))


async def test_errors_are_told_apart(
    served: tuple[AnthropicFake, str], chat: AnthropicChat
) -> None:
    fake, url = served
    wrong = AnthropicChat("sk-ant-wrong", base_url=url, max_retries=0)
    with pytest.raises(LLMAuthError, match="authentication_error"):
        await wrong.complete(CONVERSATION, OPTIONS)
    await wrong.aclose()

    fake.context_window = 10
    with pytest.raises(LLMContextTooLong, match="prompt is too long"):
        await chat.complete([Message.user("word " * 50)], OPTIONS)
    fake.context_window = 200_000

    fake.fail_next(1, status=429, retry_after=7)
    with pytest.raises(LLMRateLimited) as limited:
        await chat.complete(CONVERSATION, OPTIONS)
    assert limited.value.retry_after == 7
    assert limited.value.status == 429

    for status in (500, 529):
        fake.fail_next(1, status=status)
        with pytest.raises(LLMUnavailable) as down:
            await chat.complete(CONVERSATION, OPTIONS)
        assert down.value.status == status
        assert not isinstance(down.value, LLMRateLimited)

    # A tool result that answers no tool_use: Anthropic refuses the turns.
    with pytest.raises(LLMBadRequest, match="unexpected `tool_use_id`"):
        await chat.complete([Message.user("hi"), Message.tool_result("toolu_x", "?")], OPTIONS)

    # The SDK has no temperature any more; it goes in the body, and today's API refuses it.
    with pytest.raises(LLMBadRequest, match="temperature: Extra inputs are not permitted"):
        await chat.complete(CONVERSATION, ChatOptions("claude-sonnet-4-5", temperature=0.3))
    assert fake.requests[-1].body["temperature"] == 0.3


async def test_a_cut_or_failing_stream_is_unavailable_never_a_short_reply(
    served: tuple[AnthropicFake, str], chat: AnthropicChat
) -> None:
    fake, _ = served
    fake.reply(["one", "two", "three"], cut_after=4)
    with pytest.raises(LLMUnavailable, match="before message_stop"):
        await collect(chat.stream(CONVERSATION, OPTIONS))
    fake.reply(["one", "two", "three"], overloaded_after=4)
    seen: list[StreamEvent] = []
    with pytest.raises(LLMUnavailable, match="overloaded_error"):
        await drain(chat.stream(CONVERSATION, OPTIONS), seen)
    assert seen == [TextDelta("one")]


async def test_an_unscripted_request_is_an_error_not_an_answer(
    served: tuple[AnthropicFake, str], chat: AnthropicChat
) -> None:
    fake, url = served
    retrying = AnthropicChat(KEY, base_url=url, max_retries=2)
    with pytest.raises(LLMUnavailable, match="no reply scripted"):
        await retrying.complete(CONVERSATION, OPTIONS)
    await retrying.aclose()
    assert len(fake.requests) == 1  # marked not to be retried


async def test_the_sdk_retries_a_429_after_the_time_it_is_told(
    served: tuple[AnthropicFake, str],
) -> None:
    fake, url = served
    chat = AnthropicChat(KEY, base_url=url, max_retries=2)
    fake.fail_next(2, status=429, retry_after=0.01)
    fake.reply("finally")
    assert (await chat.complete(CONVERSATION, OPTIONS)).text == "finally"
    fake.fail_next(1, status=529, retry_after=0.01)
    fake.reply(["streamed"])
    assert (await collect(chat.stream(CONVERSATION, OPTIONS))).text == "streamed"
    await chat.aclose()
    assert len(fake.requests) == 5
    assert [r.headers["x-stainless-retry-count"] for r in fake.requests] == [
        "0",
        "1",
        "2",
        "0",
        "1",
    ]


async def test_requests_the_interface_cannot_place_are_refused_before_sending(
    served: tuple[AnthropicFake, str], chat: AnthropicChat
) -> None:
    fake, _ = served
    with pytest.raises(ValueError, match="come before"):
        await chat.complete([Message.user("hi"), Message.system("late")], OPTIONS)
    with pytest.raises(ValueError, match="not among the tools"):
        await chat.complete(CONVERSATION, ChatOptions("m", tool_choice="nope"), [WEATHER])
    assert fake.requests == []
