"""One call to a chat model, paid for and held to its budgets, whichever route makes it (the
OpenAI-compatible endpoint, a conversation's turn): before it, the estimate (the prompt's
tokens counted with cl100k, plus the reply's bound) is taken from the caller's and the tenant's
tokens-per-minute budgets and its credits are held (``contracts.credit_holds``, keys
``chat:<call id>:hold|capture|release``); after it, the vendor's usage is captured (what it
counted beyond the hold deducted, ``chat:<call id>:excess``) and the budgets are given back
what was not used; a failed call releases its hold.

A call whose stream is left early (the client went away) is charged for what was read and
written until then: the prompt and the text received, counted. The vendor's errors become
``ChatFailed``: ``provider-unavailable`` (503, retry later), ``provider-refused`` (400 for the
request, 502 for the key)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import timedelta

from v100.ai.chunking import count_tokens
from v100.ai.llm import (
    ChatModel,
    ChatOptions,
    Finish,
    LLMAuthError,
    LLMError,
    LLMRefused,
    LLMUnavailable,
    Message,
    Reply,
    StreamEvent,
    TextDelta,
    Tool,
    ToolCallDelta,
    Usage,
)
from v100.contracts.credit_holds import HoldTerms
from v100.kit.auth import Principal
from v100.kit.db import new_id, not_interrupted, utcnow
from v100.kit.errors import BadRequest
from v100.services.ai_orchestration.budgets import Budget
from v100.services.ai_orchestration.errors import ChatFailed
from v100.services.ai_orchestration.keys import Credential
from v100.services.ai_orchestration.resources import Resources
from v100.services.ai_orchestration.settings import TokenRates

__all__ = ["CHAT", "Call", "ChatCalls", "Target", "credits_for", "estimate_prompt"]

# A call is one attempt: its hold outlives the provider's longest answer and then some.
CHAT = HoldTerms(
    kind="chat",
    reason="ai.chat",
    work="the chat call",
    lifetime=timedelta(hours=2),
    failure=lambda code, detail: ChatFailed(code, detail),
)
# What a message costs besides its text (role and framing), as OpenAI counts it.
_PER_MESSAGE = 4


@dataclass(frozen=True, slots=True)
class Target:
    """What a call goes to: the provider and model, and the key (None: no LLM is configured)."""

    provider: str
    model: str
    credential: Credential | None
    temperature: float | None = None
    max_tokens: int | None = None


@dataclass
class Call:
    """One call under way: its id, its estimate, what it holds."""

    id: str
    tenant_id: str
    budgets: list[Budget]
    minute: int
    estimate: int
    prompt: int
    hold_id: str | None
    held: int
    rates: TokenRates
    # The hold under way (a stream starts the vendor's call beside it).
    holding: asyncio.Task[str | None] | None = None
    # Once settled: the usage charged and the credits captured.
    usage: Usage | None = None
    credits: int | None = None


def credits_for(usage: Usage, rates: TokenRates) -> int:
    """Credits for a call's tokens: rounded up, at least 1 when anything is charged."""
    cost = (usage.input_tokens * rates.input + usage.output_tokens * rates.output) / 1000
    if cost <= 0:
        return 0
    return max(1, math.ceil(cost - 1e-9))


def estimate_prompt(messages: Sequence[Message], tools: Sequence[Tool]) -> int:
    """The prompt's tokens, counted with cl100k: near enough for every vendor to hold for."""
    total = 0
    for message in messages:
        total += _PER_MESSAGE + count_tokens(message.content)
        for call in message.tool_calls:
            total += count_tokens(call.name) + count_tokens(call.arguments)
    for tool in tools:
        total += count_tokens(
            json.dumps({"n": tool.name, "d": tool.description, "p": dict(tool.parameters)})
        )
    return total


def _failed(exc: LLMError) -> ChatFailed:
    provider = exc.provider or "the provider"
    if isinstance(exc, LLMUnavailable):
        return ChatFailed(
            "provider-unavailable", f"{provider} did not answer: {exc}", retry_after=exc.retry_after
        )
    if isinstance(exc, LLMAuthError):
        return ChatFailed("provider-refused", f"{provider} refused the key: {exc}", status=502)
    if isinstance(exc, LLMRefused):
        return ChatFailed("provider-refused", f"{provider} refused the request: {exc}", status=400)
    return ChatFailed("provider-unavailable", str(exc))


class ChatCalls:
    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self.settings = resources.settings

    def budgets_of(self, principal: Principal) -> list[Budget]:
        settings = self.settings
        budgets = []
        who = principal.user_id or (
            None if principal.api_key_id is None else f"key-{principal.api_key_id}"
        )
        if who is not None and settings.tokens_per_minute_per_user is not None:
            budgets.append(
                Budget(
                    f"{principal.tenant_id}:{who}", settings.tokens_per_minute_per_user, "A caller"
                )
            )
        if settings.tokens_per_minute_per_tenant is not None:
            budgets.append(
                Budget(principal.tenant_id, settings.tokens_per_minute_per_tenant, "A tenant")
            )
        return budgets

    def options(
        self,
        target: Target,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: tuple[str, ...] = (),
        tool_choice: str = "auto",
    ) -> ChatOptions:
        """The call's options, the request's over the agent's: the bound on the reply is always
        set, so the hold is bounded."""
        return ChatOptions(
            model=target.model,
            temperature=temperature if temperature is not None else target.temperature,
            max_tokens=max_tokens or target.max_tokens or self.settings.default_max_tokens,
            stop=stop,
            tool_choice=tool_choice,
        )

    def model(self, target: Target) -> ChatModel:
        assert target.credential is not None
        return self.resources.models.get(target.credential)

    async def begin(
        self,
        target: Target,
        messages: Sequence[Message],
        options: ChatOptions,
        tools: Sequence[Tool],
        principal: Principal,
        *,
        call_id: str | None = None,
        wait_for_hold: bool = True,
    ) -> Call:
        """Take the estimate from the budgets and hold its credits (refusals raise). Without
        ``wait_for_hold`` the hold is not started here: the caller starts the vendor's call
        first and then the hold (``start_hold``), awaits it beside the vendor's first token,
        and settling waits for it."""
        assert target.credential is not None
        prompt = estimate_prompt(messages, tools)
        estimate = prompt + (options.max_tokens or self.settings.default_max_tokens)
        budgets = self.budgets_of(principal)
        minute = await self.resources.budgets.take(budgets, estimate)
        call = Call(
            id=call_id or new_id(), tenant_id=principal.tenant_id, budgets=budgets,
            minute=minute, estimate=estimate, prompt=prompt, hold_id=None, held=0,
            rates=target.credential.rates,
        )  # fmt: skip
        call.held = credits_for(
            Usage(prompt, options.max_tokens or self.settings.default_max_tokens), call.rates
        )
        if wait_for_hold:
            try:
                await self.start_hold(call)
            except BaseException:
                await self.finish(call, None)
                raise
        return call

    def start_hold(self, call: Call) -> asyncio.Task[str | None]:
        """The call's credit hold, under way (``call.holding``). A stream starts it after the
        vendor's call: the request to the vendor goes out first (time to first token), the
        hold's round trip to billing runs while the model thinks."""
        call.holding = asyncio.get_running_loop().create_task(self._hold(call))
        return call.holding

    async def _hold(self, call: Call) -> str | None:
        call.hold_id = await CHAT.reserve(
            self.resources.billing, work_id=call.id, tenant_id=call.tenant_id,
            created_at=utcnow(), amount=call.held, last_attempt=True,
        )  # fmt: skip
        return call.hold_id

    async def finish(self, call: Call, usage: Usage | None) -> None:
        """Capture what ``usage`` costs (release the hold when it is None: nothing answered),
        and give the budgets back what was not used; run to its end even if cancelled."""
        await not_interrupted(self._settle(call, usage))

    async def _settle(self, call: Call, usage: Usage | None) -> None:
        billing = self.resources.billing
        if call.holding is not None:
            # Whether a hold was made is known only once it is done; a refused one holds nothing.
            with contextlib.suppress(Exception):
                await asyncio.shield(call.holding)
        used = 0 if usage is None else usage.total_tokens
        await self.resources.budgets.settle(call.budgets, call.minute, call.estimate, used)
        call.usage = usage
        if call.hold_id is None:
            call.credits = None if usage is None else 0
            return
        if usage is None:
            await CHAT.release(
                billing, work_id=call.id, tenant_id=call.tenant_id, hold_id=call.hold_id
            )
            return
        # What the vendor counted beyond the hold (its tokenizer is not cl100k) is deducted.
        call.credits = await CHAT.settle(
            billing, work_id=call.id, tenant_id=call.tenant_id, hold_id=call.hold_id,
            held=call.held, amount=credits_for(usage, call.rates),
        )  # fmt: skip

    async def complete(
        self,
        target: Target,
        messages: Sequence[Message],
        options: ChatOptions,
        tools: Sequence[Tool],
        principal: Principal,
    ) -> tuple[Reply, Call]:
        """A whole reply, paid for."""
        call = await self.begin(target, messages, options, tools, principal)
        try:
            reply = await self.model(target).complete(messages, options, tools)
        except LLMError as exc:
            await self.finish(call, None)
            raise _failed(exc) from exc
        except ValueError as exc:  # tools the request names wrongly (tool_choice)
            await self.finish(call, None)
            raise BadRequest(str(exc)) from exc
        except BaseException:
            await self.finish(call, None)
            raise
        await self.finish(call, reply.usage or self._counted(call, reply.text))
        return reply, call

    async def stream(
        self,
        target: Target,
        messages: Sequence[Message],
        options: ChatOptions,
        tools: Sequence[Tool],
        call: Call,
    ) -> AsyncGenerator[StreamEvent, None]:
        """The reply's events, paid for once the stream ends (``call`` from ``begin``)."""
        written: list[str] = []
        usage: Usage | None = None
        try:
            async for event in self.model(target).stream(messages, options, tools):
                if isinstance(event, TextDelta):
                    written.append(event.text)
                elif isinstance(event, ToolCallDelta):
                    written.append(event.arguments)
                elif isinstance(event, Finish):
                    usage = event.usage or self._counted(call, "".join(written))
                yield event
        except LLMError as exc:
            raise _failed(exc) from exc
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        finally:
            if usage is None and written:
                usage = self._counted(call, "".join(written))  # left early: what was read
            await self.finish(call, usage)

    def _counted(self, call: Call, written: str) -> Usage:
        """Usage the vendor did not report (some OpenAI-compatible servers), counted here."""
        return Usage(call.prompt, count_tokens(written))
