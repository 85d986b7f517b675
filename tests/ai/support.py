"""What the tests of the chat model providers share."""

from __future__ import annotations

from collections.abc import AsyncIterable

from v100.ai.llm import StreamEvent


async def drain(events: AsyncIterable[StreamEvent], into: list[StreamEvent]) -> None:
    """Every event of a stream into ``into``, until it ends or raises (what came before a
    failure stays there to be checked)."""
    async for event in events:
        into.append(event)
