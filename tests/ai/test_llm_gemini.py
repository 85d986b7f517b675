"""GeminiChat through the official google-genai SDK against the local fake of the Gemini API:
the system prompt as ``systemInstruction``, a stream's deltas, usage and finish, function calls
(whole, with or without Gemini's id, with their thought signature) and their results sent back
as ``functionResponse`` parts, every error told apart, and the SDK's own retry on 429."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest

from v100.ai.llm import (
    ChatOptions,
    Finish,
    GeminiChat,
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
from v100.kit.testing.fakes.gemini import GeminiFake, ScriptedCall
from v100.kit.testing.servers import serving

from .support import drain

KEY = "gm-test"
OPTIONS = ChatOptions(model="gemini-2.5-flash", temperature=0.2, max_tokens=300, stop=("END",))
WEATHER = Tool(
    "weather",
    "The weather in a city today.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CONVERSATION = [Message.system("You are terse."), Message.user("Say hello.")]


@pytest.fixture
async def served() -> AsyncIterator[tuple[GeminiFake, str]]:
    fake = GeminiFake(api_key=KEY)
    async with serving(fake.app, lifespan="off") as url:
        yield fake, url


@pytest.fixture
async def chat(served: tuple[GeminiFake, str]) -> AsyncIterator[GeminiChat]:
    model = GeminiChat(KEY, base_url=served[1], max_retries=0)
    yield model
    await model.aclose()


async def test_a_completion_sends_the_system_prompt_as_the_system_instruction(
    served: tuple[GeminiFake, str], chat: GeminiChat
) -> None:
    fake, _ = served
    fake.reply("Hello.", usage=(14, 3))
    reply = await chat.complete(CONVERSATION, OPTIONS)
    assert reply.text == "Hello."
    assert reply.finish_reason == "stop"
    assert reply.vendor_reason == "STOP"
    assert reply.usage == Usage(14, 3)
    assert reply.model == "gemini-2.5-flash"
    sent = fake.requests[-1]
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == KEY
    assert sent.body["systemInstruction"]["parts"] == [{"text": "You are terse."}]
    assert sent.body["contents"] == [{"role": "user", "parts": [{"text": "Say hello."}]}]
    assert sent.body["generationConfig"] == {
        "temperature": 0.2,
        "maxOutputTokens": 300,
        "stopSequences": ["END"],
    }
    assert "tools" not in sent.body


async def test_a_stream_gives_deltas_in_order_then_usage_and_the_finish(
    served: tuple[GeminiFake, str], chat: GeminiChat
) -> None:
    fake, _ = served
    fake.reply(["Once", " upon", " a time"], finish="MAX_TOKENS", usage=(20, 3))
    events = [e async for e in chat.stream(CONVERSATION, OPTIONS)]
    assert events == [
        TextDelta("Once"),
        TextDelta(" upon"),
        TextDelta(" a time"),
        Finish("length", Usage(20, 3), "gemini-2.5-flash", "MAX_TOKENS"),
    ]
    sent = fake.requests[-1]
    assert sent.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert sent.query["alt"] == "sse"

    fake.reply(["I cannot"], finish="SAFETY")
    filtered = await collect(chat.stream(CONVERSATION, OPTIONS))
    assert filtered.finish_reason == "content_filter"
    assert filtered.vendor_reason == "SAFETY"


async def test_function_calls_get_ids_keep_their_signature_and_their_results_go_back(
    served: tuple[GeminiFake, str], chat: GeminiChat
) -> None:
    fake, _ = served
    fake.reply(
        ["Let me look."],
        tool_calls=[
            ScriptedCall("weather", {"city": "Paris"}, signature=b"thought-1"),
            ScriptedCall("weather", {"city": "Oslo"}, id="gemini-given-id"),
        ],
    )
    options = ChatOptions(model="gemini-2.5-flash", tool_choice="weather")
    events = [e async for e in chat.stream(CONVERSATION, options, [WEATHER])]
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    ends = [e for e in events if isinstance(e, ToolCallEnd)]
    assert events[0] == TextDelta("Let me look.")
    # Gemini gave the first call no id: one is minted, unique; the second keeps Gemini's.
    assert starts[0].id.startswith("v100-gemini-")
    assert starts[1].id == "gemini-given-id"
    assert [e.arguments for e in events if isinstance(e, ToolCallDelta)] == [
        '{"city":"Paris"}',
        '{"city":"Oslo"}',
    ]
    assert ends[0].call.signature == b"thought-1"
    assert ends[1].call.signature is None
    finish = events[-1]
    assert isinstance(finish, Finish)
    assert finish.reason == "tool_calls"  # Gemini said STOP
    assert finish.vendor_reason == "STOP"
    sent = fake.requests[-1].body
    # The SDK passes declarations through under their proto names (parameters_json_schema),
    # which proto3 JSON accepts beside the camelCase ones.
    assert sent["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "weather",
                    "description": "The weather in a city today.",
                    "parameters_json_schema": WEATHER.parameters,
                }
            ]
        }
    ]
    assert sent["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}
    }

    fake.reply("Sunny in Paris, snow in Oslo.")
    calls = [e.call for e in ends]
    reply = await chat.complete(
        [
            *CONVERSATION,
            Message.assistant("Let me look.", calls),
            Message.tool_result(calls[0].id, "sunny"),
            Message.tool_result(calls[1].id, "snow", is_error=True),
        ],
        OPTIONS,
        [WEATHER],
    )
    assert reply.text == "Sunny in Paris, snow in Oslo."
    turns = fake.requests[-1].body["contents"]
    assert turns[1] == {
        "role": "model",
        "parts": [
            {"text": "Let me look."},
            {
                "functionCall": {"name": "weather", "args": {"city": "Paris"}},
                "thoughtSignature": base64.b64encode(b"thought-1").decode(),
            },
            {
                "functionCall": {
                    "id": "gemini-given-id",
                    "name": "weather",
                    "args": {"city": "Oslo"},
                }
            },
        ],
    }
    assert turns[2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "weather", "response": {"output": "sunny"}}},
            {
                "functionResponse": {
                    "id": "gemini-given-id",
                    "name": "weather",
                    "response": {"error": "snow"},
                }
            },
        ],
    }


async def test_collect_gives_what_complete_gives(
    served: tuple[GeminiFake, str], chat: GeminiChat
) -> None:
    fake, _ = served
    call = ScriptedCall("weather", {"city": "Rome"}, id="c1")
    fake.reply(["A", "B"], tool_calls=[call], usage=(5, 6))
    fake.reply(["A", "B"], tool_calls=[call], usage=(5, 6))
    whole = await chat.complete(CONVERSATION, OPTIONS, [WEATHER])
    streamed = await collect(chat.stream(CONVERSATION, OPTIONS, [WEATHER]))
    assert streamed == whole
    assert whole.text == "AB"


async def test_errors_are_told_apart(served: tuple[GeminiFake, str], chat: GeminiChat) -> None:
    fake, url = served
    wrong = GeminiChat("gm-wrong", base_url=url, max_retries=0)
    with pytest.raises(LLMAuthError, match="API key not valid") as refused:
        await wrong.complete(CONVERSATION, OPTIONS)
    assert refused.value.status == 400  # Gemini's answer to a wrong key
    await wrong.aclose()

    fake.context_window = 10
    with pytest.raises(LLMContextTooLong, match="input token count"):
        await chat.complete([Message.user("word " * 50)], OPTIONS)
    fake.context_window = 1_048_576

    fake.fail_next(1, status=429, retry_after=37)
    with pytest.raises(LLMRateLimited) as limited:
        await chat.complete(CONVERSATION, OPTIONS)
    assert limited.value.retry_after == 37
    assert limited.value.status == 429

    for status in (500, 503):
        fake.fail_next(1, status=status)
        with pytest.raises(LLMUnavailable) as down:
            await chat.complete(CONVERSATION, OPTIONS)
        assert down.value.status == status
        assert not isinstance(down.value, LLMRateLimited)

    # Two calls answered by one result: Gemini refuses the turns.
    calls = [
        ScriptedCall("weather", {"city": "A"}, id="a"),
        ScriptedCall("weather", {"city": "B"}, id="b"),
    ]
    fake.reply(tool_calls=calls)
    first = await chat.complete(CONVERSATION, OPTIONS, [WEATHER])
    with pytest.raises(LLMBadRequest, match="number of function response parts"):
        await chat.complete(
            [*CONVERSATION, first.message(), Message.tool_result("a", "sunny")],
            OPTIONS,
            [WEATHER],
        )
    with pytest.raises(ValueError, match="answers no earlier tool call"):
        await chat.complete([Message.user("hi"), Message.tool_result("zz", "?")], OPTIONS)


async def test_a_call_replayed_without_its_thought_signature_is_refused(
    served: tuple[GeminiFake, str], chat: GeminiChat
) -> None:
    """The check the fake makes, which the tool test above passes: Gemini 3 refuses a call
    sent back without the signature it came with."""
    fake, _ = served
    fake.reply(tool_calls=[ScriptedCall("weather", {"city": "Nice"}, signature=b"s")])
    call = (await chat.complete(CONVERSATION, OPTIONS, [WEATHER])).tool_calls[0]
    bare = type(call)(call.id, call.name, call.arguments)  # the signature dropped
    with pytest.raises(LLMBadRequest, match="missing a thought_signature"):
        await chat.complete(
            [*CONVERSATION, Message.assistant("", [bare]), Message.tool_result(call.id, "sun")],
            OPTIONS,
            [WEATHER],
        )


async def test_a_cut_stream_is_unavailable_never_a_short_reply(
    served: tuple[GeminiFake, str], chat: GeminiChat
) -> None:
    fake, _ = served
    fake.reply(["one", "two", "three"], cut_after=2)
    seen: list[StreamEvent] = []
    with pytest.raises(LLMUnavailable, match="before a finishReason"):
        await drain(chat.stream(CONVERSATION, OPTIONS), seen)
    assert seen == [TextDelta("one"), TextDelta("two")]


async def test_an_unscripted_request_is_an_error_not_an_answer(
    served: tuple[GeminiFake, str],
) -> None:
    fake, url = served
    retrying = GeminiChat(KEY, base_url=url, max_retries=2, retry_delay=0.01)
    with pytest.raises(LLMUnavailable, match="no reply scripted"):
        await retrying.complete(CONVERSATION, OPTIONS)
    await retrying.aclose()
    assert len(fake.requests) == 1  # 501: not among the codes the SDK retries


async def test_the_sdk_retries_a_429(served: tuple[GeminiFake, str]) -> None:
    fake, url = served
    chat = GeminiChat(KEY, base_url=url, max_retries=2, retry_delay=0.01)
    fake.fail_next(2, status=429)
    fake.reply("finally")
    assert (await chat.complete(CONVERSATION, OPTIONS)).text == "finally"
    fake.fail_next(1, status=503)
    fake.reply(["streamed"])
    assert (await collect(chat.stream(CONVERSATION, OPTIONS))).text == "streamed"
    await chat.aclose()
    assert len(fake.requests) == 5
