"""Google's Gemini API through the official ``google-genai`` SDK (``client.aio.models``:
``generate_content``, and ``generate_content_stream`` on ``:streamGenerateContent?alt=sse``).
The system prompt is the ``system_instruction``; tools are ``function_declarations`` with their
JSON Schema as ``parameters_json_schema``; a call comes whole in one part (never in fragments),
sometimes without an id (one is minted), with a ``thought_signature`` that goes back with it;
results go back as ``function_response`` parts. Gemini ends a reply that calls tools with
``STOP``: the finish is ``tool_calls`` when calls came."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, cast

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
from v100.ai.llm._vendor import check_tools, is_context_too_long

if TYPE_CHECKING:
    from google import genai
    from google.genai import types

__all__ = ["GeminiChat"]

_PROVIDER = "gemini"
# Ids minted for calls Gemini gave none; they are not sent back to Gemini, which never saw them.
_MINTED = "v100-gemini-"
_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "MODEL_ARMOR": "content_filter",
}


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _contents(messages: Sequence[Message]) -> tuple[str, list[types.Content]]:
    """The system instruction and the turns. A tool result needs its function's name, taken
    from the call it answers; a run of results is one user turn, as the calls were one model
    turn."""
    from google.genai import types

    system, turns = split_system(messages)
    names: dict[str, str] = {}
    out: list[types.Content] = []
    for message in turns:
        if message.role == "user":
            out.append(types.Content(role="user", parts=[types.Part(text=message.content)]))
        elif message.role == "assistant":
            parts = [types.Part(text=message.content)] if message.content else []
            for call in message.tool_calls:
                names[call.id] = call.name
                parts.append(
                    types.Part(
                        function_call=types.FunctionCall(
                            id=None if call.id.startswith(_MINTED) else call.id,
                            name=call.name,
                            args=call.parsed_arguments(),
                        ),
                        thought_signature=call.signature,
                    )
                )
            out.append(types.Content(role="model", parts=parts))
        else:
            call_id = message.tool_call_id or ""
            if call_id not in names:
                raise ValueError(f"tool result {call_id!r} answers no earlier tool call")
            part = types.Part(
                function_response=types.FunctionResponse(
                    id=None if call_id.startswith(_MINTED) else call_id,
                    name=names[call_id],
                    # Gemini's documented keys: "output" for a result, "error" for a failure.
                    response={"error" if message.is_error else "output": message.content},
                )
            )
            last = out[-1] if out else None
            if last and last.role == "user" and last.parts and last.parts[-1].function_response:
                last.parts.append(part)
            else:
                out.append(types.Content(role="user", parts=[part]))
    return system, out


def _tool_config(choice: str) -> types.ToolConfig:
    from google.genai import types

    mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}.get(choice)
    config = (
        types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode(mode))
        if mode
        else types.FunctionCallingConfig(
            mode=types.FunctionCallingConfigMode.ANY, allowed_function_names=[choice]
        )
    )
    return types.ToolConfig(function_calling_config=config)


def _usage(metadata: types.GenerateContentResponseUsageMetadata | None) -> Usage | None:
    if metadata is None:
        return None
    # Thinking is billed as output; tool-use prompts (Google's own tools) as input.
    return Usage(
        input_tokens=(metadata.prompt_token_count or 0)
        + (metadata.tool_use_prompt_token_count or 0),
        output_tokens=(metadata.candidates_token_count or 0) + (metadata.thoughts_token_count or 0),
    )


def _finish(vendor: str, has_calls: bool) -> FinishReason:
    reason = _FINISH.get(vendor, "stop")
    return "tool_calls" if reason == "stop" and has_calls else reason


def _call(part: types.Part) -> ToolCall:
    call = part.function_call
    assert call is not None
    return ToolCall(
        id=call.id or f"{_MINTED}{uuid.uuid4().hex[:16]}",
        name=call.name or "",
        arguments=_compact(call.args or {}),
        signature=part.thought_signature,
    )


def _retry_delay(details: Any) -> float | None:
    """Seconds from the error's ``google.rpc.RetryInfo`` (``"retryDelay": "37s"``)."""
    error = details.get("error", details) if isinstance(details, dict) else {}
    for item in error.get("details") or () if isinstance(error, dict) else ():
        delay = item.get("retryDelay") if isinstance(item, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return float(delay[:-1])
            except ValueError:
                return None
    return None


def _is_key_refused(details: Any) -> bool:
    # Gemini answers a wrong key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
    error = details.get("error", details) if isinstance(details, dict) else {}
    reasons = [item.get("reason") for item in error.get("details") or () if isinstance(item, dict)]
    return "API_KEY_INVALID" in reasons


def _error(exc: Exception) -> LLMError:
    from google.genai import errors

    if isinstance(exc, errors.APIError):
        status = int(exc.code)
        message = exc.message or str(exc)
        text = f"Gemini ({status} {exc.status or ''}): {message}".replace(" )", ")")
        if status == 429:
            return LLMRateLimited(
                text, provider=_PROVIDER, status=status, retry_after=_retry_delay(exc.details)
            )
        if status >= 500 or status == 408:
            return LLMUnavailable(
                text, provider=_PROVIDER, status=status, retry_after=_retry_delay(exc.details)
            )
        if status in (401, 403) or _is_key_refused(exc.details):
            return LLMAuthError(text, provider=_PROVIDER, status=status)
        if is_context_too_long(message):
            return LLMContextTooLong(text, provider=_PROVIDER, status=status)
        return LLMBadRequest(text, provider=_PROVIDER, status=status)
    # httpx's connection errors and timeouts, an answer that is not JSON.
    return LLMUnavailable(f"Gemini: {exc!r}", provider=_PROVIDER)


class GeminiChat:
    """``GeminiChat(key, base_url=None, max_retries=2, retry_delay=1.0, timeout=600)``: the
    SDK's retries (429, 5xx, lost connections) wait ``retry_delay`` seconds, doubling, with
    jitter; Gemini sends no ``retry-after`` header."""

    provider = _PROVIDER

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        max_retries: int = 2,
        retry_delay: float = 1.0,
        timeout: float = 600.0,
    ) -> None:
        import httpx
        from google import genai
        from google.genai import types

        # Our own httpx client (rather than the SDK's aiohttp sessions, kept per event loop):
        # one connection pool that ``aclose`` closes.
        self._http = httpx.AsyncClient(timeout=timeout)
        options = types.HttpOptions(
            base_url=base_url,
            api_version="v1beta",
            timeout=int(timeout * 1000),
            retry_options=types.HttpRetryOptions(
                attempts=max_retries + 1,
                initial_delay=retry_delay,
                max_delay=max(retry_delay, 60.0),
                jitter=retry_delay / 2,
            ),
            httpx_async_client=self._http,
        )
        self._client: genai.Client = genai.Client(
            api_key=api_key, vertexai=False, http_options=options
        )

    def _request(
        self, messages: Sequence[Message], options: ChatOptions, tools: Sequence[Tool]
    ) -> tuple[list[types.Content], types.GenerateContentConfig]:
        from google.genai import types

        check_tools(options, tools)
        system, contents = _contents(messages)
        config = types.GenerateContentConfig(
            system_instruction=system or None,
            temperature=options.temperature,
            max_output_tokens=options.max_tokens,
            stop_sequences=list(options.stop) or None,
            # Tools are declarations here, never Python functions the SDK would call itself.
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        if tools:
            config.tools = [
                types.Tool(
                    function_declarations=[
                        types.FunctionDeclaration(
                            name=t.name,
                            description=t.description,
                            parameters_json_schema=dict(t.parameters),
                        )
                        for t in tools
                    ]
                )
            ]
            config.tool_config = _tool_config(options.tool_choice)
        return contents, config

    async def complete(
        self, messages: Sequence[Message], options: ChatOptions, tools: Sequence[Tool] = ()
    ) -> Reply:
        import httpx
        from google.genai import errors

        contents, config = self._request(messages, options, tools)
        try:
            answer = await self._client.aio.models.generate_content(
                model=options.model, contents=contents, config=config
            )
        except (errors.APIError, errors.UnknownApiResponseError, httpx.HTTPError) as exc:
            raise _error(exc) from exc
        text: list[str] = []
        calls: list[ToolCall] = []
        vendor = ""
        if answer.candidates:
            candidate = answer.candidates[0]
            vendor = candidate.finish_reason.value if candidate.finish_reason else ""
            for part in (candidate.content.parts if candidate.content else None) or ():
                if part.function_call:
                    calls.append(_call(part))
                elif part.text and not part.thought:
                    text.append(part.text)
        elif answer.prompt_feedback and answer.prompt_feedback.block_reason:
            # The prompt itself was blocked: no candidate at all.
            vendor = answer.prompt_feedback.block_reason.value
            usage = _usage(answer.usage_metadata)
            return Reply("", (), "content_filter", usage, options.model, vendor)
        return Reply(
            text="".join(text),
            tool_calls=tuple(calls),
            finish_reason=_finish(vendor, bool(calls)),
            usage=_usage(answer.usage_metadata),
            model=answer.model_version or options.model,
            vendor_reason=vendor,
        )

    async def stream(
        self, messages: Sequence[Message], options: ChatOptions, tools: Sequence[Tool] = ()
    ) -> AsyncIterator[StreamEvent]:
        import httpx
        from google.genai import errors

        contents, config = self._request(messages, options, tools)
        model = options.model
        usage: Usage | None = None
        vendor: str | None = None
        count = 0
        try:
            chunks = await self._client.aio.models.generate_content_stream(
                model=options.model, contents=contents, config=config
            )
            # The SDK's stream is an async generator: closing it (a stream left early)
            # frees its connection.
            async with contextlib.aclosing(cast("AsyncGenerator[Any, None]", chunks)):
                async for chunk in chunks:
                    model = chunk.model_version or model
                    usage = _usage(chunk.usage_metadata) or usage
                    if not chunk.candidates:
                        feedback = chunk.prompt_feedback
                        if feedback and feedback.block_reason:
                            vendor = feedback.block_reason.value
                            yield Finish("content_filter", usage, model, vendor)
                            return
                        continue
                    candidate = chunk.candidates[0]
                    for part in (candidate.content.parts if candidate.content else None) or ():
                        if part.function_call:
                            call = _call(part)
                            yield ToolCallStart(count, call.id, call.name)
                            yield ToolCallDelta(count, call.arguments)
                            yield ToolCallEnd(count, call)
                            count += 1
                        elif part.text and not part.thought:
                            yield TextDelta(part.text)
                    if candidate.finish_reason:
                        vendor = candidate.finish_reason.value
        except (errors.APIError, errors.UnknownApiResponseError, httpx.HTTPError) as exc:
            raise _error(exc) from exc
        if vendor is None:
            raise LLMUnavailable(
                "Gemini: the stream ended before a finishReason", provider=_PROVIDER
            )
        yield Finish(_finish(vendor, count > 0), usage, model, vendor)

    async def aclose(self) -> None:
        await self._client.aio.aclose()
        await self._http.aclose()
