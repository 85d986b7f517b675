"""``/v1/chat/completions`` in OpenAI's wire format, read raw: a whole answer; a stream exactly as
OpenAI sends it (the same id and created on every chunk, the role first, content deltas,
tool-call deltas, an empty-delta finish chunk, the usage chunk with include_usage, [DONE]);
``model`` naming an agent (its instructions first) or a provider's model; tokens paid for at
the real billing app; every failure in OpenAI's error shape (without any key:
test_without_keys.py)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from v100.kit.testing.fakes.anthropic import ScriptedCall
from v100.kit.testing.http import running_app
from v100.services.ai_orchestration.app import create_app
from v100.services.ai_orchestration.settings import TokenRates

from .chat_support import stream_chat
from .support import Orchestra, new_tenant, tenant_principal

# The module's app per backend (``ao``) and the vendors' servers live on the module's loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")

WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def _error(answer: Any, status: int, code: str | None, param: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    error: dict[str, Any] = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    return error


async def test_a_whole_answer_from_a_provider_model(ao: Orchestra) -> None:
    tenant = new_tenant()
    available, _ = await ao.balance(tenant)
    ao.fakes.openai.reply("Bonjour.", usage=(900, 100))
    answer = await ao.http.post(
        "/v1/chat/completions",
        json={"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "Say hi"}],
              "max_tokens": 50},
        headers=ao.headers(tenant),
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "openai/gpt-4o"
    assert body["choices"][0]["message"] == {
        "role": "assistant", "content": "Bonjour.", "refusal": None,
    }  # fmt: skip
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 900, "completion_tokens": 100, "total_tokens": 1000}
    sent = ao.fakes.openai.requests[-1].body
    assert sent["model"] == "gpt-4o"
    assert sent["max_completion_tokens"] == 50
    # 900 read at 1 per 1,000 and 100 written at 4: 1.3 credits, rounded up.
    assert await ao.balance(tenant) == (available - 2, 0)


async def test_a_stream_is_exactly_as_openai_sends_it(ao: Orchestra) -> None:
    tenant = new_tenant()
    agent = await ao.create_agent(tenant, instructions="You are terse.")
    ao.fakes.anthropic.reply(["Hel", "lo", " there"], usage=(30, 3))
    response, payloads = await stream_chat(
        ao, tenant,
        {"model": f"agent:{agent['id']}", "messages": [{"role": "user", "content": "hi"}],
         "stream_options": {"include_usage": True}},
    )  # fmt: skip
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert payloads[-1] == "[DONE]"
    chunks = payloads[:-1]
    assert {(c["id"], c["created"], c["model"], c["object"]) for c in chunks} == {
        (chunks[0]["id"], chunks[0]["created"], f"agent:{agent['id']}", "chat.completion.chunk")
    }
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    texts = [c["choices"][0]["delta"]["content"] for c in chunks[1:4]]
    assert texts == ["Hel", "lo", " there"]
    assert [c["choices"][0]["finish_reason"] for c in chunks[:4]] == [None] * 4
    finish = chunks[4]
    assert finish["choices"] == [
        {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    ]
    assert all(c["usage"] is None for c in chunks[:5])
    assert chunks[5]["choices"] == []
    assert chunks[5]["usage"] == {"prompt_tokens": 30, "completion_tokens": 3, "total_tokens": 33}
    assert len(chunks) == 6
    sent = ao.fakes.anthropic.requests[-1].body
    assert sent["system"] == "You are terse."
    assert sent["model"] == "claude-sonnet-4-5"


async def test_tool_calls_stream_as_deltas(ao: Orchestra) -> None:
    tenant = new_tenant()
    call = ScriptedCall("weather", {"city": "Paris"}, chunks=['{"ci', 'ty": ', '"Paris"}'])
    ao.fakes.anthropic.reply(["Let me look."], tool_calls=[call], usage=(50, 20))
    _, payloads = await stream_chat(
        ao, tenant,
        {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "Paris?"}],
         "tools": [WEATHER]},
    )  # fmt: skip
    assert payloads[-1] == "[DONE]"
    deltas = [p["choices"][0]["delta"] for p in payloads[:-1]]
    assert "usage" not in payloads[0]  # no include_usage: no usage field at all
    assert deltas[1] == {"content": "Let me look."}
    start = deltas[2]["tool_calls"][0]
    assert (start["index"], start["type"], start["function"]) == (
        0, "function", {"name": "weather", "arguments": ""},
    )  # fmt: skip
    assert start["id"].startswith("toolu_")
    fragments = [d["tool_calls"][0]["function"]["arguments"] for d in deltas[3:6]]
    assert fragments == ['{"ci', 'ty": ', '"Paris"}']
    assert [d["tool_calls"][0]["index"] for d in deltas[3:6]] == [0, 0, 0]
    assert payloads[-2]["choices"][0]["finish_reason"] == "tool_calls"

    # The tool's result sent back, as a client does, reaches Anthropic as its tool_result.
    ao.fakes.anthropic.reply("Sunny in Paris.", usage=(80, 5))
    answer = await ao.http.post(
        "/v1/chat/completions",
        json={"model": "claude-haiku-4-5", "tools": [WEATHER], "messages": [
            {"role": "user", "content": "Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": start["id"], "type": "function",
                 "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]},
            {"role": "tool", "tool_call_id": start["id"], "content": "sunny, 21 C"},
        ]},
        headers=ao.headers(tenant),
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "Sunny in Paris."
    turns = ao.fakes.anthropic.requests[-1].body["messages"]
    assert turns[-1]["content"][0]["type"] == "tool_result"


async def test_failures_are_in_openai_error_shape(ao: Orchestra) -> None:
    tenant = new_tenant()
    hi = [{"role": "user", "content": "hi"}]
    post = ao.http.post
    headers = ao.headers(tenant)
    missing = f"agent:{uuid.uuid4()}"
    answer = await post("/v1/chat/completions", json={"model": missing, "messages": hi},
                        headers=headers)  # fmt: skip
    _error(answer, 404, "model_not_found")
    answer = await post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []},
                        headers=headers)  # fmt: skip
    _error(answer, 400, None, "messages")
    answer = await post(
        "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "robot", "content": "x"}]},
        headers=headers,
    )
    _error(answer, 400, None, "messages[0].role")
    for extra in ({"n": 2}, {"top_logprobs": 2}, {"stream_options": {"include_usage": True}}):
        answer = await post(
            "/v1/chat/completions",
            json={"model": "gpt-4o", "messages": hi, **extra},
            headers=headers,
        )
        _error(answer, 400, None)  # fmt: skip
    answer = await post("/v1/chat/completions",
                        json={"model": "claude-x", "messages": hi, "temperature": 0.5},
                        headers=headers)  # fmt: skip
    error = _error(answer, 400, None, "temperature")
    assert "Anthropic" in error["message"]
    answer = await post("/v1/chat/completions", content=b"{not json", headers=headers)
    _error(answer, 400, None)
    # A credential without chat:write.
    reader = tenant_principal(tenant)
    reader = type(reader)(tenant_id=tenant, user_id="u2", scopes=frozenset({"agents:read"}))
    answer = await post("/v1/chat/completions", json={"model": "gpt-4o", "messages": hi},
                        headers=ao.headers(tenant, principal=reader))  # fmt: skip
    _error(answer, 403, "forbidden")
    # The vendor's failure before the stream began: its status, no stream.
    ao.fakes.openai.fail_next(1, status=503)
    response, payloads = await stream_chat(ao, tenant, {"model": "gpt-4o", "messages": hi})
    assert response.status_code == 503
    assert payloads == []


async def test_a_stream_cut_by_the_vendor_ends_with_an_error_not_done(ao: Orchestra) -> None:
    tenant = new_tenant()
    available, _ = await ao.balance(tenant)
    ao.fakes.openai.reply(["one ", "two ", "three"], usage=(10, 3), cut_after=3)
    response, payloads = await stream_chat(
        ao, tenant, {"model": "gpt-4o", "messages": [{"role": "user", "content": "count"}]}
    )
    assert response.status_code == 200
    assert "[DONE]" not in payloads
    assert payloads[-1]["error"]["code"] == "provider_unavailable"
    # What was read and written until then is charged (counted here).
    spent = available - (await ao.balance(tenant))[0]
    assert spent == 1


async def test_token_budgets_and_credits_refuse_in_openai_words(ao: Orchestra) -> None:
    settings = ao.settings.model_copy(
        update={"tokens_per_minute_per_user": 500,
                "operator_key_rates": TokenRates(input=1, output=100)}
    )  # fmt: skip
    app = create_app(settings)
    tenant = new_tenant()
    hi = [{"role": "user", "content": "hi"}]
    async with running_app(app) as http:
        headers = {**ao.headers(tenant)}
        too_large = await http.post("/v1/chat/completions",
                                    json={"model": "gpt-4o", "messages": hi, "max_tokens": 1000},
                                    headers=headers)  # fmt: skip
        error = _error(too_large, 429, "rate_limit_exceeded")
        assert error["message"].startswith("Request too large")
        ao.fakes.openai.reply("ok", usage=(5, 200))
        first = await http.post("/v1/chat/completions",
                                json={"model": "gpt-4o", "messages": hi, "max_tokens": 300},
                                headers=headers)  # fmt: skip
        assert first.status_code == 200, first.text
        # 205 of the 500 used this minute: another call that may use 305 does not fit.
        answer = await http.post("/v1/chat/completions",
                                 json={"model": "gpt-4o", "messages": hi, "max_tokens": 300},
                                 headers=headers)  # fmt: skip
        _error(answer, 429, "rate_limit_exceeded")
        assert int(answer.headers["retry-after"]) >= 1
        settings = settings.model_copy(update={"tokens_per_minute_per_user": None})
    async with running_app(create_app(settings)) as http:
        answer = await http.post("/v1/chat/completions",
                                 json={"model": "gpt-4o", "messages": hi, "max_tokens": 200_000},
                                 headers=headers)  # fmt: skip
        _error(answer, 429, "insufficient_quota")
        assert answer.headers["x-should-retry"] == "false"
        assert len(ao.fakes.openai.requests) == 1  # only the call that fitted
        # Streamed, the hold is taken beside the vendor's first token: refused, the call is
        # stopped before any byte, with its status, and nothing stays held.
        ao.fakes.openai.reply(["never ", "sent"], usage=(5, 5))
        async with http.stream(
            "POST", "/v1/chat/completions", headers=headers,
            json={"model": "gpt-4o", "messages": hi, "max_tokens": 200_000, "stream": True},
        ) as streamed:  # fmt: skip
            await streamed.aread()
        _error(streamed, 429, "insufficient_quota")
        assert (await ao.balance(tenant))[1] == 0
