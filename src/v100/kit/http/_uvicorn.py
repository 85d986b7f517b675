"""Every dependence of the platform on uvicorn's private protocol internals, in one place.

``GuardedHttpProtocol`` (every server) and the gateway's ``HitPathProtocol`` build on
``UvicornProtocol`` and use only what it offers here; nothing else of the platform names a
private attribute or method of uvicorn. ``UVICORN_INTERNALS`` lists what this module relies on
(the methods, their parameters, the attributes), and ``COPIED`` the uvicorn methods whose body
is copied here (by a digest of their source). ``tests/kit/test_uvicorn_internals.py`` checks
both against the installed uvicorn and names ``WRITTEN_FOR`` when they no longer hold: then
read uvicorn's changes to ``httptools_impl.py`` and adapt this module, and only this one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = [
    "COPIED",
    "UVICORN_ATTRIBUTES",
    "UVICORN_INTERNALS",
    "WRITTEN_FOR",
    "AnswerCycle",
    "UvicornProtocol",
]

# The uvicorn release this module was written against (and pinned in uv.lock).
WRITTEN_FOR = "0.54.0"

# Method of ``HttpToolsProtocol`` -> its parameters (without ``self``), as relied on here:
# overridden (and called through ``super()``), or called.
UVICORN_INTERNALS: dict[str, tuple[str, ...]] = {
    "__init__": ("config", "server_state", "app_state", "_loop"),
    "connection_made": ("transport",),
    "connection_lost": ("exc",),
    "data_received": ("data",),
    "on_message_begin": (),
    "on_header": ("name", "value"),
    "on_headers_complete": (),
    "on_message_complete": (),
    "on_response_complete": (),
    "timeout_keep_alive_handler": (),
    "send_400_response": ("msg",),
    "shutdown": (),
    "handle_websocket_upgrade": (),
    "_unset_keepalive_if_required": (),
    "_should_upgrade": (),
    "_unsupported_upgrade_warning": (),
    "_start_asgi_task": ("cycle", "app"),
}
# Instance attributes read or written here, by when they exist: after ``__init__``, after
# ``connection_made``, and on a request's cycle (``RequestResponseCycle``).
UVICORN_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "protocol": (
        "config",
        "loop",
        "logger",
        "parser",
        "connections",
        "server_state",
        "pipeline",
        "cycle",
        "timeout_keep_alive",
        "timeout_keep_alive_task",
        "tasks",
    ),
    "connected": ("transport", "flow", "client", "scheme"),
    "server_state": ("total_requests", "default_headers", "connections"),
    "cycle": ("response_complete", "disconnected", "keep_alive", "message_event", "transport"),
}
# uvicorn methods whose body is copied into this module (changed where said): name -> SHA-256
# of ``inspect.getsource`` of uvicorn's own, as it was when copied.
COPIED: dict[str, str] = {
    "on_response_complete": "64e254f28e389e7614f2c828176d639174e66aa9d814a4b06624ec86ec0a5b95",
    "data_received": "010a7ae59a5d3b1a5e7326ce246878568629d126a076d8af5ba10cab040fae43",
}


class _CoalescedWrites:
    """A request cycle's view of the connection's transport in which the writes made within
    one turn of the event loop go out as one: uvicorn writes an answer's head when the app
    sends ``http.response.start`` and its body at ``http.response.body``, two system calls
    where one does (each write to a loopback peer that wakes it costs tens of microseconds
    here). Flushed at the end of the turn, before a close; everything else is the
    transport's."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        pending = self._pending
        if pending:
            self._pending = []
            if not self._transport.is_closing():
                self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Answered:
    """Stands in for uvicorn's request cycle once a request was answered without one:
    complete, so the parser callbacks that follow (``on_body``, ``on_message_complete``)
    ignore the request."""

    response_complete = True
    disconnected = False
    keep_alive = True

    class message_event:
        @staticmethod
        def set() -> None:
            return None


_ANSWERED: Any = _Answered()


class AnswerCycle:
    """Stands in for uvicorn's request cycle while a request read whole is answered by a task
    of the platform's own (``UvicornProtocol.answer_in_task``): what uvicorn reads of a cycle
    (``response_complete``, ``disconnected``, ``keep_alive``, ``message_event``) plus the
    writes, the caller's disconnect and the end of the answer, as uvicorn's cycle does them."""

    __slots__ = ("_gone", "_protocol", "disconnected", "keep_alive", "response_complete")

    def __init__(self, protocol: UvicornProtocol) -> None:
        self._protocol = protocol
        self._gone: asyncio.Future[None] | None = None
        self.response_complete = False
        self.disconnected = False
        self.keep_alive = True

    @property
    def message_event(self) -> AnswerCycle:
        return self  # uvicorn calls ``message_event.set()`` when the connection is lost

    def set(self) -> None:
        gone = self._gone
        if self.disconnected and gone is not None and not gone.done():
            gone.set_result(None)

    async def disconnect(self) -> None:
        """Returns once the caller has gone away."""
        if self.disconnected:
            return
        if self._gone is None:
            self._gone = self._protocol.loop.create_future()
        await self._gone

    def write(self, data: bytes) -> None:
        transport = self._protocol.transport
        if not self.disconnected and not transport.is_closing():
            transport.write(data)

    async def drain(self) -> None:
        """uvicorn's flow control before a write (a caller that reads slowly)."""
        flow = self._protocol.flow
        if flow.write_paused and not self.disconnected:
            await flow.drain()

    def abort(self) -> None:
        """The answer broke off after its head: the connection closes (as uvicorn does)."""
        self.response_complete = True
        self._protocol.transport.close()

    def finish(self) -> None:
        """The answer is complete: the connection goes on as after uvicorn's answers."""
        self.response_complete = True
        protocol = self._protocol
        if not self.keep_alive:
            protocol.transport.close()
        protocol.on_response_complete()


class UvicornProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, seen through the few hooks the platform needs.

    With ``keep_alive_per_idle_spell`` (the gateway's), the keep-alive timer is armed once per
    idle spell rather than once per answer: uvicorn arms a timer after every answer and cancels
    it when the next request arrives. Here the timer stays armed while requests come and go;
    when it fires, it closes the connection only if nothing arrived since its last answer
    ``timeout_keep_alive`` seconds ago, and otherwise waits for the rest of that time, or for
    the answer of the request in progress."""

    keep_alive_per_idle_spell: ClassVar[bool] = False
    coalesce_answer_writes: ClassVar[bool] = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._idle_since: float | None = None  # loop time of the last answer; None: busy
        self.in_message = False  # the parser holds part of a request

    # -- what subclasses read ------------------------------------------------------------------

    @property
    def open_connections(self) -> int:
        return len(self.connections)

    @property
    def request_path(self) -> bytes:
        """The request target's path, once its head is parsed (in ``on_headers_complete``)."""
        return self.url.split(b"?", 1)[0]

    @property
    def answering(self) -> bool:
        """An answer is being sent on this connection (its head may be out already)."""
        return self.cycle is not None and not self.cycle.response_complete

    @property
    def between_requests(self) -> bool:
        """Nothing of a request is held or in progress: the next bytes start a new one."""
        cycle = self.cycle
        return (
            not self.in_message and (cycle is None or cycle.response_complete) and not self.pipeline
        )

    @property
    def peer(self) -> tuple[str, int] | None:
        """The caller's address and port, as uvicorn puts it in a request's scope."""
        client: tuple[str, int] | None = self.client
        return client

    @property
    def url_scheme(self) -> str:
        """``http`` or ``https``, as uvicorn puts it in a request's scope."""
        return "https" if self.scheme == "https" else "http"

    @property
    def default_headers(self) -> list[tuple[bytes, bytes]]:
        """The server's default headers (Date, and Server if on): a new list each second."""
        headers: list[tuple[bytes, bytes]] = self.server_state.default_headers
        return headers

    # -- what subclasses call ------------------------------------------------------------------

    def feed(self, data: bytes, on_callback_error: Any = None) -> None:
        """uvicorn's ``data_received``: the bytes to the parser, with uvicorn's answers to
        what it refuses. A parser callback that raised ends here as ``on_callback_error(exc)``
        (uvicorn has none: its callbacks do not raise)."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if on_callback_error is None:
                self.answer_invalid()
            else:
                on_callback_error(exc)
        except httptools.HttpParserError:
            self.answer_invalid()
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def answer_invalid(self) -> None:
        # uvicorn's answer to what its parser refuses.
        msg = "Invalid HTTP request received."
        self.logger.warning(msg)
        self.send_400_response(msg)

    def answered(self, answer: bytes) -> None:
        """``answer`` (one whole HTTP/1.1 answer) was made for the request in the bytes just
        read, without the parser or an ASGI cycle: write it, and carry on as uvicorn does
        after an answer."""
        self.cycle = _ANSWERED
        self.transport.write(answer)
        self.on_response_complete()

    def answer_in_task(self, answer: Callable[[AnswerCycle], Coroutine[Any, Any, None]]) -> None:
        """The request in the bytes just read is answered by ``answer`` (a coroutine function
        given this request's ``AnswerCycle``), run as a task of the server's, without the
        parser or an ASGI cycle: as ``answered``, for answers that take waiting."""
        self._unset_keepalive_if_required()  # busy: the keep-alive timer must not close it
        cycle = AnswerCycle(self)
        self.cycle = cycle  # type: ignore[assignment]
        task = self.loop.create_task(answer(cycle))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    # -- uvicorn's methods, extended ---------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_message = True

    def on_message_complete(self) -> None:
        self.in_message = False
        super().on_message_complete()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.coalesce_answer_writes and self.cycle is not None:
            self.cycle.transport = _CoalescedWrites(self.transport, self.loop)  # type: ignore[assignment]

    def shutdown(self) -> None:
        # uvicorn closes an idle connection at once: what the last answer left pending first.
        transport = getattr(self.cycle, "transport", None)
        if isinstance(transport, _CoalescedWrites):
            transport.flush()
        super().shutdown()

    def _unset_keepalive_if_required(self) -> None:
        if not self.keep_alive_per_idle_spell:
            super()._unset_keepalive_if_required()
            return
        # uvicorn calls this when data arrives: the connection is no longer idle.
        self._idle_since = None

    def on_response_complete(self) -> None:
        if not self.keep_alive_per_idle_spell:
            super().on_response_complete()
            return
        # uvicorn's (COPIED), but for the keep-alive timer.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def timeout_keep_alive_handler(self) -> None:
        if not self.keep_alive_per_idle_spell:
            super().timeout_keep_alive_handler()
            return
        self.timeout_keep_alive_task = None
        if self._idle_since is None:
            return  # a request is in progress: its answer arms the timer again
        left = self._idle_since + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self.timeout_keep_alive_task = self.loop.call_later(
                left, self.timeout_keep_alive_handler
            )
            return
        super().timeout_keep_alive_handler()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        task: asyncio.TimerHandle | None = self.timeout_keep_alive_task
        if task is not None:
            task.cancel()
            self.timeout_keep_alive_task = None
