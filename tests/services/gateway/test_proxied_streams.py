"""A streamed answer on the protocol's proxied path: once a URL is known not cacheable, the next
request for it is taken by the proxied path (ADR 0028), and an event stream there must get its
head as soon as the upstream sends it, before any event, and each event as it comes (the full
path's uvicorn does; the proxied path once held the head until the first body)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from .routing_support import all_upstreams, gateway_serving
from .traffic_support import scripted_upstream


async def test_an_event_stream_has_its_head_before_its_first_event_on_the_proxied_path(
    tmp_path: Path,
) -> None:
    async with (
        scripted_upstream() as (url, upstream),
        gateway_serving(
            tmp_path, all_upstreams(billing=url), health_check_enabled=False
        ) as gateway,
    ):
        headers = {**gateway.headers, "Accept-Encoding": "identity"}
        for attempt in ("full path: the URL marked not cacheable", "proxied path"):
            async with gateway.client(timeout=10) as http:
                async with asyncio.timeout(5):
                    response_cm = http.stream("GET", "/v1/credits/sse", headers=headers)
                    response = await response_cm.__aenter__()
                try:
                    assert response.status_code == 200, attempt
                    assert response.headers["content-type"].startswith("text/event-stream")
                    chunks = response.aiter_raw()
                    upstream.release("first")
                    async with asyncio.timeout(5):
                        assert await anext(chunks) == b"data: first\n\n", attempt
                    upstream.release(None)
                    rest = b"".join([chunk async for chunk in chunks])
                    assert rest == b"", attempt
                finally:
                    await response_cm.__aexit__(None, None, None)
        assert upstream.calls["/v1/credits/sse"] == 2
