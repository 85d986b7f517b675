"""A WebSocket joined to a room, as the replica holding it sees it (meeting_signaling and
realtime): its outgoing queue drained by a writer task (a slow reader never stalls its room, and
one whose queue fills is closed ``lagging_code`` to catch up by resuming), a message budget
(a token bucket), and numbered room messages: those that reach it before its join answer is out
are held, then sent after it, skipping what the answer (a snapshot or a replay) already covered.
``next_text`` reads the client's next message, with the checks both services make.
A plain deque and one future rather than an asyncio.Queue: a few KB less per socket."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

import orjson
from starlette.websockets import WebSocket

from v100.kit.room_admission import CLOSE_RATE_LIMITED

__all__ = ["RoomSocket", "error_message", "numbered"]

# How long a close may wait for the socket to take it (a peer that stopped reading).
_CLOSE_WITHIN_SECONDS = 2.0


def error_message(code: str, detail: str) -> str:
    """An ``error`` message to the client: its code and why."""
    return orjson.dumps({"type": "error", "code": code, "detail": detail}).decode()


def numbered(seq: int, body: str) -> str:
    """``body`` (a JSON object) with ``"seq"`` as its first member."""
    return f'{{"seq":{seq},{body[1:]}'


class RoomSocket:
    __slots__ = (
        "_budget",
        "_burst",
        "_close_reason",
        "_held",
        "_lagging",
        "_limit",
        "_pending",
        "_rate",
        "_refilled",
        "_serving",
        "_wake",
        "_writer",
        "closing",
        "last_sent",
        "ready",
        "room",
        "websocket",
    )

    def __init__(
        self,
        websocket: WebSocket,
        room: Any,
        *,
        queue_size: int,
        rate_per_second: float,
        burst: int,
        lagging: tuple[int, str],
    ) -> None:
        self.websocket = websocket
        self.room = room
        self.ready = False
        self.last_sent = 0
        self.closing: int | None = None  # the close code once this replica is closing it
        self._held: list[tuple[int, str]] = []
        self._pending: deque[str] = deque()
        self._limit = queue_size
        self._lagging = lagging
        self._wake: asyncio.Future[None] | None = None
        self._close_reason = ""
        self._rate = rate_per_second
        self._burst = float(burst)
        self._budget = float(burst)
        self._refilled = time.monotonic()
        self._serving = asyncio.current_task()
        self._writer: asyncio.Task[None] | None = None

    def start(self, name: str | None = None) -> None:
        """Start the writer (once)."""
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name=name)

    def allow(self) -> bool:
        """Take one message from the budget; False once it is empty."""
        now = time.monotonic()
        self._budget = min(self._burst, self._budget + (now - self._refilled) * self._rate)
        self._refilled = now
        if self._budget < 1:
            return False
        self._budget -= 1
        return True

    async def next_text(self, max_bytes: int) -> str | None:
        """The next text message to act on; None once the socket disconnected. What arrives
        while it closes is dropped; one over the message budget shuts it (4429, rate limited);
        a binary frame, or text over ``max_bytes`` encoded, is answered with an ``error``
        message and passed over."""
        while True:
            frame = await self.websocket.receive()
            if frame["type"] == "websocket.disconnect":
                return None
            if self.closing is not None:
                continue
            if not self.allow():
                self.shut(CLOSE_RATE_LIMITED, "rate limited")
                continue
            text: str | None = frame.get("text")
            if text is None:
                self.send(error_message("malformed-message", "Messages are JSON text frames."))
                continue
            # A character is at most 4 bytes: short text needs no encoding to be measured.
            if len(text) > max_bytes // 4 and len(text.encode()) > max_bytes:
                detail = f"A message may hold {max_bytes} bytes."
                self.send(error_message("message-too-large", detail))
                continue
            return text

    def send(self, text: str) -> None:
        """Queue ``text``; a socket whose queue is full is closed (it catches up by resuming)."""
        if self.closing is not None:
            return
        if len(self._pending) >= self._limit:
            self.shut(*self._lagging)
            return
        self._pending.append(text)
        self._wake_writer()

    def deliver(self, seq: int, body: str) -> None:
        """A numbered room message: held until the join answer is out, sent once."""
        if not self.ready:
            self._held.append((seq, body))
        elif seq > self.last_sent:
            self.last_sent = seq
            self.send(numbered(seq, body))

    def open_up(self, covered_to: int) -> None:
        """The join answer covers the room up to ``covered_to`` (a snapshot, or a replay): send
        what was held since, then everything as it comes."""
        self.last_sent = max(self.last_sent, covered_to)
        self.ready = True
        held, self._held = self._held, []
        for seq, body in sorted(held):
            self.deliver(seq, body)

    def shut(self, code: int, reason: str) -> None:
        """Close from this replica's side: the writer sends what is queued, then the close
        frame; a socket that takes neither within a couple of seconds is dropped."""
        if self.closing is not None:
            return
        self.closing = code
        self._close_reason = reason
        self.start()
        self._wake_writer()
        asyncio.get_running_loop().call_later(_CLOSE_WITHIN_SECONDS, self._give_up)

    def _give_up(self) -> None:
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()
            if self._serving is not None:
                self._serving.cancel()

    def _wake_writer(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def stop(self) -> None:
        """The socket is done: stop the writer."""
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def _write(self) -> None:
        pending = self._pending
        try:
            while True:
                while pending:
                    await self.websocket.send_text(pending.popleft())
                if self.closing is not None:
                    await self.websocket.close(self.closing, self._close_reason)
                    return
                self._wake = asyncio.get_running_loop().create_future()
                await self._wake
                self._wake = None
        except Exception:  # noqa: S110 - the socket is gone: its serving task sees it
            pass
