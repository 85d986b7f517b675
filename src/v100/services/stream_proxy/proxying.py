"""A media route's requests proxied to one of its healthy backends: GET and HEAD only (what a
player sends), the conditional and range headers forwarded, the answer streamed back as it
arrives. A backend that cannot be reached, times out or answers 502/503/504 before anything was
sent counts as a failed check and the next backend is tried (nginx's ``proxy_next_upstream``);
with none left the answer is 503 ``no-healthy-backend`` with ``Retry-After``. A backend that
breaks mid-body cuts that answer short (the player retries the segment)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp
from starlette.datastructures import Headers
from starlette.responses import Response, StreamingResponse

from v100.kit.fetch import UrlFetchFailed, UrlNotAllowed
from v100.kit.outbound import checked_url
from v100.services.stream_proxy.errors import NoHealthyBackend
from v100.services.stream_proxy.health import RouteHealth
from v100.services.stream_proxy.models import MediaRoute

__all__ = ["proxy_to_backend"]

_FORWARDED = ("range", "if-none-match", "if-modified-since", "if-range", "accept",
              "accept-encoding")  # fmt: skip
_RETURNED = ("content-type", "content-length", "content-range", "accept-ranges", "etag",
             "last-modified", "cache-control", "expires", "content-encoding")  # fmt: skip
_RETRYABLE = frozenset({502, 503, 504})
_CHUNK = 64 * 1024


async def proxy_to_backend(
    health: RouteHealth, route: MediaRoute, path: str, query: str, method: str, headers: Headers
) -> Response:
    settings = health.settings
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=settings.proxy_connect_seconds,
        sock_read=settings.proxy_read_seconds,
    )  # fmt: skip
    sent = {name: headers[name] for name in _FORWARDED if name in headers}
    tried = 0
    for backend in health.candidates(route):
        tried += 1
        url = backend.url.rstrip("/") + "/" + quote(path, safe="/:@!$&'()*+,;=-._~")
        if query:
            url += "?" + query
        try:
            target = checked_url(url, health.policy)
            answer = await health.http().request(
                method, target, headers=sent, allow_redirects=False, timeout=timeout
            )
        except (TimeoutError, aiohttp.ClientError, OSError, UrlNotAllowed, UrlFetchFailed) as exc:
            health.failed(route.id, backend.url, f"{type(exc).__name__}: {exc}"[:200])
            continue
        if answer.status in _RETRYABLE:
            answer.release()
            health.failed(route.id, backend.url, f"answered {answer.status}")
            continue
        returned = {name: answer.headers[name] for name in _RETURNED if name in answer.headers}
        if method == "HEAD" or answer.status in (204, 304):
            answer.release()
            return Response(status_code=answer.status, headers=returned)
        return StreamingResponse(_body(answer), status_code=answer.status, headers=returned)
    detail = f"None of the route's {len(route.backends)} backends is up" + (
        f" ({tried} tried)." if tried else "."
    )
    raise NoHealthyBackend(detail, retry_after=settings.retry_after_seconds)


async def _body(answer: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in answer.content.iter_chunked(_CHUNK):
            yield chunk
    finally:
        answer.release()
