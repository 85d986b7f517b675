"""The chat model clients (``v100.ai.llm``) the service calls through, one per credential (provider,
key and base URL) and kept for the process: a client keeps its connections to the vendor open,
so a call after the first pays no new TCP and TLS handshake. At most ``limit`` are kept; the
least recently used one is closed when another is needed. All are closed at shutdown."""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict

from v100.ai.llm import AnthropicChat, ChatModel, GeminiChat, OpenAIChat
from v100.kit.observability import get_logger
from v100.services.ai_orchestration.keys import Credential
from v100.services.ai_orchestration.settings import AiOrchestrationSettings

__all__ = ["ChatModels"]

_log = get_logger("v100.ai_orchestration.chat_models")


class ChatModels:
    def __init__(self, settings: AiOrchestrationSettings, limit: int = 256) -> None:
        self._settings = settings
        self._limit = limit
        self._open: OrderedDict[tuple[str, str, str | None], ChatModel] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    def get(self, credential: Credential) -> ChatModel:
        """The client for this credential (made on first use, without touching the network)."""
        digest = hashlib.sha256(credential.api_key.encode()).hexdigest()
        key = (credential.provider, digest, credential.base_url)
        client = self._open.get(key)
        if client is not None:
            self._open.move_to_end(key)
            return client
        client = self._make(credential)
        self._open[key] = client
        while len(self._open) > self._limit:
            _, evicted = self._open.popitem(last=False)
            task = asyncio.get_running_loop().create_task(evicted.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return client

    def _make(self, credential: Credential) -> ChatModel:
        settings = self._settings
        key, url = credential.api_key, credential.base_url
        retries, timeout = settings.provider_max_retries, settings.provider_timeout_seconds
        if credential.provider == "anthropic":
            return AnthropicChat(key, base_url=url, max_retries=retries, timeout=timeout)
        if credential.provider == "gemini":
            return GeminiChat(key, base_url=url, max_retries=retries, timeout=timeout)
        return OpenAIChat(key, base_url=url, max_retries=retries, timeout=timeout)

    async def aclose(self) -> None:
        clients = list(self._open.values())
        self._open.clear()
        for client in clients:
            try:
                await client.aclose()
            except Exception as exc:  # closing one must not keep the others open
                _log.warning("chat model client did not close", error=repr(exc))
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
