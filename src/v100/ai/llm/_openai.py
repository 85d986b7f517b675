"""OpenAI's Chat Completions through the official ``openai`` SDK (``AsyncOpenAI``), for OpenAI
and for any server that speaks the same API at another ``base_url`` (vLLM, llama.cpp, Ollama,
LiteLLM...). Streams ask for ``stream_options.include_usage``, so usage comes in a last chunk
with no choices, after the one that carries ``finish_reason``: the stream is read to its end.
Tool calls stream as deltas keyed by ``index``: id and name in the first, the arguments' JSON
text in fragments after it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
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
    import openai

__all__ = ["OpenAIChat"]

_PROVIDER = "openai"
_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def _messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    system, turns = split_system(messages)
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in turns:
        if message.role == "assistant":
            turn: dict[str, Any] = {"role": "assistant", "content": message.content or None}
            if message.tool_calls:
                turn["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments},
                    }
                    for call in message.tool_calls
                ]
            out.append(turn)
        elif message.role == "tool":
            # The format has no error flag: a failed tool says so in its content.
            out.append(
                {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
            )
        else:
            out.append({"role": "user", "content": message.content})
    return out


def _tool_choice(choice: str) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def _finish(reason: str | None, has_calls: bool) -> FinishReason:
    if reason is None:
        return "tool_calls" if has_calls else "stop"
    return _FINISH.get(reason, "stop")


def _error(exc: Exception) -> LLMError:
    import openai

    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        text = f"OpenAI ({status}{' ' + exc.code if exc.code else ''}): {exc.message}"
        if status == 429 and exc.code != "insufficient_quota":
            wait = retry_after(exc.response.headers)
            return LLMRateLimited(text, provider=_PROVIDER, status=status, retry_after=wait)
        if status >= 500 or status in (408, 409):
            wait = retry_after(exc.response.headers)
            return LLMUnavailable(text, provider=_PROVIDER, status=status, retry_after=wait)
        if status in (401, 403, 429):  # 429 here: the account is out of credit
            return LLMAuthError(text, provider=_PROVIDER, status=status)
        if is_context_too_long(exc.message, exc.code):
            return LLMContextTooLong(text, provider=_PROVIDER, status=status)
        return LLMBadRequest(text, provider=_PROVIDER, status=status)
    # A connection lost or timed out, an error event inside a stream, an unreadable answer.
    return LLMUnavailable(f"OpenAI: {exc}", provider=_PROVIDER)


@dataclass
class _OpenCall:
    """A streamed call being assembled; started once its id and name are known."""

    index: int
    id: str | None
    name: str | None
    fragments: list[str] = field(default_factory=list)
    started: bool = False


class OpenAIChat:
    """``OpenAIChat(key, base_url=None, max_retries=2, timeout=600,
    max_tokens_field="max_completion_tokens")``: ``base_url`` names any OpenAI-compatible server
    (``http://host:8000/v1``); a server that knows only the older ``max_tokens`` field gets
    ``max_tokens_field="max_tokens"``."""

    provider = _PROVIDER

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        max_retries: int = 2,
        timeout: float = 600.0,
        max_tokens_field: str = "max_completion_tokens",
    ) -> None:
        import openai

        if max_tokens_field not in ("max_completion_tokens", "max_tokens"):
            raise ValueError("max_tokens_field is max_completion_tokens or max_tokens")
        self._max_tokens_field = max_tokens_field
        self._client: openai.AsyncOpenAI = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout
        )

    def _params(
        self, messages: Sequence[Message], options: ChatOptions, tools: Sequence[Tool]
    ) -> dict[str, Any]:
        check_tools(options, tools)
        params: dict[str, Any] = {"model": options.model, "messages": _messages(messages)}
        if options.temperature is not None:
            params["temperature"] = options.temperature
        if options.max_tokens is not None:
            params[self._max_tokens_field] = options.max_tokens
        if options.stop:
            params["stop"] = list(options.stop)
        if tools:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": dict(t.parameters),
                    },
                }
                for t in tools
            ]
            params["tool_choice"] = _tool_choice(options.tool_choice)
        return params

    async def complete(
        self, messages: Sequence[Message], options: ChatOptions, tools: Sequence[Tool] = ()
    ) -> Reply:
        import openai

        params = self._params(messages, options, tools)
        try:
            answer = await self._client.chat.completions.create(**params)
        except openai.OpenAIError as exc:
            raise _error(exc) from exc
        if not answer.choices:
            raise LLMUnavailable("OpenAI answered no choice", provider=_PROVIDER)
        choice = answer.choices[0]
        message = choice.message
        calls = tuple(
            ToolCall(call.id, call.function.name, call.function.arguments)
            for call in message.tool_calls or ()
            if call.type == "function"
        )
        usage = answer.usage
        return Reply(
            # A refusal (OpenAI's structured outputs) is the model's answer too.
            text=message.content or message.refusal or "",
            tool_calls=calls,
            finish_reason="content_filter"
            if message.refusal and not message.content
            else _finish(choice.finish_reason, bool(calls)),
            usage=None if usage is None else Usage(usage.prompt_tokens, usage.completion_tokens),
            model=answer.model,
            vendor_reason=choice.finish_reason or "",
        )

    async def stream(
        self, messages: Sequence[Message], options: ChatOptions, tools: Sequence[Tool] = ()
    ) -> AsyncIterator[StreamEvent]:
        import openai

        params = self._params(messages, options, tools)
        model = options.model
        usage: Usage | None = None
        reason: str | None = None
        calls: dict[int, _OpenCall] = {}
        try:
            chunks = await self._client.chat.completions.create(
                **params, stream=True, stream_options={"include_usage": True}
            )
            async with chunks:
                async for chunk in chunks:
                    model = chunk.model or model
                    if chunk.usage is not None:
                        usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    for choice in chunk.choices:
                        if choice.index != 0:
                            continue
                        delta = choice.delta
                        if delta.content:
                            yield TextDelta(delta.content)
                        for part in delta.tool_calls or ():
                            for event in _call_delta(calls, part):
                                yield event
                        # Some servers put the finish on the last content chunk (vllm#36944):
                        # its content was taken above, before the finish.
                        if choice.finish_reason is not None:
                            reason = choice.finish_reason
        except openai.OpenAIError as exc:
            raise _error(exc) from exc
        if reason is None and usage is None:
            # Neither a finish nor the usage that follows it: the stream was cut.
            raise LLMUnavailable("OpenAI: the stream ended before its finish", provider=_PROVIDER)
        done: list[ToolCall] = []
        for open_call in sorted(calls.values(), key=lambda c: c.index):
            if not open_call.started:
                raise LLMUnavailable(
                    "OpenAI: a streamed tool call came without a name", provider=_PROVIDER
                )
            call = ToolCall(open_call.id or "", open_call.name or "", "".join(open_call.fragments))
            done.append(call)
            yield ToolCallEnd(open_call.index, call)
        # A server that sent usage but no finish_reason (it happens) ended its reply anyway.
        yield Finish(_finish(reason, bool(done)), usage, model, reason or "")

    async def aclose(self) -> None:
        await self._client.close()


def _call_delta(calls: dict[int, _OpenCall], part: Any) -> list[StreamEvent]:
    """The events one ``delta.tool_calls`` entry makes. Fragments that come before the call's
    id and name (not OpenAI's order, but servers differ) wait for them."""
    function = part.function
    open_call = calls.get(part.index)
    if open_call is None:
        open_call = calls[part.index] = _OpenCall(len(calls), None, None)
    open_call.id = open_call.id or part.id
    open_call.name = open_call.name or (function.name if function else None)
    events: list[StreamEvent] = []
    fragment = function.arguments if function else None
    if fragment:
        open_call.fragments.append(fragment)
    if not open_call.started and open_call.name:
        open_call.id = open_call.id or f"call_{open_call.index}"
        open_call.started = True
        events.append(ToolCallStart(open_call.index, open_call.id, open_call.name))
        events.extend(ToolCallDelta(open_call.index, f) for f in open_call.fragments)
    elif open_call.started and fragment:
        events.append(ToolCallDelta(open_call.index, fragment))
    return events
