"""One joined socket as this replica holds it: its session, its outgoing queue (drained by a
writer task, so a slow reader never stalls its room), the pings it owes, its message budget.
Messages that reach it before its join answer is sent are held and sent after it, skipping what
the resume replay already sent."""

from __future__ import annotations

import asyncio
import contextlib
import time

from starlette.websockets import WebSocket

from v100.services.meeting_signaling.directory import Member
from v100.services.meeting_signaling.protocol import CLOSE_LAGGING

__all__ = ["Connection", "numbered"]

# How long a close may wait for the socket to take it (a peer that stopped reading).
_CLOSE_WITHIN_SECONDS = 2.0


def numbered(seq: int, body: str) -> str:
    """``body`` (a JSON object) with ``"seq"`` as its first member."""
    return f'{{"seq":{seq},{body[1:]}'


class Connection:
    __slots__ = (
        "_budget",
        "_burst",
        "_held",
        "_outgoing",
        "_rate",
        "_refilled",
        "_serving",
        "_writer",
        "closing",
        "last_sent",
        "member",
        "ping_id",
        "ping_sent_at",
        "ready",
        "room",
        "rtt_ms",
        "unanswered",
        "websocket",
    )

    def __init__(
        self,
        websocket: WebSocket,
        room: str,
        member: Member,
        *,
        queue_size: int,
        rate_per_second: float,
        burst: int,
    ) -> None:
        self.websocket = websocket
        self.room = room
        self.member = member
        self.ready = False
        self.last_sent = 0
        self.closing: int | None = None  # the close code once this replica is closing it
        self.ping_id = 0
        self.ping_sent_at = 0.0
        self.unanswered = 0
        self.rtt_ms: float | None = None
        self._held: list[tuple[int, str]] = []
        self._outgoing: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self._rate = rate_per_second
        self._burst = float(burst)
        self._budget = float(burst)
        self._refilled = time.monotonic()
        self._serving = asyncio.current_task()
        self._writer: asyncio.Task[None] | None = None

    @property
    def session_id(self) -> str:
        return self.member.session_id

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write(), name=f"signaling:{self.session_id}")

    def allow(self) -> bool:
        """Take one message from the budget; False once it is empty."""
        now = time.monotonic()
        self._budget = min(self._burst, self._budget + (now - self._refilled) * self._rate)
        self._refilled = now
        if self._budget < 1:
            return False
        self._budget -= 1
        return True

    def send(self, text: str) -> None:
        """Queue ``text``; a socket whose queue is full is closed (it resumes to catch up)."""
        if self.closing is not None:
            return
        try:
            self._outgoing.put_nowait(text)
        except asyncio.QueueFull:
            self.shut(CLOSE_LAGGING, "lagging: resume to catch up")

    def deliver(self, seq: int, body: str) -> None:
        """A numbered message: held until the join answer is out, sent once."""
        if not self.ready:
            self._held.append((seq, body))
            return
        if seq > self.last_sent:
            self.last_sent = seq
            self.send(numbered(seq, body))

    def open_up(self, replayed_to: int) -> None:
        """The join answer and the replay (up to ``replayed_to``) are queued: send what was
        held since, then everything as it comes."""
        self.last_sent = max(self.last_sent, replayed_to)
        self.ready = True
        held, self._held = self._held, []
        for seq, body in sorted(held):
            self.deliver(seq, body)

    def shut(self, code: int, reason: str) -> None:
        """Close from this replica's side (a ping timeout, a takeover, shutdown): what is
        queued is sent first."""
        if self.closing is not None:
            return
        self.closing = code
        asyncio.create_task(self._close(code, reason))  # noqa: RUF006 - ends with the socket

    async def _close(self, code: int, reason: str) -> None:
        writer = self._writer
        if writer is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_CLOSE_WITHIN_SECONDS):
                    await self._outgoing.join()
            writer.cancel()
        try:
            async with asyncio.timeout(_CLOSE_WITHIN_SECONDS):
                await self.websocket.close(code, reason)
        except TimeoutError:
            # The peer stopped reading: the serving task stops waiting for its frames.
            if self._serving is not None:
                self._serving.cancel()
        except Exception:  # noqa: S110 - already closed by the peer
            pass

    async def stop(self) -> None:
        """The socket is done: stop the writer."""
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def _write(self) -> None:
        while True:
            text = await self._outgoing.get()
            try:
                await self.websocket.send_text(text)
            except Exception:
                self._outgoing.task_done()
                return
            self._outgoing.task_done()
