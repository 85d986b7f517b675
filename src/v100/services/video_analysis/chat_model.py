"""The chat model (``v100.ai.llm``) that refines the highlights: the operator's provider, key
and model from the settings (``llm_provider``, ``llm_api_key``, ``llm_model``), opened for one
highlights stage and closed after it (a stage makes one call). None when no provider is
configured: the local scores stand."""

from __future__ import annotations

from v100.ai.llm import AnthropicChat, ChatModel, GeminiChat, OpenAIChat
from v100.services.video_analysis.settings import VideoAnalysisSettings

__all__ = ["DEFAULT_MODELS", "open_chat_model"]

# The model asked for when ``llm_model`` is unset (as rag_engine's and ai_orchestration's).
DEFAULT_MODELS = {
    "anthropic": "claude-sonnet-4-5",
    "openai": "gpt-4o-mini",
    "gemini": "gemini-2.5-flash",
}


def open_chat_model(settings: VideoAnalysisSettings) -> tuple[ChatModel, str] | None:
    """The client (the caller closes it) and the model's name, or None."""
    provider, key = settings.llm_provider, settings.llm_api_key
    if provider is None or key is None:
        return None
    secret, url = key.get_secret_value(), settings.llm_base_url
    retries, timeout = settings.llm_max_retries, settings.llm_timeout_seconds
    client: ChatModel
    if provider == "anthropic":
        client = AnthropicChat(secret, base_url=url, max_retries=retries, timeout=timeout)
    elif provider == "gemini":
        client = GeminiChat(secret, base_url=url, max_retries=retries, timeout=timeout)
    else:
        client = OpenAIChat(secret, base_url=url, max_retries=retries, timeout=timeout)
    return client, settings.llm_model or DEFAULT_MODELS[provider]
