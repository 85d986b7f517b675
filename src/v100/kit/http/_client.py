"""The client services use to call each other: the caller's identity as a fresh internal token,
the request id passed along, timeouts on every call, and bounded retries with full jitter for
calls that are safe to repeat (idempotent methods, or any call carrying an Idempotency-Key).
``stream`` is the same call with the answer's body read as it arrives (a large file)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from v100.kit.auth import InternalTokens, Principal
from v100.kit.errors import UpstreamUnavailable
from v100.kit.observability import current_request_id, get_logger

__all__ = ["ServiceClient"]

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_RETRY_STATUSES = frozenset({502, 503, 504})
_log = get_logger("v100.client")


class ServiceClient:
    def __init__(
        self,
        base_url: str,
        tokens: InternalTokens,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 2.0,
        max_attempts: int = 3,
        backoff_base: float = 0.05,
        backoff_cap: float = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._tokens = tokens
        self._max_attempts = max(1, max_attempts)
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def _retryable(self, method: str, headers: Mapping[str, str]) -> bool:
        return method in _IDEMPOTENT or any(k.lower() == "idempotency-key" for k in headers)

    def _delay(self, attempt: int) -> float:
        return random.uniform(0, min(self._backoff_cap, self._backoff_base * 2**attempt))

    async def request(
        self,
        method: str,
        path: str,
        *,
        principal: Principal,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        return await self._call(method, path, principal, headers, stream=False, **kwargs)

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        principal: Principal,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[httpx.Response]:
        """``request``, with the answer's body left unread: read it with ``aiter_bytes`` inside
        the block, which closes the answer. Retries end once an answer has begun."""
        response = await self._call(method, path, principal, headers, stream=True, **kwargs)
        try:
            yield response
        finally:
            await response.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        principal: Principal,
        headers: Mapping[str, str] | None,
        *,
        stream: bool,
        **kwargs: Any,
    ) -> httpx.Response:
        method = method.upper()
        merged = dict(headers or {})
        merged["Authorization"] = f"Bearer {self._tokens.mint(principal)}"
        request_id = current_request_id.get()
        if request_id:
            merged.setdefault("X-Request-Id", request_id)
        attempts = self._max_attempts if self._retryable(method, merged) else 1
        last_error: Exception | None = None
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self._delay(attempt))
            try:
                request = self._http.build_request(method, path, headers=merged, **kwargs)
                response = await self._http.send(request, stream=stream)
            except (
                httpx.ConnectError,
                httpx.ConnectTimeout,
                httpx.ReadTimeout,
                httpx.RemoteProtocolError,
            ) as exc:
                last_error = exc
                _log.warning(
                    "upstream call failed",
                    method=method,
                    path=path,
                    error=repr(exc),
                    attempt=attempt + 1,
                )
                continue
            if response.status_code in _RETRY_STATUSES and attempt + 1 < attempts:
                await response.aclose()
                continue
            return response
        raise UpstreamUnavailable(
            f"{self._http.base_url.host}:{self._http.base_url.port} did not answer.",
            retry_after=1,
        ) from last_error

    async def get(self, path: str, *, principal: Principal, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, principal=principal, **kwargs)

    async def post(self, path: str, *, principal: Principal, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, principal=principal, **kwargs)
