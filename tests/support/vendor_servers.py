"""The fake vendors (Anthropic, OpenAI, Gemini) served on loopback once per test module, each
test with fakes of its own: a server passes every request to the fake its test plugged in, so an
app shared by the module's tests keeps one URL per vendor while no scripted reply, failure or
recorded request outlives the test that made it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from v100.kit.testing.servers import serving

__all__ = ["Plugged", "VendorServers", "vendor_servers"]


class Plugged:
    """An ASGI app that hands each request to the app plugged in now (HTTP only: it is served
    with the lifespan off)."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.app is not None, "no fake is plugged in"
        await self.app(scope, receive, send)


@dataclass
class VendorServers:
    """One server per vendor name; ``urls`` their base URLs."""

    plugs: dict[str, Plugged] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)

    def plug(self, **apps: Any) -> None:
        """Each named server answers with ``apps[name]`` from now on."""
        for name, app in apps.items():
            self.plugs[name].app = app


@contextlib.asynccontextmanager
async def vendor_servers(*names: str) -> AsyncIterator[VendorServers]:
    made = VendorServers()
    async with contextlib.AsyncExitStack() as stack:
        for name in names:
            made.plugs[name] = Plugged()
            made.urls[name] = await stack.enter_async_context(
                serving(made.plugs[name], lifespan="off")
            )
        yield made
