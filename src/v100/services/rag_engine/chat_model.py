"""The chat model (``v100.ai.llm``) that writes rag_engine's answers: the operator's provider,
key and model from the settings (``llm_provider``, ``llm_api_key``, ``llm_model``), made once
per process on first use (its client keeps its connections to the vendor open) and closed with
the app. None when no provider is configured: answers are then extractive."""

from __future__ import annotations

from dataclasses import dataclass

from v100.ai.llm import AnthropicChat, ChatModel, GeminiChat, OpenAIChat
from v100.services.rag_engine.settings import RagEngineSettings

__all__ = ["CHAT_MODELS", "DEFAULT_MODELS", "AnswerModel", "ChatModelSlot"]

# The model asked for when ``llm_model`` is unset (as ai_orchestration's defaults).
DEFAULT_MODELS = {
    "anthropic": "claude-sonnet-4-5",
    "openai": "gpt-4o-mini",
    "gemini": "gemini-2.5-flash",
}


@dataclass(frozen=True, slots=True)
class AnswerModel:
    client: ChatModel
    model: str

    @property
    def name(self) -> str:
        """How an answer names its writer: ``anthropic/claude-sonnet-4-5``."""
        return f"{self.client.provider}/{self.model}"


class ChatModelSlot:
    def __init__(self) -> None:
        self._made: dict[tuple[str, str, str | None], ChatModel] = {}

    def get(self, settings: RagEngineSettings) -> AnswerModel | None:
        provider, key = settings.llm_provider, settings.llm_api_key
        if provider is None or key is None:
            return None
        secret = key.get_secret_value()
        slot = (provider, secret, settings.llm_base_url)
        client = self._made.get(slot)
        if client is None:
            client = self._made[slot] = _make(settings, provider, secret)
        return AnswerModel(client, settings.llm_model or DEFAULT_MODELS[provider])

    async def aclose(self) -> None:
        made, self._made = list(self._made.values()), {}
        for client in made:
            await client.aclose()


def _make(settings: RagEngineSettings, provider: str, key: str) -> ChatModel:
    url, retries = settings.llm_base_url, settings.llm_max_retries
    timeout = settings.llm_timeout_seconds
    if provider == "anthropic":
        return AnthropicChat(key, base_url=url, max_retries=retries, timeout=timeout)
    if provider == "gemini":
        return GeminiChat(key, base_url=url, max_retries=retries, timeout=timeout)
    return OpenAIChat(key, base_url=url, max_retries=retries, timeout=timeout)


CHAT_MODELS = ChatModelSlot()
