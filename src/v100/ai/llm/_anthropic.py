"""Anthropic's Messages API through the official ``anthropic`` SDK (``AsyncAnthropic``): the
system prompt as the ``system`` parameter, tool calls as ``tool_use`` blocks and their results as
``tool_result`` blocks of the next user turn, and the raw stream's events (``message_start``,
``content_block_start/delta/stop`` with ``text_delta`` and ``input_json_delta``,
``message_delta``, ``message_stop``) turned into the neutral ones."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from v100.ai.llm._errors import (
    LLMAuthError,
    LLMBadRequest,
    LLMContextTooLong,
    LLMError,
    LLMRateLimited,
    LLMUnavailable,
)
from v100.ai.llm._events import (
    Finish,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from v100.ai.llm._messages import (
    ChatOptions,
    FinishReason,
    Message,
    Reply,
    Tool,
    ToolCall,
    Usage,
    split_system,
)
from v100.ai.llm._vendor import check_tools, is_context_too_long, retry_after

if TYPE_CHECKING:
    import anthropic

__all__ = ["AnthropicChat"]

_PROVIDER = "anthropic"
_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# Anthropic's error types (the body's ``error.type``), which also come inside a stream that
# began with 200, so they decide before the status does.
_UNAVAILABLE_TYPES = {"api_error", "overloaded_error", "timeout_error"}
_AUTH_TYPES = {"authentication_error", "permission_error", "billing_error"}


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _turns(messages: Sequence[Message]) -> tuple[str, list[dict[str, Any]]]:
    """The ``system`` text and the ``messages``; a run of tool results becomes one user turn of
    ``tool_result`` blocks, right after the assistant turn whose ``tool_use`` they answer."""
    system, turns = split_system(messages)
    out: list[dict[str, Any]] = []
    for message in turns:
        if message.role == "user":
            out.append({"role": "user", "content": [{"type": "text", "text": message.content}]})
        elif message.role == "assistant":
            blocks: list[dict[str, Any]] = []
            if message.content:
                blocks.append({"type": "text", "text": message.content})
            for call in message.tool_calls:
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.id,
                        "name": call.name,
                        "input": call.parsed_arguments(),
                    }
                )
            out.append({"role": "assistant", "content": blocks})
        else:
            result: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.content,
            }
            if message.is_error:
                result["is_error"] = True
            last = out[-1] if out else None
            if last and last["role"] == "user" and last["content"][-1]["type"] == "tool_result":
                last["content"].append(result)
            else:
                out.append({"role": "user", "content": [result]})
    return system, out


def _tool_choice(choice: str) -> dict[str, Any]:
    if choice in ("auto", "none"):
        return {"type": choice}
    if choice == "required":
        return {"type": "any"}
    return {"type": "tool", "name": choice}


def _usage(usage: Any) -> Usage:
    # Prompt-cache reads and writes are counted apart from ``input_tokens``, and billed.
    read = (
        (usage.input_tokens or 0)
        + (getattr(usage, "cache_creation_input_tokens", None) or 0)
        + (getattr(usage, "cache_read_input_tokens", None) or 0)
    )
    return Usage(input_tokens=read, output_tokens=usage.output_tokens or 0)


def _finish(stop_reason: str | None) -> FinishReason:
    return _FINISH.get(stop_reason or "", "stop")


def _error(exc: Exception) -> LLMError:
    import anthropic

    if isinstance(exc, anthropic.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error")
        error = error if isinstance(error, dict) else {}
        kind = str(error.get("type", ""))
        message = str(error.get("message") or exc.message)
        status = exc.status_code
        text = f"Anthropic ({status} {kind}): {message}".replace(" )", ")")
        wait = retry_after(exc.response.headers)
        if kind == "rate_limit_error" or (not kind and status == 429):
            return LLMRateLimited(text, provider=_PROVIDER, status=status, retry_after=wait)
        if kind in _UNAVAILABLE_TYPES or (not kind and status >= 500):
            return LLMUnavailable(text, provider=_PROVIDER, status=status, retry_after=wait)
        if kind in _AUTH_TYPES or status in (401, 402, 403):
            return LLMAuthError(text, provider=_PROVIDER, status=status)
        if is_context_too_long(message):
            return LLMContextTooLong(text, provider=_PROVIDER, status=status)
        return LLMBadRequest(text, provider=_PROVIDER, status=status)
    return LLMUnavailable(f"Anthropic: {exc}", provider=_PROVIDER)


class AnthropicChat:
    """``AnthropicChat(key, base_url=None, max_retries=2, timeout=600, default_max_tokens=4096)``:
    ``default_max_tokens`` is sent when the options leave ``max_tokens`` unset (Anthropic
    requires one). The SDK (2.x) sends the key as ``Authorization: Bearer`` and
    ``anthropic-version: 2026-10-21``."""

    provider = _PROVIDER

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        max_retries: int = 2,
        timeout: float = 600.0,
        default_max_tokens: int = 4096,
    ) -> None:
        import anthropic

        self._default_max_tokens = default_max_tokens
        self._client: anthropic.AsyncAnthropic = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout
        )

    def _params(
        self, messages: Sequence[Message], options: ChatOptions, tools: Sequence[Tool]
    ) -> dict[str, Any]:
        check_tools(options, tools)
        system, turns = _turns(messages)
        params: dict[str, Any] = {
            "model": options.model,
            "max_tokens": options.max_tokens or self._default_max_tokens,
            "messages": turns,
        }
        if system:
            params["system"] = system
        if options.temperature is not None:
            # Gone from the SDK's signature since 1.0: current models take no sampling
            # parameters and Anthropic refuses them (a 400, ``LLMBadRequest``); a model that
            # still honours one gets it this way, as the SDK's migration guide says.
            params["extra_body"] = {"temperature": options.temperature}
        if options.stop:
            params["stop_sequences"] = list(options.stop)
        if tools:
            params["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
                for t in tools
            ]
            params["tool_choice"] = _tool_choice(options.tool_choice)
        return params

    async def complete(
        self, messages: Sequence[Message], options: ChatOptions, tools: Sequence[Tool] = ()
    ) -> Reply:
        import anthropic

        params = self._params(messages, options, tools)
        try:
            answer = await self._client.messages.create(**params)
        except anthropic.AnthropicError as exc:
            raise _error(exc) from exc
        text: list[str] = []
        calls: list[ToolCall] = []
        for block in answer.content:
            if block.type == "text":
                text.append(block.text)
            elif block.type == "tool_use":
                calls.append(ToolCall(block.id, block.name, _compact(block.input)))
        return Reply(
            text="".join(text),
            tool_calls=tuple(calls),
            finish_reason=_finish(answer.stop_reason),
            usage=_usage(answer.usage),
            model=answer.model,
            vendor_reason=answer.stop_reason or "",
        )

    async def stream(
        self, messages: Sequence[Message], options: ChatOptions, tools: Sequence[Tool] = ()
    ) -> AsyncIterator[StreamEvent]:
        import anthropic

        params = self._params(messages, options, tools)
        model = options.model
        usage = Usage(0, 0)
        stop_reason: str | None = None
        # Anthropic numbers content blocks (text and tool_use together); calls are numbered
        # among themselves. block index -> (call index, id, name, fragments, input at start)
        open_calls: dict[int, tuple[int, str, str, list[str], Any]] = {}
        count = 0
        try:
            events = await self._client.messages.create(**params, stream=True)
            async with events:
                async for event in events:
                    if event.type == "message_start":
                        model = event.message.model
                        usage = _usage(event.message.usage)
                    elif event.type == "content_block_start":
                        block = event.content_block
                        if block.type == "text" and block.text:
                            yield TextDelta(block.text)
                        elif block.type == "tool_use":
                            open_calls[event.index] = (count, block.id, block.name, [], block.input)
                            yield ToolCallStart(count, block.id, block.name)
                            count += 1
                    elif event.type == "content_block_delta":
                        delta = event.delta
                        if delta.type == "text_delta" and delta.text:
                            yield TextDelta(delta.text)
                        elif (
                            delta.type == "input_json_delta"
                            and delta.partial_json
                            and event.index in open_calls
                        ):
                            index, _, _, fragments, _ = open_calls[event.index]
                            fragments.append(delta.partial_json)
                            yield ToolCallDelta(index, delta.partial_json)
                    elif event.type == "content_block_stop" and event.index in open_calls:
                        index, call_id, name, fragments, given = open_calls.pop(event.index)
                        if not fragments:
                            # A call without arguments streams no input_json_delta at all.
                            whole = _compact(given or {})
                            fragments.append(whole)
                            yield ToolCallDelta(index, whole)
                        yield ToolCallEnd(index, ToolCall(call_id, name, "".join(fragments)))
                    elif event.type == "message_delta":
                        stop_reason = event.delta.stop_reason
                        # message_delta's usage is cumulative; input counts may be left out.
                        given_usage = event.usage
                        usage = Usage(
                            input_tokens=usage.input_tokens
                            if given_usage.input_tokens is None
                            else _usage(given_usage).input_tokens,
                            output_tokens=given_usage.output_tokens,
                        )
                    elif event.type == "message_stop":
                        yield Finish(_finish(stop_reason), usage, model, stop_reason or "")
                        return
        except anthropic.AnthropicError as exc:
            raise _error(exc) from exc
        raise LLMUnavailable("Anthropic: the stream ended before message_stop", provider=_PROVIDER)

    async def aclose(self) -> None:
        await self._client.close()
