"""The fake vendors' wire formats read raw (no SDK, whose parsers forgive): OpenAI's chunks
(one id and created, the role first, an empty-delta finish chunk, the usage chunk, ``[DONE]``),
Anthropic's named events and its refusals, Gemini's SSE lines and its ways of taking a key."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from v100.kit.testing.fakes.anthropic import AnthropicFake
from v100.kit.testing.fakes.gemini import GeminiFake
from v100.kit.testing.fakes.openai import OpenAIFake, ScriptedCall
from v100.kit.testing.servers import serving


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        yield client


async def test_openai_streams_chunks_exactly_as_openai_sends_them(
    http: httpx.AsyncClient,
) -> None:
    fake = OpenAIFake(api_key="k")
    fake.reply(
        ["Hi", " there"],
        tool_calls=[ScriptedCall("f", {"x": 1}, chunks=['{"x"', ":1}"], id="call_1")],
        usage=(4, 5),
    )
    async with serving(fake.app, lifespan="off") as url:
        answer = await http.post(
            url + "/v1/chat/completions",
            headers={"authorization": "Bearer k"},
            json={
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": True,
                "stream_options": {"include_usage": True},
            },
        )
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = answer.text.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(e.startswith("data: ") for e in events[:-1])
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
    assert len({(c["id"], c["created"], c["model"]) for c in chunks}) == 1
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks[:-1]]
    assert deltas[0] == {"role": "assistant", "content": "", "refusal": None}
    assert deltas[1:3] == [{"content": "Hi"}, {"content": " there"}]
    assert deltas[3] == {
        "tool_calls": [
            {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "f", "arguments": ""},
            }
        ]
    }
    assert [d["tool_calls"][0]["function"]["arguments"] for d in deltas[4:6]] == ['{"x"', ":1}"]
    assert deltas[-1] == {}
    finishes = [c["choices"][0]["finish_reason"] for c in chunks[:-1]]
    assert finishes == [None] * (len(finishes) - 1) + ["tool_calls"]
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 4
    assert chunks[-1]["usage"]["completion_tokens"] == 5


async def test_anthropic_names_each_event_and_refuses_in_its_words(
    http: httpx.AsyncClient,
) -> None:
    fake = AnthropicFake(api_key="k")
    fake.reply(["Hi"])
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    async with serving(fake.app, lifespan="off") as url:
        headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
        streamed = await http.post(
            url + "/v1/messages", headers=headers, json={**body, "stream": True}
        )
        unversioned = await http.post(url + "/v1/messages", headers={"x-api-key": "k"}, json=body)
        system_role = await http.post(
            url + "/v1/messages",
            headers=headers,
            json={**body, "messages": [{"role": "system", "content": "x"}]},
        )
        # The key in x-api-key wins over a bearer token, as Anthropic's API does.
        both = await http.post(
            url + "/v1/messages",
            headers={**headers, "x-api-key": "wrong", "authorization": "Bearer k"},
            json=body,
        )
    names = []
    for event in streamed.text.strip().split("\n\n"):
        name_line, data_line = event.split("\n")
        names.append(name_line.removeprefix("event: "))
        assert json.loads(data_line.removeprefix("data: "))["type"] == names[-1]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert unversioned.status_code == 400
    assert unversioned.json()["error"] == {
        "type": "invalid_request_error",
        "message": "anthropic-version: header is required",
    }
    assert system_role.json()["type"] == "error"
    assert 'Unexpected role "system"' in system_role.json()["error"]["message"]
    assert both.status_code == 401
    assert both.json()["error"]["type"] == "authentication_error"


async def test_gemini_takes_its_key_in_the_query_and_frames_sse_lines(
    http: httpx.AsyncClient,
) -> None:
    fake = GeminiFake(api_key="k")
    fake.reply(["a", "b"])
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    async with serving(fake.app, lifespan="off") as url:
        streamed = await http.post(
            url + "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            params={"alt": "sse", "key": "k"},
            json=body,
        )
        keyless = await http.post(url + "/v1beta/models/g:generateContent", json=body)
        unscripted = await http.post(
            url + "/v1beta/models/g:generateContent", params={"key": "k"}, json=body
        )
    events = streamed.text.split("\r\n\r\n")
    assert events[-1] == ""
    answers = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert [a["candidates"][0]["content"]["parts"][0]["text"] for a in answers] == ["a", "b"]
    assert "finishReason" not in answers[0]["candidates"][0]
    assert answers[1]["candidates"][0]["finishReason"] == "STOP"
    assert len({a["responseId"] for a in answers}) == 1
    assert keyless.status_code == 403
    assert keyless.json()["error"]["status"] == "PERMISSION_DENIED"
    assert unscripted.status_code == 501
    assert "no reply scripted" in unscripted.json()["error"]["message"]
