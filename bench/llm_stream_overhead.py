"""What ``v100.ai.llm`` adds to a streamed reply (issue 15 counts the gateway's time to first
token minus the provider's, target under 20 ms; this is the provider layer's share): for each
vendor, the official SDK streaming raw events from the local fake on loopback, against our
provider turning the same stream into neutral events. Median and p95 of the time to the first
text delta and to the end of the stream, and their differences. Run by hand, not in CI:

    .venv/bin/python bench/llm_stream_overhead.py [--runs 200] [--deltas 50]

Each reply is ``--deltas`` text deltas then a tool call whose arguments come in 8 fragments.
Runs alternate on the same SDK client (raw then ours, then ours then raw...), so drifting load
on shared cores and any first-of-a-pair effect hit both alike; the fake serves from the same
event loop, alike for both."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from v100.ai.llm import (
    AnthropicChat,
    ChatModel,
    ChatOptions,
    GeminiChat,
    Message,
    OpenAIChat,
    TextDelta,
    Tool,
)
from v100.kit.testing.fakes._llm_script import ScriptedCall, VendorScript
from v100.kit.testing.fakes.anthropic import AnthropicFake
from v100.kit.testing.fakes.gemini import GeminiFake
from v100.kit.testing.fakes.openai import OpenAIFake
from v100.kit.testing.servers import serving

TARGET_ADDED_MS = 20.0
TOOL = Tool("lookup", "Find an order.", {"type": "object", "properties": {"q": {"type": "string"}}})
MESSAGES = [Message.system("Be brief."), Message.user("Tell me a story, then look it up.")]
OPTIONS = ChatOptions(model="bench-model", max_tokens=1000)

Timing = tuple[float, float]  # seconds to the first text, to the end


async def _time(opened: Awaitable[AsyncIterator[Any]], is_text: Callable[[Any], bool]) -> Timing:
    """Timed from before the request is sent (``opened`` is awaited inside)."""
    start = time.perf_counter()
    first = 0.0
    async for event in await opened:
        if not first and is_text(event):
            first = time.perf_counter() - start
    return first, time.perf_counter() - start


def _raw(provider: ChatModel) -> Callable[[], Awaitable[Timing]]:
    """The same request through the provider's own SDK client, its events untouched."""
    client: Any = provider._client  # type: ignore[attr-defined]
    tools = [TOOL]
    if isinstance(provider, AnthropicChat):

        async def anthropic() -> Timing:
            stream = client.messages.create(
                **provider._params(MESSAGES, OPTIONS, tools), stream=True
            )
            return await _time(
                stream, lambda e: e.type == "content_block_delta" and e.delta.type == "text_delta"
            )

        return anthropic
    if isinstance(provider, OpenAIChat):

        async def openai() -> Timing:
            stream = client.chat.completions.create(
                **provider._params(MESSAGES, OPTIONS, tools),
                stream=True,
                stream_options={"include_usage": True},
            )
            return await _time(stream, lambda c: bool(c.choices and c.choices[0].delta.content))

        return openai
    assert isinstance(provider, GeminiChat)

    async def gemini() -> Timing:
        contents, config = provider._request(MESSAGES, OPTIONS, tools)
        stream = client.aio.models.generate_content_stream(
            model=OPTIONS.model, contents=contents, config=config
        )
        return await _time(stream, lambda c: bool(c.text))

    return gemini


def _script(fake: VendorScript, deltas: int) -> None:
    arguments = json.dumps({"q": "order " * 20})
    size = -(-len(arguments) // 8)
    chunks = [arguments[i : i + size] for i in range(0, len(arguments), size)]
    fake.reply(
        [f"word{i} " for i in range(deltas)],
        tool_calls=[ScriptedCall("lookup", json.loads(arguments), chunks=chunks, id="call_1")],
        usage=(30, deltas + 10),
    )


def _ms(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered) * 1000, ordered[int(0.95 * (len(ordered) - 1))] * 1000


async def _vendor(
    name: str, fake: VendorScript, make: Callable[[str], ChatModel], runs: int, deltas: int
) -> float:
    async with serving(fake.app, lifespan="off") as url:  # type: ignore[attr-defined]
        provider = make(url)
        raw = _raw(provider)

        async def opened() -> AsyncIterator[Any]:
            return provider.stream(MESSAGES, OPTIONS, [TOOL])

        async def ours() -> Timing:
            return await _time(opened(), lambda e: isinstance(e, TextDelta))

        for _ in range(5):  # warm up: imports, connections
            _script(fake, deltas)
            await raw()
        timings: dict[str, list[Timing]] = {"raw": [], "ours": []}
        sides = [("raw", raw), ("ours", ours)]
        for _ in range(runs):
            sides.reverse()  # each side goes first every other run
            for side, run in sides:
                _script(fake, deltas)
                timings[side].append(await run())
        await provider.aclose()
    (raw_first, raw_first95), (raw_end, raw_end95) = (
        _ms([t[0] for t in timings["raw"]]),
        _ms([t[1] for t in timings["raw"]]),
    )
    (our_first, our_first95), (our_end, our_end95) = (
        _ms([t[0] for t in timings["ours"]]),
        _ms([t[1] for t in timings["ours"]]),
    )
    print(
        f"{name:9} first text: SDK {raw_first:6.2f} ms (p95 {raw_first95:6.2f}), "
        f"ours {our_first:6.2f} ms (p95 {our_first95:6.2f}), added {our_first - raw_first:+.2f} ms"
    )
    print(
        f"{'':9} whole stream: SDK {raw_end:6.2f} ms (p95 {raw_end95:6.2f}), "
        f"ours {our_end:6.2f} ms (p95 {our_end95:6.2f}), ratio {our_end / raw_end:.3f}"
    )
    return our_first - raw_first


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--deltas", type=int, default=50)
    args = parser.parse_args()
    print(
        f"{args.runs} streams a side, {args.deltas} text deltas and one 8-fragment tool call each"
    )
    added = [
        await _vendor(
            "anthropic",
            AnthropicFake(api_key="k"),
            lambda url: AnthropicChat("k", base_url=url, max_retries=0),
            args.runs,
            args.deltas,
        ),
        await _vendor(
            "openai",
            OpenAIFake(api_key="k"),
            lambda url: OpenAIChat("k", base_url=url + "/v1", max_retries=0),
            args.runs,
            args.deltas,
        ),
        await _vendor(
            "gemini",
            GeminiFake(api_key="k"),
            lambda url: GeminiChat("k", base_url=url, max_retries=0),
            args.runs,
            args.deltas,
        ),
    ]
    worst = max(added)
    verdict = "within" if worst < TARGET_ADDED_MS else "OVER"
    budget = f"{verdict} the {TARGET_ADDED_MS:g} ms budget"
    print(f"most added to the first text: {worst:+.2f} ms ({budget})")


if __name__ == "__main__":
    asyncio.run(main())
