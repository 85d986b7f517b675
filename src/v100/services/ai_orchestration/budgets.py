"""Tokens per minute, per caller (a user, or an API key) and per tenant: what the gateway cannot
count (it limits requests per tenant and per API key; ADR 0044). A call takes its estimate
(the prompt's tokens plus the reply's bound) from both budgets of the current minute before it
starts, and gives back what it did not use once its usage is known, so calls in flight count.
Over a budget the call is refused (429, ``Retry-After``: the seconds to the next minute).

Fixed one-minute windows: in Redis (``INCRBY`` and ``EXPIRE`` on ``v100:ai:tpm:<who>:<minute>``,
shared by every replica) when the deployment has it, in-process otherwise. A call may go over
by at most what it took when the budget had room: the check and the take are one ``INCRBY``."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from v100.kit._redis import CONNECTION_ERRORS, connect
from v100.kit.observability import get_logger
from v100.services.ai_orchestration.errors import TokensExhausted

__all__ = ["Budget", "TokenBudgets"]

_WINDOW = 60
_log = get_logger("v100.ai_orchestration.budgets")


@dataclass(frozen=True, slots=True)
class Budget:
    """One budget a call is held to: its key and its tokens per minute."""

    key: str
    limit: int
    what: str  # how a refusal names it: "this caller", "this tenant"


class TokenBudgets:
    """``take`` before a call, ``settle`` after it."""

    def __init__(self, redis_url: str | None, *, clock: Callable[[], float] = time.time) -> None:
        self._redis: aioredis.Redis | None = None if redis_url is None else connect(redis_url)
        self._clock = clock
        self._counts: dict[str, int] = {}  # in-process: "<key>:<minute>" -> tokens

    async def take(self, budgets: Sequence[Budget], tokens: int) -> int:
        """Take ``tokens`` from every budget of this minute; the minute (for ``settle``).
        ``TokensExhausted`` when one has no room (nothing is taken then)."""
        now = self._clock()
        minute = int(now // _WINDOW)
        taken: list[Budget] = []
        for budget in budgets:
            if tokens > budget.limit:
                raise TokensExhausted(
                    f"Request too large: {budget.what} may use {budget.limit} tokens a minute, "
                    f"and this call may use {tokens} (its prompt and max_tokens); lower "
                    f"max_tokens or shorten the conversation."
                )
        for budget in budgets:
            used = await self._add(f"{budget.key}:{minute}", tokens)
            taken.append(budget)
            if used > budget.limit:
                # Give back what was taken, and refuse.
                for back in taken:
                    await self._add(f"{back.key}:{minute}", -tokens)
                wait = math.ceil((minute + 1) * _WINDOW - now)
                raise TokensExhausted(
                    f"{budget.what} may use {budget.limit} tokens a minute; this call needs up "
                    f"to {tokens} more. Try again in {wait} s.",
                    retry_after=wait,
                )
        return minute

    async def settle(self, budgets: Sequence[Budget], minute: int, taken: int, used: int) -> None:
        """The call used ``used`` of the ``taken`` tokens: the rest goes back (or more is
        counted, when the estimate was short)."""
        if used == taken:
            return
        for budget in budgets:
            await self._add(f"{budget.key}:{minute}", used - taken)

    async def _add(self, key: str, tokens: int) -> int:
        if self._redis is not None:
            try:
                name = f"v100:ai:tpm:{key}"
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.incrby(name, tokens)
                    pipe.expire(name, 2 * _WINDOW)
                    total, _ = await pipe.execute()
                return int(total)
            except CONNECTION_ERRORS as exc:
                # A limit is not worth refusing every call for: counted in-process meanwhile.
                _log.warning("redis unreachable; tokens counted in-process", error=repr(exc))
        total = self._counts.get(key, 0) + tokens
        self._counts[key] = total
        if len(self._counts) > 100_000:  # old minutes: keep only the current ones
            current = f":{int(self._clock() // _WINDOW)}"
            self._counts = {k: v for k, v in self._counts.items() if k.endswith(current)}
        return total

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
