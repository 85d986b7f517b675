"""Real servers on loopback for tests: an ASGI app served by uvicorn in the test's own event loop
on a free port of 127.0.0.1 (the way ``v100 up`` serves it), waiting for a service's ``/ready``;
the same in a thread of its own, for a collaborator that outlives one test's event loop
(``serving_in_thread``); and an address where nothing listens, for a service that is down."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import httpx
import uvicorn

from v100.kit.http import server_config

__all__ = ["dead_url", "serving", "serving_in_thread", "wait_ready"]


class _InProcessServer(uvicorn.Server):
    """Leaves signals to pytest: several servers share the test's loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


@contextlib.asynccontextmanager
async def serving(
    app: Any,
    *,
    lifespan: Literal["on", "off", "auto"] = "on",
    startup_timeout: float = 30.0,
    ready: bool = False,
    port: int = 0,
) -> AsyncIterator[str]:
    """Serve ``app`` until the block ends; yields its base URL (``http://127.0.0.1:<port>``),
    with ``ready`` once its ``/ready`` answers 200 (a kit service migrates in the background).
    ``port`` 0 takes a free one; give one when the URL must be known before (a public URL)."""
    config = server_config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan=lifespan,
        log_level="warning",
        proxy_headers=False,  # as ``v100`` runs it: the caller's X-Forwarded-For is not trusted
        timeout_graceful_shutdown=1,  # tests do not wait for handlers that hang
    )
    server = _InProcessServer(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(startup_timeout):
            while not server.started:
                if task.done():
                    task.result()  # raises what stopped it
                    raise RuntimeError("uvicorn exited before it started")
                await asyncio.sleep(0.005)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        if ready:
            await wait_ready(url, within=startup_timeout)
        yield url
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, timeout=10)


@contextlib.contextmanager
def serving_in_thread(
    app: Any, *, ready: bool = False, startup_timeout: float = 30.0
) -> Iterator[str]:
    """``serving`` in a thread with an event loop of its own, until the block ends: for a
    collaborator that many tests share (a session-scoped fixture), which a test's event loop,
    gone at the test's end, cannot host. Its URL."""
    started = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        stop = asyncio.Event()
        state["stop"] = (asyncio.get_running_loop(), stop)
        async with serving(app, ready=ready, startup_timeout=startup_timeout) as url:
            state["url"] = url
            started.set()
            await stop.wait()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as error:  # handed to the caller's thread
            state["error"] = error
        finally:
            started.set()

    thread = threading.Thread(target=run, name=f"serving {type(app).__name__}", daemon=True)
    thread.start()
    try:
        if not started.wait(startup_timeout + 10):
            raise TimeoutError(f"not serving after {startup_timeout} s")
        if "error" in state:
            raise RuntimeError("the server's thread failed") from state["error"]
        yield state["url"]
    finally:
        if "stop" in state:
            loop, stop = state["stop"]
            with contextlib.suppress(RuntimeError):  # its loop already closed
                loop.call_soon_threadsafe(stop.set)
        thread.join(20)


def dead_url() -> str:
    """A loopback URL that refuses connections: a port this process holds bound and never
    listens on, so no server of any test can be given it (a port merely released could be, and
    then the "dead" service answered: a gateway status test once found its own gateway there)."""
    return f"http://127.0.0.1:{_held_port()}"


@functools.cache
def _held_port() -> int:
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held.bind(("127.0.0.1", 0))
    _HELD.append(held)  # kept open for the process's life
    port: int = held.getsockname()[1]
    return port


_HELD: list[socket.socket] = []


async def wait_ready(url: str, *, within: float = 30.0) -> None:
    """Wait until the service at ``url`` answers ``GET /ready`` with 200 (refused connections
    count as not yet: it may still be starting); TimeoutError after ``within`` seconds."""
    async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=5) as http:
        async with asyncio.timeout(within):
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/ready")).status_code == 200:
                        return
                await asyncio.sleep(0.05)
