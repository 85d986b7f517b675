"""Reading ``/v1/chat/completions``'s answers as a client does: the server-sent events of a stream,
each ``data:`` payload decoded, ``[DONE]`` kept as the string."""

from __future__ import annotations

import json
from typing import Any

import httpx

from .support import Orchestra


async def stream_chat(
    ao: Orchestra, tenant: str, body: dict[str, Any]
) -> tuple[httpx.Response, list[Any]]:
    """The response (headers, status) and every ``data:`` payload, in order."""
    payloads: list[Any] = []
    async with ao.http.stream(
        "POST", "/v1/chat/completions", json={**body, "stream": True}, headers=ao.headers(tenant)
    ) as response:
        if response.status_code != 200:
            await response.aread()  # an error before the stream: a JSON body, no events
            return response, payloads
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                data = line.removeprefix("data: ")
                payloads.append(data if data == "[DONE]" else json.loads(data))
            else:
                assert line == "", line  # only data lines and the blank lines between them
    return response, payloads
