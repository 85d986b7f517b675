"""What every chat model provider gives: a whole reply (``complete``) or a stream of neutral
events (``stream``) for a conversation, options and tools; ``provider`` names the vendor for
records and bills. Keys and base URLs are given to the provider's constructor, which imports
and builds its SDK client without touching the network."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from v100.ai.llm._events import StreamEvent
from v100.ai.llm._messages import ChatOptions, Message, Reply, Tool

__all__ = ["ChatModel"]


class ChatModel(Protocol):
    provider: str

    async def complete(
        self, messages: Sequence[Message], options: ChatOptions, tools: Sequence[Tool] = ()
    ) -> Reply: ...

    def stream(
        self, messages: Sequence[Message], options: ChatOptions, tools: Sequence[Tool] = ()
    ) -> AsyncIterator[StreamEvent]: ...

    async def aclose(self) -> None: ...
