"""Chat models behind one interface (``ChatModel``): Anthropic's Messages API (``AnthropicChat``,
the default), Google's Gemini (``GeminiChat``) and OpenAI's Chat Completions, also served by
self-hosted servers at another base URL (``OpenAIChat``), each through its vendor's official
SDK. Conversations, tools, options and replies are neutral types; a stream is a sequence of
neutral events ending in one ``Finish`` (reason and token usage); errors say whether to retry
later (``LLMUnavailable``) or not (``LLMRefused``). Importing this package imports no SDK."""

from v100.ai.llm._anthropic import AnthropicChat
from v100.ai.llm._errors import (
    LLMAuthError,
    LLMBadRequest,
    LLMContextTooLong,
    LLMError,
    LLMRateLimited,
    LLMRefused,
    LLMUnavailable,
)
from v100.ai.llm._events import (
    Finish,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    collect,
)
from v100.ai.llm._gemini import GeminiChat
from v100.ai.llm._interface import ChatModel
from v100.ai.llm._messages import (
    ChatOptions,
    FinishReason,
    Message,
    Reply,
    Role,
    Tool,
    ToolCall,
    ToolChoice,
    Usage,
)
from v100.ai.llm._openai import OpenAIChat

__all__ = [
    "AnthropicChat",
    "ChatModel",
    "ChatOptions",
    "Finish",
    "FinishReason",
    "GeminiChat",
    "LLMAuthError",
    "LLMBadRequest",
    "LLMContextTooLong",
    "LLMError",
    "LLMRateLimited",
    "LLMRefused",
    "LLMUnavailable",
    "Message",
    "OpenAIChat",
    "Reply",
    "Role",
    "StreamEvent",
    "TextDelta",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallStart",
    "ToolChoice",
    "Usage",
    "collect",
]
